//! [`Dashboard`]: the one entry point of the library.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::chat::{ChatMessage, ChatSession, NewMessage, NewSession, SessionUpdate};
use crate::config::DashboardConfig;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::fleet::Targets;
use crate::generation::{Generation, Generations, Origin};
use crate::jobs::Job;
use crate::live::{Cached, InstalledModel, Probe, RunningModel};
use crate::ollama::OllamaClient;
use crate::ollama::types::{ChatRequest, EmbedRequest, GenerateRequest, KeepAlive};
use crate::store::{Store, StoreHealth};
use crate::traces::{
    RetentionPolicy, RetentionReport, TraceBacklog, TraceCommit, TraceHandle, TracePage,
    TraceQuery, TraceRecord, TraceStart, TraceStats, TraceTotals, Traces,
};

/// File name of the SQLite store inside `DATA_PATH`.
pub const DB_FILE_NAME: &str = "ollama-dash.db";

/// The whole ollama-dash API. Cheap to clone: every clone shares one state.
#[derive(Debug, Clone)]
pub struct Dashboard {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: DashboardConfig,
    ollama: OllamaClient,
    store: Store,
    events: tokio::sync::broadcast::Sender<Event>,
    started: Instant,
    traces: Traces,
    generations: Generations,
    fleet: crate::fleet::Fleet,
    /// The name of the node the live collector watches (`OLLAMA_HOST`'s, else the first).
    primary: String,
    chats: crate::chat::Chats,
    keys: crate::keys::Keys,
    uploads: crate::uploads::Uploads,
    imports: crate::imports::Imports,
    live: crate::live::Live,
    /// Generation defaults, read on every generation.
    settings: Arc<crate::settings::Settings>,
    /// Cancelled when shutdown begins: long-lived streams (SSE) end on it.
    closing: tokio_util::sync::CancellationToken,
    service: crate::service::Service,
    lifecycle: crate::lifecycle::Lifecycle,
    jobs: crate::jobs::Jobs,
}

/// Health of the dashboard and of what it depends on.
#[derive(Debug, Clone)]
pub struct Health {
    /// Store and Ollama are both fine.
    pub ok: bool,
    /// Time since [`Dashboard::new`].
    pub uptime: Duration,
    /// The SQLite store.
    pub store: StoreHealth,
    /// The Ollama server.
    pub ollama: OllamaHealth,
    /// The background collector and its probes.
    pub collector: crate::live::CollectorHealth,
}

/// Whether Ollama answers, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct OllamaHealth {
    /// Base URL in use.
    pub url: String,
    /// The latest attempt of every Ollama probe (`/api/version`, `/api/tags`, `/api/ps`)
    /// answered, and none is stalled (running longer than its interval): a failure shows within
    /// one interval of the quickest probe, a recovery as soon as a probe answers again.
    pub reachable: bool,
    /// Its version, as last probed.
    pub version: Option<String>,
    /// Why not, when it is not: the newest failure, named after its probe.
    pub error: Option<String>,
    /// How long the last version probe took, in milliseconds.
    pub latency_ms: f64,
}

