//! The files under `packaging/` against the real program: the example config lists every key
//! the loader knows with its default (so it cannot drift), and the systemd unit verifies.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ollama_dash_core::DashboardConfig;
use ollama_dash_host::config::{Config, HostConfig};

/// Keys the example may leave commented out: their default is computed or "unset".
const COMPUTED: &[&str] = &[
    "data_path",
    "auth_token",
    "plugins_dir",
    "ollama_models_path",
    "start_keep_alive",
    "ollama_binary",
];

fn packaging(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging")
        .join(file)
}

fn example() -> String {
    std::fs::read_to_string(packaging("ollama-dash.toml")).expect("packaging/ollama-dash.toml")
}

/// Every key the loader reads: the library's (from its serialised defaults, flattened parts
/// included) and the server's (the fields its `Deserialize` asks for).
fn known_keys() -> BTreeSet<String> {
    let defaults = serde_json::to_value(DashboardConfig::with_data_path("/x")).expect("json");
    let mut keys: BTreeSet<String> = defaults
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.extend(
        ollama_dash_core::config::keys::fields::<HostConfig>()
            .into_iter()
            .map(str::to_owned),
    );
    keys
}

/// The keys the file sets, and those it shows commented out (`# key = …`).
fn listed_keys(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let table: toml::Table = text.parse().expect("the example is valid TOML");
    let set = table.keys().cloned().collect();
    let commented = text
        .lines()
        .filter_map(|line| line.strip_prefix("# "))
        .filter_map(|rest| rest.split_once(" = "))
        .map(|(key, _)| key.to_owned())
        .filter(|key| key.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect();
    (set, commented)
}

/// The effective configuration, comparable: both parts through the real loader.
fn load(file: &Path) -> (serde_json::Value, String) {
    let config = Config::load(Some(file)).expect("the config loads");
    let dashboard = serde_json::to_value(&config.dashboard).expect("json");
    (dashboard, format!("{:?}", config.host))
}

#[test]
fn example_config_lists_every_key_the_loader_knows() {
    let known = known_keys();
    assert!(
        known.contains("ollama_host")
            && known.contains("listen")
            && known.contains("ps_interval_secs"),
        "both parts and the flattened live part are found: {known:?}"
    );
    let (set, commented) = listed_keys(&example());
    let unknown: Vec<&String> = set.difference(&known).collect();
    assert!(
        unknown.is_empty(),
        "keys the loader does not know: {unknown:?}"
    );
    let commented: BTreeSet<String> = commented.intersection(&known).cloned().collect();
    let missing: Vec<&String> = known
        .iter()
        .filter(|k| !set.contains(*k) && !commented.contains(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "keys the example does not list: {missing:?}"
    );
    let computed: BTreeSet<String> = COMPUTED.iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(
        commented, computed,
        "only keys without a fixed default may be left commented out"
    );
    assert!(
        set.is_disjoint(&computed),
        "a computed default has no value to write down"
    );
}

#[test]
fn example_config_values_are_the_defaults() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").expect("write");
    // The same loader, with the same environment, for both: only the file differs.
    let defaults = load(&empty);
    assert_eq!(load(&packaging("ollama-dash.toml")), defaults);

    // And the comparison sees a changed value.
    let changed = dir.path().join("changed.toml");
    let text = example().replace("trace_max_rows = 1000000", "trace_max_rows = 5");
    assert_ne!(text, example(), "the example sets trace_max_rows");
    std::fs::write(&changed, text).expect("write");
    assert_ne!(load(&changed), defaults);
}

#[test]
fn systemd_unit_verifies() {
    let Some(analyze) = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    else {
        println!("systemd-analyze is not installed: packaging/ollama-dash.service not verified");
        return;
    };
    let unit = std::fs::read_to_string(packaging("ollama-dash.service")).expect("the unit");
    assert!(unit.contains("ExecStart=/usr/local/bin/ollama-dash serve"));
    for hardening in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=ollama-dash",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
    ] {
        assert!(unit.contains(hardening), "{hardening:?} is set");
    }
    // `verify` checks that ExecStart is executable: point it at the binary just built.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ollama-dash.service");
    let unit = unit.replace(
        "/usr/local/bin/ollama-dash",
        env!("CARGO_BIN_EXE_ollama-dash"),
    );
    std::fs::write(&path, unit).expect("write");
    let out = std::process::Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{stderr}");
    // Unknown or misspelt settings are only warnings (exit 0): any output is a failure.
    assert!(
        stderr.trim().is_empty() && stdout.trim().is_empty(),
        "{stdout}{stderr}"
    );
}
