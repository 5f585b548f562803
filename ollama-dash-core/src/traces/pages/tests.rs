//! Offset pages from seek points give exactly what plain `LIMIT … OFFSET` gives: the same rows,
//! order, `next_cursor` and `total`, for every page, through inserts and deletes (bottom,
//! middle, top with `seq` reuse) and retention. Correctness only; timings live in benches.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::{Arc, Mutex};

use super::super::query::{self, TraceQuery};
use super::super::{TraceRecord, TraceStatus};
use super::{PageIndex, Scope, delete_returning};
use crate::store::Store;
use crate::{Dashboard, DashboardConfig};

const MODELS: [&str; 3] = ["llama", "qwen", "gemma"];
const KEYS: [&str; 3] = ["alice", "bob", "ci"];

/// A deterministic stream of pseudo-random numbers (an LCG): the same rows every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn trace(n: u64, rng: &mut Lcg, created_at: i64) -> TraceRecord {
    TraceRecord {
        endpoint: "/v1/chat/completions".into(),
        model: MODELS[rng.next(3) as usize].into(),
        // Some traces have no key.
        api_key: match rng.next(4) {
            3 => None,
            k => Some(KEYS[k as usize].into()),
        },
        status: match rng.next(5) {
            0 => TraceStatus::Error,
            1 => TraceStatus::Cancelled,
            _ => TraceStatus::Ok,
        },
        duration_ms: Some(n as f64),
        ..TraceRecord::new(format!("trace-{n:06}"), created_at)
    }
}

/// The queries compared: every scope seek points serve, and page sizes around the stride.
fn queries() -> Vec<TraceQuery> {
    let scopes = [
        TraceQuery::default(),
        TraceQuery {
            model: Some("qwen".into()),
            ..TraceQuery::default()
        },
        TraceQuery {
            status: Some("error".into()),
            ..TraceQuery::default()
        },
        TraceQuery {
            api_key: Some("bob".into()),
            ..TraceQuery::default()
        },
    ];
    let mut all = Vec::new();
    for scope in scopes {
        for limit in [1, 3, 8, 17, 50] {
            all.push(TraceQuery {
                limit: Some(limit),
                ..scope.clone()
            });
        }
    }
    all
}

/// Every page (and two past the end) of every query, from seek points and from plain offsets.
fn assert_same_pages(c: &rusqlite::Connection, pages: &Mutex<PageIndex>, when: &str) -> usize {
    let mut compared = 0;
    for q in queries() {
        let plain_total = query::list_plain(
            c,
            &TraceQuery {
                page: Some(1),
                ..q.clone()
            },
        )
        .unwrap()
        .total
        .unwrap();
        let last = plain_total / u64::from(q.limit.unwrap()) + 2;
        for page in 1..=u32::try_from(last).unwrap() {
            let q = TraceQuery {
                page: Some(page),
                ..q.clone()
            };
            assert!(
                Scope::of(&q, false).is_some(),
                "{q:?} is served by seek points"
            );
            let seek = query::list(c, &q, pages).unwrap();
            let plain = query::list_plain(c, &q).unwrap();
            assert_eq!(seek, plain, "{when}: page {page} of {q:?}");
            compared += 1;
        }
    }
    compared
}

async fn open_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join(crate::DB_FILE_NAME))
        .await
        .unwrap();
    (dir, store)
}

fn insert(c: &rusqlite::Connection, rng: &mut Lcg, next: &mut u64, count: u64) {
    for _ in 0..count {
        *next += 1;
        query::insert(c, &trace(*next, rng, 1_000 + *next as i64)).unwrap();
    }
}

const RETURNING: &str = " RETURNING seq, model, status, api_key";

