//! The plugin host on its own: the example plugins answer, hostile plugins end degraded or
//! disabled while the others keep answering, hot reload, manifests, the compile cache.

use std::path::Path;
use std::time::Duration;

use ollama_dash_host::plugins::{
    HostSnapshot, ModelFacts, PluginHost, PluginState, PluginStatus, PluginsConfig, Provides,
    SnapshotModel,
};
use ollama_dash_tests::plugin_paths as wasm;

/// A host over a fresh plugins dir. The compile cache is shared by the tests (it is keyed by
/// content), so each plugin is compiled once per test run, not once per test.
pub(crate) fn host() -> (tempfile::TempDir, PluginHost) {
    let data = tempfile::tempdir().expect("tempdir");
    let mut config = PluginsConfig::under(data.path(), None);
    config.cache_dir = Some(shared_cache());
    let host = PluginHost::new(config).expect("plugin host");
    (data, host)
}

fn shared_cache() -> std::path::PathBuf {
    Path::new(wasm::CODE_MODELS)
        .ancestors()
        .nth(3)
        .expect("target/wasm-plugins")
        .join("test-compile-cache")
}

/// Copies a built plugin into the host's dir as `file`.
pub(crate) fn install(host: &PluginHost, built: &str, file: &str) {
    std::fs::copy(built, host.dir().join(file)).expect("copying a plugin");
}

pub(crate) fn status(host: &PluginHost, file: &str) -> PluginStatus {
    host.list()
        .into_iter()
        .find(|p| p.file == file)
        .unwrap_or_else(|| panic!("{file} is not listed: {:?}", host.list()))
}

pub(crate) fn coder() -> ModelFacts {
    ModelFacts {
        name: "qwen2.5-coder:7b".into(),
        family: "qwen2".into(),
        families: vec!["qwen2".into()],
        capabilities: vec!["completion".into(), "insert".into()],
        template: "{{- if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>{{ end }}".into(),
        ..ModelFacts::default()
    }
}

pub(crate) fn chat_model() -> ModelFacts {
    ModelFacts {
        name: "llama3.2:1b".into(),
        family: "llama".into(),
        families: vec!["llama".into()],
        capabilities: vec!["completion".into(), "tools".into()],
        template: "{{ .System }} {{ .Prompt }}".into(),
        ..ModelFacts::default()
    }
}

fn flags(host: &PluginHost, facts: &ModelFacts) -> Vec<(String, String)> {
    host.detect(facts)
        .into_iter()
        .map(|f| (f.flag, f.plugin))
        .collect()
}

fn pair(flag: &str, plugin: &str) -> (String, String) {
    (flag.to_owned(), plugin.to_owned())
}

#[test]
fn the_code_models_example_flags_coders_and_fim_templates_only() {
    let (_data, host) = host();
    install(&host, wasm::CODE_MODELS, "code_models.wasm");
    let report = host.reload_blocking(false);
    assert_eq!(report.loaded, ["code-models"], "{report:?}");
    assert_eq!(
        flags(&host, &coder()),
        [
            pair("code", "code-models"),
            pair("fill-in-middle", "code-models")
        ]
    );
    assert_eq!(flags(&host, &chat_model()), []);
    assert_eq!(
        host.detect_one("code-models", &coder()),
        Some(vec!["code".to_owned(), "fill-in-middle".to_owned()])
    );
    assert_eq!(host.detect_one("no-such-plugin", &coder()), None);
    assert_eq!(host.providing(Provides::Detector), ["code-models"]);
    let starcoder = ModelFacts {
        name: "starcoder2:3b".into(),
        family: "starcoder2".into(),
        ..ModelFacts::default()
    };
    assert_eq!(flags(&host, &starcoder), [pair("code", "code-models")]);
    let listed = status(&host, "code_models.wasm");
    assert_eq!(listed.state(), PluginState::Active);
    assert_eq!(listed.health.calls, 4);
    assert!(listed.health.p50_us.is_some() && listed.health.p99_us.is_some());
}

#[test]
fn the_sdk_doc_example_is_a_working_detector() {
    let (_data, host) = host();
    install(&host, wasm::SDK_EXAMPLE, "sdk_example.wasm");
    assert_eq!(host.reload_blocking(false).loaded, ["sdk-example"]);
    assert_eq!(flags(&host, &coder()), [pair("code", "sdk-example")]);
    assert_eq!(flags(&host, &chat_model()), []);
}

