//! `POST /v1/responses` (OpenAI's Responses API) → `/api/chat`, whole or streamed as the
//! Responses event sequence.
//!
//! The request (`input` as a string or items, `instructions`, function `tools`, sampling,
//! `reasoning`) becomes one Ollama [`ChatRequest`] and goes through core's traced chat, like
//! `/v1/chat/completions`. A response's id is its trace's id (`resp_<trace id without
//! dashes>`), so `previous_response_id` is answered from the stored trace: its input messages,
//! then its output (reasoning, text and tool calls) as the assistant's turn.
//!
//! A stream is `response.created`, `response.in_progress`, then per output item
//! `response.output_item.added`, its deltas (`response.reasoning_text.delta`,
//! `response.content_part.added` + `response.output_text.delta`, or
//! `response.function_call_arguments.delta`) and their `….done` events, and last
//! `response.completed` (`response.incomplete` when the token limit cut it short). An upstream
//! failure mid-way is an `error` event followed by `response.failed`. Every event is sent with
//! its `event:` line and a `sequence_number`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ollama_dash_core::ollama::types::{
    ChatRequest, ChatResponse, Message, Think, ToolCall, ToolCallFunction,
};
use ollama_dash_core::{Error, TraceRecord, TraceStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::request::{Sampling, image_data};
use super::{created, invalid, keepalive, upstream_error};
use crate::http::AppState;
use crate::http::caller::Caller;
use crate::http::error::ApiError;
use crate::http::json::JsonBody;
use crate::http::sse::{self, EVENT_STREAM, Frames, Step};

const ENDPOINT: &str = "/v1/responses";

/// `POST /v1/responses` body: the fields Ollama can honour; others are ignored as OpenAI
/// ignores what a model does not use.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub(super) struct CreateResponse {
    model: String,
    #[serde(default)]
    #[schema(value_type = Option<serde_json::Value>)]
    input: Option<Input>,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    tools: Option<Vec<Value>>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
    #[serde(default)]
    max_output_tokens: Option<i64>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    #[schema(value_type = Option<serde_json::Value>)]
    reasoning: Option<ReasoningParam>,
    #[serde(default)]
    #[schema(value_type = Option<serde_json::Value>)]
    text: Option<TextParam>,
    #[serde(default)]
    previous_response_id: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    user: Option<String>,
    /// Extension: Ollama's `keep_alive`.
    #[serde(default)]
    #[schema(value_type = Option<serde_json::Value>)]
    keep_alive: Option<ollama_dash_core::ollama::types::KeepAlive>,
}

/// `input`: a user message as a string, or a list of items.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Input {
    Text(String),
    Items(Vec<Value>),
}

/// `reasoning`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
struct ReasoningParam {
    #[serde(default)]
    effort: Option<String>,
    #[serde(default)]
    summary: Option<String>,
}

/// `text`: only its `format` matters here.
#[derive(Debug, Clone, Default, Deserialize)]
struct TextParam {
    #[serde(default)]
    format: Option<Value>,
}

