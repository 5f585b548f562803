//! `ollama-dash-core`: the embeddable async library behind ollama-dash.
//!
//! [`Dashboard`] is the whole API: it talks to one Ollama server, keeps its own SQLite store
//! under `DATA_PATH`, and answers with plain data. It never starts an HTTP server; the
//! `ollama-dash` binary mounts it behind one.
//!
//! ```no_run
//! use ollama_dash_core::{Dashboard, DashboardConfig};
//!
//! # async fn demo() -> ollama_dash_core::Result<()> {
//! let mut config = DashboardConfig::with_data_path("/tmp/ollama-dash-example");
//! config.ollama_host = "127.0.0.1:11434".into();
//! let dashboard = Dashboard::new(config).await?;
//! dashboard.refresh_all().await; // the collector does this on its own; here we wait for it
//! println!("Ollama {}", dashboard.version().await?);
//! for model in dashboard.list_models().value.iter().flat_map(|m| m.iter()) {
//!     println!("{} ({}) {:?}", model.name, model.parameter_size, model.capabilities.names());
//! }
//! dashboard.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Configuration usually comes from [`DashboardConfig::load`]: defaults, then
//! `ollama-dash.toml`, then the environment (`OLLAMA_HOST`, `DATA_PATH`, `OLLAMA_DASH_*`).
#![warn(missing_docs)]

pub mod capabilities;
pub mod catalogue;
mod chat;
pub mod config;
mod dashboard;
mod error;
mod events;
pub mod fleet;
pub mod generation;
mod holdings;
/// GGUF headers: the `ollama-dash-gguf` crate, a leaf of its own (fuzzed alone).
pub use ollama_dash_gguf as gguf;
mod imports;
pub mod jobs;
mod keys;
pub mod lifecycle;
pub mod live;
pub mod ollama;
mod plugin_feed;
pub mod service;
pub mod settings;
mod store;
pub mod traces;
mod uploads;
mod validate;

pub use chat::{
    ChatMessage, ChatSession, NewMessage, NewSession, Regenerate, SessionTurn, SessionUpdate, Turn,
};
pub use config::DashboardConfig;
pub use dashboard::{DB_FILE_NAME, Dashboard, Health, OllamaHealth};
pub use error::{Error, ErrorKind, Result};
pub use events::{EVENT_BUFFER, Event};
pub use generation::{Generation, Lines, Origin};
pub use imports::{ImportInfo, ImportOptions, ImportProgress, ImportRequest, ImportState};
pub use keys::{ApiKey, Role, hash_secret};
pub use live::{Cached, InstalledModel, Probe, REFRESH_SOON, RunningModel};
pub use plugin_feed::{MetricKind, PluginMetric};
pub use store::StoreHealth;
pub use traces::{
    TraceBacklog, TraceCommit, TraceHandle, TraceQuery, TraceRecord, TraceStart, TraceStatus,
};
pub use uploads::{Checksum, NewUpload, UPLOADS_DIR, UploadInfo, UploadState, clean_file_name};
pub use validate::{FileReport, ModelReport, ProjectorReport};
