//! One routing decision over fleets of 4, 16 and 100 nodes. `pick`: the pure choice over
//! candidates with mixed state (some down or draining, some holding the model, busy or not, free
//! VRAM all over). `fleet_route`: the whole [`Fleet::route`] of a request as the gateway makes
//! it — the conversation key hashed from the messages, a snapshot of the node list, every
//! node's state read under its lock, the VRAM estimate, the pick, a slot taken (half the nodes
//! have `max_parallel`) and given back, the affinity and decision counters written — over a
//! fleet of a real [`Dashboard`] whose nodes were probed (all at one simulator). The goal of
//! issue 12 is ≤ 20 µs with 100 nodes.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark")]

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ollama_dash_core::fleet::{Affinity, Candidate, Hints, NodeConfig, pick};
use ollama_dash_core::ollama::types::Message;
use ollama_dash_core::{Dashboard, DashboardConfig};
use ollama_dash_host::sim::{SimConfig, Simulator};

fn fleet(n: usize) -> Vec<Candidate> {
    (0..n)
        .map(|i| Candidate {
            up: i % 17 != 3,
            draining: i % 29 == 5,
            installed: Some(i % 3 != 1),
            resident: i % 5 == 0,
            in_flight: i % 4,
            queued: i % 7,
            slots: Some(2),
            free_vram: Some(((i % 24) as u64) << 30),
            node_in_flight: i % 9,
            weight: 1.0 + (i % 3) as f64,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("route");
    for n in [4, 16, 100] {
        let nodes = fleet(n);
        group.bench_with_input(BenchmarkId::new("pick", n), &nodes, |b, nodes| {
            b.iter(|| pick(std::hint::black_box(nodes), 6 << 30, None, &[]))
        });
        let sticky = Some(Affinity { node: n / 2 });
        group.bench_with_input(BenchmarkId::new("pick_affinity", n), &nodes, |b, nodes| {
            b.iter(|| pick(std::hint::black_box(nodes), 6 << 30, sticky, &[]))
        });
    }
    group.finish();
}

/// A dashboard in front of `n` nodes (every one at the same simulator, which holds the model
/// resident), once each node's probe has seen its models.
async fn probed_fleet(n: usize, data: &std::path::Path) -> (Dashboard, impl Sized) {
    let sim = SimConfig {
        preload: vec!["llama3.2:1b".to_owned()],
        ..SimConfig::default()
    };
    let sim = Simulator::start(sim).await.expect("simulator");
    let mut config = DashboardConfig::with_data_path(data);
    config.ollama_host = sim.url();
    config.live.ps_interval_secs = 0.5;
    config.live.tags_interval_secs = 600.0;
    config.nodes = (0..n)
        .map(|i| {
            let mut node = NodeConfig::new(format!("n{i}"), sim.url());
            node.vram_bytes = Some(((8 + i % 17) as u64) << 30);
            node.max_parallel = (i % 2 == 0).then_some(4);
            node
        })
        .collect();
    let dashboard = Dashboard::new(config).await.expect("dashboard");
    let deadline = Instant::now() + Duration::from_secs(60);
    while dashboard
        .fleet()
        .status()
        .iter()
        .any(|s| s.version.is_none())
    {
        assert!(Instant::now() < deadline, "the nodes were not probed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (dashboard, sim)
}

fn bench_fleet(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let data = tempfile::tempdir().expect("data dir");
    let said = |role: &str, content: &str| Message {
        role: role.to_owned(),
        content: content.to_owned(),
        ..Message::default()
    };
    let messages = vec![
        said("system", "You are brief."),
        said("user", "What is a GPU?"),
    ];
    let mut group = c.benchmark_group("route");
    for n in [4, 16, 100] {
        let dir = data.path().join(n.to_string());
        let (dashboard, _sim) = rt.block_on(probed_fleet(n, &dir));
        let fleet = dashboard.fleet().clone();
        group.bench_function(BenchmarkId::new("fleet_route", n), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iters {
                        let hints = Hints::chat("llama3.2:1b", &messages, Some(4096));
                        let routed = fleet
                            .route("llama3.2:1b", &hints, &[])
                            .await
                            .expect("routed");
                        std::hint::black_box(&routed);
                    }
                    started.elapsed()
                })
            })
        });
        rt.block_on(dashboard.shutdown()).expect("shutdown");
    }
    group.finish();
}

criterion_group!(benches, bench, bench_fleet);
criterion_main!(benches);
