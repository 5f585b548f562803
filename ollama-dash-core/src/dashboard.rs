//! [`Dashboard`]: the one entry point of the library.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::DashboardConfig;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::ollama::OllamaClient;
use crate::store::{Store, StoreHealth};

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
    traces: crate::traces::retention::TraceState,
    uploads: crate::uploads::UploadsState,
    live: crate::live::Live,
}

/// A handle that does not keep the dashboard alive (for background tasks).
#[derive(Debug, Clone)]
pub(crate) struct WeakDashboard(std::sync::Weak<Inner>);

impl WeakDashboard {
    /// The dashboard, unless every strong handle is gone.
    pub(crate) fn upgrade(&self) -> Option<Dashboard> {
        self.0.upgrade().map(|inner| Dashboard { inner })
    }
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
        Self::replay_trace_spool(&store, data).await?;
        let uploads = crate::uploads::UploadsState::new(data, config.import_concurrency);
        let events = crate::events::channel();
        let live =
            crate::live::Live::start(&config, ollama.clone(), store.clone(), events.clone())?;
        tracing::info!(ollama = ollama.base_url(), data = %data.display(), "dashboard ready");
        let dashboard = Self {
            inner: Arc::new(Inner {
                traces: crate::traces::retention::TraceState::new(&config),
                config,
                ollama,
                store,
                events,
                started: Instant::now(),
                uploads,
                live,
            }),
        };
        dashboard.spawn_trace_retention();
        dashboard.start_uploads().await?;
        dashboard.start_live().await?;
        Ok(dashboard)
    }

    /// A handle for background tasks that must not keep the dashboard alive.
    pub(crate) fn downgrade(&self) -> WeakDashboard {
        WeakDashboard(Arc::downgrade(&self.inner))
    }

    /// Upload and import state, for `uploads` and `imports`.
    pub(crate) fn uploads_state(&self) -> &crate::uploads::UploadsState {
        &self.inner.uploads
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &DashboardConfig {
        &self.inner.config
    }

    /// The Ollama client, for calls the dashboard does not wrap.
    pub fn ollama(&self) -> &OllamaClient {
        &self.inner.ollama
    }

    /// The store handle, for the modules that add methods to `Dashboard`.
    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Trace retention state, for the `traces` module.
    pub(crate) fn traces_state(&self) -> &crate::traces::retention::TraceState {
        &self.inner.traces
    }

    /// The event channel, for the modules that announce changes.
    pub(crate) fn events(&self) -> &tokio::sync::broadcast::Sender<Event> {
        &self.inner.events
    }

    /// The live state (collector, caches, jobs, settings, managed Ollama).
    pub(crate) fn live_state(&self) -> &crate::live::Live {
        &self.inner.live
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
        let status = self.live_shared().status(crate::live::Probe::Version);
        let (reachable, error) = match self.live_shared().ollama_reachable() {
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
        self.stop_live().await;
        self.inner.store.flush().await.or_else(ignore_closed)?;
        self.inner.store.close().await?;
        tracing::info!("dashboard shut down");
        Ok(())
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