#[test]
fn the_vram_headroom_example_sizes_up_the_largest_model() {
    let (_data, host) = host();
    install(&host, wasm::VRAM_HEADROOM, "vram_headroom.wasm");
    assert_eq!(host.reload_blocking(false).loaded, ["vram-headroom"]);
    let gib = 1u64 << 30;
    let model = |name: &str, size| SnapshotModel {
        name: name.into(),
        size_bytes: size,
        ..SnapshotModel::default()
    };
    let snapshot = HostSnapshot {
        memory_total_bytes: 16 * gib,
        memory_used_bytes: 4 * gib,
        installed: vec![
            model("small:1b", gib),
            model("big:70b", 40 * gib),
            model("mid:8b", 5 * gib),
        ],
        ..HostSnapshot::default()
    };
    let metrics = host.collect(&snapshot);
    let value = |name: &str| {
        metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no {name} in {metrics:?}"))
    };
    assert_eq!(value("largest_model_bytes").value, (40 * gib) as f64);
    assert_eq!(
        value("largest_model_needed_bytes").value,
        40.0 * 1.2 * gib as f64
    );
    let headroom = value("largest_model_headroom_bytes");
    assert_eq!(headroom.value, 16.0 * gib as f64 - 48.0 * gib as f64);
    assert!(headroom.labels.contains(&("device".into(), "ram".into())));
    assert!(
        headroom
            .labels
            .contains(&("model".into(), "big:70b".into()))
    );
    assert_eq!(value("largest_model_fits_now").value, 0.0);
    assert_eq!(value("installed_models_fitting").value, 2.0);
    assert!(metrics.iter().all(|m| m.plugin == "vram-headroom"));
    assert_eq!(host.latest_metrics(), metrics);
}

/// Calls a hostile plugin's detector (and collector) until it is disabled, checking that a
/// well-behaved plugin keeps answering after every failure.
fn drive_until_disabled(file: &str, built: &str, expect_kind: &str) -> PluginStatus {
    let (_data, host) = host();
    install(&host, wasm::CODE_MODELS, "code_models.wasm");
    install(&host, built, file);
    let report = host.reload_blocking(false);
    assert_eq!(report.loaded.len(), 2, "{report:?}");
    let first = {
        let flags = flags(&host, &coder());
        assert!(flags.contains(&pair("code", "code-models")), "{flags:?}");
        status(&host, file)
    };
    assert_eq!(first.state(), PluginState::Degraded, "{first:?}");
    assert_eq!(first.health.failures, 1);
    let error = first.health.last_error.unwrap_or_default();
    assert!(error.starts_with(expect_kind), "{file}: {error}");
    for _ in 0..5 {
        assert!(flags(&host, &coder()).contains(&pair("code", "code-models")));
        host.collect(&HostSnapshot::default());
    }
    let last = status(&host, file);
    assert_eq!(last.state(), PluginState::Disabled, "{last:?}");
    assert_eq!(
        last.health.failures, 3,
        "disabled after 3 in a row, then never called"
    );
    assert_eq!(
        status(&host, "code_models.wasm").state(),
        PluginState::Active
    );
    // A forced reload (POST /api/plugins/reload) gives it another chance.
    host.reload_blocking(true);
    assert_eq!(status(&host, file).state(), PluginState::Active);
    last
}

#[test]
fn an_endless_loop_runs_out_of_fuel_and_is_disabled() {
    let status = drive_until_disabled("spin.wasm", wasm::SPIN, "timeout");
    assert_eq!(status.health.timeouts, 3);
}

#[test]
fn unbounded_allocation_hits_the_memory_cap_and_is_disabled() {
    let status = drive_until_disabled("hog.wasm", wasm::HOG, "trap");
    assert_eq!(status.health.traps, 3);
    let error = status.health.last_error.unwrap_or_default();
    assert!(error.contains("memory"), "{error}");
}

#[test]
fn a_panic_traps_and_is_disabled() {
    let status = drive_until_disabled("panicky.wasm", wasm::PANICKY, "trap");
    assert_eq!(status.health.traps, 3);
}

#[test]
fn a_wrong_answer_shape_is_refused_and_disabled() {
    let status = drive_until_disabled("bad_shape.wasm", wasm::BAD_SHAPE, "malformed");
    assert_eq!(status.health.malformed, 3);
}

#[test]
fn a_log_flood_is_cut_off_and_disabled() {
    let status = drive_until_disabled("chatty.wasm", wasm::CHATTY, "malformed");
    // detect: one 2 MiB line, more than a call may hand the host; collect: line 33 traps.
    assert_eq!(status.health.malformed + status.health.traps, 3);
    assert!(status.health.traps >= 1, "{status:?}");
}

#[test]
fn work_that_fuel_does_not_count_hits_the_wall_clock_deadline() {
    let status = drive_until_disabled("entropy.wasm", wasm::ENTROPY, "timeout");
    assert_eq!(status.health.timeouts, 3);
    let error = status.health.last_error.unwrap_or_default();
    assert!(error.contains("interrupt"), "{error}");
}

