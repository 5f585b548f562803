//! Load (#13 item 3): 10,000 mixed requests at concurrency 32 against the real binary
//! (`serve --simulate`): OpenAI chat, the model list, trace pages, health and the event stream.
//! Every one must succeed; the figures (p50/p99 per route, RSS before and after) are printed for
//! `benches/RESULTS.md`, not asserted — speed is for benchmarks.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

const TOKEN: &str = "load-suite-token-0123456789";
const TOTAL: usize = 10_000;
const CONCURRENCY: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Route {
    Chat,
    Models,
    Traces,
    Health,
    Events,
}

/// The mix, repeated: 2 chats, 2 model lists, 2 trace pages, 3 health checks, 1 event stream.
const MIX: [Route; 10] = [
    Route::Chat,
    Route::Health,
    Route::Models,
    Route::Traces,
    Route::Health,
    Route::Chat,
    Route::Models,
    Route::Events,
    Route::Traces,
    Route::Health,
];

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// One request; whether it was answered in full with 200.
async fn one(client: &reqwest::Client, base: &str, route: Route) -> Result<(), String> {
    let auth = format!("Bearer {TOKEN}");
    let request = match route {
        Route::Chat => {
            client
                .post(format!("{base}/v1/chat/completions"))
                .json(&serde_json::json!({
                    "model": "llama3.2:1b",
                    "messages": [{"role": "user", "content": "hi"}],
                    "max_tokens": 3,
                }))
        }
        Route::Models => client.get(format!("{base}/v1/models")),
        Route::Traces => client.get(format!("{base}/v1/traces?limit=20")),
        Route::Health => client.get(format!("{base}/api/health")),
        Route::Events => client.get(format!("{base}/api/events")),
    };
    let response = request
        .header("authorization", auth)
        .send()
        .await
        .map_err(|e| format!("{route:?}: {e}"))?;
    if response.status() != 200 {
        return Err(format!("{route:?}: {}", response.status()));
    }
    if route == Route::Events {
        // The stream stays open: its first event is the answer.
        let mut body = response.bytes_stream();
        return match tokio::time::timeout(Duration::from_secs(10), body.next()).await {
            Ok(Some(Ok(chunk))) if !chunk.is_empty() => Ok(()),
            other => Err(format!("events: {other:?}")),
        };
    }
    response
        .bytes()
        .await
        .map(drop)
        .map_err(|e| format!("{route:?} body: {e}"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_mixed_requests_at_concurrency_32_all_succeed() {
    let data = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_ollama-dash");
    let served =
        support::serve_simulated(std::process::Command::new(bin), data.path(), TOKEN, |_| {});
    let pid = served.child.id();
    let base = served.base.clone();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    for route in MIX {
        one(&client, &base, route).await.unwrap();
    }
    let rss_before = rss_kib(pid);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, base, next) = (client.clone(), base.clone(), Arc::clone(&next));
            tokio::spawn(async move {
                let mut seen = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= TOTAL {
                        return seen;
                    }
                    let route = MIX[i % MIX.len()];
                    let t = Instant::now();
                    let outcome = one(&client, &base, route).await;
                    seen.push((route, t.elapsed().as_secs_f64() * 1000.0, outcome));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    let wall = started.elapsed();
    let rss_after = rss_kib(pid);
    let errors: Vec<&String> = all
        .iter()
        .filter_map(|(_, _, o)| o.as_ref().err())
        .collect();
    eprintln!(
        "load: {} requests at c={CONCURRENCY} in {:.1} s ({:.0} req/s), {} errors; RSS {} → {} MiB",
        all.len(),
        wall.as_secs_f64(),
        all.len() as f64 / wall.as_secs_f64(),
        errors.len(),
        rss_before / 1024,
        rss_after / 1024,
    );
    for route in [
        Route::Chat,
        Route::Models,
        Route::Traces,
        Route::Health,
        Route::Events,
    ] {
        let mut ms: Vec<f64> = all
            .iter()
            .filter(|(r, _, _)| *r == route)
            .map(|(_, ms, _)| *ms)
            .collect();
        ms.sort_by(f64::total_cmp);
        eprintln!(
            "load: {route:?}: {} requests, p50 {:.2} ms, p99 {:.2} ms",
            ms.len(),
            percentile(&ms, 0.5),
            percentile(&ms, 0.99)
        );
    }
    assert_eq!(all.len(), TOTAL);
    assert!(
        errors.is_empty(),
        "{} failed, first: {:?}",
        errors.len(),
        errors.first()
    );
    // The server is still whole afterwards.
    one(&client, &base, Route::Health).await.unwrap();
    drop(served);
}
