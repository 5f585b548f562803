//! `POST /v1/chat/completions` → `/api/chat`, whole or streamed as OpenAI chunks.

use std::borrow::Cow;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ollama_dash_core::ollama::types::{ChatResponse, Metrics, ToolCall};
use serde::Serialize;

use super::request::ChatCompletionRequest;
use super::stream::{self, Choices, Head};
use super::{Completion, completion_id, upstream_error, usage};
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

/// The one choice of a whole answer.
#[derive(Debug, Serialize)]
struct WholeChoice<'a> {
    index: u32,
    message: AssistantMessage<'a>,
    finish_reason: &'static str,
    /// Always null.
    logprobs: (),
}

/// The assistant's message of a whole answer.
#[derive(Debug, Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    /// Null when the message is only tool calls.
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<OpenAiToolCall<'a>>>,
    /// The thinking, under both names clients read.
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
}

/// A `tool_calls` entry in OpenAI's shape: `arguments` is a JSON string.
#[derive(Debug, Serialize)]
struct OpenAiToolCall<'a> {
    /// In a chunk only: the call's position among the answer's calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<usize>,
    id: Cow<'a, str>,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionCall<'a>,
}

/// The function of a [`OpenAiToolCall`].
#[derive(Debug, Serialize)]
struct FunctionCall<'a> {
    name: &'a str,
    arguments: String,
}

/// The non-streamed answer.
fn whole<'a>(
    id: &'a str,
    model: &'a str,
    answer: &'a ChatResponse,
) -> Completion<'a, [WholeChoice<'a>; 1]> {
    let m = &answer.message;
    let calls = m.tool_calls.as_deref().unwrap_or_default();
    let thinking = m.thinking.as_deref().filter(|t| !t.is_empty());
    let message = AssistantMessage {
        role: "assistant",
        content: (calls.is_empty() || !m.content.is_empty()).then_some(m.content.as_str()),
        tool_calls: (!calls.is_empty()).then(|| {
            calls
                .iter()
                .enumerate()
                .map(|(i, c)| tool_call(c, i, false))
                .collect()
        }),
        reasoning: thinking,
        reasoning_content: thinking,
    };
    let choice = WholeChoice {
        index: 0,
        message,
        finish_reason: finish_reason(&answer.metrics, !calls.is_empty()),
        logprobs: (),
    };
    let usage = usage(answer.metrics.prompt_eval_count, answer.metrics.eval_count);
    Completion::whole(id, "chat.completion", model, [choice], usage)
}

/// `tool_calls` entry in OpenAI's shape: `arguments` is a JSON string.
fn tool_call(call: &ToolCall, index: usize, with_index: bool) -> OpenAiToolCall<'_> {
    let id = match &call.id {
        Some(id) => Cow::Borrowed(id.as_str()),
        None => Cow::Owned(format!("call_{:016x}", rand::random::<u64>())),
    };
    OpenAiToolCall {
        index: with_index.then_some(index),
        id,
        kind: "function",
        function: FunctionCall {
            name: &call.function.name,
            arguments: call.function.arguments.to_string(),
        },
    }
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
#[derive(Debug, Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    finish_reason: Option<&'static str>,
    /// Always null.
    logprobs: (),
}

/// What a chunk adds to the message; the last chunk's is empty (`{}`).
#[derive(Debug, Default, Serialize)]
struct Delta<'a> {
    /// In the first chunk only.
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    /// The thinking, under both names clients read.
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<OpenAiToolCall<'a>>>,
}

impl Delta<'_> {
    fn is_empty(&self) -> bool {
        self.role.is_none()
            && self.content.is_none()
            && self.reasoning.is_none()
            && self.tool_calls.is_none()
    }
}

/// The chunk's choices: the one choice.
fn choice<'a>(delta: Delta<'a>, finish_reason: Option<&'static str>) -> [ChunkChoice<'a>; 1] {
    [ChunkChoice {
        index: 0,
        delta,
        finish_reason,
        logprobs: (),
    }]
}

impl Choices<ChatResponse> for ChatChoices {
    fn line(&mut self, head: &Head, line: &ChatResponse) -> Vec<Bytes> {
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            let delta = Delta {
                role: Some("assistant"),
                content: Some(""),
                ..Delta::default()
            };
            out.push(head.chunk(choice(delta, None), None));
        }
        let m = &line.message;
        let thinking = m.thinking.as_deref().filter(|t| !t.is_empty());
        let calls = m.tool_calls.as_deref().unwrap_or_default();
        let first = self.tool_calls;
        self.tool_calls += calls.len();
        let delta = Delta {
            role: None,
            content: Some(m.content.as_str()).filter(|c| !c.is_empty()),
            reasoning: thinking,
            reasoning_content: thinking,
            tool_calls: (!calls.is_empty()).then(|| {
                calls
                    .iter()
                    .enumerate()
                    .map(|(i, c)| tool_call(c, first + i, true))
                    .collect()
            }),
        };
        if !delta.is_empty() {
            out.push(head.chunk(choice(delta, None), None));
        }
        if line.done {
            let reason = finish_reason(&line.metrics, self.tool_calls > 0);
            out.push(head.chunk(choice(Delta::default(), Some(reason)), None));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use serde_json::{Value, json};

    use super::*;

    fn line(v: Value) -> ChatResponse {
        serde_json::from_value(v).unwrap()
    }

    fn wire(v: impl Serialize) -> Value {
        serde_json::to_value(v).unwrap()
    }

    #[test]
    fn a_whole_answer_keeps_its_wire_shape() {
        let text = line(
            json!({"message": {"role": "assistant", "content": "hi", "thinking": "hm"},
            "done": true, "prompt_eval_count": 3, "eval_count": 2}),
        );
        let mut got = wire(whole("chatcmpl-1", "m", &text));
        assert!(got["created"].is_i64());
        got["created"] = json!(0);
        assert_eq!(
            got,
            json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "m",
                "system_fingerprint": "fp_ollama",
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null,
                    "message": {"role": "assistant", "content": "hi",
                        "reasoning": "hm", "reasoning_content": "hm"}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})
        );
        let calls = line(json!({"message": {"role": "assistant", "content": "",
            "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": {"a": 1}}}]},
            "done": true}));
        let got = wire(whole("chatcmpl-1", "m", &calls));
        assert_eq!(
            got["choices"][0]["message"],
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]})
        );
        assert_eq!(got["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn chunks_keep_their_wire_shape() {
        let mut choices = ChatChoices::default();
        let head = Head::new(
            "chatcmpl-1".into(),
            "chat.completion.chunk",
            "m".into(),
            false,
        );
        let frames = |bytes: Vec<Bytes>| -> Vec<Value> {
            bytes
                .iter()
                .map(|b| {
                    let text = std::str::from_utf8(b).unwrap();
                    let data = text.strip_prefix("event: completion\ndata: ").unwrap();
                    let mut v: Value = serde_json::from_str(data.trim_end()).unwrap();
                    assert!(v.get("usage").is_none(), "{v}");
                    v["choices"][0].take()
                })
                .collect()
        };
        let first = frames(choices.line(&head, &line(json!({"message": {"role": "assistant",
            "content": "", "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": {}}}]},
            "done": true, "done_reason": "stop"}))));
        assert_eq!(
            first,
            [
                json!({"index": 0, "delta": {"role": "assistant", "content": ""},
                    "finish_reason": null, "logprobs": null}),
                json!({"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c1",
                    "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                    "finish_reason": null, "logprobs": null}),
                json!({"index": 0, "delta": {}, "finish_reason": "tool_calls", "logprobs": null}),
            ]
        );
    }
}
