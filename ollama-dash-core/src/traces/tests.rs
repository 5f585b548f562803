#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;
use crate::ollama::types::{Metrics, ToolCall, ToolCallFunction};
use crate::{Dashboard, DashboardConfig};

async fn open(configure: impl FnOnce(&mut DashboardConfig)) -> (tempfile::TempDir, Dashboard) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = DashboardConfig::with_data_path(dir.path());
    configure(&mut config);
    let dashboard = Dashboard::new(config).await.unwrap();
    (dir, dashboard)
}

/// An hour before the tests started.
fn base() -> i64 {
    static BASE: std::sync::LazyLock<i64> =
        std::sync::LazyLock::new(|| crate::dashboard::now_ms() - 3_600_000);
    *BASE
}

fn trace(i: i64, model: &str, key: &str, status: TraceStatus, output: &str) -> TraceRecord {
    TraceRecord {
        id: format!("id-{i:08}"),
        created_at: base() + i * 1000,
        endpoint: "/v1/chat/completions".into(),
        model: model.into(),
        api_key: Some(key.into()),
        client_addr: Some("127.0.0.1".into()),
        stream: i % 2 == 0,
        status,
        http_status: Some(200),
        error: None,
        input: Some(format!(
            "[{{\"role\":\"user\",\"content\":\"question {i}\"}}]"
        )),
        output: Some(output.into()),
        tool_calls: None,
        prompt_tokens: Some(10),
        completion_tokens: Some(i as u64),
        total_tokens: Some(10 + i as u64),
        duration_ms: Some(i as f64),
        ttft_ms: Some(i as f64 / 10.0),
        load_ns: Some(5),
        prompt_eval_ns: Some(6),
        eval_ns: Some(1_000_000_000),
        total_ns: Some(7),
        ..TraceRecord::new(String::new(), 0)
    }
}

#[tokio::test]
async fn handle_records_what_was_produced_with_its_status() {
    let (_dir, d) = open(|_| {}).await;
    let start = TraceStart {
        endpoint: "/v1/chat/completions".into(),
        model: "m".into(),
        api_key: Some("ci".into()),
        client_addr: Some("10.0.0.1".into()),
        stream: true,
        input: Some("[]".into()),
    };
    let mut ok = d.start_trace(start.clone());
    ok.push_thinking("hmm");
    ok.push_output("Hello");
    ok.push_tool_calls(&[ToolCall {
        id: None,
        function: ToolCallFunction {
            index: Some(0),
            name: "get_weather".into(),
            arguments: serde_json::json!({"city": "Paris"}),
        },
    }]);
    ok.set_metrics(&Metrics {
        prompt_eval_count: Some(3),
        eval_count: Some(4),
        load_duration: Some(11),
        ..Metrics::default()
    });
    let ok_id = ok.id().to_owned();
    ok.succeed(200);
    let mut cancelled = d.start_trace(start.clone());
    cancelled.push_output("partial");
    let cancelled_id = cancelled.id().to_owned();
    drop(cancelled);
    let failed = d.start_trace(start);
    let failed_id = failed.id().to_owned();
    failed.fail(502, "Ollama is unreachable");
    d.flush_writes().await.unwrap();

    let t = d.trace(&ok_id).await.unwrap();
    assert_eq!(t.status, TraceStatus::Ok);
    assert_eq!(t.output.as_deref(), Some("<think>hmm</think>\nHello"));
    assert!(t.tool_calls.unwrap().contains("get_weather"));
    assert_eq!(
        (t.prompt_tokens, t.completion_tokens, t.total_tokens),
        (Some(3), Some(4), Some(7))
    );
    assert_eq!(t.load_ns, Some(11));
    assert!(t.ttft_ms.unwrap() <= t.duration_ms.unwrap());
    assert_eq!(t.api_key.as_deref(), Some("ci"));
    assert!(uuid::Uuid::parse_str(&t.id).unwrap().get_version_num() == 7);

    let t = d.trace(&cancelled_id).await.unwrap();
    assert_eq!(t.status, TraceStatus::Cancelled);
    assert_eq!(t.output.as_deref(), Some("partial"));
    assert_eq!(t.http_status, Some(499));

    let t = d.trace(&failed_id).await.unwrap();
    assert_eq!(
        (t.status, t.http_status, t.error.as_deref()),
        (TraceStatus::Error, Some(502), Some("Ollama is unreachable"))
    );
    assert!(d.trace("nope").await.unwrap_err().is_not_found());
}