#[tokio::test]
async fn offset_pages_match_plain_offsets_through_inserts_and_deletes() {
    let (_dir, store) = open_store().await;
    let pages = Arc::new(Mutex::new(PageIndex::default()));
    let compared = store
        .call(move |c| {
            let mut rng = Lcg(14);
            let mut next = 0;
            let mut compared = 0;
            // Empty table.
            compared += assert_same_pages(c, &pages, "empty");
            insert(c, &mut rng, &mut next, 200);
            compared += assert_same_pages(c, &pages, "200 rows");
            let built = pages.lock().unwrap().scopes.len();
            assert_eq!(built, 4, "one set of points per scope");
            // One row on top: counted, no new point needed.
            insert(c, &mut rng, &mut next, 1);
            compared += assert_same_pages(c, &pages, "one more row");
            // Many rows on top: the top gap is refilled.
            insert(c, &mut rng, &mut next, 60);
            compared += assert_same_pages(c, &pages, "60 more rows");
            // Retention-style: the oldest go.
            let gone = delete_returning(
                c,
                &pages,
                &format!(
                    "DELETE FROM traces WHERE seq IN (SELECT seq FROM traces ORDER BY seq \
                     LIMIT 30){RETURNING}"
                ),
                [],
            )
            .unwrap();
            assert_eq!(gone, 30);
            compared += assert_same_pages(c, &pages, "30 oldest deleted");
            // In the middle, points among them (every 7th row, and a run of 40).
            delete_returning(
                c,
                &pages,
                &format!("DELETE FROM traces WHERE seq % 7 = 3{RETURNING}"),
                [],
            )
            .unwrap();
            compared += assert_same_pages(c, &pages, "every 7th deleted");
            delete_returning(
                c,
                &pages,
                &format!("DELETE FROM traces WHERE seq BETWEEN 100 AND 139{RETURNING}"),
                [],
            )
            .unwrap();
            compared += assert_same_pages(c, &pages, "a run of 40 deleted");
            // The newest go: SQLite hands their seq out again to the next inserts.
            let newest: i64 = c.query_row("SELECT max(seq) FROM traces", [], |r| r.get(0))?;
            delete_returning(
                c,
                &pages,
                &format!("DELETE FROM traces WHERE seq > ?1{RETURNING}"),
                [newest - 5],
            )
            .unwrap();
            insert(c, &mut rng, &mut next, 12);
            let again: i64 = c.query_row("SELECT max(seq) FROM traces", [], |r| r.get(0))?;
            assert!(again <= newest + 7, "seqs were handed out again");
            compared += assert_same_pages(c, &pages, "newest deleted, seqs reused");
            // Everything, then a few again.
            delete_returning(c, &pages, &format!("DELETE FROM traces{RETURNING}"), []).unwrap();
            compared += assert_same_pages(c, &pages, "all deleted");
            insert(c, &mut rng, &mut next, 5);
            compared += assert_same_pages(c, &pages, "5 after all deleted");
            // A failed delete forgets the points; they are rebuilt.
            assert!(
                delete_returning(c, &pages, "DELETE FROM no_such_table RETURNING seq", []).is_err()
            );
            assert!(pages.lock().unwrap().scopes.is_empty());
            insert(c, &mut rng, &mut next, 40);
            compared += assert_same_pages(c, &pages, "rebuilt after a failed delete");
            Ok(compared)
        })
        .await
        .unwrap();
    assert!(compared > 3000, "{compared} pages compared");
}

#[tokio::test]
async fn seek_points_stay_near_every_page() {
    let (_dir, store) = open_store().await;
    let pages = Arc::new(Mutex::new(PageIndex::default()));
    store
        .call(move |c| {
            let mut rng = Lcg(7);
            let mut next = 0;
            insert(c, &mut rng, &mut next, 500);
            let mut index = pages.lock().unwrap();
            let seek = index.seek(c, &Scope::All, 400).unwrap();
            assert_eq!(seek.total, 500);
            assert!(seek.skip < 2 * super::STRIDE, "{seek:?}");
            // Many rows on top, then a deep page: still a short skip.
            drop(index);
            insert(c, &mut rng, &mut next, 300);
            let mut index = pages.lock().unwrap();
            for offset in [0, 5, 299, 300, 301, 640, 799] {
                let seek = index.seek(c, &Scope::All, offset).unwrap();
                assert_eq!(seek.total, 800);
                assert!(seek.skip <= 2 * super::STRIDE, "offset {offset}: {seek:?}");
            }
            let points = &index.scopes[&Scope::All];
            assert!(
                points
                    .points
                    .windows(2)
                    .all(|w| w[0].0 > w[1].0 && w[1].1 - w[0].1 <= 2 * super::STRIDE),
                "points ordered and close: {:?}",
                points.points
            );
            Ok(())
        })
        .await
        .unwrap();
}