impl Dashboard {
    /// Opens the store under `config.data_path` and prepares the Ollama client.
    ///
    /// Does not need Ollama to be up: health tells whether it is.
    pub async fn new(config: DashboardConfig) -> Result<Self> {
        config.validate()?;
        let data = &config.data_path;
        tokio::fs::create_dir_all(data)
            .await
            .map_err(|e| Error::io(format!("creating DATA_PATH {}", data.display()), e))?;
        let ollama = OllamaClient::new(&config)?;
        let store = Store::open(data.join(DB_FILE_NAME)).await?;
        // Before anything else writes: the traces a killed process had only in its spool.
        Traces::replay_spool(&store, data).await?;
        let files = crate::uploads::UploadFiles::new(data, store.clone());
        let events = crate::events::channel();
        let live =
            crate::live::Live::start(&config, ollama.clone(), store.clone(), events.clone())?;
        let traces = Traces::new(&config, store.clone(), events.clone(), live.nudger());
        let service =
            crate::service::Service::new(&config, ollama.clone(), events.clone(), live.nudger());
        let fleet = crate::fleet::Fleet::new(
            &config.node_configs(),
            {
                // The node at the primary host shares the dashboard's own client (and its pool).
                let (config, ollama) = (config.clone(), ollama.clone());
                move |url| match url == config.primary_host() {
                    true => Ok(ollama.clone()),
                    false => OllamaClient::with_host(&config, url),
                }
            },
            crate::fleet::Admission {
                max_queue: config.max_queue,
                queue_timeout: Duration::from_secs(config.queue_timeout_secs),
                policy: config.routing,
            },
            store.clone(),
            config.nodes_source().to_owned(),
        )?;
        fleet.emit_to(events.clone());
        // The nodes added at run time, after the configured ones.
        fleet.restore().await?;
        let live_config = &config.live;
        fleet.spawn_probes(
            Duration::from_secs_f64(live_config.ps_interval_secs),
            (live_config.tags_interval_secs / live_config.ps_interval_secs).ceil() as u32,
        );
        let settings = Arc::new(crate::settings::Settings::default());
        settings.load(&store).await?;
        let lifecycle = crate::lifecycle::Lifecycle::new(
            &config,
            ollama.clone(),
            Arc::clone(&settings),
            live.nudger(),
        );
        // The node sharing the dashboard's client is the one the collector watches.
        let primary = fleet
            .nodes()
            .iter()
            .find(|n| n.client().base_url() == ollama.base_url())
            .map_or_else(
                || crate::fleet::DEFAULT_NODE.to_owned(),
                |n| n.name().to_owned(),
            );
        let jobs = crate::jobs::Jobs::new(
            store.clone(),
            events.clone(),
            fleet.clone(),
            primary.clone(),
            lifecycle.clone(),
            live.nudger(),
        );
        let imports = crate::imports::Imports::new(
            &config,
            store.clone(),
            events.clone(),
            fleet.clone(),
            primary.clone(),
            live.nudger(),
            files.clone(),
        );
        let uploads = crate::uploads::Uploads::new(
            &config,
            files,
            imports.clone(),
            store.clone(),
            events.clone(),
        );
        let generations = Generations::new(fleet.clone(), Arc::clone(&settings), traces.clone());
        tracing::info!(ollama = ollama.base_url(), data = %data.display(), "dashboard ready");
        let dashboard = Self {
            inner: Arc::new(Inner {
                traces,
                chats: crate::chat::Chats::new(store.clone(), generations.clone()),
                generations,
                fleet,
                primary,
                keys: crate::keys::Keys::new(store.clone()),
                config,
                ollama,
                store,
                events,
                started: Instant::now(),
                uploads,
                imports,
                live,
                settings,
                closing: tokio_util::sync::CancellationToken::new(),
                service,
                lifecycle,
                jobs,
            }),
        };
        dashboard.inner.traces.spawn_retention();
        dashboard.inner.uploads.start().await?;
        dashboard.inner.jobs.mark_interrupted().await?;
        Ok(dashboard)
    }

