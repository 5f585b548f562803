//! Typed requests and responses for every endpoint of Ollama's native API.
//!
//! Every field Ollama may omit (older builds, `omitempty`) is an `Option` or defaults to empty,
//! and unknown fields are ignored, so any Ollama version since 0.3 deserialises.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `keep_alive`: a Go duration string (`"5m"`, `"-1m"`) or a number of seconds (`0`, `-1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeepAlive {
    /// Seconds; negative keeps the model loaded forever, zero unloads after the request.
    Seconds(f64),
    /// A Go duration string such as `"10m"` or `"24h"`.
    Duration(String),
}

/// `think`: a boolean or a level (`"low"`, `"medium"`, `"high"`, `"max"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Think {
    /// On or off.
    Enabled(bool),
    /// A reasoning effort level.
    Level(String),
}

/// Generation options (`options` object). Unknown keys are carried in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelOptions {
    /// Context window size in tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_ctx: Option<i64>,
    /// Maximum tokens to generate (-1: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_predict: Option<i64>,
    /// Random seed (-1: random).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Top-k sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<i64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Minimum probability sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_p: Option<f64>,
    /// Repetition penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_penalty: Option<f64>,
    /// Presence penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Frequency penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// Any other option, passed through untouched.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `POST /api/generate` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    /// Model name.
    pub model: String,
    /// Prompt; empty means "load only".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prompt: String,
    /// Fill-in-the-middle suffix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// System prompt override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Template override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Deprecated conversation state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Vec<i64>>,
    /// Stream NDJSON (Ollama's default is true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// No templating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<bool>,
    /// `"json"` or a JSON schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Value>,
    /// How long the model stays loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<KeepAlive>,
    /// Base64 images (no `data:` prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<String>>,
    /// Generation options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<ModelOptions>,
    /// Thinking on/off or level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think: Option<Think>,
}

/// One line of a `/api/generate` stream, or the whole non-streamed answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerateResponse {
    /// Model name.
    #[serde(default)]
    pub model: String,
    /// When the line was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<FixedOffset>>,
    /// Text delta (or the whole text when not streamed).
    #[serde(default)]
    pub response: String,
    /// Reasoning delta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
    /// Last line.
    #[serde(default)]
    pub done: bool,
    /// Final metrics and reason (on the last line).
    #[serde(flatten)]
    pub metrics: Metrics,
    /// Conversation state (deprecated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Vec<i64>>,
}

/// `done_reason` and the timing metrics of a final line; durations in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    /// `stop`, `length`, `load` or `unload`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_reason: Option<String>,
    /// Whole request, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_duration: Option<u64>,
    /// Model load, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_duration: Option<u64>,
    /// Prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_eval_count: Option<u64>,
    /// Prompt evaluation, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_eval_duration: Option<u64>,
    /// Generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_count: Option<u64>,
    /// Generation, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_duration: Option<u64>,
}

/// A tool call made by the model; `arguments` is a JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Call id (newer builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function called.
    pub function: ToolCallFunction,
}

/// The function part of a [`ToolCall`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallFunction {
    /// Position among the calls of one message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Function name.
    pub name: String,
    /// Arguments, a JSON object.
    #[serde(default)]
    pub arguments: Value,
}

/// A chat message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// Text.
    #[serde(default)]
    pub content: String,
    /// Reasoning text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
    /// Base64 images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<String>>,
    /// Tool calls (assistant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Name of the tool whose result this is (`role: tool`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// Id of the call this result answers (newer builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// `POST /api/chat` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// Model name.
    pub model: String,
    /// Conversation; empty means "load only".
    #[serde(default)]
    pub messages: Vec<Message>,
    /// Tool definitions (OpenAI style).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Value>>,
    /// `"json"` or a JSON schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Value>,
    /// Generation options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<ModelOptions>,
    /// Stream NDJSON (Ollama's default is true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// How long the model stays loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<KeepAlive>,
    /// Thinking on/off or level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think: Option<Think>,
}

