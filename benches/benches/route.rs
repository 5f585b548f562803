//! One routing decision (`fleet::pick`) over fleets of 4, 16 and 100 nodes with mixed state:
//! some down or draining, some holding the model (busy or not), free VRAM all over. The goal of
//! issue 12 is ≤ 20 µs with 100 nodes.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ollama_dash_core::fleet::{Affinity, Candidate, pick};

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

criterion_group!(benches, bench);
criterion_main!(benches);