    /// The imports service, for the tests of uploads.
    #[cfg(test)]
    pub(crate) fn imports(&self) -> &crate::imports::Imports {
        &self.inner.imports
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &DashboardConfig {
        &self.inner.config
    }

    /// The Ollama client, for calls the dashboard does not wrap.
    pub fn ollama(&self) -> &OllamaClient {
        &self.inner.ollama
    }

    /// The store handle, for the tests of traces.
    #[cfg(test)]
    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Ollama's version string, e.g. `0.12.6`, from the cache (the last version probe).
    pub async fn version(&self) -> Result<String> {
        let cached = self.ollama_version();
        let url = self.inner.ollama.base_url();
        Ok(cached.into_result(url)?.as_ref().clone())
    }

    /// Health of the store, of Ollama and of the collector, from the cache: never waits on
    /// Ollama.
    pub async fn health(&self) -> Health {
        let store = self.inner.store.health();
        let collector = self.collector_health();
        let version = self.ollama_version();
        let status = self.inner.live.status(crate::live::Probe::Version);
        let (reachable, error) = match self.inner.live.ollama_reachable() {
            Ok(true) => (true, None),
            Ok(false) => (false, None), // not probed yet
            Err((probe, e)) => (
                false,
                Some(format!("{} probe: {}", probe.name(), e.message)),
            ),
        };
        let ollama = OllamaHealth {
            url: self.inner.ollama.base_url().to_owned(),
            reachable,
            version: version.value.as_deref().cloned(),
            error,
            latency_ms: status.last_latency_ms.unwrap_or(0.0),
        };
        Health {
            ok: store.alive && store.write_error.is_none() && ollama.reachable,
            uptime: self.inner.started.elapsed(),
            store,
            ollama,
            collector,
        }
    }

    /// Flushes queued writes and closes the store. Calls after this fail with
    /// [`Error::ShuttingDown`]; calling it twice is fine.
    pub async fn shutdown(&self) -> Result<()> {
        self.inner.uploads.shutdown();
        self.inner.closing.cancel();
        self.inner.live.stop();
        // Running jobs end as interrupted.
        self.inner.jobs.cancel_all(Duration::from_secs(5)).await;
        self.inner.service.shutdown().await;
        self.inner.store.flush().await.or_else(ignore_closed)?;
        self.inner.store.close().await?;
        tracing::info!("dashboard shut down");
        Ok(())
    }
}

/// Live state: the collector's cache, read without waiting on Ollama (see [`crate::live`]).
impl Dashboard {
    /// Models installed on the nodes, merged into one list, each with the `nodes` that hold
    /// it: the primary's from the collector's cache, the others' from their probe loops (never
    /// waits on Ollama; see [`crate::holdings`]).
    pub fn list_models(&self) -> Cached<Arc<Vec<InstalledModel>>> {
        let mut cached = self.inner.live.installed();
        cached.value = cached.value.map(|list| {
            let others = self.other_holdings();
            Arc::new(crate::holdings::installed(
                &self.inner.primary,
                &list,
                &others,
            ))
        });
        cached
    }

    /// Models loaded on the nodes, merged the same way (never waits on Ollama).
    pub fn running_models(&self) -> Cached<Arc<Vec<RunningModel>>> {
        let mut cached = self.inner.live.running();
        cached.value = cached.value.map(|list| {
            let others = self.other_holdings();
            let installed = self.list_models().value.unwrap_or_default();
            Arc::new(crate::holdings::running(
                &self.inner.primary,
                &list,
                &others,
                &installed,
            ))
        });
        cached
    }

    /// What every node but the primary holds, by name.
    fn other_holdings(&self) -> Vec<(String, crate::fleet::Holdings)> {
        let nodes = self.inner.fleet.nodes();
        nodes
            .iter()
            .filter(|n| n.name() != self.inner.primary)
            .map(|n| (n.name().to_owned(), n.holdings()))
            .collect()
    }

    /// The latest system stats.
    pub fn system_stats(&self) -> Cached<Arc<crate::live::system::SystemStats>> {
        self.inner.live.system()
    }

    /// The latest GPU report ("no GPU" is a report, not an error).
    pub fn gpu_stats(&self) -> Cached<Arc<crate::live::gpu::GpuReport>> {
        self.inner.live.gpu()
    }

    /// Ollama's version as last probed.
    pub fn ollama_version(&self) -> Cached<Arc<String>> {
        self.inner.live.version()
    }

    /// The collector and every probe.
    pub fn collector_health(&self) -> crate::live::CollectorHealth {
        self.inner.live.collector_health()
    }

    /// Runs these probes now (in the caller's task) and waits for them; what they found is in
    /// the cache afterwards. Actions call this for the entries they changed.
    pub async fn refresh(&self, probes: &[Probe]) {
        self.inner.live.refresh(probes).await
    }

    /// Asks the collector to run `probe` within [`crate::REFRESH_SOON`]: calls in the meantime
    /// share that one run, so a burst of requests costs Ollama one probe. Never waits. (A
    /// generation may load a model: every recorded trace asks for [`Probe::Running`].)
    pub fn refresh_soon(&self, probe: Probe) {
        self.inner.live.nudge(probe)
    }

    /// Runs every probe now and waits for them.
    pub async fn refresh_all(&self) {
        self.inner.live.refresh(&Probe::ALL).await
    }

    /// Samples kept in memory newer than `window` (oldest first), or the downsampled points
    /// from SQLite when the window reaches further back than memory does.
    pub async fn stats_history(&self, window: Duration) -> Result<Vec<crate::live::HistorySample>> {
        self.inner.live.stats_history(window).await
    }

