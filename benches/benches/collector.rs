//! CPU time of the collector's work per tick (criterion, custom measurement: CPU time, not wall
//! time, via getrusage).
//!
//! - `system_sample`: one sysinfo sample (CPU delta, per-core, memory, disks, network).
//! - `gpu_sample_no_gpu`: the GPU probe on a machine with no GPU (NVML already failed once;
//!   `nvidia-smi` looked up and not found).
//! - `refresh_all_vs_sim`: every probe once against the in-process simulator, CPU of the whole
//!   process on one thread (so the simulator's own work is included: an upper bound).

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ollama_dash_benches::{process_cpu, thread_cpu};
use ollama_dash_core::live::gpu::GpuProbe;
use ollama_dash_core::live::system::SystemProbe;
use ollama_dash_core::{Dashboard, DashboardConfig};
use ollama_dash_host::sim::{SimConfig, Simulator};

fn system_sample(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut probe = SystemProbe::new(None, dir.path().to_path_buf()).expect("probe");
    probe.sample();
    c.bench_function("system_sample", |b| {
        b.iter_custom(|iters| {
            let start = thread_cpu();
            for _ in 0..iters {
                std::hint::black_box(probe.sample());
            }
            thread_cpu() - start
        });
    });
}

fn gpu_sample(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let probe = GpuProbe::new("nvidia-smi", Duration::from_secs(5));
    let first = rt.block_on(probe.sample()).expect("sample");
    eprintln!("gpu source on this machine: {:?}", first.source);
    c.bench_function("gpu_sample_no_gpu", |b| {
        b.iter_custom(|iters| {
            let start = process_cpu();
            for _ in 0..iters {
                std::hint::black_box(rt.block_on(probe.sample()).ok());
            }
            process_cpu() - start
        });
    });
}

fn refresh_all(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let (sim, dashboard) = rt.block_on(async {
        let sim = Simulator::start(SimConfig {
            preload: vec!["llama3.2:1b".to_owned()],
            ..SimConfig::default()
        })
        .await
        .expect("sim");
        let mut config = DashboardConfig::with_data_path(dir.path());
        config.ollama_host = sim.url();
        let dashboard = Dashboard::new(config).await.expect("dashboard");
        dashboard.refresh_all().await;
        (sim, dashboard)
    });
    c.bench_function("refresh_all_vs_sim", |b| {
        b.iter_custom(|iters| {
            let start = process_cpu();
            for _ in 0..iters {
                rt.block_on(dashboard.refresh_all());
            }
            process_cpu() - start
        });
    });
    rt.block_on(async {
        dashboard.shutdown().await.expect("shutdown");
        sim.shutdown().await;
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = system_sample, gpu_sample, refresh_all
}
criterion_main!(benches);
