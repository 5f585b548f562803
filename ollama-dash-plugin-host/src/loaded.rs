//! One loaded plugin: its pre-linked component, a warm instance, and its health.
//!
//! Calls to one plugin run one at a time (a hostile plugin can hold at most one blocking thread
//! and one instance's memory). A call takes the warm instance out of its slot (or builds a fresh
//! one from the pre-instance when there is none), refills its fuel and deadline, calls, and puts
//! it back only if the call succeeded. A failed instance is dropped with its store, so a trapped
//! instance is never entered again.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use wasmtime::Store;

use super::manifest::Manifest;
use super::runtime::{HostState, PluginBindings, PluginPre, Runtime, arm, wit};
use super::types::{self, PluginMetric};

/// Calls an instance serves before it is rebuilt (bounds what a store can accumulate).
const RECYCLE_AFTER: u32 = 10_000;
/// Call durations kept for the percentiles.
const TIMINGS_KEPT: usize = 1024;
/// Longest error text kept or logged from a plugin, in bytes.
const ERROR_MAX: usize = 500;

/// `text` cut to [`ERROR_MAX`] bytes on a character boundary: a plugin's error text is its own.
pub(crate) fn clip(mut text: String) -> String {
    if text.len() > ERROR_MAX {
        text.truncate(text.floor_char_boundary(ERROR_MAX));
        text.push('…');
    }
    text
}

/// Where a plugin stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginState {
    /// Loaded and answering.
    Active,
    /// Its last call failed; it is still called.
    Degraded,
    /// Too many failures in a row (or `enabled = false`): not called until reloaded.
    Disabled,
    /// Could not be loaded (see the error).
    Failed,
}

/// What a plugin contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Provides {
    /// Capability flags.
    Detector,
    /// Metrics.
    Collector,
}

/// Why a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// Ran out of fuel (CPU budget).
    Timeout,
    /// Trapped: panic, memory cap, stack overflow, …
    Trap,
    /// Answered, but not by the rules (or the answer could not be lifted).
    Malformed,
    /// Returned an error of its own.
    PluginError,
}

impl FailureKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Trap => "trap",
            Self::Malformed => "malformed answer",
            Self::PluginError => "plugin error",
        }
    }
}

#[derive(Debug)]
struct Health {
    state: PluginState,
    calls: u64,
    failures: u64,
    timeouts: u64,
    traps: u64,
    malformed: u64,
    consecutive: u32,
    last_error: Option<String>,
    timings: VecDeque<Duration>,
}

struct Warm {
    store: Store<HostState>,
    bindings: PluginBindings,
    calls: u32,
}

/// A plugin that loaded.
pub(crate) struct LoadedPlugin {
    pub(crate) name: Arc<str>,
    pub(crate) version: String,
    pub(crate) description: String,
    pub(crate) provides: Vec<Provides>,
    pub(crate) file: String,
    pub(crate) sha256: String,
    pub(crate) manifest: Manifest,
    runtime: Runtime,
    pre: PluginPre<HostState>,
    /// The warm instance; held for the whole call, so calls to one plugin run one at a time.
    warm: Mutex<Option<Warm>>,
    health: Mutex<Health>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// A snapshot of a plugin's health for listings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginHealth {
    /// Where it stands.
    pub state: PluginState,
    /// Calls made (successful or not).
    pub calls: u64,
    /// Calls that failed.
    pub failures: u64,
    /// Of those, out of CPU budget.
    pub timeouts: u64,
    /// Of those, traps (panic, memory cap, …).
    pub traps: u64,
    /// Of those, answers that broke the rules.
    pub malformed: u64,
    /// The last failure, e.g. `trap: wasm trap: wasm 'unreachable' instruction executed`.
    pub last_error: Option<String>,
    /// Median call time over the recent calls, microseconds.
    pub p50_us: Option<f64>,
    /// 99th percentile call time over the recent calls, microseconds.
    pub p99_us: Option<f64>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Phrases of wasmtime's errors when it cannot lift a guest's answer (bad UTF-8, a pointer or
/// length outside the guest's memory, an unknown discriminant): the answer was malformed.
const LIFT_ERRORS: &[&str] = &[
    "utf-8",
    "out of bounds of memory",
    "discriminant",
    "not aligned",
    "too much data is being copied",
];

fn classify(error: &wasmtime::Error) -> FailureKind {
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel | wasmtime::Trap::Interrupt) => FailureKind::Timeout,
        Some(_) => FailureKind::Trap,
        None => {
            let text = format!("{error:#}");
            // The memory cap (`trap_on_grow_failure`) reports an error, not a `Trap`.
            if !text.contains("growing memory") && LIFT_ERRORS.iter().any(|p| text.contains(p)) {
                FailureKind::Malformed
            } else {
                FailureKind::Trap
            }
        }
    }
}

