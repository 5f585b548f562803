//! The live service: ONE background task refreshes every probe on its own interval into a TTL
//! cache; readers get the latest snapshot at once with its age and a `stale` flag; changes go
//! out as [`Event`]s.

mod cache;
mod collector;
pub mod config;
pub mod gpu;
mod history;
pub(crate) mod models;
mod sources;
pub mod system;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::Utc;
use rusqlite::params;
use serde::Serialize;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

pub use cache::{Cached, Probe, ProbeError, ProbeStatus, backoff};
pub use history::HistorySample;
pub use models::{Expiry, InstalledModel, RunningModel, relative};

use self::cache::Slot;
use self::gpu::GpuReport;
use self::history::History;
use self::sources::Sources;
use self::system::SystemStats;
use crate::capabilities::{self, Capabilities, CapabilityDetector, ModelFacts};
use crate::dashboard::now_ms;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::ollama::types::{ModelDetails, PsResponse, ShowResponse, TagsResponse};
use crate::store::Store;

/// A row of `model_snapshots`: what was loaded (or installed) when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSnapshot {
    /// Unix milliseconds.
    pub taken_at: i64,
    /// `running` or `installed`.
    pub kind: String,
    /// `[{name, digest, size, size_vram?, expires_at?}]`.
    pub models: serde_json::Value,
}

/// Whether the collector runs, and each probe's state.
#[derive(Debug, Clone, Serialize)]
pub struct CollectorHealth {
    /// The task is running and went round its loop recently.
    pub alive: bool,
    /// Milliseconds since its last round.
    pub last_round_ms: Option<u64>,
    /// Every probe.
    pub probes: Vec<ProbeStatus>,
}

/// How soon [`crate::Dashboard::refresh_soon`] runs its probe: requests within this window share one run.
pub const REFRESH_SOON: Duration = Duration::from_millis(100);

/// State shared by the collector task and the readers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: config::LiveConfig,
    events: broadcast::Sender<Event>,
    store: Option<Store>,
    sources: Arc<dyn Sources>,
    pub(crate) system: Slot<SystemStats>,
    pub(crate) gpu: Slot<GpuReport>,
    pub(crate) running: Slot<Vec<RunningModel>>,
    pub(crate) installed: Slot<Vec<InstalledModel>>,
    pub(crate) version: Slot<String>,
    history: Mutex<History>,
    shows: Mutex<HashMap<String, Arc<ShowResponse>>>,
    caps: Mutex<HashMap<String, Capabilities>>,
    detectors: RwLock<Vec<Arc<dyn CapabilityDetector>>>,
    failing: Mutex<[bool; 5]>,
    last_round: Mutex<Option<Instant>>,
    finished: AtomicBool,
    /// Probes asked for by [`crate::Dashboard::refresh_soon`] (one bit per [`Probe::index`]).
    nudged: AtomicU8,
    /// Probes nudged and not started since: a nudge for one of them has nothing to add (the run
    /// to come starts after it), so it wakes nobody. A trace asks for the running list each
    /// time; this keeps that from waking the collector once per request.
    armed: AtomicU8,
    nudge: tokio::sync::Notify,
    stop: CancellationToken,
}