#[test]
fn scopes_are_the_simple_offset_queries() {
    let page = TraceQuery {
        page: Some(3),
        ..TraceQuery::default()
    };
    assert_eq!(Scope::of(&page, false), Some(Scope::All));
    assert_eq!(
        Scope::of(
            &TraceQuery {
                api_key: Some("ci".into()),
                ..page.clone()
            },
            false
        ),
        Some(Scope::Key("ci".into()))
    );
    // No page, a cursor, a search, a time range, two filters: the plain path.
    assert_eq!(Scope::of(&TraceQuery::default(), false), None);
    assert_eq!(Scope::of(&page, true), None);
    for q in [
        TraceQuery {
            since_ms: Some(0),
            ..page.clone()
        },
        TraceQuery {
            until_ms: Some(0),
            ..page.clone()
        },
        TraceQuery {
            model: Some("m".into()),
            status: Some("ok".into()),
            ..page
        },
    ] {
        assert_eq!(Scope::of(&q, false), None, "{q:?}");
    }
}

/// Through the public API: pages before and after retention (by age, in the middle of the
/// insertion order, then by rows) and new traces equal the same query on the plain path (a
/// `since` that excludes nothing takes it).
#[tokio::test]
async fn dashboard_pages_match_after_retention_and_new_traces() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = DashboardConfig::with_data_path(dir.path());
    config.ollama_host = "127.0.0.1:9".into();
    config.trace_max_rows = 150;
    config.trace_max_age_days = 30;
    config.trace_max_db_mb = 0;
    config.trace_body_max_age_days = 0;
    config.trace_retention_interval_secs = 3600;
    let d = Dashboard::new(config).await.unwrap();
    let now = crate::dashboard::now_ms();
    let day = 24 * 3600 * 1000;
    let mut rng = Lcg(3);
    // Every 4th trace is 100 days old: age retention deletes rows all through the order.
    let batch = |from: u64, to: u64, rng: &mut Lcg| -> Vec<TraceRecord> {
        (from..to)
            .map(|n| {
                let at = if n % 4 == 0 {
                    now - 100 * day
                } else {
                    now - 1000
                };
                trace(n, rng, at)
            })
            .collect()
    };
    d.import_traces(batch(0, 260, &mut rng)).await.unwrap();
    let compare = |when: &'static str| {
        let d = d.clone();
        async move {
            for q in queries() {
                for page in 1..=40 {
                    let q = TraceQuery {
                        page: Some(page),
                        ..q.clone()
                    };
                    let plain = TraceQuery {
                        since_ms: Some(i64::MIN),
                        ..q.clone()
                    };
                    let (a, b) = (d.traces(q).await.unwrap(), d.traces(plain).await.unwrap());
                    assert_eq!(a, b, "{when}: page {page}");
                    if a.traces.is_empty() {
                        break;
                    }
                }
            }
        }
    };
    compare("before retention").await;
    let report = d.apply_trace_retention().await.unwrap();
    assert_eq!(report.deleted_by_age, 65);
    assert_eq!(report.deleted_by_rows, 45);
    compare("after retention").await;
    d.import_traces(batch(1000, 1090, &mut rng)).await.unwrap();
    compare("after new traces").await;
    let report = d.apply_trace_retention().await.unwrap();
    assert!(report.deleted_by_age + report.deleted_by_rows > 0);
    compare("after a second retention").await;
    d.shutdown().await.unwrap();
}
