//! WASM plugins: capability detectors and metrics collectors loaded from a directory.
//!
//! [`PluginHost`] owns one wasmtime engine and the current [`PluginSet`]. Every `*.wasm` in the
//! plugins directory (with an optional `name.toml` manifest beside it) is compiled once (through
//! wasmtime's compile cache under `DATA_PATH/plugin-cache`), checked against the contract
//! (`bindings/wit`, `ollama-dash:plugin@0.1.0`), pre-linked, and asked who it is. Calls run in a
//! sandbox: a store of its own with a memory cap and a fuel budget, an empty WASI context, and
//! the logger as the only import. A reload builds a new set next to the old one and swaps it in;
//! unchanged files keep their loaded plugin (and its health).
#![warn(missing_docs)]

mod loaded;
mod manifest;
mod runtime;
mod sources;
mod types;
mod wiring;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use ollama_dash_core::Dashboard;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

pub use loaded::{PluginHealth, PluginState, Provides};
pub use sources::{TRACE_WINDOW, facts_from_chain, facts_from_show, snapshot_from, trace_window};
pub use types::{
    DetectedFlag, GpuFacts, HostSnapshot, MetricKind, ModelFacts, PluginMetric, SnapshotModel,
    TraceWindow,
};

use loaded::LoadedPlugin;
use manifest::Manifest;
use runtime::Runtime;

/// Largest plugin file read, in bytes.
const MAX_WASM_BYTES: u64 = 16 * 1024 * 1024;

/// Where plugins come from and how often to look.
#[derive(Debug, Clone)]
pub struct PluginsConfig {
    /// The directory scanned for `*.wasm` (created if missing).
    pub dir: PathBuf,
    /// Where compiled plugins are cached; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
}

impl PluginsConfig {
    /// `DATA_PATH/plugins` (or `plugins_dir`), cache in `DATA_PATH/plugin-cache`.
    pub fn under(data_path: &Path, plugins_dir: Option<&Path>) -> Self {
        Self {
            dir: plugins_dir.map_or_else(|| data_path.join("plugins"), Path::to_path_buf),
            cache_dir: Some(data_path.join("plugin-cache")),
        }
    }
}

/// The plugins, their health and their latest metrics. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PluginHost {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: PluginsConfig,
    runtime: Runtime,
    set: RwLock<Arc<PluginSet>>,
    reloading: tokio::sync::Mutex<()>,
    metrics: RwLock<Vec<PluginMetric>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    registered: Mutex<std::collections::HashSet<String>>,
}

/// The plugins of one scan.
#[derive(Debug, Default)]
struct PluginSet {
    entries: BTreeMap<String, Entry>,
    /// Loaded files whose plugin name an earlier file (by file name) already has: listed as
    /// failed, never called. Worked out again at every scan, so deleting the first file lets
    /// the second serve without a reload of its own.
    shadowed: BTreeMap<String, String>,
}

impl PluginSet {
    /// The loaded plugin of a file, unless it failed or is shadowed.
    fn plugin(&self, file: &str) -> Option<&Arc<LoadedPlugin>> {
        match self.entries.get(file).map(|e| &e.outcome) {
            Some(Outcome::Loaded(p)) if !self.shadowed.contains_key(file) => Some(p),
            _ => None,
        }
    }

    /// Why a file is not serving, when it is not.
    fn failure(&self, file: &str) -> Option<String> {
        match self.entries.get(file).map(|e| &e.outcome) {
            Some(Outcome::Failed(error)) => Some(error.clone()),
            Some(Outcome::Loaded(p)) => self.shadowed.get(file).map(|first| {
                format!(
                    "another plugin file ({first}) already has the name {}",
                    p.name
                )
            }),
            None => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    fingerprint: Fingerprint,
    sha256: String,
    manifest_text: Option<String>,
    outcome: Outcome,
}

#[derive(Debug, Clone)]
enum Outcome {
    Loaded(Arc<LoadedPlugin>),
    Failed(String),
}

/// Cheap change detection of the wasm and its manifest: size, modification time, inode and
/// change time (a copy that keeps the size and mtime, `cp -p`, still gets a new inode or ctime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    wasm: Stamp,
    manifest: Option<Stamp>,
}

type Stamp = (u64, Option<SystemTime>, u64, i64);

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    (
        meta.len(),
        meta.modified().ok(),
        meta.ino(),
        meta.ctime_nsec() + meta.ctime() * 1_000_000_000,
    )
}

