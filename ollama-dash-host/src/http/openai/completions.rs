//! `POST /v1/completions` → `/api/generate`, whole or streamed as `text_completion` chunks.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ollama_dash_core::Origin;
use ollama_dash_core::ollama::types::{GenerateRequest, GenerateResponse, Metrics};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::request::{Sampling, StreamOptions, format};
use super::stream::{self, Choices, Head};
use super::{Completion, completion_id, fail, invalid, upstream_error, usage};
use crate::http::AppState;
use crate::http::caller::Caller;
use crate::http::error::ApiError;
use crate::http::json::JsonBody;
use crate::http::nodes::with_node;

const ENDPOINT: &str = "/v1/completions";

/// `POST /v1/completions` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct CompletionRequest {
    model: String,
    prompt: Value,
    #[serde(default)]
    suffix: Option<String>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(flatten)]
    sampling: Sampling,
    #[serde(default)]
    response_format: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<serde_json::Value>)]
    keep_alive: Option<ollama_dash_core::ollama::types::KeepAlive>,
}

impl CompletionRequest {
    fn to_ollama(&self) -> Result<GenerateRequest, ApiError> {
        if self.model.trim().is_empty() {
            return Err(invalid("model", "model is required"));
        }
        let prompt = match &self.prompt {
            Value::String(s) => s.clone(),
            Value::Array(items) if items.len() == 1 && items[0].is_string() => {
                items[0].as_str().unwrap_or_default().to_owned()
            }
            _ => return Err(invalid("prompt", "prompt must be one string")),
        };
        Ok(GenerateRequest {
            model: self.model.clone(),
            prompt,
            suffix: self.suffix.clone(),
            stream: Some(self.stream),
            format: format(self.response_format.as_ref())?,
            options: self.sampling.options()?,
            keep_alive: self.keep_alive.clone(),
            ..GenerateRequest::default()
        })
    }
}

/// `POST /v1/completions`.
#[utoipa::path(post, path = "/v1/completions", tag = "openai", request_body = CompletionRequest, responses((status = 200, description = "A `text_completion` (`id`, `object`, `created`, `model`, `choices`, `usage`); with `stream`, chunks (SSE) ending in `[DONE]`.", content((crate::http::openapi::JsonObject = "application/json"), (String = "text/event-stream")))))]
pub(super) async fn completions(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<CompletionRequest>,
) -> Response {
    let input = req.prompt.to_string();
    let upstream = match req.to_ollama() {
        Ok(upstream) => upstream,
        Err(e) => {
            let start = caller.trace(ENDPOINT, &req.model, req.stream, input);
            return fail(state.dashboard.start_trace(start), e).await;
        }
    };
    let origin = Origin {
        input: Some(input),
        ..caller.origin(ENDPOINT)
    };
    let generation = state.dashboard.generate(origin, upstream);
    let placement = generation.placement();
    let id = completion_id("cmpl", generation.trace_id());
    if !req.stream {
        let response = match generation.answer().await {
            Ok(answer) => {
                let choice = TextChoice {
                    text: &answer.response,
                    index: 0,
                    finish_reason: Some(finish_reason(&answer.metrics)),
                    logprobs: (),
                };
                let usage = usage(answer.metrics.prompt_eval_count, answer.metrics.eval_count);
                let whole = Completion::whole(&id, "text_completion", &req.model, [choice], usage);
                Json(whole).into_response()
            }
            Err(e) => upstream_error(e).into_response(),
        };
        return with_node(response, &placement);
    }
    let head = Head::new(
        id,
        "text_completion",
        req.model.clone(),
        req.stream_options.is_some_and(|o| o.include_usage),
    );
    let response = stream::respond(&state, generation.stream(), head, TextChoices).await;
    with_node(response, &placement)
}

fn finish_reason(metrics: &Metrics) -> &'static str {
    if metrics.done_reason.as_deref() == Some("length") {
        "length"
    } else {
        "stop"
    }
}

/// The one choice of a `text_completion`, whole or a chunk.
#[derive(Debug, Serialize)]
struct TextChoice<'a> {
    text: &'a str,
    index: u32,
    /// Null until the last chunk.
    finish_reason: Option<&'static str>,
    /// Always null.
    logprobs: (),
}

/// `text_completion` chunks from `/api/generate` lines.
struct TextChoices;

impl Choices<GenerateResponse> for TextChoices {
    fn line(&mut self, head: &Head, line: &GenerateResponse) -> Vec<Bytes> {
        if line.response.is_empty() && !line.done {
            return Vec::new();
        }
        let reason = line.done.then(|| finish_reason(&line.metrics));
        let choice = TextChoice {
            text: &line.response,
            index: 0,
            finish_reason: reason,
            logprobs: (),
        };
        vec![head.chunk([choice], None)]
    }
}