/// `POST /v1/responses`.
#[utoipa::path(post, path = "/v1/responses", tag = "openai", request_body = CreateResponse, responses((status = 200, description = "A `response` object (`id`, `object`, `created_at`, `status`, `model`, `output`, `usage`, …); with `stream`, the Responses API's events (SSE).", content((crate::http::openapi::JsonObject = "application/json"), (String = "text/event-stream")))))]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<CreateResponse>,
) -> Response {
    let history = match &req.previous_response_id {
        None => Ok(Vec::new()),
        Some(id) => previous(&state, &caller, id).await,
    };
    let upstream = history.and_then(|history| req.to_ollama(history));
    let upstream = match upstream {
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
    let ids = Ids::new(generation.trace_id());
    let shell = Shell::new(&req, &ids, generation.request());
    let response = if req.stream {
        let frames = Events::new(ids, shell);
        let keepalive = keepalive(&state);
        match sse::open(
            generation.stream(),
            keepalive,
            EVENT_STREAM,
            b": keep-alive\n\n",
            frames,
        )
        .await
        {
            Ok(response) => response,
            Err((e, _)) => upstream_error(e).into_response(),
        }
    } else {
        match generation.answer().await {
            Ok(answer) => Json(shell.whole(&ids, &answer)).into_response(),
            Err(e) => upstream_error(e).into_response(),
        }
    };
    crate::http::nodes::with_node(response, &placement)
}

impl CreateResponse {
    /// The native `/api/chat` request, after `history` (the turns of `previous_response_id`).
    fn to_ollama(&self, history: Vec<Message>) -> Result<ChatRequest, ApiError> {
        if self.model.trim().is_empty() {
            return Err(invalid("model", "model is required"));
        }
        let mut messages = history;
        if let Some(instructions) = self.instructions.as_deref().filter(|i| !i.is_empty()) {
            // Instructions are not carried over from a previous response: new ones take the
            // place of the system turns the history starts with.
            let kept = messages.iter().skip_while(|m| m.role == "system").count();
            messages.drain(..messages.len() - kept);
            messages.insert(0, text_message("system", instructions));
        }
        let mut tool_names = tool_names(&messages);
        match &self.input {
            None if self.previous_response_id.is_none() => {
                return Err(invalid("input", "input is required"));
            }
            None => {}
            Some(Input::Text(text)) => messages.push(text_message("user", text)),
            Some(Input::Items(items)) => {
                let mut pending_thinking = None;
                for (i, item) in items.iter().enumerate() {
                    input_item(
                        item,
                        i,
                        &mut messages,
                        &mut tool_names,
                        &mut pending_thinking,
                    )?;
                }
            }
        }
        if !messages.iter().any(|m| m.role != "system") {
            return Err(invalid("input", "input must hold at least one message"));
        }
        if let Some(n) = self.max_output_tokens.filter(|n| *n < 1) {
            return Err(invalid(
                "max_output_tokens",
                format!(
                    "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 1, but got {n} instead."
                ),
            )
            .with_code("integer_below_min_value"));
        }
        let sampling = Sampling::new(self.temperature, self.top_p, self.max_output_tokens);
        Ok(ChatRequest {
            model: self.model.clone(),
            messages,
            tools: self.tools()?,
            format: self.format()?,
            options: sampling.options()?,
            stream: Some(self.stream),
            keep_alive: self.keep_alive.clone(),
            think: self.think()?,
        })
    }

    /// Function `tools` in the chat shape Ollama takes, narrowed by `tool_choice`.
    fn tools(&self) -> Result<Option<Vec<Value>>, ApiError> {
        let Some(tools) = self.tools.as_ref().filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        let mut functions = Vec::with_capacity(tools.len());
        for (i, tool) in tools.iter().enumerate() {
            let kind = tool.get("type").and_then(Value::as_str).unwrap_or_default();
            if kind != "function" {
                return Err(invalid(
                    &format!("tools[{i}].type"),
                    format!("only function tools are supported, not {kind:?}"),
                ));
            }
            let Some(name) = tool.get("name").and_then(Value::as_str) else {
                return Err(invalid(
                    &format!("tools[{i}].name"),
                    "a function tool needs a name",
                ));
            };
            // Built as JSON: `description` and `parameters` are the client's (free-form), and
            // Ollama's request holds `tools` as JSON.
            let mut function = serde_json::Map::new();
            function.insert("name".into(), name.into());
            for field in ["description", "parameters"] {
                if let Some(v) = tool.get(field).filter(|v| !v.is_null()) {
                    function.insert(field.into(), v.clone());
                }
            }
            let mut wrapped = serde_json::Map::new();
            wrapped.insert("type".into(), "function".into());
            wrapped.insert("function".into(), Value::Object(function));
            functions.push((name.to_owned(), Value::Object(wrapped)));
        }
        let allowed: Option<Vec<String>> = match &self.tool_choice {
            None => None,
            Some(Value::String(s)) if s == "none" => return Ok(None),
            Some(Value::String(s)) if s == "auto" || s == "required" => None,
            Some(choice) if choice.get("type").and_then(Value::as_str) == Some("function") => {
                let name = choice
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("tool_choice", "tool_choice.name is missing"))?;
                Some(vec![name.to_owned()])
            }
            Some(choice) if choice.get("type").and_then(Value::as_str) == Some("allowed_tools") => {
                let names = choice
                    .get("tools")
                    .and_then(Value::as_array)
                    .map(|tools| {
                        tools
                            .iter()
                            .filter_map(|t| t.get("name").and_then(Value::as_str))
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                Some(names)
            }
            Some(_) => {
                return Err(invalid(
                    "tool_choice",
                    "tool_choice must be none, auto, required, {\"type\":\"function\",\"name\":…} or {\"type\":\"allowed_tools\",…}",
                ));
            }
        };
        let chosen: Vec<Value> = functions
            .into_iter()
            .filter(|(name, _)| allowed.as_ref().is_none_or(|a| a.contains(name)))
            .map(|(_, tool)| tool)
            .collect();
        if chosen.is_empty() {
            return Err(invalid(
                "tool_choice",
                "tool_choice names no function that is in tools",
            ));
        }
        Ok(Some(chosen))
    }

    /// `text.format` → Ollama's `format`.
    fn format(&self) -> Result<Option<Value>, ApiError> {
        let Some(format) = self.text.as_ref().and_then(|t| t.format.as_ref()) else {
            return Ok(None);
        };
        match format.get("type").and_then(Value::as_str) {
            Some("text") => Ok(None),
            Some("json_object") => Ok(Some(Value::from("json"))),
            Some("json_schema") => format
                .get("schema")
                .filter(|s| s.is_object())
                .cloned()
                .map(Some)
                .ok_or_else(|| invalid("text.format", "json_schema needs a schema object")),
            _ => Err(invalid(
                "text.format",
                "text.format.type must be text, json_object or json_schema",
            )),
        }
    }

    /// `reasoning.effort` → `think`.
    fn think(&self) -> Result<Option<Think>, ApiError> {
        match self.reasoning.as_ref().and_then(|r| r.effort.as_deref()) {
            None => Ok(None),
            Some("none") => Ok(Some(Think::Enabled(false))),
            Some(level @ ("minimal" | "low" | "medium" | "high" | "xhigh" | "max")) => {
                let level = match level {
                    "minimal" => "low",
                    "xhigh" | "max" => "high",
                    other => other,
                };
                Ok(Some(Think::Level(level.to_owned())))
            }
            Some(other) => Err(invalid(
                "reasoning.effort",
                format!(
                    "reasoning.effort must be none, minimal, low, medium or high, not {other:?}"
                ),
            )),
        }
    }
}

fn text_message(role: &str, text: &str) -> Message {
    Message {
        role: role.to_owned(),
        content: text.to_owned(),
        ..Message::default()
    }
}

/// Call id → function name, from the tool calls already in `messages`.
fn tool_names(messages: &[Message]) -> HashMap<String, String> {
    messages
        .iter()
        .flat_map(|m| m.tool_calls.iter().flatten())
        .filter_map(|c| Some((c.id.clone()?, c.function.name.clone())))
        .collect()
}

/// Appends one `input` item: a message, a `function_call`, a `function_call_output` or a
/// `reasoning` item (its text becomes the next assistant turn's thinking).
fn input_item(
    item: &Value,
    index: usize,
    messages: &mut Vec<Message>,
    tool_names: &mut HashMap<String, String>,
    pending_thinking: &mut Option<String>,
) -> Result<(), ApiError> {
    let param = |field: &str| format!("input[{index}]{field}");
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    let str_field = |field: &str| -> Result<&str, ApiError> {
        item.get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(&param(&format!(".{field}")), format!("{field} is required")))
    };
    match kind {
        "message" => {
            let role = match str_field("role")? {
                "developer" => "system",
                r @ ("system" | "user" | "assistant") => r,
                other => {
                    return Err(invalid(&param(".role"), format!("unknown role {other:?}")));
                }
            };
            let (content, images) = message_content(item.get("content"), &param(".content"))?;
            let mut message = text_message(role, &content);
            message.images = (!images.is_empty()).then_some(images);
            if role == "assistant" {
                message.thinking = pending_thinking.take();
            }
            messages.push(message);
        }
        "function_call" => {
            let name = str_field("name")?;
            let call_id = str_field("call_id")?;
            let arguments = match item.get("arguments") {
                None | Some(Value::Null) => Value::Object(Default::default()),
                Some(Value::String(s)) if s.trim().is_empty() => Value::Object(Default::default()),
                Some(Value::String(s)) => serde_json::from_str(s).map_err(|e| {
                    invalid(
                        &param(".arguments"),
                        format!("function arguments are not JSON: {e}"),
                    )
                })?,
                Some(v) => v.clone(),
            };
            tool_names.insert(call_id.to_owned(), name.to_owned());
            let call = ToolCall {
                id: Some(call_id.to_owned()),
                function: ToolCallFunction {
                    index: None,
                    name: name.to_owned(),
                    arguments,
                },
            };
            // Calls made in one turn join that turn's assistant message.
            let joins = messages
                .last()
                .is_some_and(|m| m.role == "assistant" && pending_thinking.is_none());
            if !joins {
                let mut message = text_message("assistant", "");
                message.thinking = pending_thinking.take();
                messages.push(message);
            }
            if let Some(last) = messages.last_mut() {
                let calls = last.tool_calls.get_or_insert_with(Vec::new);
                let position = u32::try_from(calls.len()).ok();
                calls.push(ToolCall {
                    function: ToolCallFunction {
                        index: position,
                        ..call.function
                    },
                    ..call
                });
            }
        }
        "function_call_output" => {
            let call_id = str_field("call_id")?;
            let output = match item.get("output") {
                Some(Value::String(s)) => s.clone(),
                Some(parts @ Value::Array(_)) => {
                    let (text, images) = message_content(Some(parts), &param(".output"))?;
                    if !images.is_empty() {
                        return Err(invalid(
                            &param(".output"),
                            "images in a function call output are not supported",
                        ));
                    }
                    text
                }
                _ => return Err(invalid(&param(".output"), "output is required")),
            };
            let mut message = text_message("tool", &output);
            message.tool_name = tool_names.get(call_id).cloned();
            message.tool_call_id = Some(call_id.to_owned());
            messages.push(message);
        }
        "reasoning" => {
            let text: String = ["content", "summary"]
                .iter()
                .filter_map(|field| item.get(*field).and_then(Value::as_array))
                .flatten()
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n");
            if !text.is_empty() {
                *pending_thinking = Some(text);
            }
        }
        other => {
            return Err(invalid(
                &param(".type"),
                format!(
                    "input items of type {other:?} are not supported (message, function_call, function_call_output, reasoning)"
                ),
            ));
        }
    }
    Ok(())
}

/// A message's `content`: text, or parts (`input_text`, `output_text`, `refusal`,
/// `input_image` with a data URL).
fn message_content(
    content: Option<&Value>,
    param: &str,
) -> Result<(String, Vec<String>), ApiError> {
    let mut text = String::new();
    let mut images = Vec::new();
    match content {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => text.push_str(s),
        Some(Value::Array(parts)) => {
            for part in parts {
                let kind = part.get("type").and_then(Value::as_str).unwrap_or_default();
                match kind {
                    "input_text" | "output_text" | "text" => {
                        text.push_str(part.get("text").and_then(Value::as_str).unwrap_or_default());
                    }
                    "refusal" => {
                        text.push_str(
                            part.get("refusal")
                                .and_then(Value::as_str)
                                .unwrap_or_default(),
                        );
                    }
                    "input_image" => {
                        let url =
                            part.get("image_url")
                                .and_then(Value::as_str)
                                .ok_or_else(|| {
                                    invalid(param, "input_image needs an image_url (a data: URL)")
                                })?;
                        images.push(image_data(url).map_err(|m| invalid(param, m))?);
                    }
                    other => {
                        return Err(invalid(
                            param,
                            format!("unsupported content part {other:?}"),
                        ));
                    }
                }
            }
        }
        Some(_) => {
            return Err(invalid(
                param,
                "content must be a string or a list of parts",
            ));
        }
    }
    Ok((text, images))
}

/// The turns of a previous response, from its trace: the messages it was asked with, then its
/// answer. Only a completed `/v1/responses` trace the caller may see, with its bodies still
/// stored and no images (the trace keeps a marker, not the image), can be continued.
async fn previous(state: &AppState, caller: &Caller, id: &str) -> Result<Vec<Message>, ApiError> {
    let not_found = || {
        invalid(
            "previous_response_id",
            format!("Previous response with id '{id}' not found."),
        )
        .with_code("previous_response_not_found")
    };
    let trace_id = trace_id_of(id).ok_or_else(not_found)?;
    let trace = match state.dashboard.trace(&trace_id).await {
        Ok(trace) => trace,
        Err(e) if e.is_not_found() => return Err(not_found()),
        Err(e) => return Err(ApiError::from(e)),
    };
    let visible = caller
        .scope()
        .is_none_or(|own| trace.api_key.as_deref() == Some(own));
    if trace.endpoint != ENDPOINT || !visible {
        return Err(not_found());
    }
    history(&trace, &Ids::new(&trace.id)).map_err(|why| {
        invalid(
            "previous_response_id",
            format!("Previous response '{id}' {why}"),
        )
    })
}

/// The conversation a finished trace holds, its answer as the last assistant turn.
fn history(trace: &TraceRecord, ids: &Ids) -> Result<Vec<Message>, String> {
    if trace.status != TraceStatus::Ok {
        return Err(format!(
            "did not complete (its trace is {}), so it cannot be continued",
            trace.status.as_str()
        ));
    }
    let (Some(input), Some(output)) = (&trace.input, &trace.output) else {
        return Err(
            "is too old: its input and output are no longer stored (trace_body_max_age_days)"
                .into(),
        );
    };
    let mut messages: Vec<Message> = serde_json::from_str(input)
        .map_err(|_| "has no stored conversation to continue".to_owned())?;
    if messages.iter().any(|m| m.images.is_some()) {
        return Err(
            "had images, which traces do not keep: send the whole conversation as input instead"
                .into(),
        );
    }
    let (thinking, content) = split_thinking(output);
    let mut answer = text_message("assistant", content);
    answer.thinking = thinking.map(str::to_owned);
    if let Some(calls) = trace.tool_calls.as_deref() {
        let mut calls: Vec<ToolCall> = serde_json::from_str(calls)
            .map_err(|_| "has tool calls that cannot be read back".to_owned())?;
        for (i, call) in calls.iter_mut().enumerate() {
            if call.id.is_none() {
                call.id = Some(ids.call_id(i));
            }
        }
        answer.tool_calls = (!calls.is_empty()).then_some(calls);
    }
    messages.push(answer);
    Ok(messages)
}

/// A trace's output is `<think>reasoning</think>\ntext` when there was reasoning.
fn split_thinking(output: &str) -> (Option<&str>, &str) {
    output
        .strip_prefix("<think>")
        .and_then(|rest| rest.split_once("</think>\n"))
        .map_or((None, output), |(thinking, text)| (Some(thinking), text))
}

/// `resp_<32 hex>` → the trace's UUID.
fn trace_id_of(response_id: &str) -> Option<String> {
    let hex = response_id.strip_prefix("resp_")?;
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// The ids of one response and its items, all derived from its trace id.
#[derive(Debug, Clone)]
struct Ids {
    hex: String,
}

impl Ids {
    fn new(trace_id: &str) -> Self {
        Self {
            hex: trace_id.replace('-', ""),
        }
    }

    fn response(&self) -> String {
        format!("resp_{}", self.hex)
    }

    /// The id of the output item at `index`.
    fn item(&self, kind: ItemKind, index: usize) -> String {
        let prefix = match kind {
            ItemKind::Reasoning => "rs",
            ItemKind::Message => "msg",
            ItemKind::FunctionCall => "fc",
        };
        format!("{prefix}_{}_{index}", self.hex)
    }

    /// The `call_id` of the `n`th tool call when Ollama gave it none: the same when read back
    /// from the trace for `previous_response_id`.
    fn call_id(&self, n: usize) -> String {
        format!("call_{}_{n}", self.hex)
    }
}

#[derive(Debug, Clone, Copy)]
enum ItemKind {
    Reasoning,
    Message,
    FunctionCall,
}

/// A Response object.
#[derive(Debug, Clone, Serialize)]
struct ResponseObject {
    id: String,
    object: &'static str,
    created_at: i64,
    status: &'static str,
    completed_at: Option<i64>,
    error: Option<ResponseError>,
    incomplete_details: Option<IncompleteDetails>,
    instructions: Option<String>,
    max_output_tokens: Option<i64>,
    model: String,
    output: Vec<OutputItem>,
    parallel_tool_calls: bool,
    previous_response_id: Option<String>,
    reasoning: ReasoningParam,
    store: bool,
    temperature: Option<f64>,
    text: TextConfig,
    tool_choice: Value,
    tools: Vec<Value>,
    top_p: Option<f64>,
    truncation: &'static str,
    usage: Option<Usage>,
    user: Option<String>,
    metadata: Value,
}

/// `error` of a failed response.
#[derive(Debug, Clone, Serialize)]
struct ResponseError {
    code: &'static str,
    message: String,
}

/// `incomplete_details`.
#[derive(Debug, Clone, Serialize)]
struct IncompleteDetails {
    reason: &'static str,
}

/// `text` as echoed.
#[derive(Debug, Clone, Serialize)]
struct TextConfig {
    format: Value,
}

/// `usage` from Ollama's counts.
#[derive(Debug, Clone, Serialize)]
struct Usage {
    input_tokens: u64,
    input_tokens_details: InputTokensDetails,
    output_tokens: u64,
    output_tokens_details: OutputTokensDetails,
    total_tokens: u64,
}

#[derive(Debug, Clone, Serialize)]
struct InputTokensDetails {
    cached_tokens: u64,
    cache_write_tokens: u64,
}

#[derive(Debug, Clone, Serialize)]
struct OutputTokensDetails {
    reasoning_tokens: u64,
}

impl Usage {
    fn of(metrics: &ollama_dash_core::ollama::types::Metrics) -> Self {
        let (input, output) = (
            metrics.prompt_eval_count.unwrap_or(0),
            metrics.eval_count.unwrap_or(0),
        );
        Self {
            input_tokens: input,
            input_tokens_details: InputTokensDetails {
                cached_tokens: 0,
                cache_write_tokens: 0,
            },
            output_tokens: output,
            output_tokens_details: OutputTokensDetails {
                reasoning_tokens: 0,
            },
            total_tokens: input + output,
        }
    }
}

/// One output item.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutputItem {
    Reasoning {
        id: String,
        summary: Vec<TextPart>,
        content: Vec<TextPart>,
        status: &'static str,
    },
    Message {
        id: String,
        role: &'static str,
        status: &'static str,
        content: Vec<TextPart>,
    },
    FunctionCall {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
        status: &'static str,
    },
}

impl OutputItem {
    fn set_status(&mut self, to: &'static str) {
        match self {
            Self::Reasoning { status, .. }
            | Self::Message { status, .. }
            | Self::FunctionCall { status, .. } => *status = to,
        }
    }
}

/// `output_text` (with its `annotations`) or `reasoning_text`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum TextPart {
    OutputText {
        text: String,
        annotations: Vec<Value>,
        logprobs: Vec<Value>,
    },
    ReasoningText {
        text: String,
    },
}