    /// Snapshots of what was loaded (`running`) or installed (`installed`), newest first.
    pub async fn model_snapshots(
        &self,
        kind: Option<&str>,
        limit: usize,
    ) -> Result<Vec<crate::live::ModelSnapshot>> {
        self.inner.live.model_snapshots(kind, limit).await
    }

    /// Registers a capability detector (step 4 of the chain); cached capabilities are
    /// recomputed on the next probe of each model.
    pub fn register_capability_detector(
        &self,
        detector: Arc<dyn crate::capabilities::CapabilityDetector>,
    ) {
        self.inner.live.register_detector(detector)
    }

    /// Says shutdown has begun: streams that would otherwise never end (the event stream)
    /// finish, so a graceful server shutdown does not wait for them.
    pub fn begin_shutdown(&self) {
        self.inner.closing.cancel();
    }

    /// Resolves once shutdown has begun ([`Dashboard::begin_shutdown`] or
    /// [`Dashboard::shutdown`]).
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static + use<> {
        self.inner.closing.clone().cancelled_owned()
    }
}

/// The fleet of Ollama nodes (see [`crate::fleet`]).
impl Dashboard {
    /// The nodes, their state and the routing decisions so far.
    pub fn fleet(&self) -> &crate::fleet::Fleet {
        &self.inner.fleet
    }

    /// Adds a node at run time, kept in the store (see [`crate::fleet::Fleet::add`]).
    pub async fn add_node(
        &self,
        node: crate::fleet::NodeConfig,
    ) -> Result<crate::fleet::NodeStatus> {
        self.inner.fleet.add(node).await
    }

    /// Removes a node added at run time (see [`crate::fleet::Fleet::remove`]).
    pub async fn remove_node(&self, name: &str) -> Result<()> {
        self.inner.fleet.remove(name).await
    }

    /// Drains a node, or takes it back (see [`crate::fleet::Fleet::drain`]).
    pub async fn drain_node(&self, name: &str, draining: bool) -> Result<()> {
        self.inner.fleet.drain(name, draining).await
    }
}

/// Events (see [`crate::events`]).
impl Dashboard {
    /// Subscribes to live events from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Calls `tap` with every [`Event::TraceStarted`] and [`Event::TraceRecorded`], at once, on
    /// the task that starts or records the trace, before subscribers get it: for in-process
    /// aggregates (the host's `/metrics`) that must never miss one and should not cost a task
    /// wake-up per request. It runs on the request path: keep it to a few map updates.
    pub fn tap_traces(&self, tap: impl Fn(&Event) + Send + Sync + 'static) {
        self.inner.traces.tap(std::sync::Arc::new(tap));
    }

    /// Announces an event; having no subscriber is fine.
    pub(crate) fn emit(&self, event: Event) {
        let _ = self.inner.events.send(event);
    }
}

/// What the plugin host reports back (see [`crate::plugin_feed`]).
impl Dashboard {
    /// Announces that plugins were loaded, replaced or removed.
    pub fn announce_plugins_changed(&self, loaded: Vec<String>, failed: Vec<String>) {
        self.emit(Event::PluginsChanged { loaded, failed });
    }

    /// Forgets every model's cached capabilities (a detector plugin was replaced); the next
    /// probes run the chain again.
    pub fn forget_capabilities(&self) {
        self.inner.live.forget_capabilities();
    }

    /// Announces a collection round of plugin metrics.
    pub fn publish_plugin_metrics(&self, metrics: Vec<crate::PluginMetric>) {
        self.emit(Event::PluginMetrics { metrics });
    }
}

/// Models: stop, copy, show (see [`crate::lifecycle`]); start, pull and delete are jobs.
impl Dashboard {
    /// Unloads `model` (`keep_alive: 0`) on each node of `targets` (by default every node)
    /// and waits until it has left each one's `/api/ps`; what it did, per node.
    pub async fn stop_model(
        &self,
        model: &str,
        targets: &Targets,
    ) -> Result<Vec<(String, crate::lifecycle::StopOutcome)>> {
        self.inner.jobs.stop(model, targets).await
    }

