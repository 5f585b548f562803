//! OpenAI request bodies and their translation to Ollama's native requests.

use std::collections::HashMap;

use ollama_dash_core::ollama::types::{
    ChatRequest, Message, ModelOptions, Think, ToolCall, ToolCallFunction,
};
use serde::Deserialize;
use serde_json::Value;

use super::invalid;
use crate::http::error::ApiError;

/// `stop`: one string or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Stop {
    One(String),
    Many(Vec<String>),
}

/// `stream_options`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub(super) struct StreamOptions {
    #[serde(default)]
    pub(super) include_usage: bool,
}

/// Sampling fields shared by chat and completions.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub(super) struct Sampling {
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_tokens: Option<i64>,
    max_completion_tokens: Option<i64>,
    #[schema(value_type = Option<serde_json::Value>)]
    stop: Option<Stop>,
    seed: Option<i64>,
    presence_penalty: Option<f64>,
    frequency_penalty: Option<f64>,
    /// Extension: Ollama's own options, under OpenAI's fields.
    #[schema(value_type = Option<serde_json::Value>)]
    options: Option<ModelOptions>,
}

impl Sampling {
    /// The sampling fields of a request that has only these (the Responses API).
    pub(super) fn new(
        temperature: Option<f64>,
        top_p: Option<f64>,
        max_tokens: Option<i64>,
    ) -> Self {
        Self {
            temperature,
            top_p,
            max_tokens,
            ..Self::default()
        }
    }

    /// Ollama `options`; `None` when the request sets none. Refuses a token limit below 1 as
    /// OpenAI does (Ollama would take `-1` for "no limit"), and sampling values outside
    /// OpenAI's ranges (`temperature` 0–2, `top_p` 0–1, penalties −2–2).
    pub(super) fn options(&self) -> Result<Option<ModelOptions>, ApiError> {
        for (param, value, min, max) in [
            ("temperature", self.temperature, 0.0, 2.0),
            ("top_p", self.top_p, 0.0, 1.0),
            ("presence_penalty", self.presence_penalty, -2.0, 2.0),
            ("frequency_penalty", self.frequency_penalty, -2.0, 2.0),
        ] {
            let Some(v) = value else { continue };
            let (what, bound, code) = if v < min {
                (
                    "below minimum",
                    format!(">= {min}"),
                    "decimal_below_min_value",
                )
            } else if v > max {
                (
                    "above maximum",
                    format!("<= {max}"),
                    "decimal_above_max_value",
                )
            } else {
                continue;
            };
            return Err(invalid(
                param,
                format!(
                    "Invalid '{param}': decimal {what} value. Expected a value {bound}, but got {v} instead."
                ),
            )
            .with_code(code));
        }
        for (param, value) in [
            ("max_tokens", self.max_tokens),
            ("max_completion_tokens", self.max_completion_tokens),
        ] {
            if let Some(n) = value.filter(|n| *n < 1) {
                return Err(invalid(
                    param,
                    format!(
                        "Invalid '{param}': integer below minimum value. Expected a value >= 1, but got {n} instead."
                    ),
                )
                .with_code("integer_below_min_value"));
            }
        }
        let mut o = self.options.clone().unwrap_or_default();
        let set = |slot: &mut Option<f64>, v: Option<f64>| {
            if v.is_some() {
                *slot = v;
            }
        };
        set(&mut o.temperature, self.temperature);
        set(&mut o.top_p, self.top_p);
        set(&mut o.presence_penalty, self.presence_penalty);
        set(&mut o.frequency_penalty, self.frequency_penalty);
        if let Some(n) = self.max_completion_tokens.or(self.max_tokens) {
            o.num_predict = Some(n);
        }
        if self.seed.is_some() {
            o.seed = self.seed;
        }
        match &self.stop {
            Some(Stop::One(s)) => o.stop = Some(vec![s.clone()]),
            Some(Stop::Many(v)) => o.stop = Some(v.clone()),
            None => {}
        }
        Ok((o != ModelOptions::default()).then_some(o))
    }
}