/// Whether a trace row is in the database file, read on a connection of its own (what a
/// process started after a `kill -9` would see).
fn committed_on_disk(dir: &std::path::Path, id: &str) -> bool {
    let conn = rusqlite::Connection::open(dir.join(crate::DB_FILE_NAME)).unwrap();
    conn.query_row("SELECT count(*) FROM traces WHERE id = ?1", [id], |r| {
        r.get::<_, i64>(0)
    })
    .unwrap()
        == 1
}

/// In the store file, or in the spool a restart replays: what "durable" means for an ended trace.
/// (The spool first: it is emptied only after a commit, so a trace gone from it is in the file.)
fn durable(dir: &std::path::Path, id: &str) -> bool {
    std::fs::read_to_string(dir.join(super::spool::SPOOL_FILE_NAME))
        .is_ok_and(|spool| spool.contains(&format!("\"id\":\"{id}\"")))
        || committed_on_disk(dir, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_trace_is_durable_when_its_end_resolves_and_batches_stay_shared() {
    let (dir, d) = open(|_| {}).await;
    let start = |i: usize| TraceStart {
        endpoint: "/v1/chat/completions".into(),
        model: "m".into(),
        stream: true,
        input: Some(format!("question {i}")),
        ..TraceStart::default()
    };
    // One at a time: each end waits for its own commit.
    let rounds = 50;
    let mut waited = std::time::Duration::ZERO;
    for i in 0..rounds {
        let mut t = d.start_trace(start(i));
        t.push_output("answer");
        let id = t.id().to_owned();
        let began = std::time::Instant::now();
        t.succeed_committed(200).await.unwrap();
        waited += began.elapsed();
        assert!(
            durable(dir.path(), &id),
            "trace {i} in the file or the spool"
        );
    }
    let one = waited / rounds as u32;
    // Many at once: they share transactions (far fewer batches than traces).
    let batches = d.store().health().batches;
    let many = 200;
    let began = std::time::Instant::now();
    let ends: Vec<_> = (0..many)
        .map(|i| {
            let t = d.start_trace(start(i));
            let id = t.id().to_owned();
            let commit = if i % 2 == 0 {
                t.succeed_committed(200)
            } else {
                t.fail_committed(200, "broke off")
            };
            tokio::spawn(async move { commit.await.map(|()| id) })
        })
        .collect();
    let mut ids = Vec::new();
    for end in ends {
        ids.push(end.await.unwrap().unwrap());
    }
    let concurrent = began.elapsed();
    for id in &ids {
        assert!(durable(dir.path(), id));
    }
    let used = d.store().health().batches - batches;
    eprintln!(
        "committed end: {one:?} per trace one at a time; {many} at once in {concurrent:?}, \
         {used} transactions"
    );
    assert!(
        used < many as u64 / 2,
        "{used} transactions for {many} traces"
    );
    // A handle ended that way records nothing more when dropped.
    d.flush_writes().await.unwrap();
    let all = TraceQuery {
        page: Some(1),
        ..TraceQuery::default()
    };
    let total = d.traces(all).await.unwrap().total;
    assert_eq!(total, Some(rounds as u64 + many as u64));
    // Once all are committed the spool is emptied.
    for id in &ids {
        assert!(committed_on_disk(dir.path(), id));
    }
    let spool = std::fs::metadata(dir.path().join(super::spool::SPOOL_FILE_NAME)).unwrap();
    assert_eq!(spool.len(), 0);
}

/// A process killed after answering but before the store committed leaves the trace only in
/// the spool: the next start inserts it (once), then empties the spool.
#[tokio::test]
async fn the_next_start_inserts_what_only_the_spool_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (id, committed_id) = {
        let d = Dashboard::new(DashboardConfig::with_data_path(dir.path()))
            .await
            .unwrap();
        let committed = d.start_trace(TraceStart::default());
        let committed_id = committed.id().to_owned();
        committed.succeed_committed(200).await.unwrap();
        d.flush_writes().await.unwrap();
        d.shutdown().await.unwrap();
        (uuid::Uuid::now_v7().to_string(), committed_id)
    };
    // As if killed: one trace in the spool only, one in both, and a torn last line.
    let mut only_spooled = super::handle::empty_record();
    only_spooled.id = id.clone();
    only_spooled.output = Some("spooled, never committed".into());
    let mut both = super::handle::empty_record();
    both.id = committed_id.clone();
    let mut spool = serde_json::to_string(&only_spooled).unwrap();
    spool.push('\n');
    spool.push_str(&serde_json::to_string(&both).unwrap());
    spool.push_str("\n{\"id\":\"torn");
    std::fs::write(dir.path().join(super::spool::SPOOL_FILE_NAME), spool).unwrap();

    let d = Dashboard::new(DashboardConfig::with_data_path(dir.path()))
        .await
        .unwrap();
    let back = d.trace(&id).await.unwrap();
    assert_eq!(back.output.as_deref(), Some("spooled, never committed"));
    assert!(d.trace(&committed_id).await.is_ok());
    let all = TraceQuery {
        page: Some(1),
        ..TraceQuery::default()
    };
    assert_eq!(d.traces(all).await.unwrap().total, Some(2), "no duplicate");
    let spool = std::fs::metadata(dir.path().join(super::spool::SPOOL_FILE_NAME)).unwrap();
    assert_eq!(spool.len(), 0);
}

#[tokio::test]
async fn lists_newest_first_with_filters_cursor_pages_and_search() {
    let (_dir, d) = open(|_| {}).await;
    for i in 0..30 {
        let (model, key) = if i % 3 == 0 {
            ("llama3.2:1b", "alice")
        } else {
            ("qwen3:0.6b", "bob")
        };
        let status = if i % 5 == 0 {
            TraceStatus::Error
        } else {
            TraceStatus::Ok
        };
        let text = if i == 7 {
            "the weather in Paris is sunny"
        } else {
            "nothing"
        };
        d.record_trace(trace(i, model, key, status, text));
    }
    d.flush_writes().await.unwrap();

    let page = d
        .traces(TraceQuery {
            limit: Some(12),
            ..TraceQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.traces.len(), 12);
    assert_eq!(page.traces[0].id, "id-00000029");
    assert!(page.traces[0].input.is_none(), "lists leave bodies out");
    let mut seen: Vec<String> = page.traces.iter().map(|t| t.id.clone()).collect();
    let mut cursor = page.next_cursor;
    while let Some(c) = cursor {
        let next = d
            .traces(TraceQuery {
                limit: Some(12),
                cursor: Some(c),
                ..TraceQuery::default()
            })
            .await
            .unwrap();
        seen.extend(next.traces.iter().map(|t| t.id.clone()));
        cursor = next.next_cursor;
    }
    let expected: Vec<String> = (0..30).rev().map(|i| format!("id-{i:08}")).collect();
    assert_eq!(seen, expected, "cursor pages cover everything once");

    let alice = d
        .traces(TraceQuery {
            api_key: Some("alice".into()),
            status: Some("error".into()),
            ..TraceQuery::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = alice.traces.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["id-00000015", "id-00000000"]);

    let page2 = d
        .traces(TraceQuery {
            model: Some("qwen3:0.6b".into()),
            page: Some(2),
            limit: Some(5),
            ..TraceQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page2.total, Some(20));
    assert_eq!(page2.traces.len(), 5);
    assert_eq!(page2.traces[0].id, "id-00000022");

    let window = d
        .traces(TraceQuery {
            since_ms: Some(base() + 10_000),
            until_ms: Some(base() + 13_000),
            ..TraceQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(window.traces.len(), 3);

    let found = d
        .traces(TraceQuery {
            search: Some("weath* PARIS".into()),
            with_bodies: true,
            ..TraceQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found.traces.len(), 1);
    assert_eq!(found.traces[0].id, "id-00000007");
    assert!(found.traces[0].output.as_deref().unwrap().contains("Paris"));
    let in_input = d
        .traces(TraceQuery {
            search: Some("question 12".into()),
            ..TraceQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(in_input.traces[0].id, "id-00000012");

    for bad in [
        TraceQuery {
            limit: Some(0),
            ..TraceQuery::default()
        },
        TraceQuery {
            cursor: Some("x".into()),
            ..TraceQuery::default()
        },
        TraceQuery {
            status: Some("fine".into()),
            ..TraceQuery::default()
        },
    ] {
        assert!(d.traces(bad).await.unwrap_err().is_bad_request());
    }
}

#[tokio::test]
async fn control_characters_in_search_text_separate_words_as_in_the_index() {
    let (_dir, d) = open(|_| {}).await;
    d.record_trace(trace(1, "m", "k", TraceStatus::Ok, "alpha\0beta gamma"));
    d.record_trace(trace(2, "m", "k", TraceStatus::Ok, "alpha only"));
    d.flush_writes().await.unwrap();
    let search = |text: &str| {
        let d = d.clone();
        let text = text.to_owned();
        async move {
            d.traces(TraceQuery {
                search: Some(text),
                ..TraceQuery::default()
            })
            .await
            .map(|page| page.traces.into_iter().map(|t| t.id).collect::<Vec<_>>())
        }
    };
    // The index's tokenizer splits stored text at control characters, so the search does too:
    // a NUL (or a bell, an escape…) between two words means both words.
    for text in ["alpha\0beta", "\u{7}alpha\u{1b}beta\u{7f}", "alp*\0bet*"] {
        assert_eq!(search(text).await.unwrap(), ["id-00000001"], "{text:?}");
    }
    // Nothing but control characters is no search at all.
    assert_eq!(search("\0").await.unwrap().len(), 2);
    assert_eq!(search("a\0b").await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn stats_per_model() {
    let (_dir, d) = open(|_| {}).await;
    for i in 1..=20 {
        d.record_trace(trace(i, "a", "k", TraceStatus::Ok, "x"));
    }
    d.record_trace(trace(21, "b", "k", TraceStatus::Error, "x"));
    d.flush_writes().await.unwrap();
    let stats = d.trace_stats(base(), base() + 100_000, None).await.unwrap();
    assert_eq!(stats.models.len(), 2);
    let a = &stats.models[0];
    assert_eq!((a.model.as_str(), a.count, a.errors), ("a", 20, 0));
    assert_eq!(a.completion_tokens, (1..=20).sum::<u64>());
    assert_eq!(
        (a.p50_latency_ms, a.p95_latency_ms),
        (Some(10.0), Some(19.0))
    );
    assert_eq!(a.p50_ttft_ms, Some(1.0));
    assert_eq!(a.tokens_per_second, Some(210.0 / 20.0));
    assert_eq!(stats.models[1].errors, 1);
    let none = d
        .trace_stats(base(), base() + 100_000, Some("other".into()))
        .await
        .unwrap();
    assert!(none.models.is_empty());
}

#[tokio::test]
async fn retention_bounds_rows_age_bodies_and_gives_space_back() {
    let (_dir, d) = open(|c| {
        c.trace_max_rows = 300;
        c.trace_max_age_days = 1;
        c.trace_body_max_age_days = 0;
        c.trace_max_db_mb = 0;
    })
    .await;
    let now = crate::dashboard::now_ms();
    let big = "x".repeat(20_000);
    for i in 0..600 {
        let mut t = trace(i, "m", "k", TraceStatus::Ok, &big);
        t.id = format!("recent-{i:05}");
        t.created_at = now - 1000;
        d.record_trace(t);
    }
    for i in 0..50 {
        let mut t = trace(i, "m", "k", TraceStatus::Ok, "old");
        t.id = format!("old-{i:05}");
        t.created_at = now - 3 * 24 * 3600 * 1000;
        d.record_trace(t);
    }
    d.flush_writes().await.unwrap();
    let before = d.health().await.store.size_bytes;
    let report = d.apply_trace_retention().await.unwrap();
    assert_eq!(report.deleted_by_age, 50);
    assert_eq!(report.deleted_by_rows, 300);
    assert!(report.freed_bytes > 0, "{report:?}");
    let after = d.health().await.store.size_bytes;
    assert!(after < before, "the file shrank: {before} -> {after}");
    let page = d
        .traces(TraceQuery {
            limit: Some(1000),
            ..TraceQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.traces.len(), 300);
    assert_eq!(
        page.traces.last().unwrap().id,
        "recent-00300",
        "oldest went first"
    );
    assert_eq!(d.trace_retention().1, Some(report));
}

#[tokio::test]
async fn body_retention_clears_bodies_but_keeps_metadata_and_search_index() {
    let (_dir, d) = open(|c| c.trace_body_max_age_days = 1).await;
    let now = crate::dashboard::now_ms();
    let mut old = trace(1, "m", "k", TraceStatus::Ok, "ancient secret");
    old.created_at = now - 2 * 24 * 3600 * 1000;
    let mut new = trace(2, "m", "k", TraceStatus::Ok, "fresh secret");
    new.created_at = now;
    d.record_trace(old);
    d.record_trace(new);
    d.flush_writes().await.unwrap();
    let report = d.apply_trace_retention().await.unwrap();
    assert_eq!(report.bodies_cleared, 1);
    let t = d.trace("id-00000001").await.unwrap();
    assert_eq!((t.input, t.output), (None, None));
    assert_eq!(t.completion_tokens, Some(1), "metadata stays");
    let found = d
        .traces(TraceQuery {
            search: Some("secret".into()),
            ..TraceQuery::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = found.traces.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["id-00000002"]);
}

#[tokio::test]
async fn size_retention_deletes_oldest_until_under_the_limit() {
    let (_dir, d) = open(|c| {
        c.trace_max_db_mb = 1;
        c.trace_body_max_age_days = 0;
    })
    .await;
    let big = "y".repeat(50_000);
    for i in 0..100 {
        d.record_trace(trace(i, "m", "k", TraceStatus::Ok, &big));
    }
    d.flush_writes().await.unwrap();
    let report = d.apply_trace_retention().await.unwrap();
    assert!(report.deleted_by_size > 0, "{report:?}");
    let size = d.health().await.store.size_bytes;
    assert!(
        size < 2 * 1024 * 1024,
        "file back near the limit: {size} {report:?}"
    );
    let newest = d.traces(TraceQuery::default()).await.unwrap();
    assert_eq!(newest.traces[0].id, "id-00000099", "newest kept");
}

#[test]
fn clip_cuts_on_a_char_boundary() {
    let text = "é".repeat(MAX_BODY_BYTES);
    let clipped = clip(text);
    assert!(clipped.len() < MAX_BODY_BYTES + 64);
    assert!(clipped.ends_with("more bytes not kept]"));
}

#[tokio::test]
async fn usage_buckets_per_model_with_percentiles_and_bounds() {
    let (_dir, d) = open(|_| {}).await;
    // 0..10 s: "a" (even, i = 0, 2, .. 8, one error at 4) and "b" (odd); bucket of 5 s.
    let traces = (0..10)
        .map(|i| {
            let model = if i % 2 == 0 { "a" } else { "b" };
            let status = if i == 4 {
                TraceStatus::Error
            } else {
                TraceStatus::Ok
            };
            trace(i, model, if i < 6 { "ci" } else { "bob" }, status, "x")
        })
        .collect();
    d.import_traces(traces).await.unwrap();
    let query = UsageQuery {
        since_ms: base(),
        until_ms: base() + 10_000,
        bucket_ms: 5000,
        api_key: None,
    };
    let usage = d.trace_usage(query.clone()).await.unwrap();
    assert_eq!(usage.models, ["a", "b"]);
    let shape: Vec<(i64, &str, u64, u64)> = usage
        .points
        .iter()
        .map(|p| {
            (
                (p.start - base()) / 1000,
                p.model.as_str(),
                p.requests,
                p.errors,
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (0, "a", 3, 1),
            (0, "b", 2, 0),
            (5, "a", 2, 0),
            (5, "b", 3, 0)
        ]
    );
    // "a" in the first bucket: i = 0, 2, 4 → durations 0, 2, 4 ms; 6 tokens in 3 s.
    let first = &usage.points[0];
    assert_eq!(first.p50_latency_ms, Some(2.0));
    assert_eq!(first.p95_latency_ms, Some(4.0));
    assert_eq!(first.p95_ttft_ms, Some(0.4));
    assert_eq!(first.completion_tokens, 6);
    assert_eq!(first.tokens_per_second, Some(2.0));

    let bob = d
        .trace_usage(UsageQuery {
            api_key: Some("bob".into()),
            ..query.clone()
        })
        .await
        .unwrap();
    assert_eq!(bob.points.iter().map(|p| p.requests).sum::<u64>(), 4);

    for bad in [
        UsageQuery {
            bucket_ms: 0,
            ..query.clone()
        },
        UsageQuery {
            until_ms: query.since_ms,
            ..query.clone()
        },
        UsageQuery {
            bucket_ms: 1,
            ..query.clone()
        },
    ] {
        let error = d.trace_usage(bad).await.unwrap_err();
        assert!(matches!(error, crate::Error::BadRequest(_)), "{error}");
    }
}