    /// Copies `source` to `destination`.
    pub async fn copy_model(&self, source: &str, destination: &str) -> Result<()> {
        self.inner.lifecycle.copy(source, destination).await
    }

    /// What Ollama knows about `model`, with its capabilities through the whole chain.
    pub async fn show_model(&self, model: &str) -> Result<crate::lifecycle::ModelInfo> {
        self.inner.lifecycle.show(model).await
    }
}

/// Jobs: pull, start and delete in the background, one job per node of the [`Targets`] (see
/// [`crate::jobs`]; with several nodes, `Targets::Default` is refused: name them).
impl Dashboard {
    /// Pulls `model` in the background.
    pub fn pull(&self, model: &str, targets: &Targets) -> Result<Vec<Job>> {
        self.inner.jobs.pull(model, targets)
    }

    /// Starts (warms) `model` in the background: loads it with an empty prompt; if the node
    /// does not have it, pulls it and loads again.
    pub fn start_model(
        &self,
        model: &str,
        keep_alive: Option<KeepAlive>,
        targets: &Targets,
    ) -> Result<Vec<Job>> {
        self.inner.jobs.start(model, keep_alive, targets)
    }

    /// Deletes `model` in the background, unloading it first.
    pub fn delete_model(&self, model: &str, targets: &Targets) -> Result<Vec<Job>> {
        self.inner.jobs.delete(model, targets)
    }

    /// A job by id: this run's, else the stored one.
    pub async fn job(&self, id: &str) -> Result<Job> {
        self.inner.jobs.get(id).await
    }

    /// The latest jobs, newest first (this run's live state over the stored rows).
    pub async fn jobs(&self, limit: usize) -> Result<Vec<Job>> {
        self.inner.jobs.list(limit).await
    }

    /// Cancels a running job (a pull stops downloading; Ollama keeps what it has).
    pub async fn cancel_job(&self, id: &str) -> Result<Job> {
        self.inner.jobs.cancel(id).await
    }

    /// Starts a job again that did not finish (interrupted, cancelled or failed pull/start).
    pub async fn resume_job(&self, id: &str) -> Result<Job> {
        self.inner.jobs.resume(id).await
    }
}

/// Resumable uploads (see [`crate::uploads`]).
impl Dashboard {
    /// Starts an upload: checks the length against `upload_max_bytes` and the free disk space
    /// (minus `upload_reserve_bytes` and what unfinished uploads still need), creates the empty
    /// file and its checkpoint, and, when a model name is given, an import record waiting for
    /// the bytes. Refuses an existing model name unless `import.replace`.
    pub async fn create_upload(&self, new: crate::NewUpload) -> Result<crate::UploadInfo> {
        self.inner.uploads.create(new).await
    }

    /// An upload by id, with its durable offset. Expired or consumed ones are
    /// [`Error::Gone`]; unknown ones [`Error::NotFound`].
    pub async fn upload(&self, id: &str) -> Result<crate::UploadInfo> {
        self.inner.uploads.get(id).await
    }

    /// Every upload the store knows, newest first (expired ones included, for a while).
    pub async fn list_uploads(&self) -> Result<Vec<crate::UploadInfo>> {
        self.inner.uploads.list().await
    }

    /// Appends `body` to upload `id` at `offset`, which must equal its current offset
    /// ([`Error::Conflict`] otherwise). At most the bytes left are accepted
    /// ([`Error::TooLarge`] past that). With `checksum` (of the body) the body is kept
    /// only if it all arrived and matches ([`Error::ChecksumMismatch`]); without it, whatever
    /// arrived before a dropped connection is kept. One writer at a time per upload
    /// ([`Error::Locked`] when another is still busy after a few seconds).
    pub async fn append_upload<S, E>(
        &self,
        id: &str,
        offset: u64,
        body: S,
        checksum: Option<crate::Checksum>,
    ) -> Result<crate::UploadInfo>
    where
        S: futures_util::Stream<Item = std::result::Result<bytes::Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        self.inner.uploads.append(id, offset, body, checksum).await
    }

    /// Terminates an upload: its files are removed and it answers [`Error::Gone`] from then on.
    /// Refused ([`Error::Conflict`]) while an import is working on it.
    pub async fn delete_upload(&self, id: &str) -> Result<()> {
        self.inner.uploads.delete(id).await
    }