#[test]
fn a_shadowed_duplicate_serves_once_the_first_file_goes() {
    let (_data, host) = host();
    install(&host, wasm::ECHO_V1, "a.wasm");
    install(&host, wasm::ECHO_V2, "b.wasm");
    let report = host.reload_blocking(false);
    assert_eq!(report.loaded, ["echo"]);
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(report.failed[0].1.contains("a.wasm"), "{report:?}");
    assert_eq!(status(&host, "b.wasm").state(), PluginState::Failed);
    assert_eq!(flags(&host, &chat_model()), [pair("echo-v1", "echo")]);
    std::fs::remove_file(host.dir().join("a.wasm")).expect("delete");
    let report = host.reload_blocking(false);
    assert_eq!(
        report.loaded,
        ["echo"],
        "b.wasm serves without being touched"
    );
    assert_eq!(status(&host, "b.wasm").state(), PluginState::Active);
    assert_eq!(flags(&host, &chat_model()), [pair("echo-v2", "echo")]);
}

#[test]
fn a_malformed_metric_set_is_refused_whole() {
    let (_data, host) = host();
    install(&host, wasm::BAD_SHAPE, "bad_shape.wasm");
    install(&host, wasm::VRAM_HEADROOM, "vram_headroom.wasm");
    host.reload_blocking(false);
    let metrics = host.collect(&HostSnapshot::default());
    assert!(
        metrics.iter().all(|m| m.plugin == "vram-headroom"),
        "{metrics:?}"
    );
    assert!(!metrics.is_empty());
    let bad = status(&host, "bad_shape.wasm");
    assert_eq!(bad.health.malformed, 1);
    let error = bad.health.last_error.unwrap_or_default();
    assert!(error.contains("not a name!"), "{error}");
}

#[test]
fn a_trapped_instance_is_never_entered_again() {
    let (_data, host) = host();
    install(&host, wasm::SPIN, "spin.wasm");
    std::fs::write(
        host.dir().join("spin.toml"),
        "max_failures = 10\nfuel = 200000\n",
    )
    .expect("manifest");
    host.reload_blocking(false);
    for _ in 0..4 {
        host.detect(&coder());
    }
    let spin = status(&host, "spin.wasm");
    // Re-entering a trapped instance would fail with "cannot enter component instance", a
    // trap; every call here ran out of fuel on a fresh instance instead.
    assert_eq!(
        (spin.health.timeouts, spin.health.traps),
        (4, 0),
        "{spin:?}"
    );
    assert_eq!(spin.fuel, 200_000);
    assert_eq!(spin.state(), PluginState::Degraded);
}

#[test]
fn plugins_that_reach_for_files_or_the_clock_are_refused_at_load() {
    let (_data, host) = host();
    install(&host, wasm::SNOOP, "snoop.wasm");
    let report = host.reload_blocking(false);
    assert!(report.loaded.is_empty(), "{report:?}");
    let snoop = status(&host, "snoop.wasm");
    assert_eq!(snoop.state(), PluginState::Failed);
    let error = snoop.health.last_error.unwrap_or_default();
    assert!(
        error.contains("wasi:filesystem") || error.contains("wasi:clocks"),
        "{error}"
    );
}

#[test]
fn files_that_are_not_components_fail_with_a_reason() {
    let (_data, host) = host();
    std::fs::write(host.dir().join("junk.wasm"), b"not wasm at all").expect("write");
    std::fs::write(host.dir().join("core.wasm"), b"\0asm\x01\0\0\0").expect("write");
    install(&host, wasm::CODE_MODELS, "dup.wasm");
    install(&host, wasm::CODE_MODELS, "code_models.wasm");
    host.reload_blocking(false);
    for file in ["junk.wasm", "core.wasm"] {
        let s = status(&host, file);
        assert_eq!(s.state(), PluginState::Failed);
        assert!(
            s.health
                .last_error
                .unwrap_or_default()
                .contains("component")
        );
    }
    let dup = status(&host, "dup.wasm");
    assert_eq!(
        dup.state(),
        PluginState::Failed,
        "same name as code_models.wasm"
    );
    assert_eq!(
        status(&host, "code_models.wasm").state(),
        PluginState::Active
    );
}