/// One plugin as listed by [`PluginHost::list`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginStatus {
    /// File name in the plugins directory.
    pub file: String,
    /// Name it gave (the file stem when it failed to load).
    pub name: String,
    /// Version it gave.
    pub version: Option<String>,
    /// Its one-line description.
    pub description: Option<String>,
    /// What it provides.
    pub provides: Vec<Provides>,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Calls, failures, state, timings.
    #[serde(flatten)]
    pub health: PluginHealth,
    /// Memory cap in MiB.
    pub memory_mib: usize,
    /// Fuel per call.
    pub fuel: u64,
    /// A new instance for every call (manifest `fresh_instance`), instead of a warm one.
    pub fresh_instance: bool,
}

impl PluginStatus {
    /// Where it stands.
    pub fn state(&self) -> PluginState {
        self.health.state
    }
}

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReloadReport {
    /// Plugins loaded and callable (or disabled by their manifest) after it.
    pub loaded: Vec<String>,
    /// Files that failed to load, with the reason.
    pub failed: Vec<(String, String)>,
    /// Files (re)loaded by this reload.
    pub changed: Vec<String>,
    /// Files gone since the last reload.
    pub removed: Vec<String>,
}

impl ReloadReport {
    /// Whether anything was loaded, replaced or removed.
    pub fn is_change(&self) -> bool {
        !self.changed.is_empty() || !self.removed.is_empty()
    }
}