/// `POST /v1/chat/completions` body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub(super) struct ChatCompletionRequest {
    pub(super) model: String,
    pub(super) messages: Vec<ChatMessage>,
    #[serde(default)]
    pub(super) stream: bool,
    #[serde(default)]
    pub(super) stream_options: Option<StreamOptions>,
    #[serde(flatten)]
    pub(super) sampling: Sampling,
    pub(super) response_format: Option<Value>,
    pub(super) tools: Option<Vec<Value>>,
    pub(super) tool_choice: Option<Value>,
    pub(super) reasoning_effort: Option<String>,
    pub(super) reasoning: Option<Value>,
    pub(super) n: Option<u32>,
    /// Extension: Ollama's `keep_alive`.
    #[schema(value_type = Option<serde_json::Value>)]
    pub(super) keep_alive: Option<ollama_dash_core::ollama::types::KeepAlive>,
    /// Prem's `project_id`: unused, but it marks a Prem client (see `stream::Head::linger`).
    #[serde(default)]
    pub(super) project_id: Option<Value>,
    /// Prem's `system_prompt`: a system message before `messages`.
    #[serde(default)]
    pub(super) system_prompt: Option<String>,
}

/// One OpenAI message.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub(super) struct ChatMessage {
    role: String,
    #[serde(default)]
    #[schema(value_type = Option<serde_json::Value>)]
    content: Option<Content>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<serde_json::Value>)]
    tool_calls: Option<Vec<OaiToolCall>>,
    #[serde(default)]
    tool_call_id: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Clone, Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    image_url: Option<ImageUrl>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum ImageUrl {
    Url(String),
    Object { url: String },
}

#[derive(Debug, Clone, Deserialize)]
struct OaiToolCall {
    #[serde(default)]
    id: Option<String>,
    function: OaiFunction,
}

#[derive(Debug, Clone, Deserialize)]
struct OaiFunction {
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
}

impl ChatCompletionRequest {
    /// The native `/api/chat` request.
    pub(super) fn to_ollama(&self) -> Result<ChatRequest, ApiError> {
        if self.model.trim().is_empty() {
            return Err(invalid("model", "model is required"));
        }
        if self.messages.is_empty() {
            return Err(invalid("messages", "messages must not be empty"));
        }
        if self.n.is_some_and(|n| n != 1) {
            return Err(invalid("n", "only n = 1 is supported"));
        }
        let mut names: HashMap<String, String> = HashMap::new();
        let mut messages = Vec::with_capacity(self.messages.len() + 1);
        if let Some(system) = self.system_prompt.as_deref().filter(|s| !s.is_empty()) {
            messages.push(Message {
                role: "system".to_owned(),
                content: system.to_owned(),
                ..Message::default()
            });
        }
        for (i, m) in self.messages.iter().enumerate() {
            messages.push(m.to_ollama(i, &mut names)?);
        }
        Ok(ChatRequest {
            model: self.model.clone(),
            messages,
            tools: self.tools()?,
            format: format(self.response_format.as_ref())?,
            options: self.sampling.options()?,
            stream: Some(self.stream),
            keep_alive: self.keep_alive.clone(),
            think: self.think()?,
        })
    }