impl TextPart {
    fn output(text: &str) -> Self {
        Self::OutputText {
            text: text.to_owned(),
            annotations: Vec::new(),
            logprobs: Vec::new(),
        }
    }

    fn push(&mut self, delta: &str) {
        match self {
            Self::OutputText { text, .. } | Self::ReasoningText { text } => text.push_str(delta),
        }
    }

    fn text(&self) -> &str {
        match self {
            Self::OutputText { text, .. } | Self::ReasoningText { text } => text,
        }
    }
}

/// What every Response object of one answer shares, before its output.
#[derive(Debug, Clone)]
struct Shell {
    base: ResponseObject,
}

impl Shell {
    fn new(req: &CreateResponse, ids: &Ids, sent: &ChatRequest) -> Self {
        let options = sent.options.clone().unwrap_or_default();
        let base = ResponseObject {
            id: ids.response(),
            object: "response",
            created_at: created(),
            status: "in_progress",
            completed_at: None,
            error: None,
            incomplete_details: None,
            instructions: req.instructions.clone(),
            max_output_tokens: req.max_output_tokens,
            model: req.model.clone(),
            output: Vec::new(),
            parallel_tool_calls: req.parallel_tool_calls.unwrap_or(true),
            previous_response_id: req.previous_response_id.clone(),
            reasoning: req.reasoning.clone().unwrap_or_default(),
            store: true,
            temperature: options.temperature,
            text: TextConfig {
                // The client's `text.format` echoed as it sent it (free-form), else `text`'s.
                format: req
                    .text
                    .as_ref()
                    .and_then(|t| t.format.clone())
                    .unwrap_or_else(|| serde_json::json!({ "type": "text" })),
            },
            tool_choice: req
                .tool_choice
                .clone()
                .unwrap_or_else(|| Value::from("auto")),
            tools: req.tools.clone().unwrap_or_default(),
            top_p: options.top_p,
            truncation: "disabled",
            usage: None,
            user: req.user.clone(),
            metadata: req
                .metadata
                .clone()
                .unwrap_or_else(|| Value::Object(Default::default())),
        };
        Self { base }
    }

