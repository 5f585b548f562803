//! The server's JSON answers, typed as far as the commands read them. Every type keeps the
//! fields it does not name in `rest`, so `--json` prints the server's answer whole.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An installed model (`GET /api/models/available`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Model {
    /// `llama3.2:1b`.
    pub name: String,
    /// The manifest digest (hex).
    #[serde(default)]
    pub digest: String,
    /// Bytes on disk.
    #[serde(default)]
    pub size: u64,
    /// RFC 3339.
    #[serde(default)]
    pub modified_at: Option<String>,
    /// Everything else the server said.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A node of the fleet (`GET /api/nodes`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Node {
    /// Its name (`default` for the one Ollama at `OLLAMA_HOST`).
    pub name: String,
    /// Its base URL.
    #[serde(default)]
    pub url: String,
    /// `up`, `down` or `draining` (`removed` in a node's last `node_changed` event).
    #[serde(default)]
    pub state: String,
    /// Ollama's version, as last probed.
    #[serde(default)]
    pub version: Option<String>,
    /// Models loaded there.
    #[serde(default)]
    pub loaded: Vec<String>,
    /// VRAM held by loaded models, bytes.
    #[serde(default)]
    pub vram_used: u64,
    /// VRAM it has, bytes, when known.
    #[serde(default)]
    pub vram_total: Option<u64>,
    /// VRAM free, bytes, when known.
    #[serde(default)]
    pub vram_free: Option<u64>,
    /// Where the VRAM figures come from: `metrics`, `config` or `ps`.
    #[serde(default)]
    pub vram_source: Option<String>,
    /// Requests running there now.
    #[serde(default)]
    pub in_flight: u64,
    /// Requests waiting for a slot there.
    #[serde(default)]
    pub queued: u64,
    /// Everything else the server said.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// When a loaded model is unloaded.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Expires {
    /// Kept loaded until stopped.
    #[serde(default)]
    pub forever: bool,
    /// RFC 3339, UTC.
    #[serde(default)]
    pub utc: Option<String>,
    /// Everything else the server said.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A loaded model (`GET /api/models/running`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RunningModel {
    /// `llama3.2:1b`.
    pub name: String,
    /// The manifest digest (hex).
    #[serde(default)]
    pub digest: String,
    /// Bytes in memory.
    #[serde(default)]
    pub size: u64,
    /// `100% GPU`, `48%/52% CPU/GPU`, as `ollama ps`.
    #[serde(default)]
    pub processor: Option<String>,
    /// When it is unloaded.
    #[serde(default)]
    pub expires: Option<Expires>,
    /// Everything else the server said.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// How far a job is.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct JobProgress {
    /// Ollama's last status line, e.g. `pulling 6a0746a1ec1a`.
    #[serde(default)]
    pub status: String,
    /// Bytes done.
    #[serde(default)]
    pub completed: u64,
    /// Bytes known so far.
    #[serde(default)]
    pub total: u64,
    /// Percent.
    #[serde(default)]
    pub percent: Option<f64>,
    /// Server-measured speed.
    #[serde(default)]
    pub bytes_per_sec: Option<f64>,
    /// Seconds left at that speed.
    #[serde(default)]
    pub eta_secs: Option<f64>,
}

/// Why a job failed.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct JobError {
    /// What happened.
    pub message: String,
    /// Everything else the server said.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A background job: pull, start or delete (`/api/jobs/{id}`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Job {
    /// UUIDv7.
    pub id: String,
    /// `pull`, `start`, `delete`.
    #[serde(default)]
    pub kind: String,
    /// The model.
    #[serde(default)]
    pub model: String,
    /// The node it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// `running`, `done`, `failed`, `cancelled`, `interrupted`.
    pub state: String,
    /// How far.
    #[serde(default)]
    pub progress: JobProgress,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<JobError>,
    /// Everything else the server said.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl Job {
    /// Whether the job is still working.
    pub fn is_running(&self) -> bool {
        self.state == "running"
    }
}

/// The answer of `POST /api/models/stop`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Stopped {
    /// The model.
    pub model: String,
    /// Whether it was loaded anywhere.
    pub was_loaded: bool,
    /// Each node asked, and whether it held the model.
    #[serde(default)]
    pub nodes: Vec<StoppedOn>,
}

/// One node of [`Stopped`].
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StoppedOn {
    /// The node.
    pub node: String,
    /// Whether it held the model.
    pub was_loaded: bool,
}

/// One generation's trace, without bodies (`GET /v1/traces`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Trace {
    /// UUIDv7.
    pub id: String,
    /// Unix ms.
    pub created_at: i64,
    /// The model asked.
    #[serde(default)]
    pub model: Option<String>,
    /// `/v1/chat/completions`, `/ollama/api/chat`, …
    #[serde(default)]
    pub endpoint: Option<String>,
    /// `ok`, `error`, `cancelled`.
    #[serde(default)]
    pub status: Option<String>,
    /// Tokens in and out.
    #[serde(default)]
    pub total_tokens: Option<u64>,
    /// Wall time.
    #[serde(default)]
    pub duration_ms: Option<f64>,
    /// Time to the first token.
    #[serde(default)]
    pub ttft_ms: Option<f64>,
    /// Everything else the server said.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A page of traces, newest first.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TracePage {
    /// The traces.
    pub data: Vec<Trace>,
    /// Everything else the server said.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// Filters of `GET /v1/traces`.
#[derive(Debug, Clone, Default)]
pub struct TraceQuery {
    /// At most this many.
    pub limit: Option<u32>,
    /// Only this model.
    pub model: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Only traces from this Unix ms on.
    pub since_ms: Option<i64>,
}

/// An import of an upload into Ollama (`/v1/models/imports/{id}`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Import {
    /// Server-made id.
    pub id: String,
    /// The upload it imports.
    pub upload_id: String,
    /// The model it creates.
    pub name: String,
    /// `uploading → uploaded → validating → importing → ready | failed`.
    pub state: String,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
    /// Everything else the server said.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl Import {
    /// Whether the import has ended, well or not.
    pub fn is_finished(&self) -> bool {
        matches!(self.state.as_str(), "ready" | "failed")
    }
}

/// One message of a chat (OpenAI's shape).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Message {
    /// `user`, `assistant`, `system`.
    pub role: String,
    /// The text.
    pub content: String,
}