    /// `tools` as Ollama takes them, narrowed by `tool_choice`.
    fn tools(&self) -> Result<Option<Vec<Value>>, ApiError> {
        let Some(tools) = self.tools.clone().filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        match &self.tool_choice {
            None => Ok(Some(tools)),
            Some(Value::String(s)) if s == "none" => Ok(None),
            Some(Value::String(s)) if s == "auto" || s == "required" => Ok(Some(tools)),
            Some(choice @ Value::Object(_)) => {
                let name = choice
                    .pointer("/function/name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        invalid("tool_choice", "tool_choice.function.name is missing")
                    })?;
                let chosen: Vec<Value> = tools
                    .into_iter()
                    .filter(|t| t.pointer("/function/name").and_then(Value::as_str) == Some(name))
                    .collect();
                if chosen.is_empty() {
                    return Err(invalid(
                        "tool_choice",
                        format!("tool_choice names {name:?}, which is not in tools"),
                    ));
                }
                Ok(Some(chosen))
            }
            Some(_) => Err(invalid(
                "tool_choice",
                "tool_choice must be none, auto, required or {\"type\":\"function\",…}",
            )),
        }
    }

    /// `reasoning_effort` / `reasoning.effort` → `think`.
    fn think(&self) -> Result<Option<Think>, ApiError> {
        let effort = self.reasoning_effort.clone().or_else(|| {
            self.reasoning
                .as_ref()
                .and_then(|r| r.get("effort"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        match effort.as_deref() {
            None => Ok(None),
            Some("none") => Ok(Some(Think::Enabled(false))),
            Some(level @ ("minimal" | "low" | "medium" | "high" | "max")) => {
                let level = if level == "minimal" { "low" } else { level };
                Ok(Some(Think::Level(level.to_owned())))
            }
            Some(other) => Err(invalid(
                "reasoning_effort",
                format!("reasoning_effort must be none, low, medium or high, not {other:?}"),
            )),
        }
    }
}

impl ChatMessage {
    fn to_ollama(
        &self,
        index: usize,
        tool_names: &mut HashMap<String, String>,
    ) -> Result<Message, ApiError> {
        let param = |field: &str| format!("messages[{index}].{field}");
        let role = match self.role.as_str() {
            "developer" => "system",
            r @ ("system" | "user" | "assistant" | "tool") => r,
            other => {
                return Err(invalid(&param("role"), format!("unknown role {other:?}")));
            }
        };
        let mut content = String::new();
        let mut images = Vec::new();
        match &self.content {
            None => {}
            Some(Content::Text(text)) => content.push_str(text),
            Some(Content::Parts(parts)) => {
                for part in parts {
                    match (part.kind.as_str(), &part.text, &part.image_url) {
                        ("text", Some(text), _) => content.push_str(text),
                        ("image_url", _, Some(ImageUrl::Url(url) | ImageUrl::Object { url })) => {
                            images
                                .push(image_data(url).map_err(|m| invalid(&param("content"), m))?);
                        }
                        (kind, _, _) => {
                            return Err(invalid(
                                &param("content"),
                                format!("unsupported content part {kind:?}"),
                            ));
                        }
                    }
                }
            }
        }
        let tool_calls = match &self.tool_calls {
            None => None,
            Some(calls) => {
                let mut out = Vec::with_capacity(calls.len());
                for (i, call) in calls.iter().enumerate() {
                    let arguments = match &call.function.arguments {
                        None => Value::Object(Default::default()),
                        Some(Value::String(s)) if s.trim().is_empty() => {
                            Value::Object(Default::default())
                        }
                        Some(Value::String(s)) => serde_json::from_str(s).map_err(|e| {
                            invalid(
                                &param("tool_calls"),
                                format!("function arguments are not JSON: {e}"),
                            )
                        })?,
                        Some(v) => v.clone(),
                    };
                    if let Some(id) = &call.id {
                        tool_names.insert(id.clone(), call.function.name.clone());
                    }
                    out.push(ToolCall {
                        id: call.id.clone(),
                        function: ToolCallFunction {
                            index: u32::try_from(i).ok(),
                            name: call.function.name.clone(),
                            arguments,
                        },
                    });
                }
                Some(out)
            }
        };
        let tool_name = (role == "tool")
            .then(|| {
                self.name.clone().or_else(|| {
                    self.tool_call_id
                        .as_ref()
                        .and_then(|id| tool_names.get(id).cloned())
                })
            })
            .flatten();
        Ok(Message {
            role: role.to_owned(),
            content,
            thinking: self.reasoning.clone().or(self.reasoning_content.clone()),
            images: (!images.is_empty()).then_some(images),
            tool_calls,
            tool_name,
            tool_call_id: self.tool_call_id.clone(),
        })
    }
}

/// The base64 bytes of a `data:` image URL (png, jpeg, webp or an empty media type).
pub(super) fn image_data(url: &str) -> Result<String, String> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Err("only data: image URLs are supported (base64 png, jpeg or webp)".into());
    };
    let Some((media, data)) = rest.split_once(";base64,") else {
        return Err("an image data URL must be base64 (data:image/png;base64,…)".into());
    };
    if !matches!(
        media,
        "" | "image/png" | "image/jpeg" | "image/jpg" | "image/webp"
    ) {
        return Err(format!("unsupported image type {media:?}"));
    }
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| format!("invalid base64 image: {e}"))?;
    Ok(data.to_owned())
}