    /// The finished Response: `completed`, or `incomplete` when the token limit ended it.
    fn finished(
        &self,
        output: Vec<OutputItem>,
        metrics: &ollama_dash_core::ollama::types::Metrics,
    ) -> ResponseObject {
        let cut = metrics.done_reason.as_deref() == Some("length");
        ResponseObject {
            status: if cut { "incomplete" } else { "completed" },
            completed_at: Some(created()),
            incomplete_details: cut.then_some(IncompleteDetails {
                reason: "max_output_tokens",
            }),
            output,
            usage: Some(Usage::of(metrics)),
            ..self.base.clone()
        }
    }

    /// The whole answer as a Response.
    fn whole(&self, ids: &Ids, answer: &ChatResponse) -> ResponseObject {
        let cut = answer.metrics.done_reason.as_deref() == Some("length");
        let item_status = if cut { "incomplete" } else { "completed" };
        let m = &answer.message;
        let calls = m.tool_calls.as_deref().unwrap_or_default();
        let mut output = Vec::new();
        if let Some(thinking) = m.thinking.as_deref().filter(|t| !t.is_empty()) {
            output.push(OutputItem::Reasoning {
                id: ids.item(ItemKind::Reasoning, output.len()),
                summary: Vec::new(),
                content: vec![TextPart::ReasoningText {
                    text: thinking.to_owned(),
                }],
                status: item_status,
            });
        }
        if !m.content.is_empty() || calls.is_empty() {
            output.push(OutputItem::Message {
                id: ids.item(ItemKind::Message, output.len()),
                role: "assistant",
                status: item_status,
                content: vec![TextPart::output(&m.content)],
            });
        }
        for (n, call) in calls.iter().enumerate() {
            output.push(function_call(ids, output.len(), n, call, "completed"));
        }
        self.finished(output, &answer.metrics)
    }
}