    /// Removes every upload whose expiry is before `now_ms` (Unix ms) and that no import is
    /// working on; returns their ids. The janitor calls this every minute with the current time.
    pub async fn expire_uploads(&self, now_ms: i64) -> Result<Vec<String>> {
        self.inner.uploads.expire(now_ms).await
    }
}

/// Imports: an upload becomes an Ollama model (see [`crate::imports`]).
impl Dashboard {
    /// Starts importing upload `request.upload_id` as model `request.name`.
    ///
    /// Refused before anything is recorded when the name is invalid (400), the upload is
    /// unknown (404) or gone (410), the name exists and `replace` is not set (409), another
    /// import of this upload is under way (409), or the finished file is not what it claims
    /// ([`Error::InvalidModel`], 422). An upload still in progress gets a record in `uploading`
    /// that goes on by itself when the last byte arrives.
    pub async fn import_model(&self, request: crate::ImportRequest) -> Result<crate::ImportInfo> {
        self.inner.imports.start(request).await
    }

    /// Refuses an invalid model name (400), nodes not named when several exist or unknown
    /// (400), or a name one of those nodes already has unless `replace` (409).
    pub async fn check_import_name(
        &self,
        name: &str,
        options: &crate::ImportOptions,
    ) -> Result<()> {
        self.inner.imports.check_name(name, options).await
    }

    /// A quick look at a complete upload (magic bytes, GGUF header, ZIP directory) that
    /// answers [`Error::InvalidModel`] for a file that is not what it claims.
    pub async fn inspect_upload(&self, id: &str) -> Result<Option<crate::ModelReport>> {
        self.inner.imports.inspect(id).await
    }

    /// An import by id.
    pub async fn import(&self, id: &str) -> Result<crate::ImportInfo> {
        self.inner.imports.get(id).await
    }

    /// Every import, newest first.
    pub async fn list_imports(&self) -> Result<Vec<crate::ImportInfo>> {
        self.inner.imports.list().await
    }
}

/// The managed Ollama (see [`crate::service`]).
impl Dashboard {
    /// The managed Ollama's state (or that it is not managed).
    pub fn service_status(&self) -> crate::service::ServiceStatus {
        self.inner.service.status()
    }

    /// Starts the managed Ollama; returns once it answers (or is known not to start).
    /// [`Error::Conflict`] when Ollama is not managed.
    pub async fn service_start(&self) -> Result<crate::service::ServiceStatus> {
        self.inner.service.start().await
    }

    /// Stops the managed Ollama (SIGTERM to our child's pid, SIGKILL after 10 s).
    pub async fn service_stop(&self) -> Result<crate::service::ServiceStatus> {
        self.inner.service.stop().await
    }

    /// Stops and starts the managed Ollama; returns once it answers again.
    pub async fn service_restart(&self) -> Result<crate::service::ServiceStatus> {
        self.inner.service.restart().await
    }
}

/// Generation defaults (see [`crate::settings`]).
impl Dashboard {
    /// Every scope's generation defaults.
    pub fn settings(&self) -> crate::settings::SettingsView {
        self.inner.settings.view()
    }

    /// Changes some fields of a scope (`None` = global, else a model name). A field set to
    /// `null` goes back to "not set". Every field is checked first; if any is bad, nothing is
    /// stored and the error names each bad field.
    pub async fn update_settings(
        &self,
        model: Option<&str>,
        patch: serde_json::Map<String, serde_json::Value>,
    ) -> Result<crate::settings::GenerationDefaults> {
        self.inner
            .settings
            .update(&self.inner.store, model, patch)
            .await
    }

    /// Fills the generation options a request left out (the model's defaults, then the global
    /// ones); whether anything was filled. Memory only.
    pub fn apply_defaults(
        &self,
        model: &str,
        options: &mut crate::ollama::types::ModelOptions,
    ) -> bool {
        self.inner.settings.fill(model, options)
    }

    /// The keep-alive to send for `model` when the request gives none (model, then global).
    pub fn default_keep_alive(&self, model: &str) -> Option<crate::ollama::types::KeepAlive> {
        self.inner.settings.keep_alive(model)
    }