#[test]
fn manifests_set_settings_and_limits_and_bad_ones_fail_the_plugin() {
    let (_data, host) = host();
    install(&host, wasm::CODE_MODELS, "code_models.wasm");
    std::fs::write(
        host.dir().join("code_models.toml"),
        "memory_mib = 4\n[settings]\nextra_names = \"mycorp-dev\"\n",
    )
    .expect("manifest");
    host.reload_blocking(false);
    let ours = ModelFacts {
        name: "mycorp-dev-13b:latest".into(),
        ..ModelFacts::default()
    };
    assert_eq!(flags(&host, &ours), [pair("code", "code-models")]);
    assert_eq!(status(&host, "code_models.wasm").memory_mib, 4);

    std::fs::write(
        host.dir().join("code_models.toml"),
        "fresh_instance = true\n[settings]\nextra_names = \"mycorp-dev\"\n",
    )
    .expect("manifest");
    host.reload_blocking(false);
    for _ in 0..3 {
        assert_eq!(flags(&host, &ours), [pair("code", "code-models")]);
    }
    let fresh = status(&host, "code_models.wasm");
    assert!(fresh.fresh_instance);
    assert_eq!((fresh.health.calls, fresh.health.failures), (3, 0));

    std::fs::write(
        host.dir().join("code_models.toml"),
        "[settings]\ncolour = \"red\"\n",
    )
    .expect("manifest");
    let report = host.reload_blocking(false);
    assert_eq!(
        report.changed,
        ["code_models.wasm"],
        "a manifest change reloads"
    );
    let refused = status(&host, "code_models.wasm");
    assert_eq!(refused.state(), PluginState::Failed);
    assert!(
        refused
            .health
            .last_error
            .unwrap_or_default()
            .contains("colour")
    );

    std::fs::write(host.dir().join("code_models.toml"), "enabled = false\n").expect("manifest");
    host.reload_blocking(false);
    assert_eq!(
        status(&host, "code_models.wasm").state(),
        PluginState::Disabled
    );
    assert_eq!(flags(&host, &coder()), []);
}

#[test]
fn hot_reload_serves_new_replaced_and_forgets_deleted_plugins() {
    let (_data, host) = host();
    assert!(host.reload_blocking(false).loaded.is_empty());

    install(&host, wasm::ECHO_V1, "echo.wasm");
    let report = host.reload_blocking(false);
    assert_eq!(report.changed, ["echo.wasm"]);
    assert_eq!(flags(&host, &chat_model()), [pair("echo-v1", "echo")]);
    assert_eq!(status(&host, "echo.wasm").version.as_deref(), Some("1.0.0"));

    let unchanged = host.reload_blocking(false);
    assert!(!unchanged.is_change(), "{unchanged:?}");
    assert_eq!(
        status(&host, "echo.wasm").health.calls,
        1,
        "kept with its health"
    );

    install(&host, wasm::ECHO_V2, "echo.wasm");
    let report = host.reload_blocking(false);
    assert_eq!(report.changed, ["echo.wasm"]);
    assert_eq!(flags(&host, &chat_model()), [pair("echo-v2", "echo")]);
    assert_eq!(status(&host, "echo.wasm").version.as_deref(), Some("2.0.0"));
    let version = host.collect(&HostSnapshot::default());
    assert!(
        version
            .iter()
            .any(|m| m.name == "echo_version" && m.value == 2.0)
    );

    std::fs::remove_file(host.dir().join("echo.wasm")).expect("delete");
    let report = host.reload_blocking(false);
    assert_eq!(report.removed, ["echo.wasm"]);
    assert!(host.list().is_empty());
    assert_eq!(flags(&host, &chat_model()), []);
}

#[tokio::test]
async fn the_directory_watcher_reloads_on_its_own() {
    let (_data, host) = host();
    host.reload(false).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    host.watch(Duration::from_millis(20), move |report| {
        let _ = tx.send(report.clone());
    });
    install(&host, wasm::ECHO_V1, "echo.wasm");
    let report = tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("the watcher noticed the new file")
        .expect("report");
    assert_eq!(report.loaded, ["echo"]);
    std::fs::remove_file(host.dir().join("echo.wasm")).expect("delete");
    let report = tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("the watcher noticed the deletion")
        .expect("report");
    assert_eq!(report.removed, ["echo.wasm"]);
    host.stop();
}

#[test]
fn compiled_plugins_are_cached_under_the_data_path() {
    let data = tempfile::tempdir().expect("tempdir");
    let host = PluginHost::new(PluginsConfig::under(data.path(), None)).expect("plugin host");
    install(&host, wasm::CODE_MODELS, "code_models.wasm");
    host.reload_blocking(false);
    let cache = data.path().join("plugin-cache");
    assert!(
        count_files(&cache) >= 1,
        "nothing cached in {}",
        cache.display()
    );
    // A second host on the same data path (a restart) loads from that cache and works.
    let again = PluginHost::new(PluginsConfig::under(data.path(), None)).expect("host");
    assert_eq!(again.reload_blocking(false).loaded, ["code-models"]);
    assert_eq!(flags(&again, &coder()).len(), 2);
}

#[test]
fn concurrent_calls_to_one_plugin_are_served_one_at_a_time() {
    let (_data, host) = host();
    install(&host, wasm::CODE_MODELS, "code_models.wasm");
    host.reload_blocking(false);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..25 {
                    assert_eq!(host.detect(&coder()).len(), 2);
                }
            });
        }
    });
    let listed = status(&host, "code_models.wasm");
    assert_eq!((listed.health.calls, listed.health.failures), (100, 0));
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            if e.path().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}