/// A `function_call` item for the `n`th tool call, at output `index`.
fn function_call(
    ids: &Ids,
    index: usize,
    n: usize,
    call: &ToolCall,
    status: &'static str,
) -> OutputItem {
    OutputItem::FunctionCall {
        id: ids.item(ItemKind::FunctionCall, index),
        call_id: call.id.clone().unwrap_or_else(|| ids.call_id(n)),
        name: call.function.name.clone(),
        arguments: call.function.arguments.to_string(),
        status,
    }
}

/// One streamed event; serialised with its `type` and the stream's `sequence_number`.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
enum Event<'a> {
    #[serde(rename = "response.created")]
    Created { response: &'a ResponseObject },
    #[serde(rename = "response.in_progress")]
    InProgress { response: &'a ResponseObject },
    #[serde(rename = "response.output_item.added")]
    ItemAdded {
        output_index: usize,
        item: &'a OutputItem,
    },
    #[serde(rename = "response.output_item.done")]
    ItemDone {
        output_index: usize,
        item: &'a OutputItem,
    },
    #[serde(rename = "response.content_part.added")]
    PartAdded {
        item_id: &'a str,
        output_index: usize,
        content_index: usize,
        part: &'a TextPart,
    },
    #[serde(rename = "response.content_part.done")]
    PartDone {
        item_id: &'a str,
        output_index: usize,
        content_index: usize,
        part: &'a TextPart,
    },
    #[serde(rename = "response.output_text.delta")]
    TextDelta {
        item_id: &'a str,
        output_index: usize,
        content_index: usize,
        delta: &'a str,
        logprobs: [(); 0],
    },
    #[serde(rename = "response.output_text.done")]
    TextDone {
        item_id: &'a str,
        output_index: usize,
        content_index: usize,
        text: &'a str,
        logprobs: [(); 0],
    },
    #[serde(rename = "response.reasoning_text.delta")]
    ReasoningDelta {
        item_id: &'a str,
        output_index: usize,
        content_index: usize,
        delta: &'a str,
    },
    #[serde(rename = "response.reasoning_text.done")]
    ReasoningDone {
        item_id: &'a str,
        output_index: usize,
        content_index: usize,
        text: &'a str,
    },
    #[serde(rename = "response.function_call_arguments.delta")]
    ArgumentsDelta {
        item_id: &'a str,
        output_index: usize,
        delta: &'a str,
    },
    #[serde(rename = "response.function_call_arguments.done")]
    ArgumentsDone {
        item_id: &'a str,
        output_index: usize,
        arguments: &'a str,
    },
    #[serde(rename = "response.completed")]
    Completed { response: &'a ResponseObject },
    #[serde(rename = "response.incomplete")]
    Incomplete { response: &'a ResponseObject },
    #[serde(rename = "response.failed")]
    Failed { response: &'a ResponseObject },
    #[serde(rename = "error")]
    Error {
        code: &'static str,
        message: &'a str,
        param: Option<&'a str>,
    },
}

impl Event<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::Created { .. } => "response.created",
            Self::InProgress { .. } => "response.in_progress",
            Self::ItemAdded { .. } => "response.output_item.added",
            Self::ItemDone { .. } => "response.output_item.done",
            Self::PartAdded { .. } => "response.content_part.added",
            Self::PartDone { .. } => "response.content_part.done",
            Self::TextDelta { .. } => "response.output_text.delta",
            Self::TextDone { .. } => "response.output_text.done",
            Self::ReasoningDelta { .. } => "response.reasoning_text.delta",
            Self::ReasoningDone { .. } => "response.reasoning_text.done",
            Self::ArgumentsDelta { .. } => "response.function_call_arguments.delta",
            Self::ArgumentsDone { .. } => "response.function_call_arguments.done",
            Self::Completed { .. } => "response.completed",
            Self::Incomplete { .. } => "response.incomplete",
            Self::Failed { .. } => "response.failed",
            Self::Error { .. } => "error",
        }
    }
}

#[derive(Serialize)]
struct Sequenced<'a, 'b> {
    #[serde(flatten)]
    event: &'b Event<'a>,
    sequence_number: u64,
}

/// The bytes of a stream, numbered.
#[derive(Debug, Default)]
struct Writer {
    out: Vec<u8>,
    sequence: u64,
}

impl Writer {
    fn emit(&mut self, event: &Event<'_>) {
        self.out.extend_from_slice(b"event: ");
        self.out.extend_from_slice(event.name().as_bytes());
        self.out.extend_from_slice(b"\ndata: ");
        let sequenced = Sequenced {
            event,
            sequence_number: self.sequence,
        };
        // Serialising these plain structs cannot fail.
        let _ = serde_json::to_writer(&mut self.out, &sequenced);
        self.out.extend_from_slice(b"\n\n");
        self.sequence += 1;
    }

    fn take(&mut self) -> Bytes {
        std::mem::take(&mut self.out).into()
    }
}

/// The item being written to, if a reasoning or message item is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Reasoning(usize),
    Message(usize),
}