impl LoadedPlugin {
    /// Instantiates a trial instance, hands it the settings, asks it who it is.
    pub(crate) fn load(
        runtime: &Runtime,
        pre: PluginPre<HostState>,
        file: String,
        sha256: String,
        manifest: Manifest,
    ) -> Result<Self, String> {
        let stem: Arc<str> = Arc::from(file.trim_end_matches(".wasm"));
        let mut warm = instantiate(runtime, &pre, &stem, &manifest).map_err(|(_, e)| e)?;
        arm(&mut warm.store, manifest.limits.fuel).map_err(|e| e.to_string())?;
        let info = warm
            .bindings
            .ollama_dash_plugin_meta()
            .call_describe(&mut warm.store)
            .map_err(|e| clip(format!("describe failed: {e:#}")))?;
        if !types::is_slug(&info.name, 48) {
            return Err(clip(format!(
                "describe: name {:?} is not [a-z0-9][a-z0-9-]* of at most 48 characters",
                info.name
            )));
        }
        if info.version.is_empty() || info.version.len() > 64 {
            return Err("describe: version must be 1 to 64 characters".to_owned());
        }
        if info.provides.is_empty() {
            return Err("describe: provides nothing".to_owned());
        }
        let mut provides: Vec<Provides> = info
            .provides
            .iter()
            .map(|p| match p {
                wit::Provides::Detector => Provides::Detector,
                wit::Provides::Collector => Provides::Collector,
            })
            .collect();
        provides.dedup();
        let name: Arc<str> = Arc::from(info.name.as_str());
        warm.store.data_mut().rename(&name);
        let warm = (!manifest.fresh_instance).then_some(warm);
        let state = if manifest.enabled {
            PluginState::Active
        } else {
            PluginState::Disabled
        };
        Ok(Self {
            name,
            version: info.version,
            description: info.description.chars().take(200).collect(),
            provides,
            file,
            sha256,
            manifest,
            runtime: runtime.clone(),
            pre,
            warm: Mutex::new(warm),
            health: Mutex::new(Health {
                state,
                calls: 0,
                failures: 0,
                timeouts: 0,
                traps: 0,
                malformed: 0,
                consecutive: 0,
                last_error: None,
                timings: VecDeque::with_capacity(TIMINGS_KEPT),
            }),
        })
    }

    /// Whether it provides `what` and may be called now.
    pub(crate) fn callable(&self, what: Provides) -> bool {
        self.provides.contains(&what) && lock(&self.health).state != PluginState::Disabled
    }

