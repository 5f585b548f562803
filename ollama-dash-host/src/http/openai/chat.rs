//! `POST /v1/chat/completions` → `/api/chat`, whole or streamed as OpenAI chunks.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ollama_dash_core::ollama::types::{ChatResponse, Metrics, ToolCall};
use serde_json::{Value, json};

use super::request::ChatCompletionRequest;
use super::stream::{self, Choices, Head};
use super::{completion_id, created, upstream_error, usage};
use crate::http::AppState;
use crate::http::caller::Caller;
use crate::http::json::JsonBody;
use crate::http::nodes::with_node;

const ENDPOINT: &str = "/v1/chat/completions";

/// `POST /v1/chat/completions`.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai", request_body = ChatCompletionRequest, responses((status = 200, description = "A `chat.completion` (`id`, `object`, `created`, `model`, `choices`, `usage`); with `stream`, `chat.completion.chunk` events (SSE) ending in `[DONE]`.", content((crate::http::openapi::JsonObject = "application/json"), (String = "text/event-stream")))))]
pub(super) async fn completions(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<ChatCompletionRequest>,
) -> Response {
    let upstream = match req.to_ollama() {
        Ok(upstream) => upstream,
        Err(e) => {
            let start = caller.trace(ENDPOINT, &req.model, req.stream, String::new());
            state
                .dashboard
                .start_trace(start)
                .fail(e.status().as_u16(), e.message());
            return e.into_response();
        }
    };
    let generation = state.dashboard.chat(caller.origin(ENDPOINT), upstream);
    let placement = generation.placement();
    let id = completion_id("chatcmpl", generation.trace_id());
    if !req.stream {
        let response = match generation.answer().await {
            Ok(answer) => Json(whole(&id, &req.model, &answer)).into_response(),
            Err(e) => upstream_error(e).into_response(),
        };
        return with_node(response, &placement);
    }
    let mut head = Head::new(
        id,
        "chat.completion.chunk",
        req.model.clone(),
        req.stream_options.is_some_and(|o| o.include_usage),
    );
    if req.project_id.is_some() {
        head.linger = Some(stream::PREM_LINGER);
    }
    let response = stream::respond(&state, generation.stream(), head, ChatChoices::default()).await;
    with_node(response, &placement)
}

/// The non-streamed answer.
fn whole(id: &str, model: &str, answer: &ChatResponse) -> Value {
    let m = &answer.message;
    let calls = m.tool_calls.as_deref().unwrap_or_default();
    let mut message = json!({ "role": "assistant", "content": m.content });
    if !calls.is_empty() {
        message["tool_calls"] = calls
            .iter()
            .enumerate()
            .map(|(i, c)| tool_call(c, i, false))
            .collect();
        if m.content.is_empty() {
            message["content"] = Value::Null;
        }
    }
    if let Some(thinking) = m.thinking.as_deref().filter(|t| !t.is_empty()) {
        message["reasoning"] = thinking.into();
        message["reasoning_content"] = thinking.into();
    }
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created(),
        "model": model,
        "system_fingerprint": "fp_ollama",
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": finish_reason(&answer.metrics, !calls.is_empty()),
            "logprobs": null,
        }],
        "usage": usage(answer.metrics.prompt_eval_count, answer.metrics.eval_count),
    })
}

/// `tool_calls` entry in OpenAI's shape: `arguments` is a JSON string.
fn tool_call(call: &ToolCall, index: usize, with_index: bool) -> Value {
    let id = call
        .id
        .clone()
        .unwrap_or_else(|| format!("call_{:016x}", rand::random::<u64>()));
    let mut v = json!({
        "id": id,
        "type": "function",
        "function": { "name": call.function.name, "arguments": call.function.arguments.to_string() },
    });
    if with_index {
        v["index"] = index.into();
    }
    v
}

fn finish_reason(metrics: &Metrics, tool_calls: bool) -> &'static str {
    if tool_calls {
        "tool_calls"
    } else if metrics.done_reason.as_deref() == Some("length") {
        "length"
    } else {
        "stop"
    }
}

/// `chat.completion.chunk` choices from `/api/chat` lines.
#[derive(Default)]
struct ChatChoices {
    started: bool,
    tool_calls: usize,
}

/// The one choice of a chunk.
fn choice(delta: Value, finish_reason: Option<&str>) -> Value {
    json!([{ "index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": null }])
}

impl Choices<ChatResponse> for ChatChoices {
    fn line(&mut self, head: &Head, line: &ChatResponse) -> Vec<Bytes> {
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            let delta = json!({ "role": "assistant", "content": "" });
            out.push(head.chunk(choice(delta, None), None));
        }
        let m = &line.message;
        let mut delta = serde_json::Map::new();
        if let Some(thinking) = m.thinking.as_deref().filter(|t| !t.is_empty()) {
            delta.insert("reasoning".into(), thinking.into());
            delta.insert("reasoning_content".into(), thinking.into());
        }
        if !m.content.is_empty() {
            delta.insert("content".into(), m.content.as_str().into());
        }
        let calls = m.tool_calls.as_deref().unwrap_or_default();
        if !calls.is_empty() {
            let first = self.tool_calls;
            self.tool_calls += calls.len();
            let calls: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(i, c)| tool_call(c, first + i, true))
                .collect();
            delta.insert("tool_calls".into(), calls.into());
        }
        if !delta.is_empty() {
            out.push(head.chunk(choice(Value::Object(delta), None), None));
        }
        if line.done {
            let reason = finish_reason(&line.metrics, self.tool_calls > 0);
            out.push(head.chunk(choice(json!({}), Some(reason)), None));
        }
        out
    }
}
