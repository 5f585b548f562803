//! Trace queries on a store holding 1M traces: the list page (newest, deep cursor, model
//! filter, key filter, text search), offset pages (`page=1`, `1000`, `40000` of 25: the last is
//! the deepest page there is), one trace, and `GET /v1/traces` through the HTTP router.
//!
//! The 1M-row store is built once under `target/bench-data/traces-1m` and reused.
//! Run: `cargo bench -p ollama-dash-benches --bench traces`.
#![allow(clippy::unwrap_used, reason = "benchmark")]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use http_body_util::BodyExt;
use ollama_dash_core::{Dashboard, DashboardConfig, TraceQuery, TraceRecord, TraceStatus};
use ollama_dash_host::auth::Authenticator;
use ollama_dash_host::http::{AppState, app};
use tower::ServiceExt;

const ROWS: i64 = 1_000_000;
const TOKEN: &str = "bench-token-0123456789";
/// Offset pages measured, of [`PAGE_SIZE`] traces: the first, one in the middle of the first
/// tenth, and the last page of the 1M rows (offset 999,975).
const OFFSET_PAGES: [u32; 3] = [1, 1_000, 40_000];
const PAGE_SIZE: u32 = 25;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data/traces-1m")
}

fn trace(i: i64, now: i64) -> TraceRecord {
    let models = [
        "llama3.2:1b",
        "qwen3:0.6b",
        "gemma3:4b",
        "nomic-embed-text:latest",
    ];
    let keys = ["alice", "bob", "ci", "admin"];
    TraceRecord {
        id: format!("{:012x}-7000-8000-0000-{i:012}", now - (ROWS - i)),
        created_at: now - (ROWS - i) * 10,
        endpoint: "/v1/chat/completions".into(),
        model: models[(i % 4) as usize].into(),
        api_key: Some(keys[(i % 4) as usize].into()),
        client_addr: Some("127.0.0.1".into()),
        stream: i % 2 == 0,
        status: if i % 50 == 0 {
            TraceStatus::Error
        } else {
            TraceStatus::Ok
        },
        http_status: Some(200),
        error: None,
        input: Some(format!(
            "[{{\"role\":\"user\",\"content\":\"question number {i} about topic{}\"}}]",
            i % 1000
        )),
        output: Some(format!("An answer of a few words for request {i}.")),
        tool_calls: None,
        prompt_tokens: Some(12),
        completion_tokens: Some(40),
        total_tokens: Some(52),
        duration_ms: Some(120.0 + (i % 100) as f64),
        ttft_ms: Some(20.0 + (i % 10) as f64),
        load_ns: Some(1_000),
        prompt_eval_ns: Some(2_000_000),
        eval_ns: Some(100_000_000),
        total_ns: Some(110_000_000),
        ..TraceRecord::new(String::new(), 0)
    }
}