    /// Its health now.
    pub(crate) fn health(&self) -> PluginHealth {
        let h = lock(&self.health);
        let mut times: Vec<f64> = h.timings.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        times.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            let last = times.len().checked_sub(1)?;
            times.get(((last as f64) * q).round() as usize).copied()
        };
        PluginHealth {
            state: h.state,
            calls: h.calls,
            failures: h.failures,
            timeouts: h.timeouts,
            traps: h.traps,
            malformed: h.malformed,
            last_error: h.last_error.clone(),
            p50_us: pick(0.50),
            p99_us: pick(0.99),
        }
    }

    /// Capability flags for one model; `None` when the call failed (already recorded).
    pub(crate) fn detect(&self, facts: &wit::ModelFacts) -> Option<Vec<String>> {
        self.call(|store, bindings| {
            let answer = bindings
                .ollama_dash_plugin_capability_detector()
                .call_detect(store, facts);
            let answer = answer.map_err(|e| (classify(&e), format!("{e:#}")))?;
            let flags = answer.map_err(|e| (FailureKind::PluginError, e))?;
            types::check_flags(flags).map_err(|e| (FailureKind::Malformed, e))
        })
    }

    /// Metrics from one snapshot; `None` when the call failed (already recorded).
    pub(crate) fn collect(&self, snapshot: &wit::HostSnapshot) -> Option<Vec<PluginMetric>> {
        let name = Arc::clone(&self.name);
        self.call(move |store, bindings| {
            let answer = bindings
                .ollama_dash_plugin_metrics_collector()
                .call_collect(store, snapshot);
            let answer = answer.map_err(|e| (classify(&e), format!("{e:#}")))?;
            let metrics = answer.map_err(|e| (FailureKind::PluginError, e))?;
            types::check_metrics(&name, metrics).map_err(|e| (FailureKind::Malformed, e))
        })
    }

    fn call<T>(
        &self,
        body: impl FnOnce(&mut Store<HostState>, &PluginBindings) -> Result<T, (FailureKind, String)>,
    ) -> Option<T> {
        let mut slot = lock(&self.warm);
        let started = Instant::now();
        let fresh = self.manifest.fresh_instance;
        let warm = match slot.take() {
            Some(warm) => Ok(warm),
            None => instantiate(&self.runtime, &self.pre, &self.name, &self.manifest),
        };
        let outcome = warm.and_then(|mut warm| {
            arm(&mut warm.store, self.manifest.limits.fuel)
                .map_err(|e| (FailureKind::Trap, e.to_string()))?;
            let value = body(&mut warm.store, &warm.bindings)?;
            warm.calls += 1;
            Ok((value, warm))
        });
        let elapsed = started.elapsed();
        match outcome {
            Ok((value, warm)) => {
                if !fresh && warm.calls < RECYCLE_AFTER {
                    *slot = Some(warm);
                }
                drop(slot);
                self.record(elapsed, None);
                Some(value)
            }
            Err((kind, message)) => {
                drop(slot);
                let message = clip(message);
                tracing::warn!(plugin = %self.name, kind = kind.as_str(), error = %message, "plugin call failed");
                self.record(elapsed, Some((kind, message)));
                None
            }
        }
    }

    fn record(&self, elapsed: Duration, failure: Option<(FailureKind, String)>) {
        let mut h = lock(&self.health);
        h.calls += 1;
        if h.timings.len() == TIMINGS_KEPT {
            h.timings.pop_front();
        }
        h.timings.push_back(elapsed);
        let Some((kind, message)) = failure else {
            h.consecutive = 0;
            if h.state == PluginState::Degraded {
                h.state = PluginState::Active;
            }
            return;
        };
        h.failures += 1;
        h.consecutive += 1;
        match kind {
            FailureKind::Timeout => h.timeouts += 1,
            FailureKind::Trap => h.traps += 1,
            FailureKind::Malformed => h.malformed += 1,
            FailureKind::PluginError => {}
        }
        h.last_error = Some(clip(format!("{}: {message}", kind.as_str())));
        h.state = if h.consecutive >= self.manifest.max_failures {
            tracing::warn!(plugin = %self.name, failures = h.consecutive, "plugin disabled until reloaded");
            PluginState::Disabled
        } else {
            PluginState::Degraded
        };
    }
}

/// A fresh store and instance from the pre-instance, configured with the manifest's settings.
fn instantiate(
    runtime: &Runtime,
    pre: &PluginPre<HostState>,
    name: &Arc<str>,
    manifest: &Manifest,
) -> Result<Warm, (FailureKind, String)> {
    let failed = |what: &str, e: wasmtime::Error| (classify(&e), clip(format!("{what}: {e:#}")));
    let mut store = runtime.store(name, manifest.limits);
    arm(&mut store, manifest.limits.fuel).map_err(|e| failed("arming", e))?;
    let bindings = pre
        .instantiate(&mut store)
        .map_err(|e| failed("instantiation failed", e))?;
    let settings: Vec<wit::Kv> = manifest
        .settings
        .iter()
        .map(|(key, value)| wit::Kv {
            key: key.clone(),
            value: value.clone(),
        })
        .collect();
    bindings
        .ollama_dash_plugin_meta()
        .call_configure(&mut store, &settings)
        .map_err(|e| failed("configure trapped", e))?
        .map_err(|e| {
            let e = clip(e);
            (
                FailureKind::PluginError,
                format!("configure refused the settings: {e}"),
            )
        })?;
    Ok(Warm {
        store,
        bindings,
        calls: 0,
    })
}
