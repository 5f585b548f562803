//! Plugin call overhead and load times (issue 7). Figures in `benches/RESULTS.md`.
//!
//! `cargo bench -p ollama-dash-benches --bench plugins`

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use ollama_dash_host::plugins::{
    HostSnapshot, ModelFacts, PluginHost, PluginsConfig, SnapshotModel,
};
use ollama_dash_tests::plugin_paths as wasm;

fn host_with(data: &Path, plugins: &[(&str, &str)], cache: bool) -> PluginHost {
    let mut config = PluginsConfig::under(data, None);
    if !cache {
        config.cache_dir = None;
    }
    let host = PluginHost::new(config).expect("plugin host");
    for (built, file) in plugins {
        std::fs::copy(built, host.dir().join(file)).expect("copy");
    }
    let report = host.reload_blocking(false);
    assert_eq!(report.loaded.len(), plugins.len(), "{report:?}");
    host
}

fn facts() -> ModelFacts {
    ModelFacts {
        name: "qwen2.5-coder:7b".into(),
        family: "qwen2".into(),
        families: vec!["qwen2".into()],
        parameter_size: "7.6B".into(),
        quantization: "Q4_K_M".into(),
        capabilities: vec!["completion".into(), "insert".into()],
        model_info: (0..20)
            .map(|i| (format!("qwen2.key_{i}"), format!("{}", i * 1000)))
            .collect(),
        template: "{{- if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>{{- else }}{{ .Prompt }}{{- end }}".into(),
    }
}

fn snapshot() -> HostSnapshot {
    let gib = 1u64 << 30;
    HostSnapshot {
        memory_total_bytes: 24 * gib,
        memory_used_bytes: 6 * gib,
        installed: (1..=8)
            .map(|i| SnapshotModel {
                name: format!("model-{i}:latest"),
                size_bytes: i * gib,
                ..SnapshotModel::default()
            })
            .collect(),
        ..HostSnapshot::default()
    }
}

fn calls(c: &mut Criterion) {
    let data = tempfile::tempdir().expect("tempdir");
    let host = host_with(
        data.path(),
        &[
            (wasm::CODE_MODELS, "code_models.wasm"),
            (wasm::VRAM_HEADROOM, "vram_headroom.wasm"),
        ],
        true,
    );
    let facts = facts();
    let snapshot = snapshot();
    assert_eq!(host.detect(&facts).len(), 2);
    assert_eq!(host.collect(&snapshot).len(), 5);
    c.bench_function("detector call (code-models, warm instance)", |b| {
        b.iter(|| black_box(host.detect(black_box(&facts))))
    });
    c.bench_function("collector call (vram-headroom, warm instance)", |b| {
        b.iter(|| black_box(host.collect(black_box(&snapshot))))
    });

    let data = tempfile::tempdir().expect("tempdir");
    let mut config = PluginsConfig::under(data.path(), None);
    config.cache_dir = None;
    let fresh = PluginHost::new(config).expect("plugin host");
    for (built, file) in [
        (wasm::CODE_MODELS, "code_models.wasm"),
        (wasm::VRAM_HEADROOM, "vram_headroom.wasm"),
    ] {
        std::fs::copy(built, fresh.dir().join(file)).expect("copy");
        let manifest = fresh.dir().join(file.replace(".wasm", ".toml"));
        std::fs::write(manifest, "fresh_instance = true\n").expect("manifest");
    }
    assert_eq!(fresh.reload_blocking(false).loaded.len(), 2);
    assert_eq!(fresh.detect(&facts).len(), 2);
    c.bench_function(
        "detector call (code-models, fresh instance per call)",
        |b| b.iter(|| black_box(fresh.detect(black_box(&facts)))),
    );
    c.bench_function(
        "collector call (vram-headroom, fresh instance per call)",
        |b| b.iter(|| black_box(fresh.collect(black_box(&snapshot)))),
    );
}

fn loads(c: &mut Criterion) {
    let mut group = c.benchmark_group("load code-models");
    group.sample_size(10);
    let data = tempfile::tempdir().expect("tempdir");
    let cold = host_with(
        data.path(),
        &[(wasm::CODE_MODELS, "code_models.wasm")],
        false,
    );
    group.bench_function("cold (compile)", |b| {
        b.iter(|| assert_eq!(cold.reload_blocking(true).loaded.len(), 1))
    });
    let data = tempfile::tempdir().expect("tempdir");
    let cached = host_with(
        data.path(),
        &[(wasm::CODE_MODELS, "code_models.wasm")],
        true,
    );
    group.bench_function("cached (compile cache hit)", |b| {
        b.iter(|| assert_eq!(cached.reload_blocking(true).loaded.len(), 1))
    });
    group.finish();
}

criterion_group!(benches, calls, loads);
criterion_main!(benches);