    /// The value a setting has for `model` and where it comes from (`model`, `global`).
    pub fn effective_setting(
        &self,
        model: &str,
        key: &str,
    ) -> Option<(serde_json::Value, &'static str)> {
        self.inner.settings.effective(model, key)
    }
}

/// Chat sessions and their turns (see [`crate::chat`]).
impl Dashboard {
    /// Creates a chat session.
    pub async fn create_chat_session(&self, new: NewSession) -> Result<ChatSession> {
        self.inner.chats.create_chat_session(new).await
    }

    /// Sessions, latest first; only `owner`'s when given.
    pub async fn chat_sessions(&self, owner: Option<&str>) -> Result<Vec<ChatSession>> {
        self.inner.chats.chat_sessions(owner).await
    }

    /// One session.
    pub async fn chat_session(&self, id: &str) -> Result<ChatSession> {
        self.inner.chats.chat_session(id).await
    }

    /// Renames a session or changes its defaults.
    pub async fn update_chat_session(
        &self,
        id: &str,
        update: SessionUpdate,
    ) -> Result<ChatSession> {
        self.inner.chats.update_chat_session(id, update).await
    }

    /// Deletes a session and its messages.
    pub async fn delete_chat_session(&self, id: &str) -> Result<()> {
        self.inner.chats.delete_chat_session(id).await
    }

    /// The messages of the branch a session shows, oldest first.
    pub async fn chat_messages(&self, session_id: &str) -> Result<Vec<ChatMessage>> {
        self.inner.chats.chat_messages(session_id).await
    }

    /// Appends a message to a session (and marks the session changed).
    pub async fn add_chat_message(&self, session_id: &str, m: NewMessage) -> Result<ChatMessage> {
        self.inner.chats.add_chat_message(session_id, m).await
    }

    /// Queues a message for the store's writer without waiting (stream ends and drops).
    pub fn queue_chat_message(&self, session_id: &str, m: NewMessage) {
        self.inner.chats.queue_chat_message(session_id, m)
    }

    /// Stores the user's turn and prepares the answer to the whole conversation; the reply is
    /// stored as the answer ends. The caller checks that it may use the session.
    pub async fn send_chat_message(
        &self,
        origin: Origin,
        session_id: &str,
        turn: crate::Turn,
    ) -> Result<crate::SessionTurn> {
        self.inner
            .chats
            .send_chat_message(origin, session_id, turn)
            .await
    }

    /// Prepares a new answer to the last question of the branch a session shows; the answer it
    /// replaces stays as another branch. The caller checks that it may use the session.
    pub async fn regenerate_chat_message(
        &self,
        origin: Origin,
        session_id: &str,
        again: crate::Regenerate,
    ) -> Result<crate::SessionTurn> {
        self.inner
            .chats
            .regenerate_chat_message(origin, session_id, again)
            .await
    }

    /// Shows the branch through `message_id` (the newest message at or below it becomes the
    /// session's last); returns that branch's messages.
    pub async fn select_chat_branch(
        &self,
        session_id: &str,
        message_id: i64,
    ) -> Result<Vec<ChatMessage>> {
        self.inner
            .chats
            .select_chat_branch(session_id, message_id)
            .await
    }
}

/// API keys created over the API (see [`crate::keys`]).
impl Dashboard {
    /// Keys created over the API (configured keys are the host's business).
    pub async fn api_keys(&self) -> Result<Vec<crate::ApiKey>> {
        self.inner.keys.list().await
    }

    /// Creates a key and returns it with its secret, which is not stored and not shown again.
    pub async fn create_api_key(
        &self,
        name: &str,
        role: crate::Role,
    ) -> Result<(crate::ApiKey, String)> {
        self.inner.keys.create(name, role).await
    }

    /// Deletes a key by name.
    pub async fn delete_api_key(&self, name: &str) -> Result<()> {
        self.inner.keys.delete(name).await
    }

    /// Finds a stored key by its secret.
    pub async fn find_api_key(&self, secret: &str) -> Result<Option<crate::ApiKey>> {
        self.inner.keys.find(secret).await
    }
}