/// The Responses event stream over `/api/chat` lines.
#[derive(Debug)]
struct Events {
    ids: Ids,
    shell: Shell,
    writer: Writer,
    started: bool,
    output: Vec<OutputItem>,
    open: Option<Open>,
    tool_calls: usize,
}

impl Events {
    fn new(ids: Ids, shell: Shell) -> Self {
        Self {
            ids,
            shell,
            writer: Writer::default(),
            started: false,
            output: Vec::new(),
            open: None,
            tool_calls: 0,
        }
    }

    fn start(&mut self) {
        if !self.started {
            self.started = true;
            self.writer.emit(&Event::Created {
                response: &self.shell.base,
            });
            self.writer.emit(&Event::InProgress {
                response: &self.shell.base,
            });
        }
    }

    /// Adds an item and announces it.
    fn add(&mut self, item: OutputItem) -> usize {
        let index = self.output.len();
        self.output.push(item);
        self.writer.emit(&Event::ItemAdded {
            output_index: index,
            item: &self.output[index],
        });
        index
    }

    /// Closes the open reasoning or message item with `status`.
    fn close(&mut self, status: &'static str) {
        let Some(open) = self.open.take() else {
            return;
        };
        let (Open::Reasoning(index) | Open::Message(index)) = open;
        let Some(item) = self.output.get_mut(index) else {
            return;
        };
        item.set_status(status);
        let item = &self.output[index];
        match item {
            OutputItem::Reasoning { id, content, .. } => {
                if let Some(part) = content.first() {
                    self.writer.emit(&Event::ReasoningDone {
                        item_id: id,
                        output_index: index,
                        content_index: 0,
                        text: part.text(),
                    });
                }
            }
            OutputItem::Message { id, content, .. } => {
                if let Some(part) = content.first() {
                    self.writer.emit(&Event::TextDone {
                        item_id: id,
                        output_index: index,
                        content_index: 0,
                        text: part.text(),
                        logprobs: [],
                    });
                    self.writer.emit(&Event::PartDone {
                        item_id: id,
                        output_index: index,
                        content_index: 0,
                        part,
                    });
                }
            }
            OutputItem::FunctionCall { .. } => {}
        }
        self.writer.emit(&Event::ItemDone {
            output_index: index,
            item,
        });
    }

    fn reasoning(&mut self, delta: &str) {
        let index = match self.open {
            Some(Open::Reasoning(index)) => index,
            _ => {
                self.close("completed");
                let id = self.ids.item(ItemKind::Reasoning, self.output.len());
                let index = self.add(OutputItem::Reasoning {
                    id,
                    summary: Vec::new(),
                    content: Vec::new(),
                    status: "in_progress",
                });
                if let Some(OutputItem::Reasoning { content, .. }) = self.output.get_mut(index) {
                    content.push(TextPart::ReasoningText {
                        text: String::new(),
                    });
                }
                self.open = Some(Open::Reasoning(index));
                index
            }
        };
        if let Some(OutputItem::Reasoning { id, content, .. }) = self.output.get_mut(index) {
            if let Some(part) = content.first_mut() {
                part.push(delta);
            }
            self.writer.emit(&Event::ReasoningDelta {
                item_id: id,
                output_index: index,
                content_index: 0,
                delta,
            });
        }
    }

