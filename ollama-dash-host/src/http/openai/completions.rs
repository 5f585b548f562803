//! `POST /v1/completions` → `/api/generate`, whole or streamed as `text_completion` chunks.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ollama_dash_core::TraceHandle;
use ollama_dash_core::ollama::types::{GenerateRequest, GenerateResponse, Metrics};
use serde::Deserialize;
use serde_json::{Value, json};

use super::request::{Sampling, StreamOptions, format};
use super::{completion_id, created, invalid, keepalive, upstream_error, usage};
use crate::http::AppState;
use crate::http::caller::Caller;
use crate::http::error::ApiError;
use crate::http::json::JsonBody;
use crate::http::sse::{self, EVENT_STREAM, Frames, Step};

const ENDPOINT: &str = "/v1/completions";

/// `POST /v1/completions` body.
#[derive(Debug, Deserialize)]
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
            options: self.sampling.options(),
            keep_alive: self.keep_alive.clone(),
            ..GenerateRequest::default()
        })
    }
}

/// `POST /v1/completions`.
pub(super) async fn completions(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<CompletionRequest>,
) -> Response {
    let input = req.prompt.to_string();
    let trace = state
        .dashboard
        .start_trace(caller.trace(ENDPOINT, &req.model, req.stream, input));
    let mut upstream = match req.to_ollama() {
        Ok(upstream) => upstream,
        Err(e) => return fail(trace, e),
    };
    let defaults = state.dashboard.generation_defaults(&req.model).await;
    defaults.apply(&mut upstream.options, &mut upstream.keep_alive);
    let id = completion_id("cmpl", trace.id());
    if !req.stream {
        let mut trace = trace;
        return match state.dashboard.ollama().generate(&upstream).await {
            Ok(answer) => {
                trace.push_thinking(answer.thinking.as_deref().unwrap_or_default());
                trace.push_output(&answer.response);
                trace.set_metrics(&answer.metrics);
                trace.succeed(200);
                Json(json!({
                    "id": id,
                    "object": "text_completion",
                    "created": created(),
                    "model": req.model,
                    "system_fingerprint": "fp_ollama",
                    "choices": [{
                        "text": answer.response,
                        "index": 0,
                        "finish_reason": finish_reason(&answer.metrics),
                        "logprobs": null,
                    }],
                    "usage": usage(answer.metrics.prompt_eval_count, answer.metrics.eval_count),
                }))
                .into_response()
            }
            Err(e) => fail(trace, upstream_error(e)),
        };
    }
    let frames = TextFrames {
        trace: Some(trace),
        id,
        model: req.model.clone(),
        created: created(),
        include_usage: req.stream_options.is_some_and(|o| o.include_usage),
    };
    let client = state.dashboard.ollama().clone();
    let connect = async move { client.generate_stream(&upstream).await };
    match sse::open(
        connect,
        keepalive(&state),
        EVENT_STREAM,
        b": keep-alive\n\n",
        frames,
    )
    .await
    {
        Ok(response) => response,
        Err((e, mut frames)) => match frames.trace.take() {
            Some(trace) => fail(trace, upstream_error(e)),
            None => upstream_error(e).into_response(),
        },
    }
}

fn fail(trace: TraceHandle, error: ApiError) -> Response {
    trace.fail(error.status().as_u16(), error.message());
    error.into_response()
}

fn finish_reason(metrics: &Metrics) -> &'static str {
    if metrics.done_reason.as_deref() == Some("length") {
        "length"
    } else {
        "stop"
    }
}

struct TextFrames {
    trace: Option<TraceHandle>,
    id: String,
    model: String,
    created: i64,
    include_usage: bool,
}

impl TextFrames {
    fn chunk(&self, choices: Value, usage: Option<Value>) -> Bytes {
        let mut chunk = json!({
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_ollama",
            "choices": choices,
        });
        if let Some(usage) = usage {
            chunk["usage"] = usage;
        }
        sse::event(&chunk)
    }
}

impl Frames<GenerateResponse> for TextFrames {
    fn frame(&mut self, step: Step<GenerateResponse>) -> Bytes {
        let line = match step {
            Step::End => return Bytes::new(),
            Step::Line(Err(e)) => {
                let error = upstream_error(e);
                if let Some(trace) = self.trace.take() {
                    trace.fail(200, error.message());
                }
                return sse::event(&error.body());
            }
            Step::Line(Ok(line)) => line,
        };
        if let Some(trace) = &mut self.trace {
            trace.push_thinking(line.thinking.as_deref().unwrap_or_default());
            trace.push_output(&line.response);
        }
        let reason = line.done.then(|| finish_reason(&line.metrics));
        if line.response.is_empty() && !line.done {
            return Bytes::new();
        }
        let choice = json!([{ "text": line.response, "index": 0, "finish_reason": reason, "logprobs": null }]);
        let mut out = vec![self.chunk(choice, None)];
        if line.done {
            if self.include_usage {
                let u = usage(line.metrics.prompt_eval_count, line.metrics.eval_count);
                out.push(self.chunk(json!([]), Some(u)));
            }
            out.push(Bytes::from_static(b"data: [DONE]\n\n"));
            if let Some(mut trace) = self.trace.take() {
                trace.set_metrics(&line.metrics);
                trace.succeed(200);
            }
        }
        out.concat().into()
    }
}