/// One line of a `/api/chat` stream, or the whole non-streamed answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// Model name.
    #[serde(default)]
    pub model: String,
    /// When the line was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<FixedOffset>>,
    /// The assistant's delta (or whole message).
    #[serde(default)]
    pub message: Message,
    /// Last line.
    #[serde(default)]
    pub done: bool,
    /// Final metrics and reason.
    #[serde(flatten)]
    pub metrics: Metrics,
}

/// `POST /api/embed` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbedRequest {
    /// Model name.
    pub model: String,
    /// A string or an array of strings.
    pub input: Value,
    /// Truncate over-long input (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate: Option<bool>,
    /// Cut vectors to this many dimensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    /// Options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<ModelOptions>,
    /// How long the model stays loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<KeepAlive>,
}

/// `POST /api/embed` response: L2-normalised vectors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbedResponse {
    /// Model name.
    #[serde(default)]
    pub model: String,
    /// One vector per input.
    #[serde(default)]
    pub embeddings: Vec<Vec<f32>>,
    /// Whole request, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_duration: Option<u64>,
    /// Model load, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_duration: Option<u64>,
    /// Input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_eval_count: Option<u64>,
}

/// Legacy `POST /api/embeddings` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsRequest {
    /// Model name.
    pub model: String,
    /// Text to embed.
    #[serde(default)]
    pub prompt: String,
    /// Options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<ModelOptions>,
    /// How long the model stays loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<KeepAlive>,
}

/// Legacy `POST /api/embeddings` response (not normalised).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsResponse {
    /// The vector.
    #[serde(default)]
    pub embedding: Vec<f64>,
}

/// `details` of a model in tags, ps and show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelDetails {
    /// Parent model, often empty.
    #[serde(default)]
    pub parent_model: String,
    /// `gguf` or `safetensors`.
    #[serde(default)]
    pub format: String,
    /// `general.architecture`, e.g. `llama`.
    #[serde(default)]
    pub family: String,
    /// All families (may be null in old manifests).
    #[serde(default)]
    pub families: Option<Vec<String>>,
    /// Human parameter count, e.g. `8.0B`.
    #[serde(default)]
    pub parameter_size: String,
    /// Quantisation, e.g. `Q4_K_M`.
    #[serde(default)]
    pub quantization_level: String,
    /// Trained context length (very new builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_length: Option<u64>,
    /// Embedding length (very new builds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_length: Option<u64>,
}

/// A local model in `GET /api/tags`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListModel {
    /// Display name, e.g. `llama3.2:latest`.
    pub name: String,
    /// Same as `name`.
    #[serde(default)]
    pub model: String,
    /// Manifest modification time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<DateTime<FixedOffset>>,
    /// Total bytes of all layers.
    #[serde(default)]
    pub size: u64,
    /// Manifest sha256, hex.
    #[serde(default)]
    pub digest: String,
    /// Details.
    #[serde(default)]
    pub details: ModelDetails,
    /// Capabilities (about v0.30+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
}

/// `GET /api/tags` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TagsResponse {
    /// Local models.
    #[serde(default)]
    pub models: Vec<ListModel>,
}

/// A loaded model in `GET /api/ps`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessModel {
    /// Display name.
    pub name: String,
    /// Same as `name`.
    #[serde(default)]
    pub model: String,
    /// Bytes of memory in use (weights + KV cache + graph).
    #[serde(default)]
    pub size: u64,
    /// Bytes of `size` held in GPU memory (v0.1.38+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_vram: Option<u64>,
    /// Manifest sha256, hex.
    #[serde(default)]
    pub digest: String,
    /// Details.
    #[serde(default)]
    pub details: ModelDetails,
    /// When it unloads; far in the future when kept forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<FixedOffset>>,
    /// Context actually allocated (v0.10.0+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_length: Option<u64>,
}

