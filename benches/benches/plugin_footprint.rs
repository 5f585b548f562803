//! Memory per loaded plugin and how long a runaway call runs before its fuel is gone (issue 7).
//! Not a criterion bench: it prints one table.
//!
//! `cargo bench -p ollama-dash-benches --bench plugin_footprint`

use std::time::Instant;

use ollama_dash_host::plugins::{ModelFacts, PluginHost, PluginsConfig};
use ollama_dash_tests::plugin_paths as wasm;

/// Resident set size in bytes, from `/proc/self/statm`.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    // Distinct plugin names (a second file with a taken name is refused).
    let plugins = [
        (wasm::CODE_MODELS, "code_models.wasm"),
        (wasm::VRAM_HEADROOM, "vram_headroom.wasm"),
        (wasm::SDK_EXAMPLE, "sdk_example.wasm"),
        (wasm::ECHO_V1, "echo.wasm"),
        (wasm::SPIN, "spin.wasm"),
        (wasm::HOG, "hog.wasm"),
        (wasm::PANICKY, "panicky.wasm"),
        (wasm::BAD_SHAPE, "bad_shape.wasm"),
    ];
    let data = tempfile::tempdir().expect("tempdir");
    let host = PluginHost::new(PluginsConfig::under(data.path(), None)).expect("host");
    // Warm the compile cache and the allocator so the measured load is a restart's load.
    for (built, file) in plugins {
        std::fs::copy(built, host.dir().join(file)).expect("copy");
    }
    host.reload_blocking(false);
    for (_, file) in plugins {
        std::fs::remove_file(host.dir().join(file)).expect("remove");
    }
    host.reload_blocking(false);
    let before = rss();
    for (built, file) in plugins {
        std::fs::copy(built, host.dir().join(file)).expect("copy");
    }
    let report = host.reload_blocking(false);
    assert_eq!(report.loaded.len(), plugins.len(), "{report:?}");
    let after = rss();
    let per_plugin = after.saturating_sub(before) / plugins.len() as u64;
    println!(
        "RSS before {} KiB, after loading {} plugins {} KiB: {} KiB per loaded plugin \
         (compiled code + pre-instance + one warm instance)",
        before / 1024,
        plugins.len(),
        after / 1024,
        per_plugin / 1024
    );

    let data = tempfile::tempdir().expect("tempdir");
    let host = PluginHost::new(PluginsConfig::under(data.path(), None)).expect("host");
    std::fs::copy(wasm::SPIN, host.dir().join("spin.wasm")).expect("copy");
    std::fs::write(host.dir().join("spin.toml"), "max_failures = 100\n").expect("manifest");
    host.reload_blocking(false);
    let facts = ModelFacts::default();
    let mut times: Vec<f64> = (0..20)
        .map(|_| {
            let started = Instant::now();
            host.detect(&facts);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let spin = &host.list()[0];
    assert_eq!(spin.health.timeouts, 20, "{spin:?}");
    println!(
        "runaway call (spin, default fuel {}) stopped out of fuel after: min {:.2} ms, median {:.2} ms, max {:.2} ms",
        spin.fuel,
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
}