/// `response_format` → Ollama's `format`.
pub(super) fn format(response_format: Option<&Value>) -> Result<Option<Value>, ApiError> {
    let Some(rf) = response_format else {
        return Ok(None);
    };
    match rf.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(Value::from("json"))),
        Some("json_schema") => rf
            .pointer("/json_schema/schema")
            .filter(|s| s.is_object())
            .cloned()
            .map(Some)
            .ok_or_else(|| {
                invalid(
                    "response_format",
                    "json_schema needs a json_schema.schema object",
                )
            }),
        _ => Err(invalid(
            "response_format",
            "response_format.type must be text, json_object or json_schema",
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> ChatCompletionRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn maps_every_field() {
        let req = parse(json!({
            "model": "qwen3:0.6b",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "what is "},
                    {"type": "text", "text": "this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}}
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
            ],
            "temperature": 0.1, "top_p": 0.5, "max_tokens": 10, "max_completion_tokens": 20,
            "stop": "END", "seed": 42, "presence_penalty": 0.3, "frequency_penalty": 0.4,
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            "tools": [{"type": "function", "function": {"name": "get_weather"}},
                      {"type": "function", "function": {"name": "other"}}],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "reasoning_effort": "high"
        }));
        let o = req.to_ollama().unwrap();
        assert_eq!(o.messages[0].role, "system");
        assert_eq!(o.messages[1].content, "what is this?");
        assert_eq!(o.messages[1].images, Some(vec!["aGVsbG8=".to_owned()]));
        let call = &o.messages[2].tool_calls.as_ref().unwrap()[0];
        assert_eq!(call.function.arguments, json!({"city": "Paris"}));
        assert_eq!(o.messages[3].tool_name.as_deref(), Some("get_weather"));
        assert_eq!(o.messages[3].tool_call_id.as_deref(), Some("call_1"));
        let opts = o.options.unwrap();
        assert_eq!(opts.num_predict, Some(20), "max_completion_tokens wins");
        assert_eq!(
            (opts.temperature, opts.top_p, opts.seed),
            (Some(0.1), Some(0.5), Some(42))
        );
        assert_eq!(opts.stop, Some(vec!["END".to_owned()]));
        assert_eq!(
            (opts.presence_penalty, opts.frequency_penalty),
            (Some(0.3), Some(0.4))
        );
        assert_eq!(o.format, Some(json!({"type": "object"})));
        assert_eq!(o.tools.unwrap().len(), 1, "tool_choice narrows the tools");
        assert_eq!(o.think, Some(Think::Level("high".into())));
    }

    #[test]
    fn system_prompt_comes_first() {
        let req = parse(json!({
            "model": "m", "system_prompt": "be kind", "project_id": 1,
            "messages": [{"role": "user", "content": "hi"}]
        }));
        let o = req.to_ollama().unwrap();
        assert_eq!(o.messages.len(), 2);
        assert_eq!(
            (o.messages[0].role.as_str(), o.messages[0].content.as_str()),
            ("system", "be kind")
        );
    }

    #[test]
    fn rejects_what_ollama_cannot_do() {
        let base = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            parse(b).to_ollama().unwrap_err()
        };
        let e = with("messages", json!([]));
        assert_eq!(e.body()["error"]["param"], "messages");
        let e = with(
            "messages",
            json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]),
        );
        assert_eq!(e.body()["error"]["param"], "messages[0].content");
        assert_eq!(
            with("response_format", json!({"type": "yaml"})).status(),
            400
        );
        assert_eq!(with("n", json!(3)).status(), 400);
        for param in ["max_tokens", "max_completion_tokens"] {
            for n in [-1, 0] {
                let e = with(param, json!(n));
                assert_eq!(e.status(), 400, "{param}={n}");
                assert_eq!(e.body()["error"]["param"], param);
                assert_eq!(e.body()["error"]["code"], "integer_below_min_value");
            }
        }
        for (param, low, high) in [
            ("temperature", -0.1, 2.1),
            ("top_p", -0.5, 1.5),
            ("presence_penalty", -2.5, 2.5),
            ("frequency_penalty", -3.0, 3.0),
        ] {
            let e = with(param, json!(low));
            assert_eq!(e.status(), 400, "{param}={low}");
            assert_eq!(e.body()["error"]["param"], param);
            assert_eq!(e.body()["error"]["code"], "decimal_below_min_value");
            let e = with(param, json!(high));
            assert_eq!(
                e.body()["error"]["code"],
                "decimal_above_max_value",
                "{param}={high}"
            );
        }
        for (param, edge) in [("temperature", 2.0), ("temperature", 0.0), ("top_p", 1.0)] {
            let mut b = base.clone();
            b[param] = json!(edge);
            assert!(parse(b).to_ollama().is_ok(), "{param}={edge} is in range");
        }
        assert_eq!(
            parse(
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "response_format": {"type": "json_object"}, "tool_choice": "none",
                "tools": [{"type": "function", "function": {"name": "f"}}]})
            )
            .to_ollama()
            .map(|o| (o.format, o.tools, o.options))
            .unwrap(),
            (Some(json!("json")), None, None)
        );
    }
}
