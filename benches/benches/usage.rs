//! `Dashboard::trace_usage` (the Usage charts' query) on a store of 1M traces spread over
//! 7 days: the 1 h, 24 h and 7 d windows the page asks for, the last one reading every row.
//!
//! The store is built once under `target/bench-data/usage-1m` and reused.
//! Run: `cargo bench -p ollama-dash-benches --bench usage` (figures in RESULTS.md).
#![allow(clippy::unwrap_used, reason = "benchmark")]

use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ollama_dash_core::traces::UsageQuery;
use ollama_dash_core::{Dashboard, DashboardConfig, TraceQuery, TraceRecord, TraceStatus};

const ROWS: i64 = 1_000_000;
const WEEK_MS: i64 = 7 * 86_400_000;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data/usage-1m")
}

/// Trace `i` of [`ROWS`], evenly over the week before `now`; no bodies.
fn trace(i: i64, now: i64) -> TraceRecord {
    let models = ["llama3.2:1b", "qwen3:0.6b", "gemma3:4b", "mistral:7b"];
    TraceRecord {
        endpoint: "/v1/chat/completions".into(),
        model: models[(i % 4) as usize].into(),
        api_key: Some(["alice", "bob"][(i % 2) as usize].into()),
        stream: true,
        status: if i % 50 == 0 {
            TraceStatus::Error
        } else {
            TraceStatus::Ok
        },
        http_status: Some(200),
        prompt_tokens: Some(12),
        completion_tokens: Some(40 + (i % 60) as u64),
        total_tokens: Some(52 + (i % 60) as u64),
        duration_ms: Some(120.0 + (i % 1000) as f64),
        ttft_ms: Some(20.0 + (i % 100) as f64),
        prompt_eval_ns: Some(2_000_000),
        eval_ns: Some(100_000_000 + (i % 7) as u64 * 10_000_000),
        total_ns: Some(110_000_000),
        ..TraceRecord::new(
            format!("{i:012x}-7000-8000-0000-000000000000"),
            now - WEEK_MS + i * (WEEK_MS / ROWS),
        )
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The store, and the end of its week (the newest trace + 1 ms).
async fn open() -> (Dashboard, i64) {
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
        let now = now_ms();
        for chunk in (0..ROWS).collect::<Vec<_>>().chunks(50_000) {
            let batch = chunk.iter().map(|&i| trace(i, now)).collect();
            dashboard.import_traces(batch).await.unwrap();
        }
        std::fs::write(dir.join("complete"), "").unwrap();
    }
    let newest = dashboard
        .traces(TraceQuery::default())
        .await
        .unwrap()
        .traces[0]
        .created_at;
    (dashboard, newest + 1)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (dashboard, end) = rt.block_on(open());
    let mut group = c.benchmark_group("usage_1m");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for (name, window_ms, bucket_ms) in [
        ("window_1h_bucket_1m", 3_600_000, 60_000),
        ("window_24h_bucket_15m", 86_400_000, 900_000),
        ("window_7d_bucket_2h_all_rows", WEEK_MS, 7_200_000),
    ] {
        let query = UsageQuery {
            since_ms: end - window_ms,
            until_ms: end,
            bucket_ms,
            api_key: None,
        };
        let usage = rt.block_on(dashboard.trace_usage(query.clone())).unwrap();
        let rows: u64 = usage.points.iter().map(|p| p.requests).sum();
        eprintln!("{name}: {rows} traces in {} points", usage.points.len());
        group.bench_function(name, |b| {
            b.to_async(&rt)
                .iter(|| async { dashboard.trace_usage(query.clone()).await.unwrap() })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