/// `GET /api/ps` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PsResponse {
    /// Loaded models, most time left first.
    #[serde(default)]
    pub models: Vec<ProcessModel>,
}

/// `POST /api/show` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShowRequest {
    /// Model name.
    pub model: String,
    /// Fill in the full token arrays in `model_info`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbose: Option<bool>,
}

/// `POST /api/show` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShowResponse {
    /// License text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Generated Modelfile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modelfile: Option<String>,
    /// `key value` lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<String>,
    /// Go template (or Jinja chat template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// System prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Details.
    #[serde(default)]
    pub details: ModelDetails,
    /// GGUF metadata, flat.
    #[serde(default)]
    pub model_info: serde_json::Map<String, Value>,
    /// Metadata of a separate projector, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projector_info: Option<serde_json::Map<String, Value>>,
    /// Capabilities (v0.6.4+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
    /// Manifest modification time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<DateTime<FixedOffset>>,
    /// Tensor list (name, type, shape).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensors: Option<Vec<Value>>,
}

/// `POST /api/create` request (new style, v0.5.5+).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateRequest {
    /// Name of the model to create.
    pub model: String,
    /// Existing model to base it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `{file name: "sha256:<hex>"}` of uploaded blobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<BTreeMap<String, String>>,
    /// LoRA adapters, same shape as `files`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapters: Option<BTreeMap<String, String>>,
    /// Go template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// System prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Default options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Map<String, Value>>,
    /// Quantise to this type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantize: Option<String>,
    /// Stream status lines (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
}

/// `POST /api/pull` or `/api/push` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PullRequest {
    /// Model name.
    pub model: String,
    /// Allow insecure registries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    /// Stream progress (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
}

/// A status line of pull, push or create.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressResponse {
    /// e.g. `pulling manifest`, `pulling 6a0746a1ec1a`, `success`.
    #[serde(default)]
    pub status: String,
    /// Layer digest, `sha256:<hex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Layer size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Bytes done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<u64>,
}

/// `POST /api/copy` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyRequest {
    /// Existing model.
    pub source: String,
    /// New name.
    pub destination: String,
}

/// `DELETE /api/delete` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRequest {
    /// Model to delete.
    pub model: String,
}

/// `GET /api/version` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionResponse {
    /// e.g. `0.12.6`.
    pub version: String,
}

/// Lines of a stream that can tell when they are the last one.
pub trait StreamItem {
    /// `done: true` for generate/chat, `status: "success"` for pull/push/create.
    fn is_final(&self) -> bool;
}

/// A request whose `stream` field picks one JSON answer or NDJSON lines.
pub(crate) trait Streamable: Serialize + Clone {
    /// What each line of the streamed answer holds.
    type Line: serde::de::DeserializeOwned + StreamItem;
    /// The same request with `stream` set.
    fn with_stream(&self, stream: bool) -> Self;
}

macro_rules! streamable {
    ($($request:ty => $line:ty),* $(,)?) => {$(
        impl Streamable for $request {
            type Line = $line;
            fn with_stream(&self, stream: bool) -> Self {
                Self { stream: Some(stream), ..self.clone() }
            }
        }
    )*};
}

streamable! {
    GenerateRequest => GenerateResponse,
    ChatRequest => ChatResponse,
    PullRequest => ProgressResponse,
    CreateRequest => ProgressResponse,
}

impl StreamItem for GenerateResponse {
    fn is_final(&self) -> bool {
        self.done
    }
}

impl StreamItem for ChatResponse {
    fn is_final(&self) -> bool {
        self.done
    }
}

impl StreamItem for ProgressResponse {
    fn is_final(&self) -> bool {
        self.status == "success"
    }
}

impl StreamItem for Value {
    fn is_final(&self) -> bool {
        self.get("done").and_then(Value::as_bool) == Some(true)
            || self.get("status").and_then(Value::as_str) == Some("success")
    }
}
