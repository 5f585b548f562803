//! [`Dashboard`]: the one entry point of the library.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::DashboardConfig;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::ollama::OllamaClient;
use crate::ollama::types::{ListModel, ProcessModel};
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
}

/// Whether Ollama answers, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct OllamaHealth {
    /// Base URL in use.
    pub url: String,
    /// It answered `/api/version`.
    pub reachable: bool,
    /// Its version, when it answered.
    pub version: Option<String>,
    /// Why not, when it did not.
    pub error: Option<String>,
    /// How long the probe took, in milliseconds.
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
        let uploads = crate::uploads::UploadsState::new(data, config.import_concurrency);
        tracing::info!(ollama = ollama.base_url(), data = %data.display(), "dashboard ready");
        let dashboard = Self {
            inner: Arc::new(Inner {
                traces: crate::traces::retention::TraceState::new(&config),
                config,
                ollama,
                store,
                events: crate::events::channel(),
                started: Instant::now(),
                uploads,
            }),
        };
        dashboard.spawn_trace_retention();
        dashboard.start_uploads().await?;
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

    /// Ollama's version string, e.g. `0.12.6`.
    pub async fn version(&self) -> Result<String> {
        Ok(self.inner.ollama.version().await?.version)
    }

    /// Models installed in Ollama.
    pub async fn list_models(&self) -> Result<Vec<ListModel>> {
        Ok(self.inner.ollama.tags().await?.models)
    }

    /// Models loaded in memory right now, most time left first.
    pub async fn running_models(&self) -> Result<Vec<ProcessModel>> {
        Ok(self.inner.ollama.ps().await?.models)
    }

    /// Health of the store and of Ollama.
    pub async fn health(&self) -> Health {
        let store = self.inner.store.health();
        let started = Instant::now();
        let version = self.inner.ollama.version().await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let (version, error) = match version {
            Ok(v) => (Some(v.version), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let ollama = OllamaHealth {
            url: self.inner.ollama.base_url().to_owned(),
            reachable: version.is_some(),
            version,
            error,
            latency_ms,
        };
        Health {
            ok: store.alive && ollama.reachable,
            uptime: self.inner.started.elapsed(),
            store,
            ollama,
        }
    }

    /// Flushes queued writes and closes the store. Calls after this fail with
    /// [`Error::ShuttingDown`]; calling it twice is fine.
    pub async fn shutdown(&self) -> Result<()> {
        self.inner.uploads.shutdown();
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