/// The live service: the collector task and its cache, built from explicit handles (it never
/// sees the facade); dropping it stops the collector. Other services hold a [`Nudger`].
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) shared: Arc<Shared>,
    _stop: DropGuard,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The handle other services hold on the collector: it asks for probes (soon, or now and
/// waiting) and reads back what they found. It does not keep the collector alive, and does
/// nothing once it is gone.
#[derive(Debug, Clone)]
pub(crate) struct Nudger(std::sync::Weak<Shared>);

impl Nudger {
    /// Asks for `probe` within [`REFRESH_SOON`]; never waits.
    pub(crate) fn nudge(&self, probe: Probe) {
        if let Some(shared) = self.0.upgrade() {
            shared.nudge(probe);
        }
    }

    /// The installed models as last probed (none once the collector is gone).
    pub(crate) fn installed(&self) -> Option<Arc<Vec<InstalledModel>>> {
        self.0.upgrade()?.installed.read().value
    }

    /// Forgets what `/api/show` said of a digest (the model was deleted).
    pub(crate) fn forget_show(&self, digest: &str) {
        if let Some(shared) = self.0.upgrade() {
            shared.forget_show(digest);
        }
    }

    /// Runs these probes now (in the caller's task) and waits for them, for an action that
    /// changed what they report; does nothing once the collector is gone.
    pub(crate) async fn refresh(&self, probes: &[Probe]) {
        if let Some(shared) = self.0.upgrade() {
            shared.refresh(probes).await;
        }
    }
}

impl Live {
    /// A handle other services use to ask the collector for a probe.
    pub(crate) fn nudger(&self) -> Nudger {
        Nudger(Arc::downgrade(&self.shared))
    }

    /// Starts the collector with the real sources.
    pub(crate) fn start(
        config: &crate::DashboardConfig,
        ollama: crate::ollama::OllamaClient,
        store: Store,
        events: broadcast::Sender<Event>,
    ) -> Result<Self> {
        let live = &config.live;
        let system = system::SystemProbe::new(live.models_path(), config.data_path.clone())?;
        let sources = Arc::new(sources::RealSources {
            ollama,
            system: Arc::new(Mutex::new(system)),
            gpu: gpu::GpuProbe::new(
                live.nvidia_smi.clone(),
                Duration::from_secs(live.nvidia_smi_timeout_secs),
            ),
        });
        Ok(Self::with_sources(
            live.clone(),
            sources,
            Some(store),
            events,
        ))
    }

    pub(crate) fn with_sources(
        config: config::LiveConfig,
        sources: Arc<dyn Sources>,
        store: Option<Store>,
        events: broadcast::Sender<Event>,
    ) -> Self {
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            system: Slot::new(config.interval(Probe::System)),
            gpu: Slot::new(config.interval(Probe::Gpu)),
            running: Slot::new(config.interval(Probe::Running)),
            installed: Slot::new(config.interval(Probe::Installed)),
            version: Slot::new(config.interval(Probe::Version)),
            history: Mutex::new(History::new(
                config.history_samples,
                config.history_step_secs,
            )),
            config,
            events,
            store,
            sources,
            shows: Mutex::new(HashMap::new()),
            caps: Mutex::new(HashMap::new()),
            detectors: RwLock::new(Vec::new()),
            failing: Mutex::new([false; 5]),
            last_round: Mutex::new(None),
            finished: AtomicBool::new(false),
            nudged: AtomicU8::new(0),
            armed: AtomicU8::new(0),
            nudge: tokio::sync::Notify::new(),
            stop: stop.clone(),
        });
        tokio::spawn(collector::run(Arc::clone(&shared)));
        Self {
            shared,
            _stop: stop.drop_guard(),
        }
    }
}

impl Shared {
    fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    pub(crate) fn mark_round(&self) {
        *lock(&self.last_round) = Some(Instant::now());
    }

    pub(crate) fn mark_finished(&self) {
        self.finished.store(true, Ordering::Relaxed);
    }

    pub(crate) fn stopping(&self) -> &CancellationToken {
        &self.stop
    }

    /// Runs these probes now, concurrently, and waits for them.
    async fn refresh(&self, probes: &[Probe]) {
        futures_util::future::join_all(probes.iter().map(|&p| self.probe(p))).await;
    }

    /// Asks the collector task to run `probe` soon.
    fn nudge(&self, probe: Probe) {
        let bit = 1 << probe.index();
        if self.armed.fetch_or(bit, Ordering::AcqRel) & bit != 0 {
            return;
        }
        self.nudged.fetch_or(bit, Ordering::Relaxed);
        self.nudge.notify_one();
    }

    /// The collector starts `probe`: a nudge from now on asks for another run.
    pub(crate) fn disarm(&self, probe: Probe) {
        self.armed
            .fetch_and(!(1 << probe.index()), Ordering::AcqRel);
    }

    /// Waits for a nudge; then the probes asked for since the last call.
    pub(crate) async fn nudged(&self) -> impl Iterator<Item = Probe> {
        self.nudge.notified().await;
        let bits = self.nudged.swap(0, Ordering::Relaxed);
        Probe::ALL
            .into_iter()
            .filter(move |p| bits & (1 << p.index()) != 0)
    }

