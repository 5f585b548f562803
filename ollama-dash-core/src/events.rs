//! Live events: everything that changes is announced on one broadcast channel.
//!
//! The host streams these as Server-Sent Events at `GET /api/events`. A slow subscriber that
//! falls more than [`EVENT_BUFFER`] events behind skips ahead (it is told how many it missed);
//! nobody else waits for it.

use serde::Serialize;
use tokio::sync::broadcast;

/// Events kept for a slow subscriber before it starts skipping.
pub const EVENT_BUFFER: usize = 1024;

/// Something that changed. Serialised as `{"type": "...", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The installed models changed (pull, delete, copy, import) or their capabilities did.
    ModelsChanged,
    /// Plugins were loaded, replaced or removed (hot reload or `POST /api/plugins/reload`).
    PluginsChanged {
        /// Names of the plugins loaded now.
        loaded: Vec<String>,
        /// Files that failed to load.
        failed: Vec<String>,
    },
    /// A collection round of plugin metrics.
    PluginMetrics {
        /// Every metric of the round.
        metrics: Vec<crate::PluginMetric>,
    },
    /// A traced generation started (what `/metrics` counts as in flight until its
    /// [`Event::TraceRecorded`] with the same id).
    TraceStarted {
        /// Trace id.
        id: String,
        /// Model asked for.
        model: String,
        /// Route it came through, e.g. `/v1/chat/completions`.
        endpoint: String,
        /// Name of the API key used; kept off the event stream (in-process listeners only).
        #[serde(skip)]
        api_key: Option<String>,
    },
    /// A generation was traced (queued for the store), with the figures `/metrics` aggregates.
    TraceRecorded {
        /// Trace id.
        id: String,
        /// Model.
        model: String,
        /// `ok`, `error` or `cancelled`.
        status: String,
        /// Route it came through, e.g. `/v1/chat/completions`.
        endpoint: String,
        /// Name of the API key used; kept off the event stream (in-process listeners only).
        #[serde(skip)]
        api_key: Option<String>,
        /// Prompt tokens (Ollama's `prompt_eval_count`).
        prompt_tokens: Option<u64>,
        /// Generated tokens (Ollama's `eval_count`).
        completion_tokens: Option<u64>,
        /// Time to the first token, ms (streams only).
        ttft_ms: Option<f64>,
        /// Whole request as seen by ollama-dash, ms.
        duration_ms: Option<f64>,
        /// Ollama's generation time, ns.
        eval_ns: Option<u64>,
        /// Ollama's whole-request time, ns.
        total_ns: Option<u64>,
    },
    /// Bytes of an upload became durable.
    UploadProgress {
        /// Upload id.
        id: String,
        /// Bytes durably received.
        offset: u64,
        /// Declared length.
        length: u64,
    },
    /// Every byte of an upload arrived.
    UploadComplete {
        /// Upload id.
        id: String,
        /// Hex SHA-256 of the file.
        sha256: String,
    },
    /// The janitor removed an abandoned upload.
    UploadExpired {
        /// Upload id.
        id: String,
    },
    /// An import changed state (or its progress moved); carries the whole record.
    Import(Box<crate::imports::ImportInfo>),
    /// A new system stats sample (every `system_interval_secs`).
    SystemStats(crate::live::system::SystemStats),
    /// A new GPU sample (every `gpu_interval_secs`; "no GPU" is a sample too).
    GpuStats(crate::live::gpu::GpuReport),
    /// The loaded models changed (loaded, unloaded, VRAM or expiry moved).
    RunningModels {
        /// All loaded models now.
        models: Vec<crate::live::RunningModel>,
    },
    /// A probe started failing (`ok: false`) or recovered (`ok: true`).
    ProbeChanged {
        /// Which probe.
        probe: crate::live::Probe,
        /// Whether it works now.
        ok: bool,
        /// Why not.
        error: Option<String>,
    },
    /// A job (pull, start, delete) moved: progress or a new state.
    Job(crate::jobs::Job),
    /// The managed Ollama process changed state.
    Service(crate::service::ServiceStatus),
    /// A node of the fleet was added, removed, went up, down or into or out of draining, or its
    /// loaded models changed: its whole status, as `GET /api/nodes` shows it. A node's first
    /// event after `POST /api/nodes` is its addition; its last, after its removal, has state
    /// `removed`. Not sent on every probe, only on a change.
    NodeChanged(crate::fleet::NodeStatus),
    /// This subscriber fell behind and missed events (it should re-read the state).
    Lagged {
        /// How many it missed.
        missed: u64,
    },
}

pub(crate) fn channel() -> broadcast::Sender<Event> {
    broadcast::channel(EVENT_BUFFER).0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::Event;

    #[test]
    fn trace_events_keep_the_key_name_off_the_stream() {
        let started = Event::TraceStarted {
            id: "t".into(),
            model: "m".into(),
            endpoint: "/v1/chat/completions".into(),
            api_key: Some("team-a".into()),
        };
        let json = serde_json::to_value(&started).unwrap();
        assert_eq!(json["type"], "trace_started");
        assert!(json.get("api_key").is_none(), "{json}");
        let recorded = Event::TraceRecorded {
            id: "t".into(),
            model: "m".into(),
            status: "ok".into(),
            endpoint: "/v1/chat/completions".into(),
            api_key: Some("team-a".into()),
            prompt_tokens: Some(3),
            completion_tokens: Some(5),
            ttft_ms: Some(1.5),
            duration_ms: Some(9.0),
            eval_ns: None,
            total_ns: None,
        };
        let json = serde_json::to_value(&recorded).unwrap();
        assert_eq!(
            (json["type"].as_str(), json["completion_tokens"].as_u64()),
            (Some("trace_recorded"), Some(5))
        );
        assert!(json.get("api_key").is_none(), "{json}");
    }
}