/// The model catalogue (see [`crate::catalogue`]).
impl Dashboard {
    /// Downloadable models of a category, with the installed ones marked.
    pub fn downloadable(
        &self,
        category: crate::catalogue::Category,
    ) -> Result<Vec<crate::catalogue::CatalogueEntry>> {
        let installed = self.list_models().value;
        crate::catalogue::downloadable(category, installed.as_deref().map(Vec::as_slice))
    }
}

/// Generation: traced calls to Ollama with the settings' defaults (see [`crate::generation`]).
impl Dashboard {
    /// A traced `/api/chat` call: send it with [`Generation::answer`] or [`Generation::stream`].
    pub fn chat(&self, origin: Origin, request: ChatRequest) -> Generation<ChatRequest> {
        self.inner.generations.chat(origin, request)
    }

    /// A traced `/api/generate` call.
    pub fn generate(
        &self,
        origin: Origin,
        request: GenerateRequest,
    ) -> Generation<GenerateRequest> {
        self.inner.generations.generate(origin, request)
    }

    /// A traced `/api/embed` call.
    pub fn embed(&self, origin: Origin, request: EmbedRequest) -> Generation<EmbedRequest> {
        self.inner.generations.embed(origin, request)
    }
}

/// Traces (see [`crate::traces`]).
impl Dashboard {
    /// Starts a trace now, for a traced call the dashboard does not make itself (the
    /// passthrough); it gets a UUIDv7 id.
    pub fn start_trace(&self, start: TraceStart) -> TraceHandle {
        self.inner.traces.start(start)
    }

    /// Queues a trace for the store's batched writer; never waits on SQLite, never drops one.
    pub fn record_trace(&self, trace: TraceRecord) {
        self.inner.traces.record(trace)
    }

    /// Queues a trace and returns a future that resolves once it is durable.
    pub fn record_trace_committed(&self, trace: TraceRecord) -> TraceCommit {
        self.inner.traces.record_committed(trace)
    }

    /// Writes many traces in one transaction (imports, benchmarks); waits for the commit.
    pub async fn import_traces(&self, traces: Vec<TraceRecord>) -> Result<()> {
        self.inner.traces.import(traces).await
    }

    /// Traces not yet in the file, and those dropped because the disk stayed full.
    pub fn trace_backlog(&self) -> TraceBacklog {
        self.inner.traces.backlog()
    }

    /// Waits until every trace (and other write) queued before this call is committed.
    pub async fn flush_writes(&self) -> Result<()> {
        self.inner.store.flush().await
    }

    /// One trace with its bodies.
    pub async fn trace(&self, id: &str) -> Result<TraceRecord> {
        self.inner.traces.get(id).await
    }

    /// A page of traces, newest first, without bodies unless `query.with_bodies`.
    pub async fn traces(&self, query: TraceQuery) -> Result<TracePage> {
        self.inner.traces.list(query).await
    }

    /// Per-model counts, tokens, latency and TTFT percentiles, tokens/s between two times;
    /// only the traces of `api_key` when given.
    pub async fn trace_stats(
        &self,
        since_ms: i64,
        until_ms: i64,
        api_key: Option<String>,
    ) -> Result<TraceStats> {
        self.inner.traces.stats(since_ms, until_ms, api_key).await
    }

    /// Totals of the traces this process recorded in the last `window`, from memory.
    pub fn recent_trace_totals(&self, window: Duration) -> TraceTotals {
        self.inner.traces.recent_totals(window)
    }

    /// Applies the retention policy now and returns what it did.
    pub async fn apply_trace_retention(&self) -> Result<RetentionReport> {
        self.inner.traces.apply_retention().await
    }

    /// The retention policy and what its last run did.
    pub fn trace_retention(&self) -> (RetentionPolicy, Option<RetentionReport>) {
        self.inner.traces.retention()
    }
}

fn ignore_closed(e: Error) -> Result<()> {
    match e {
        Error::ShuttingDown => Ok(()),
        other => Err(other),
    }
}

/// Now, as Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Trace usage over time (see [`crate::traces::UsageQuery`]).
impl Dashboard {
    /// Per bucket and model: requests, errors, tokens, tokens/s, p50/p95 TTFT and latency.
    pub async fn trace_usage(
        &self,
        query: crate::traces::UsageQuery,
    ) -> Result<crate::traces::TraceUsage> {
        self.inner.traces.usage(query).await
    }
}