    fn text(&mut self, delta: &str) {
        let index = match self.open {
            Some(Open::Message(index)) => index,
            _ => {
                self.close("completed");
                let id = self.ids.item(ItemKind::Message, self.output.len());
                let index = self.add(OutputItem::Message {
                    id,
                    role: "assistant",
                    status: "in_progress",
                    content: Vec::new(),
                });
                let part = TextPart::output("");
                if let Some(OutputItem::Message { id, .. }) = self.output.get(index) {
                    self.writer.emit(&Event::PartAdded {
                        item_id: id,
                        output_index: index,
                        content_index: 0,
                        part: &part,
                    });
                }
                if let Some(OutputItem::Message { content, .. }) = self.output.get_mut(index) {
                    content.push(part);
                }
                self.open = Some(Open::Message(index));
                index
            }
        };
        if let Some(OutputItem::Message { id, content, .. }) = self.output.get_mut(index) {
            if let Some(part) = content.first_mut() {
                part.push(delta);
            }
            self.writer.emit(&Event::TextDelta {
                item_id: id,
                output_index: index,
                content_index: 0,
                delta,
                logprobs: [],
            });
        }
    }

    fn tool_call(&mut self, call: &ToolCall) {
        self.close("completed");
        let n = self.tool_calls;
        self.tool_calls += 1;
        let index = self.output.len();
        let item = function_call(&self.ids, index, n, call, "in_progress");
        let mut announced = item.clone();
        let arguments = match &mut announced {
            OutputItem::FunctionCall { arguments, .. } => std::mem::take(arguments),
            _ => String::new(),
        };
        self.add(announced);
        let id = self.ids.item(ItemKind::FunctionCall, index);
        self.writer.emit(&Event::ArgumentsDelta {
            item_id: &id,
            output_index: index,
            delta: &arguments,
        });
        self.writer.emit(&Event::ArgumentsDone {
            item_id: &id,
            output_index: index,
            arguments: &arguments,
        });
        let mut done = item;
        done.set_status("completed");
        self.output[index] = done;
        self.writer.emit(&Event::ItemDone {
            output_index: index,
            item: &self.output[index],
        });
    }

    fn line(&mut self, line: &ChatResponse) {
        let m = &line.message;
        if let Some(thinking) = m.thinking.as_deref().filter(|t| !t.is_empty()) {
            self.reasoning(thinking);
        }
        if !m.content.is_empty() {
            self.text(&m.content);
        }
        for call in m.tool_calls.as_deref().unwrap_or_default() {
            self.tool_call(call);
        }
        if line.done {
            let cut = line.metrics.done_reason.as_deref() == Some("length");
            if self.output.is_empty() {
                // An empty answer is still one (empty) message.
                self.text("");
            }
            self.close(if cut { "incomplete" } else { "completed" });
            let response = self.shell.finished(self.output.clone(), &line.metrics);
            if cut {
                self.writer.emit(&Event::Incomplete {
                    response: &response,
                });
            } else {
                self.writer.emit(&Event::Completed {
                    response: &response,
                });
            }
        }
    }

    fn failed(&mut self, e: Error) {
        let error = upstream_error(e);
        self.close("incomplete");
        self.writer.emit(&Event::Error {
            code: "server_error",
            message: error.message(),
            param: None,
        });
        let response = ResponseObject {
            status: "failed",
            error: Some(ResponseError {
                code: "server_error",
                message: error.message().to_owned(),
            }),
            output: self.output.clone(),
            ..self.shell.base.clone()
        };
        self.writer.emit(&Event::Failed {
            response: &response,
        });
    }
}