async fn open() -> Dashboard {
    let dir = data_dir();
    let fresh = !dir.join("complete").exists();
    if fresh {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let mut config = DashboardConfig::with_data_path(&dir);
    config.ollama_host = "127.0.0.1:9".into();
    config.trace_max_rows = 0;
    config.trace_max_age_days = 0;
    config.trace_max_db_mb = 0;
    config.trace_body_max_age_days = 0;
    let dashboard = Dashboard::new(config).await.unwrap();
    if fresh {
        eprintln!("building a store of {ROWS} traces (once)…");
        let now = chrono_now();
        for chunk in (0..ROWS).collect::<Vec<_>>().chunks(20_000) {
            let batch = chunk.iter().map(|&i| trace(i, now)).collect();
            dashboard.import_traces(batch).await.unwrap();
        }
        std::fs::write(dir.join("complete"), "").unwrap();
    }
    dashboard
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dashboard = rt.block_on(open());
    // The first offset page after open: it builds what makes the others cheap (if anything).
    let started = std::time::Instant::now();
    let deep_cursor = rt
        .block_on(dashboard.traces(TraceQuery {
            limit: Some(1000),
            page: Some(500),
            ..TraceQuery::default()
        }))
        .unwrap()
        .traces
        .len();
    eprintln!(
        "first offset page after open (page=500 of 1000): {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(deep_cursor, 1000, "the store holds {ROWS} traces");
    let mut group = c.benchmark_group("traces_1m");
    group.measurement_time(Duration::from_secs(5));
    let cases: Vec<(&str, TraceQuery)> = vec![
        ("newest_page_50", TraceQuery::default()),
        (
            "cursor_page_50_deep",
            TraceQuery {
                cursor: Some("500000".into()),
                ..TraceQuery::default()
            },
        ),
        (
            "model_filter_page_50",
            TraceQuery {
                model: Some("gemma3:4b".into()),
                ..TraceQuery::default()
            },
        ),
        (
            "key_and_status_filter_page_50",
            TraceQuery {
                api_key: Some("ci".into()),
                status: Some("ok".into()),
                ..TraceQuery::default()
            },
        ),
        (
            "search_common_word_page_50",
            TraceQuery {
                search: Some("answer".into()),
                ..TraceQuery::default()
            },
        ),
        (
            "search_and_model_page_50",
            TraceQuery {
                search: Some("question".into()),
                model: Some("qwen3:0.6b".into()),
                ..TraceQuery::default()
            },
        ),
        (
            "search_rare_word_page_50",
            TraceQuery {
                search: Some("topic123".into()),
                ..TraceQuery::default()
            },
        ),
    ];
    for (name, query) in cases {
        group.bench_function(name, |b| {
            b.to_async(&rt)
                .iter(|| async { dashboard.traces(query.clone()).await.unwrap() })
        });
    }
    let some_id = rt
        .block_on(dashboard.traces(TraceQuery::default()))
        .unwrap()
        .traces[7]
        .id
        .clone();
    group.bench_function("one_trace_by_id", |b| {
        b.to_async(&rt)
            .iter(|| async { dashboard.trace(&some_id).await.unwrap() })
    });
    let router = app(
        AppState {
            dashboard: dashboard.clone(),
            auth: Arc::new(Authenticator::new(TOKEN.into(), 1000)),
            plugins: ollama_dash_host::plugins::PluginHost::new(
                ollama_dash_host::plugins::PluginsConfig::under(
                    &dashboard.config().data_path,
                    None,
                ),
            )
            .unwrap(),
        },
        &[],
    );
    let router_for_pages = router.clone();
    group.bench_function("http_get_v1_traces_limit_50", |b| {
        b.to_async(&rt).iter(|| async {
            let request = http::Request::get("/v1/traces?limit=50")
                .header("authorization", format!("Bearer {TOKEN}"))
                .body(Body::empty())
                .unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), 200);
            response.into_body().collect().await.unwrap().to_bytes()
        })
    });
    group.finish();
    offset_pages(c, &rt, &dashboard, &router_for_pages);
    rt.block_on(dashboard.shutdown()).unwrap();
}

/// `page=N` (offset) pagination, unfiltered, through the library and the router. Flat sampling:
/// before #14 item 4 a deep page cost a scan of up to 1M rows plus a `count(*)`.
fn offset_pages(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    dashboard: &Dashboard,
    router: &axum::Router,
) {
    let page = |n: u32| TraceQuery {
        limit: Some(PAGE_SIZE),
        page: Some(n),
        ..TraceQuery::default()
    };
    let last = rt.block_on(dashboard.traces(page(40_000))).unwrap();
    assert_eq!(
        last.traces.len(),
        PAGE_SIZE as usize,
        "the last page is full"
    );
    assert_eq!(last.total, Some(ROWS as u64));
    assert_eq!(last.next_cursor, None);
    let mut group = c.benchmark_group("traces_1m_offset");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for n in OFFSET_PAGES {
        group.bench_function(format!("offset_page_{n}_of_{PAGE_SIZE}"), |b| {
            b.to_async(rt)
                .iter(|| async { dashboard.traces(page(n)).await.unwrap() })
        });
    }
    group.bench_function(
        format!("http_get_v1_traces_offset_page_40000_of_{PAGE_SIZE}"),
        |b| {
            b.to_async(rt).iter(|| async {
                let request =
                    http::Request::get(format!("/v1/traces?page=40000&limit={PAGE_SIZE}"))
                        .header("authorization", format!("Bearer {TOKEN}"))
                        .body(Body::empty())
                        .unwrap();
                let response = router.clone().oneshot(request).await.unwrap();
                assert_eq!(response.status(), 200);
                response.into_body().collect().await.unwrap().to_bytes()
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