impl PluginHost {
    /// A host with no plugins loaded yet (call [`PluginHost::reload`]). Creates the plugins
    /// directory if it is missing.
    pub fn new(config: PluginsConfig) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.dir)
            .map_err(|e| anyhow::anyhow!("creating plugins dir {}: {e}", config.dir.display()))?;
        let runtime = Runtime::new(config.cache_dir.as_deref())
            .map_err(|e| anyhow::anyhow!("starting the plugin engine: {e:#}"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                runtime,
                set: RwLock::new(Arc::new(PluginSet::default())),
                reloading: tokio::sync::Mutex::new(()),
                metrics: RwLock::new(Vec::new()),
                tasks: Mutex::new(Vec::new()),
                registered: Mutex::new(std::collections::HashSet::new()),
            }),
        })
    }

    /// The plugins directory.
    pub fn dir(&self) -> &Path {
        &self.inner.config.dir
    }

    /// Rescans the directory. `force` reloads every file (re-enabling disabled plugins);
    /// otherwise only new, changed and deleted files are handled.
    pub async fn reload(&self, force: bool) -> ReloadReport {
        let _one_at_a_time = self.inner.reloading.lock().await;
        let host = self.clone();
        let scanned = tokio::task::spawn_blocking(move || host.scan(force)).await;
        match scanned {
            Ok(report) => report,
            Err(e) => {
                tracing::error!(error = %e, "plugin scan panicked; keeping the old set");
                ReloadReport::default()
            }
        }
    }

    /// The same as [`PluginHost::reload`], on the calling thread (blocking: it compiles).
    pub fn reload_blocking(&self, force: bool) -> ReloadReport {
        self.scan(force)
    }

    fn current(&self) -> Arc<PluginSet> {
        Arc::clone(&self.inner.set.read().unwrap_or_else(|p| p.into_inner()))
    }

    fn scan(&self, force: bool) -> ReloadReport {
        let old = self.current();
        let dir = &self.inner.config.dir;
        let mut files: Vec<String> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| name.ends_with(".wasm") && !name.starts_with('.'))
                .collect(),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot read the plugins dir");
                Vec::new()
            }
        };
        files.sort();
        let mut report = ReloadReport::default();
        let mut entries = BTreeMap::new();
        for file in files {
            let Some(fingerprint) = fingerprint(dir, &file) else {
                continue; // vanished while scanning
            };
            let previous = old.entries.get(&file);
            if !force && previous.is_some_and(|p| p.fingerprint == fingerprint) {
                if let Some(previous) = previous {
                    entries.insert(file, previous.clone());
                }
                continue;
            }
            let (entry, reloaded) = self.load_file(&file, fingerprint, previous, force);
            if reloaded {
                report.changed.push(file.clone());
            }
            entries.insert(file, entry);
        }
        report.removed = old
            .entries
            .keys()
            .filter(|f| !entries.contains_key(*f))
            .cloned()
            .collect();
        let set = PluginSet {
            shadowed: shadowed_files(&entries),
            entries,
        };
        for file in set.entries.keys() {
            match (set.plugin(file), set.failure(file)) {
                (Some(p), _) => report.loaded.push(p.name.to_string()),
                (None, Some(error)) => report.failed.push((file.clone(), error)),
                (None, None) => {}
            }
        }
        if report.is_change() {
            tracing::info!(loaded = ?report.loaded, failed = report.failed.len(), changed = ?report.changed, removed = ?report.removed, "plugins reloaded");
        }
        *self.inner.set.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        report
    }

    fn load_file(
        &self,
        file: &str,
        fingerprint: Fingerprint,
        previous: Option<&Entry>,
        force: bool,
    ) -> (Entry, bool) {
        let dir = &self.inner.config.dir;
        let failed = |sha256: String, manifest_text: Option<String>, error: String| {
            let error = loaded::clip(error);
            tracing::warn!(file, error = %error, "plugin failed to load");
            let entry = Entry {
                fingerprint,
                sha256,
                manifest_text,
                outcome: Outcome::Failed(error),
            };
            (entry, true)
        };
        let wasm = match read_capped(&dir.join(file)) {
            Ok(wasm) => wasm,
            Err(e) => return failed(String::new(), None, e),
        };
        let sha256 = hex::encode(Sha256::digest(&wasm));
        let manifest_path = dir.join(manifest_name(file));
        let manifest_text = match std::fs::read_to_string(&manifest_path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return failed(sha256, None, format!("reading the manifest: {e}")),
        };
        // Touched but not changed: keep the loaded plugin and its health.
        if let Some(previous) = previous
            && !force
            && previous.sha256 == sha256
            && previous.manifest_text == manifest_text
        {
            let entry = Entry {
                fingerprint,
                ..previous.clone()
            };
            return (entry, false);
        }
        let manifest = match manifest_text.as_deref().map(Manifest::parse) {
            None => Manifest::default(),
            Some(Ok(m)) => m,
            Some(Err(e)) => return failed(sha256, manifest_text, e),
        };
        let runtime = &self.inner.runtime;
        let loaded = runtime.prepare(&wasm).and_then(|pre| {
            LoadedPlugin::load(runtime, pre, file.to_owned(), sha256.clone(), manifest)
        });
        match loaded {
            Ok(plugin) => {
                let entry = Entry {
                    fingerprint,
                    sha256,
                    manifest_text,
                    outcome: Outcome::Loaded(Arc::new(plugin)),
                };
                (entry, true)
            }
            Err(e) => failed(sha256, manifest_text, e),
        }
    }

    fn loaded(&self) -> Vec<Arc<LoadedPlugin>> {
        let set = self.current();
        set.entries
            .keys()
            .filter_map(|file| set.plugin(file).map(Arc::clone))
            .collect()
    }

    /// Every plugin file, loaded or not, by file name.
    pub fn list(&self) -> Vec<PluginStatus> {
        let set = self.current();
        set.entries
            .iter()
            .map(
                |(file, entry)| match (set.plugin(file), set.failure(file)) {
                    (Some(p), _) => PluginStatus {
                        file: file.clone(),
                        name: p.name.to_string(),
                        version: Some(p.version.clone()),
                        description: Some(p.description.clone()),
                        provides: p.provides.clone(),
                        sha256: p.sha256.clone(),
                        health: p.health(),
                        memory_mib: p.manifest.limits.memory_bytes >> 20,
                        fuel: p.manifest.limits.fuel,
                        fresh_instance: p.manifest.fresh_instance,
                    },
                    (None, error) => PluginStatus {
                        file: file.clone(),
                        name: file.trim_end_matches(".wasm").to_owned(),
                        version: None,
                        description: None,
                        provides: Vec::new(),
                        sha256: entry.sha256.clone(),
                        health: PluginHealth {
                            state: PluginState::Failed,
                            calls: 0,
                            failures: 0,
                            timeouts: 0,
                            traps: 0,
                            malformed: 0,
                            last_error: error,
                            p50_us: None,
                            p99_us: None,
                        },
                        memory_mib: 0,
                        fuel: 0,
                        fresh_instance: false,
                    },
                },
            )
            .collect()
    }

    /// Runs every callable detector on one model: the flags they add, each with its plugin.
    /// A failing detector adds nothing (and is marked); the others still answer.
    pub fn detect(&self, facts: &ModelFacts) -> Vec<DetectedFlag> {
        let detectors: Vec<_> = self
            .loaded()
            .into_iter()
            .filter(|p| p.callable(Provides::Detector))
            .collect();
        if detectors.is_empty() {
            return Vec::new();
        }
        let wit_facts = facts.to_wit();
        let mut flags = Vec::new();
        for plugin in detectors {
            for flag in plugin.detect(&wit_facts).unwrap_or_default() {
                if !facts.capabilities.contains(&flag) {
                    flags.push(DetectedFlag {
                        flag,
                        plugin: plugin.name.to_string(),
                    });
                }
            }
        }
        flags
    }

    /// Runs one detector by plugin name: `None` when no such plugin is loaded and callable, or
    /// its call failed (recorded in its health).
    pub fn detect_one(&self, plugin: &str, facts: &ModelFacts) -> Option<Vec<String>> {
        let detector = self
            .loaded()
            .into_iter()
            .find(|p| &*p.name == plugin && p.callable(Provides::Detector))?;
        detector.detect(&facts.to_wit())
    }

    /// Names of the loaded plugins that provide `what` (callable or not).
    pub fn providing(&self, what: Provides) -> Vec<String> {
        self.loaded()
            .iter()
            .filter(|p| p.provides.contains(&what))
            .map(|p| p.name.to_string())
            .collect()
    }

    /// Runs every callable collector on one snapshot, keeps the result as the latest metrics,
    /// and returns it. A failing collector contributes nothing this round.
    pub fn collect(&self, snapshot: &HostSnapshot) -> Vec<PluginMetric> {
        let collectors: Vec<_> = self
            .loaded()
            .into_iter()
            .filter(|p| p.callable(Provides::Collector))
            .collect();
        let wit_snapshot = snapshot.to_wit();
        let metrics: Vec<PluginMetric> = collectors
            .iter()
            .filter_map(|p| p.collect(&wit_snapshot))
            .flatten()
            .collect();
        *self
            .inner
            .metrics
            .write()
            .unwrap_or_else(|p| p.into_inner()) = metrics.clone();
        metrics
    }

    /// The metrics of the latest collection round.
    pub fn latest_metrics(&self) -> Vec<PluginMetric> {
        self.inner
            .metrics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Keeps a background task until [`PluginHost::stop`].
    pub fn keep_task(&self, task: JoinHandle<()>) {
        self.inner
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }

    /// Polls the plugins directory every `every` and reloads what changed, until
    /// [`PluginHost::stop`]. `on_change` runs after each reload that changed something.
    pub fn watch(&self, every: Duration, on_change: impl Fn(&ReloadReport) + Send + 'static) {
        let host = self.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let report = host.reload(false).await;
                if report.is_change() {
                    on_change(&report);
                }
            }
        });
        self.keep_task(task);
    }

    /// Starts the background work for a server: the first load (detectors join the
    /// dashboard's capability chain), a directory poll every `poll_every` (hot reload), and the
    /// collectors on the live collector's schedule.
    pub async fn start(&self, dashboard: &Dashboard, poll_every: Duration) {
        let report = self.reload(false).await;
        self.after_reload(dashboard, &report).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ReloadReport>();
        self.watch(poll_every, move |report| {
            let _ = tx.send(report.clone());
        });
        let host = self.clone();
        let dashboard_for_reloads = dashboard.clone();
        let task = tokio::spawn(async move {
            while let Some(report) = rx.recv().await {
                host.after_reload(&dashboard_for_reloads, &report).await;
            }
        });
        self.keep_task(task);
        self.collect_on_schedule(dashboard);
    }

    /// Stops the background tasks.
    pub fn stop(&self) {
        for task in self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

/// `name.toml` for `name.wasm`.
fn manifest_name(wasm_file: &str) -> String {
    format!("{}.toml", wasm_file.trim_end_matches(".wasm"))
}

fn fingerprint(dir: &Path, file: &str) -> Option<Fingerprint> {
    let meta = std::fs::metadata(dir.join(file)).ok()?;
    let manifest = std::fs::metadata(dir.join(manifest_name(file)))
        .ok()
        .map(|m| stamp(&m));
    Some(Fingerprint {
        wasm: stamp(&meta),
        manifest,
    })
}

fn read_capped(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("reading: {e}"))?;
    let mut wasm = Vec::new();
    file.take(MAX_WASM_BYTES + 1)
        .read_to_end(&mut wasm)
        .map_err(|e| format!("reading: {e}"))?;
    if wasm.len() as u64 > MAX_WASM_BYTES {
        return Err(format!("larger than {} MiB", MAX_WASM_BYTES >> 20));
    }
    Ok(wasm)
}

/// Two files describing the same name: the first (by file name) wins; the others, with it.
fn shadowed_files(entries: &BTreeMap<String, Entry>) -> BTreeMap<String, String> {
    let mut first: BTreeMap<&str, &str> = BTreeMap::new();
    let mut shadowed = BTreeMap::new();
    for (file, entry) in entries {
        if let Outcome::Loaded(p) = &entry.outcome {
            match first.get(&*p.name) {
                Some(winner) => {
                    shadowed.insert(file.clone(), (*winner).to_owned());
                }
                None => {
                    first.insert(&p.name, file);
                }
            }
        }
    }
    shadowed
}