impl Frames<ChatResponse> for Events {
    fn frame(&mut self, step: Step<ChatResponse>) -> Bytes {
        match step {
            Step::End => {}
            Step::Line(Ok(line)) => {
                self.start();
                self.line(&line);
            }
            Step::Line(Err(e)) => {
                self.start();
                self.failed(e);
            }
        }
        self.writer.take()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> CreateResponse {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn maps_input_items_tools_and_sampling() {
        let req = parse(json!({
            "model": "qwen3:0.6b",
            "instructions": "be brief",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "weather in "},
                                             {"type": "input_text", "text": "Paris?"}]},
                {"type": "reasoning", "id": "rs_1", "summary": [],
                 "content": [{"type": "reasoning_text", "text": "look it up"}]},
                {"type": "function_call", "call_id": "call_a", "name": "get_weather",
                 "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call_output", "call_id": "call_a", "output": "sunny"}
            ],
            "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}},
                      {"type": "function", "name": "other"}],
            "tool_choice": {"type": "function", "name": "get_weather"},
            "max_output_tokens": 64, "temperature": 0.2, "top_p": 0.9,
            "reasoning": {"effort": "minimal"},
            "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}}
        }));
        let o = req.to_ollama(Vec::new()).unwrap();
        let roles: Vec<&str> = o.messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool"]);
        assert_eq!(o.messages[1].content, "weather in Paris?");
        assert_eq!(o.messages[2].thinking.as_deref(), Some("look it up"));
        let call = &o.messages[2].tool_calls.as_ref().unwrap()[0];
        assert_eq!(call.function.arguments, json!({"city": "Paris"}));
        assert_eq!(o.messages[3].tool_name.as_deref(), Some("get_weather"));
        let tools = o.tools.unwrap();
        assert_eq!(tools.len(), 1, "tool_choice narrows the tools");
        assert_eq!(tools[0]["function"]["name"], "get_weather");
        assert_eq!(
            tools[0]["function"]["parameters"],
            json!({"type": "object"})
        );
        let opts = o.options.unwrap();
        assert_eq!(
            (opts.num_predict, opts.temperature, opts.top_p),
            (Some(64), Some(0.2), Some(0.9))
        );
        assert_eq!(o.think, Some(Think::Level("low".into())));
        assert_eq!(o.format, Some(json!({"type": "object"})));
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        let with = |extra: Value| {
            let mut body = json!({"model": "m", "input": "hi"});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            parse(body).to_ollama(Vec::new()).unwrap_err()
        };
        let e = with(json!({"tools": [{"type": "web_search"}]}));
        assert_eq!(e.body()["error"]["param"], "tools[0].type");
        let e = with(json!({"input": [{"type": "item_reference", "id": "x"}]}));
        assert_eq!(e.body()["error"]["param"], "input[0].type");
        let e = with(json!({"max_output_tokens": 0}));
        assert_eq!(e.body()["error"]["code"], "integer_below_min_value");
        let e = with(json!({"temperature": 3.0}));
        assert_eq!(e.body()["error"]["param"], "temperature");
        let e = with(json!({"input": []}));
        assert_eq!(e.body()["error"]["param"], "input");
        let e = with(json!({"reasoning": {"effort": "huge"}}));
        assert_eq!(e.body()["error"]["param"], "reasoning.effort");
    }

    #[test]
    fn new_instructions_replace_the_history_system_turns() {
        let history = vec![
            text_message("system", "old"),
            text_message("user", "hi"),
            text_message("assistant", "hello"),
        ];
        let req = parse(
            json!({"model": "m", "instructions": "new", "input": "again",
                               "previous_response_id": "resp_x"}),
        );
        let o = req.to_ollama(history.clone()).unwrap();
        let contents: Vec<&str> = o.messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(contents, ["new", "hi", "hello", "again"]);
        let req = parse(json!({"model": "m", "input": "again", "previous_response_id": "resp_x"}));
        let o = req.to_ollama(history).unwrap();
        assert_eq!(
            o.messages[0].content, "old",
            "kept without new instructions"
        );
    }

    #[test]
    fn history_reads_a_trace_back() {
        let ids = Ids::new("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
        assert_eq!(
            trace_id_of(&ids.response()).as_deref(),
            Some("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
        );
        assert_eq!(trace_id_of("resp_nothex"), None);
        let input = serde_json::to_string(&[text_message("user", "hi")]).unwrap();
        let mut trace: TraceRecord = serde_json::from_value(json!({
            "id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "created_at": 0,
            "endpoint": ENDPOINT, "model": "m", "stream": false, "status": "ok",
        }))
        .unwrap();
        trace.input = Some(input);
        trace.output = Some("<think>hmm</think>\nhello".into());
        trace.tool_calls = Some(r#"[{"function":{"name":"f","arguments":{"a":1}}}]"#.into());
        let messages = history(&trace, &ids).unwrap();
        assert_eq!(messages.len(), 2);
        let answer = &messages[1];
        assert_eq!(
            (answer.content.as_str(), answer.thinking.as_deref()),
            ("hello", Some("hmm"))
        );
        let call = &answer.tool_calls.as_ref().unwrap()[0];
        assert_eq!(
            call.id.as_deref(),
            Some(ids.call_id(0).as_str()),
            "the id the answer gave"
        );
        trace.input = None;
        assert!(
            history(&trace, &ids)
                .unwrap_err()
                .contains("no longer stored")
        );
        trace.input = Some(r#"[{"role":"user","content":"x","images":["[image]"]}]"#.into());
        assert!(history(&trace, &ids).unwrap_err().contains("images"));
        trace.status = TraceStatus::Error;
        assert!(
            history(&trace, &ids)
                .unwrap_err()
                .contains("did not complete")
        );
    }

    fn events(bytes: &[u8]) -> Vec<Value> {
        let text = std::str::from_utf8(bytes).unwrap();
        text.split("\n\n")
            .filter(|f| !f.is_empty())
            .map(|frame| {
                let (event, data) = frame.split_once('\n').unwrap();
                let v: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(event.strip_prefix("event: ").unwrap(), v["type"]);
                v
            })
            .collect()
    }

    #[test]
    fn streams_the_event_sequence_the_sdks_parse() {
        let req = parse(json!({"model": "m", "input": "hi"}));
        let ids = Ids::new("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
        let sent = req.to_ollama(Vec::new()).unwrap();
        let mut frames = Events::new(ids.clone(), Shell::new(&req, &ids, &sent));
        let line = |v: Value| Step::Line(Ok(serde_json::from_value::<ChatResponse>(v).unwrap()));
        let mut all = Vec::new();
        for step in [
            line(json!({"message": {"role": "assistant", "content": "", "thinking": "hm"}})),
            line(json!({"message": {"role": "assistant", "content": "Hel"}})),
            line(json!({"message": {"role": "assistant", "content": "lo"}})),
            line(json!({"message": {"role": "assistant", "content": "",
                "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}})),
            line(
                json!({"message": {"role": "assistant", "content": ""}, "done": true,
                "done_reason": "stop", "prompt_eval_count": 3, "eval_count": 5}),
            ),
            Step::End,
        ] {
            all.extend_from_slice(&frames.frame(step));
        }
        let events = events(&all);
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.reasoning_text.delta",
                "response.reasoning_text.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let numbers: Vec<u64> = events
            .iter()
            .map(|e| e["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(numbers, (0..events.len() as u64).collect::<Vec<_>>());
        let done = &events[events.len() - 1]["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["usage"]["input_tokens"], 3);
        assert_eq!(done["usage"]["total_tokens"], 8);
        assert_eq!(done["output"][1]["content"][0]["text"], "Hello");
        assert_eq!(done["output"][2]["call_id"], ids.call_id(0));
        assert_eq!(done["output"][2]["arguments"], r#"{"a":1}"#);
        assert_eq!(events[10]["text"], "Hello");
    }

    #[test]
    fn a_failure_mid_stream_is_an_error_then_response_failed() {
        let req = parse(json!({"model": "m", "input": "hi", "stream": true}));
        let ids = Ids::new("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
        let sent = req.to_ollama(Vec::new()).unwrap();
        let mut frames = Events::new(ids.clone(), Shell::new(&req, &ids, &sent));
        let first: ChatResponse =
            serde_json::from_value(json!({"message": {"role": "assistant", "content": "Hi"}}))
                .unwrap();
        let mut all = frames.frame(Step::Line(Ok(first))).to_vec();
        let error = Error::StreamError("connection reset".into());
        all.extend_from_slice(&frames.frame(Step::Line(Err(error))));
        let events = events(&all);
        let last = &events[events.len() - 1];
        assert_eq!(last["type"], "response.failed");
        assert_eq!(last["response"]["status"], "failed");
        assert_eq!(last["response"]["error"]["code"], "server_error");
        assert_eq!(events[events.len() - 2]["type"], "error");
        assert_eq!(last["response"]["output"][0]["status"], "incomplete");
    }
}