    /// Runs one probe now and stores what it found. Failures are recorded, not returned
    /// (the caller reads the slot), but the error is handed back for the schedule.
    pub(crate) async fn probe(&self, probe: Probe) -> Result<()> {
        let started = Instant::now();
        self.begin(probe, started);
        let result = match probe {
            Probe::System => match self.sources.system().await {
                Ok(stats) => {
                    self.apply_system(started, stats);
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Probe::Gpu => self.sources.gpu().await.map(|report| {
                if self.gpu.succeed(started, report.clone()).is_some() {
                    self.emit(Event::GpuStats(report));
                }
            }),
            Probe::Running => match self.sources.ps().await {
                Ok(ps) => {
                    self.apply_running(started, ps).await;
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Probe::Installed => match self.sources.tags().await {
                Ok(tags) => {
                    self.apply_installed(started, tags).await;
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Probe::Version => self.sources.version().await.map(|v| {
                self.version.succeed(started, v);
            }),
        };
        let slot_failures = match &result {
            Ok(()) => None,
            Err(e) => Some(self.fail(probe, started, e)),
        };
        let was_failing = self.was_failing(probe, slot_failures);
        match (slot_failures, was_failing) {
            (Some(1), _) => {
                let error = result.as_ref().err().map(ToString::to_string);
                tracing::warn!(probe = probe.name(), error = ?error, "probe failed");
                self.emit(Event::ProbeChanged {
                    probe,
                    ok: false,
                    error,
                });
            }
            (None, true) => {
                tracing::info!(probe = probe.name(), "probe recovered");
                self.emit(Event::ProbeChanged {
                    probe,
                    ok: true,
                    error: None,
                });
                if probe.is_ollama() {
                    self.recheck_failing_ollama_probes();
                }
            }
            _ => {}
        }
        result
    }

    /// Ollama answers again: the other Ollama probes still failing (waiting out their backoff,
    /// not already running) run soon, so health and every cached list recover together, not
    /// one backoff later.
    fn recheck_failing_ollama_probes(&self) {
        let failing = *lock(&self.failing);
        for other in Probe::ALL {
            if other.is_ollama() && failing[other.index()] && !self.in_flight(other) {
                self.nudge(other);
            }
        }
    }

    fn in_flight(&self, probe: Probe) -> bool {
        match probe {
            Probe::System => self.system.in_flight(),
            Probe::Gpu => self.gpu.in_flight(),
            Probe::Running => self.running.in_flight(),
            Probe::Installed => self.installed.in_flight(),
            Probe::Version => self.version.in_flight(),
        }
    }

    /// Whether Ollama answers, from the latest attempt of every Ollama probe: `Ok(true)` when
    /// each one's latest attempt answered (and at least one has), `Ok(false)` before any has,
    /// and the newest failure (a failed or overdue attempt) with its probe otherwise.
    pub(crate) fn ollama_reachable(&self) -> std::result::Result<bool, (Probe, ProbeError)> {
        let mut answered = false;
        let mut failed: Option<(Probe, ProbeError)> = None;
        for probe in Probe::ALL.into_iter().filter(|p| p.is_ollama()) {
            match self.outcome(probe) {
                cache::Outcome::NotYet => {}
                cache::Outcome::Answered => answered = true,
                cache::Outcome::Failed(error) => {
                    if failed
                        .as_ref()
                        .is_none_or(|(_, newest)| error.at > newest.at)
                    {
                        failed = Some((probe, error));
                    }
                }
            }
        }
        match failed {
            Some(failure) => Err(failure),
            None => Ok(answered),
        }
    }

    /// Notes that an attempt of `probe` is under way (for stall detection and recoveries).
    pub(crate) fn begin(&self, probe: Probe, started: Instant) {
        match probe {
            Probe::System => self.system.begin(started),
            Probe::Gpu => self.gpu.begin(started),
            Probe::Running => self.running.begin(started),
            Probe::Installed => self.installed.begin(started),
            Probe::Version => self.version.begin(started),
        }
    }

    fn outcome(&self, probe: Probe) -> cache::Outcome {
        match probe {
            Probe::System => self.system.outcome(probe),
            Probe::Gpu => self.gpu.outcome(probe),
            Probe::Running => self.running.outcome(probe),
            Probe::Installed => self.installed.outcome(probe),
            Probe::Version => self.version.outcome(probe),
        }
    }

    /// Tracks per probe whether the last attempt failed, to announce recoveries once.
    fn was_failing(&self, probe: Probe, failures: Option<u32>) -> bool {
        let mut failing = lock(&self.failing);
        std::mem::replace(&mut failing[probe.index()], failures.is_some())
    }

    fn fail(&self, probe: Probe, started: Instant, error: &Error) -> u32 {
        match probe {
            Probe::System => self.system.fail(started, error),
            Probe::Gpu => self.gpu.fail(started, error),
            Probe::Running => self.running.fail(started, error),
            Probe::Installed => self.installed.fail(started, error),
            Probe::Version => self.version.fail(started, error),
        }
    }

    pub(crate) fn status(&self, probe: Probe) -> ProbeStatus {
        match probe {
            Probe::System => self.system.status(probe),
            Probe::Gpu => self.gpu.status(probe),
            Probe::Running => self.running.status(probe),
            Probe::Installed => self.installed.status(probe),
            Probe::Version => self.version.status(probe),
        }
    }

    fn apply_system(&self, started: Instant, stats: SystemStats) {
        let gpu = self.gpu.value();
        let closed = lock(&self.history).push(HistorySample::new(&stats, gpu.as_deref()));
        if let (Some(point), Some(store)) = (closed, &self.store) {
            let step_ms = i64::try_from(self.config.history_step_secs * 1000).unwrap_or(i64::MAX);
            let keep_ms = i64::try_from(self.config.history_days * 86_400_000).unwrap_or(i64::MAX);
            let max_rows = keep_ms / step_ms.max(1) + 1;
            let store = store.clone();
            tokio::spawn(async move {
                let _ = store
                    .write(move |conn| history::store_point(conn, &point, keep_ms, max_rows))
                    .await;
            });
        }
        if self.system.succeed(started, stats.clone()).is_some() {
            self.emit(Event::SystemStats(stats));
        }
    }

    /// Capabilities of one model through the whole chain, cached per digest.
    async fn capabilities_of(
        &self,
        name: &str,
        digest: &str,
        details: &ModelDetails,
        listed: Option<&[String]>,
    ) -> (Capabilities, Option<u64>) {
        let cached_show = lock(&self.shows).get(digest).cloned();
        if let Some(caps) = lock(&self.caps).get(digest).cloned() {
            return (
                caps,
                cached_show.as_deref().and_then(models::trained_context),
            );
        }
        let show = match cached_show {
            Some(show) => Some(show),
            None => match self.sources.show(name).await {
                Ok(show) => {
                    let show = Arc::new(show);
                    lock(&self.shows).insert(digest.to_owned(), Arc::clone(&show));
                    Some(show)
                }
                Err(e) => {
                    tracing::debug!(model = name, error = %e, "show failed; capabilities by name");
                    None
                }
            },
        };
        let found = capabilities::resolve(name, details, show.as_deref(), listed);
        let detectors: Vec<Arc<dyn CapabilityDetector>> = self
            .detectors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let trained = show.as_deref().and_then(models::trained_context);
        let facts = ModelFacts {
            name: name.to_owned(),
            digest: digest.to_owned(),
            details: details.clone(),
            show: show.clone(),
            found,
        };
        let caps = capabilities::run_detectors(&detectors, facts).await;
        if show.is_some() && !digest.is_empty() {
            lock(&self.caps).insert(digest.to_owned(), caps.clone());
        }
        (caps, trained)
    }

    async fn apply_running(&self, started: Instant, ps: PsResponse) {
        let now = Utc::now();
        let mut out = Vec::with_capacity(ps.models.len());
        for m in &ps.models {
            let (caps, trained) = self
                .capabilities_of(&m.name, &m.digest, &m.details, None)
                .await;
            out.push(models::running(m, caps, trained, now));
        }
        let key = |list: &[RunningModel]| -> Vec<(String, String, u64, Option<i64>)> {
            list.iter()
                .map(|m| {
                    let exp = m.expires.as_ref().map(|e| e.utc.timestamp());
                    (m.name.clone(), m.digest.clone(), m.size_vram, exp)
                })
                .collect()
        };
        let Some(previous) = self.running.succeed(started, out.clone()) else {
            return;
        };
        let changed = previous.as_deref().is_none_or(|p| key(p) != key(&out));
        let names_changed = previous
            .as_deref()
            .is_none_or(|p| p.iter().map(|m| &m.name).ne(out.iter().map(|m| &m.name)));
        if changed {
            self.emit(Event::RunningModels {
                models: out.clone(),
            });
        }
        if names_changed {
            let payload: Vec<serde_json::Value> = out
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "name": m.name, "digest": m.digest, "size": m.size,
                        "size_vram": m.size_vram,
                        "expires_at": m.expires.as_ref().map(|e| e.utc),
                    })
                })
                .collect();
            self.snapshot("running", serde_json::Value::Array(payload));
        }
    }

    async fn apply_installed(&self, started: Instant, tags: TagsResponse) {
        let mut out = Vec::with_capacity(tags.models.len());
        for m in &tags.models {
            let (caps, trained) = self
                .capabilities_of(&m.name, &m.digest, &m.details, m.capabilities.as_deref())
                .await;
            out.push(models::installed(m, caps, trained));
        }
        let key = |list: &[InstalledModel]| -> Vec<(String, String)> {
            let mut k: Vec<_> = list
                .iter()
                .map(|m| (m.name.clone(), m.digest.clone()))
                .collect();
            k.sort();
            k
        };
        let flags = |list: &[InstalledModel]| -> Vec<(String, Vec<String>)> {
            let mut k: Vec<_> = list
                .iter()
                .map(|m| {
                    let names = m.capabilities.names().into_iter().map(str::to_owned);
                    (m.name.clone(), names.collect())
                })
                .collect();
            k.sort();
            k
        };
        let Some(previous) = self.installed.succeed(started, out.clone()) else {
            return;
        };
        // New capabilities (a detector plugin came or went) change the list as much as a pull.
        if let Some(previous) = previous.as_deref()
            && (key(previous) != key(&out) || flags(previous) != flags(&out))
        {
            self.emit(Event::ModelsChanged);
        }
        if previous.as_deref().is_none_or(|p| key(p) != key(&out)) {
            let payload: Vec<serde_json::Value> = out
                .iter()
                .map(|m| serde_json::json!({"name": m.name, "digest": m.digest, "size": m.size}))
                .collect();
            self.snapshot("installed", serde_json::Value::Array(payload));
        }
    }

    fn snapshot(&self, kind: &'static str, models: serde_json::Value) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let cap = i64::try_from(self.config.snapshot_rows).unwrap_or(i64::MAX);
        let payload = models.to_string();
        let taken = now_ms();
        tokio::spawn(async move {
            let _ = store
                .write(move |conn| {
                    conn.execute(
                        "INSERT INTO model_snapshots (taken_at, kind, payload) VALUES (?1, ?2, ?3)",
                        params![taken, kind, payload],
                    )?;
                    conn.execute(
                        "DELETE FROM model_snapshots WHERE id <= (SELECT max(id) FROM model_snapshots) - ?1",
                        params![cap],
                    )?;
                    Ok(())
                })
                .await;
        });
    }

    /// Forgets cached capabilities (a detector came or went); the next probes recompute them.
    pub(crate) fn forget_capabilities(&self) {
        lock(&self.caps).clear();
    }

    /// Forgets what `/api/show` said of a digest (the model was deleted or replaced).
    pub(crate) fn forget_show(&self, digest: &str) {
        lock(&self.shows).remove(digest);
        lock(&self.caps).remove(digest);
    }

    pub(crate) fn collector_health(&self) -> CollectorHealth {
        let last = *lock(&self.last_round);
        let since = last.map(|t| Instant::now().saturating_duration_since(t));
        let alive = !self.finished.load(Ordering::Relaxed)
            && since.is_some_and(|s| s < Duration::from_secs(60));
        CollectorHealth {
            alive,
            last_round_ms: since.map(|s| u64::try_from(s.as_millis()).unwrap_or(u64::MAX)),
            probes: Probe::ALL.iter().map(|&p| self.status(p)).collect(),
        }
    }
}

impl Live {
    /// Models installed in Ollama, from the cache (never waits on Ollama).
    pub(crate) fn installed(&self) -> Cached<Arc<Vec<InstalledModel>>> {
        self.shared.installed.read()
    }

    /// Models loaded in memory, from the cache (never waits on Ollama).
    pub(crate) fn running(&self) -> Cached<Arc<Vec<RunningModel>>> {
        self.shared.running.read()
    }

    /// The latest system stats.
    pub(crate) fn system(&self) -> Cached<Arc<SystemStats>> {
        self.shared.system.read()
    }

    /// The latest GPU report ("no GPU" is a report, not an error).
    pub(crate) fn gpu(&self) -> Cached<Arc<GpuReport>> {
        self.shared.gpu.read()
    }

    /// Ollama's version as last probed.
    pub(crate) fn version(&self) -> Cached<Arc<String>> {
        self.shared.version.read()
    }

    /// The collector and every probe.
    pub(crate) fn collector_health(&self) -> CollectorHealth {
        self.shared.collector_health()
    }

    /// One probe's state.
    pub(crate) fn status(&self, probe: Probe) -> ProbeStatus {
        self.shared.status(probe)
    }

    /// Whether Ollama answers (see [`Shared::ollama_reachable`]).
    pub(crate) fn ollama_reachable(&self) -> std::result::Result<bool, (Probe, ProbeError)> {
        self.shared.ollama_reachable()
    }

    /// Runs these probes now (in the caller's task) and waits for them.
    pub(crate) async fn refresh(&self, probes: &[Probe]) {
        self.shared.refresh(probes).await;
    }

    /// Asks the collector to run `probe` within [`REFRESH_SOON`]; never waits.
    pub(crate) fn nudge(&self, probe: Probe) {
        self.shared.nudge(probe);
    }

    /// Samples kept in memory newer than `window` (oldest first), or the downsampled points
    /// from SQLite when the window reaches further back than memory does.
    pub(crate) async fn stats_history(&self, window: Duration) -> Result<Vec<HistorySample>> {
        let shared = &self.shared;
        let since = now_ms() - i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let (oldest, recent) = {
            let h = lock(&shared.history);
            (h.oldest(), h.since(since))
        };
        let Some(store) = &shared.store else {
            return Ok(recent);
        };
        if oldest.is_some_and(|o| o <= since) {
            return Ok(recent);
        }
        let step = i64::try_from(shared.config.history_step_secs * 1000).unwrap_or(i64::MAX);
        let mut points = store
            .call(move |conn| history::load_points(conn, since))
            .await?;
        // The stored points end where the bucket being filled starts; memory has the rest.
        let after = points
            .last()
            .map_or(i64::MIN, |p| p.ts.saturating_add(step));
        points.extend(recent.into_iter().filter(|s| s.ts >= after));
        Ok(points)
    }

    /// Snapshots of what was loaded (`running`) or installed (`installed`), newest first.
    pub(crate) async fn model_snapshots(
        &self,
        kind: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ModelSnapshot>> {
        let Some(store) = &self.shared.store else {
            return Ok(Vec::new());
        };
        let kind = kind.map(str::to_owned);
        let limit = i64::try_from(limit.min(10_000)).unwrap_or(10_000);
        store
            .call(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT taken_at, kind, payload FROM model_snapshots \
                     WHERE ?1 IS NULL OR kind = ?1 ORDER BY id DESC LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![kind, limit], |r| {
                    let payload: String = r.get(2)?;
                    Ok(ModelSnapshot {
                        taken_at: r.get(0)?,
                        kind: r.get(1)?,
                        models: serde_json::from_str(&payload).unwrap_or_default(),
                    })
                })?;
                rows.collect()
            })
            .await
    }

    /// Registers a capability detector (step 4 of the chain); cached capabilities are
    /// recomputed on the next probe of each model.
    pub(crate) fn register_detector(&self, detector: Arc<dyn CapabilityDetector>) {
        self.shared
            .detectors
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(detector);
        self.shared.forget_capabilities();
    }

    /// Forgets every model's cached capabilities; the next probes run the chain again.
    pub(crate) fn forget_capabilities(&self) {
        self.shared.forget_capabilities();
    }

    /// Stops the collector (at shutdown).
    pub(crate) fn stop(&self) {
        self.shared.stop.cancel();
    }
}

#[cfg(test)]
mod tests;
