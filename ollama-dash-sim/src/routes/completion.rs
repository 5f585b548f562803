//! What `/api/generate` and `/api/chat` share: Ollama's checks before scheduling (think,
//! capabilities, format), the token plan of the deterministic "model", and streaming it with
//! the final metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::keep_alive::KeepAlive;
use crate::model::Model;
use crate::names::Name;
use crate::state::{Lease, Sim};
use crate::text::{self, Rng};
use crate::version::Features;
use crate::wire::{
    ApiError, Item, Options, Req, aborted, go_json, go_quote, go_time, json_bytes, stream_response,
    think_value,
};

/// What a runner says when it dies mid-generation.
const RUNNER_DIED: &str = "an error was encountered while running the model: unexpected EOF";

/// The request fields `/api/generate` and `/api/chat` share, decoded after each one's own.
#[derive(Debug)]
pub(super) struct Common {
    pub(super) stream: bool,
    pub(super) keep_alive: Option<KeepAlive>,
    pub(super) options: serde_json::Map<String, Value>,
    pub(super) think: Option<bool>,
}

impl Common {
    pub(super) fn parse(req: &Req, features: Features) -> Result<Self, ApiError> {
        let common = Self {
            stream: req.stream()?,
            keep_alive: req.keep_alive()?,
            options: req.object("options", "map[string]interface {}")?,
            think: match features.think {
                true => think_value(req, features.think_levels)?,
                false => None,
            },
        };
        for flag in ["truncate", "shift", "logprobs"] {
            req.flag(flag)?;
        }
        if !(0..=20).contains(&req.int("top_logprobs")?.unwrap_or(0)) {
            return Err(ApiError::bad_request(
                "top_logprobs must be between 0 and 20",
            ));
        }
        Ok(common)
    }

    /// Whether an empty request asks to unload the model (`keep_alive: 0`).
    pub(super) fn unloads(&self) -> bool {
        self.keep_alive.is_some_and(KeepAlive::is_zero)
    }
}

/// The model a request names: 400 for a bad name, 404 when it is not installed.
pub(super) fn find(sim: &Sim, requested_as: &str) -> Result<(Name, Arc<Model>), ApiError> {
    let name =
        Name::parse(requested_as).ok_or_else(|| ApiError::bad_request("invalid model name"))?;
    let model = sim
        .find(&name)
        .ok_or_else(|| ApiError::not_found(format!("model '{requested_as}' not found")))?;
    Ok((name, model))
}

/// Loads the model (or waits for it) with the request's context length and keep-alive; the
/// error is the scheduler's busy answer.
pub(super) async fn schedule(
    sim: &Arc<Sim>,
    model: &Arc<Model>,
    options: &Options,
    keep_alive: Option<KeepAlive>,
    features: Features,
) -> Result<Lease, ApiError> {
    let context = context_length(model, options, features);
    sim.acquire(model, context, keep_alive.unwrap_or(KeepAlive::DEFAULT))
        .await
}

/// The prompt-cache token of a piece of chat text.
pub(super) fn piece_id(piece: &str) -> i64 {
    text::token_id(piece, i64::MAX as u64)
}

/// Chat's cache tokens for one message: a role marker, the content's pieces, an end marker.
pub(super) fn message_ids(role: &str, content: &str) -> impl Iterator<Item = i64> {
    std::iter::once(piece_id(&format!("<|{role}|>")))
        .chain(text::split_tokens(content).into_iter().map(piece_id))
        .chain(std::iter::once(piece_id("<|end|>")))
}

/// Which response shape to write.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Shape {
    Generate,
    Chat,
}

/// The `format` field.
#[derive(Clone, Debug)]
pub(super) enum Format {
    Text,
    Json,
    Schema(Value),
}

/// Decodes `format` like the runner does; a bad value is a 500 raised when generation starts.
pub(super) fn format(value: Option<&Value>) -> Result<Format, ApiError> {
    match value {
        None => Ok(Format::Text),
        Some(Value::String(s)) if s.is_empty() => Ok(Format::Text),
        Some(Value::String(s)) if s == "json" => Ok(Format::Json),
        Some(schema @ Value::Object(_)) => Ok(Format::Schema(schema.clone())),
        Some(other) => Err(ApiError::internal(format!(
            "invalid format: {}; expected \"json\" or a valid JSON Schema object",
            go_quote(&other.to_string())
        ))),
    }
}

/// Ollama's think rule: on by default for thinking models, 400 when asked of others.
pub(super) fn think(
    model: &Model,
    requested_as: &str,
    think: Option<bool>,
    features: Features,
) -> Result<bool, ApiError> {
    if !features.think {
        return Ok(false);
    }
    if model.has("thinking") {
        return Ok(think.unwrap_or(true));
    }
    if think == Some(true) {
        return Err(ApiError::bad_request(format!(
            "{} does not support thinking",
            go_quote(requested_as)
        )));
    }
    Ok(false)
}

/// Ollama's `CheckCapabilities`: completion first (with the friendly message), then the rest.
pub(super) fn check_capabilities(
    model: &Model,
    requested_as: &str,
    verb: &str,
    needs: &[&str],
) -> Result<(), ApiError> {
    if !model.has("completion") {
        return Err(ApiError::bad_request(format!(
            "{} does not support {verb}",
            go_quote(requested_as)
        )));
    }
    match needs.iter().find(|cap| !model.has(cap)) {
        Some(cap) => Err(ApiError::bad_request(format!(
            "{} does not support {cap}",
            model.name
        ))),
        None => Ok(()),
    }
}

/// The context a request runs with: `num_ctx` or the default, capped at the trained length.
pub(super) fn context_length(model: &Model, options: &Options, features: Features) -> u64 {
    let wanted = options
        .num_ctx
        .filter(|n| *n > 0)
        .map_or(features.default_num_ctx, |n| n as u64);
    wanted.min(model.trained_context())
}

/// Model parameters, then request options.
pub(super) fn options(
    model: &Model,
    request: &serde_json::Map<String, Value>,
) -> Result<Options, ApiError> {
    Options::default()
        .apply(&model.parts.params)?
        .apply(request)
}

/// One request, ready to run.
#[derive(Debug)]
pub(super) struct Turn {
    pub(super) shape: Shape,
    /// The model name as the request wrote it; responses echo it.
    pub(super) requested_as: String,
    pub(super) model: Arc<Model>,
    /// The text the output is derived from.
    pub(super) input: String,
    pub(super) topic: Vec<String>,
    pub(super) prompt_tokens: usize,
    pub(super) think: bool,
    /// Before v0.9 thinking models wrote `<think>…</think>` into the content.
    pub(super) think_inline: bool,
    pub(super) format: Format,
    /// For chat with tools: the tool to call.
    pub(super) tool: Option<Value>,
    pub(super) options: Options,
    /// Generate outside raw mode: the earlier `context`, to which this turn's tokens are added.
    pub(super) context: Option<Vec<i64>>,
    pub(super) stream: bool,
    pub(super) started: Instant,
    pub(super) features: Features,
    /// The prompt as the prompt cache sees it (generate: token ids as in `context`; chat: the
    /// pieces of every message).
    pub(super) cache_tokens: Vec<i64>,
}

/// A streamed chunk: some thinking, some content or a whole tool call, and the tokens it took.
#[derive(Clone, Debug, Default)]
struct Step {
    thinking: String,
    content: String,
    tool_calls: Vec<ToolCall>,
    tokens: u32,
}

/// A tool call as Ollama writes it: `arguments` is an object.
#[derive(Clone, Debug, Serialize)]
struct ToolCall {
    id: String,
    function: ToolFunction,
}

#[derive(Clone, Debug, Serialize)]
struct ToolFunction {
    index: usize,
    name: String,
    arguments: Value,
}

/// The metrics of a final chunk, each omitted when zero.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(super) struct Metrics {
    #[serde(skip_serializing_if = "is_zero")]
    total_duration: u64,
    #[serde(skip_serializing_if = "is_zero")]
    load_duration: u64,
    #[serde(skip_serializing_if = "is_zero")]
    prompt_eval_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    prompt_eval_duration: u64,
    #[serde(skip_serializing_if = "is_zero")]
    eval_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    eval_duration: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct GenerateChunk<'a> {
    model: &'a str,
    created_at: String,
    response: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    thinking: &'a str,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    done_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a [i64]>,
    #[serde(flatten)]
    metrics: Metrics,
}

#[derive(Serialize)]
struct ChatChunk<'a> {
    model: &'a str,
    created_at: String,
    message: Message<'a>,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    done_reason: Option<&'a str>,
    #[serde(flatten)]
    metrics: Metrics,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    thinking: &'a str,
    #[serde(skip_serializing_if = "<[ToolCall]>::is_empty")]
    tool_calls: &'a [ToolCall],
}

/// How a response ends.
struct Done<'a> {
    reason: &'a str,
    metrics: Metrics,
    context: Option<&'a [i64]>,
}

fn chunk(
    shape: Shape,
    model: &str,
    step: &Step,
    done: Option<Done<'_>>,
    features: Features,
) -> Vec<u8> {
    let created_at = go_time(&Utc::now());
    let done_reason = done
        .as_ref()
        .map(|d| d.reason)
        .filter(|_| features.done_reason);
    let metrics = done.as_ref().map(|d| d.metrics).unwrap_or_default();
    match shape {
        Shape::Generate => go_json(&GenerateChunk {
            model,
            created_at,
            response: &step.content,
            thinking: &step.thinking,
            done: done.is_some(),
            done_reason,
            context: done.and_then(|d| d.context),
            metrics,
        }),
        Shape::Chat => go_json(&ChatChunk {
            model,
            created_at,
            message: Message {
                role: "assistant",
                content: &step.content,
                thinking: &step.thinking,
                tool_calls: &step.tool_calls,
            },
            done: done.is_some(),
            done_reason,
            metrics,
        }),
    }
}

/// The single object of a load (`done_reason: "load"`) or unload (`"unload"`) request.
pub(super) fn single(
    shape: Shape,
    requested_as: &str,
    reason: &str,
    features: Features,
) -> Response {
    let done = Done {
        reason,
        metrics: Metrics::default(),
        context: None,
    };
    json_bytes(
        StatusCode::OK,
        chunk(shape, requested_as, &Step::default(), Some(done), features),
    )
}

/// The token plan: thinking, then the answer (text, JSON or a tool call), cut by `num_predict`
/// (`done_reason: "length"`) or a stop sequence.
fn plan(turn: &Turn) -> (Vec<Step>, &'static str) {
    let mut rng = Rng::seeded(&[
        &turn.model.digest,
        &turn.input,
        &format!("{:?}{}{:?}", turn.format, turn.think, turn.options.seed),
    ]);
    let budget = turn
        .options
        .num_predict
        .filter(|n| *n > 0)
        .map(|n| n as u32);
    let mut reasoning = if turn.think || turn.think_inline {
        text::thinking(&mut rng, &turn.topic)
    } else {
        String::new()
    };
    let mut answer = match (&turn.tool, &turn.format) {
        (Some(_), _) => String::new(),
        (None, Format::Text) => text::answer(&mut rng, &turn.topic),
        (None, Format::Json) => text::json_for(None, "", &mut rng, &turn.topic, 0).to_string(),
        (None, Format::Schema(schema)) => {
            text::json_for(Some(schema), "", &mut rng, &turn.topic, 0).to_string()
        }
    };
    if turn.think_inline {
        answer = format!("<think>\n{reasoning}\n</think>\n\n{answer}");
        reasoning.clear();
    }
    let mut steps = Vec::new();
    let mut used = 0u32;
    let fits = |used: u32, cost: u32| budget.is_none_or(|b| used + cost <= b);
    for piece in text::split_tokens(&reasoning) {
        if !fits(used, 1) {
            return (steps, "length");
        }
        used += 1;
        steps.push(Step {
            thinking: piece.to_owned(),
            tokens: 1,
            ..Step::default()
        });
    }
    if let Some(tool) = &turn.tool {
        let call = tool_call(tool, &mut rng, &turn.topic);
        let cost = text::count_tokens(
            &json!({"name": call.function.name, "arguments": call.function.arguments}).to_string(),
        ) as u32;
        if !fits(used, cost) {
            return (steps, "length");
        }
        steps.push(Step {
            tool_calls: vec![call],
            tokens: cost,
            ..Step::default()
        });
        return (steps, "stop");
    }
    let stops = turn.options.stop.clone().unwrap_or_default();
    let mut written = String::new();
    for piece in text::split_tokens(&answer) {
        if !fits(used, 1) {
            return (steps, "length");
        }
        used += 1;
        written.push_str(piece);
        if let Some(at) = stops
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| written.find(s.as_str()))
            .min()
        {
            let kept = at.saturating_sub(written.len() - piece.len());
            if kept > 0 {
                steps.push(Step {
                    content: piece[..kept].to_owned(),
                    tokens: 1,
                    ..Step::default()
                });
            }
            return (steps, "stop");
        }
        steps.push(Step {
            content: piece.to_owned(),
            tokens: 1,
            ..Step::default()
        });
    }
    (steps, "stop")
}

/// A call of `tool` (an OpenAI-style definition) with arguments that fit its parameter schema.
fn tool_call(tool: &Value, rng: &mut Rng, topic: &[String]) -> ToolCall {
    let function = tool.get("function").unwrap_or(tool);
    let name = function
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("tool")
        .to_owned();
    let arguments = match function.get("parameters") {
        Some(schema) => text::json_for(Some(schema), "", rng, topic, 0),
        None => json!({}),
    };
    let arguments = if arguments.is_object() {
        arguments
    } else {
        json!({})
    };
    let id: String = (0..8)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.below(36)]))
        .collect();
    ToolCall {
        id: format!("call_{id}"),
        function: ToolFunction {
            index: 0,
            name,
            arguments,
        },
    }
}

/// Nominal speed of the pretend hardware: bigger models are slower per token.
fn nanos_per_token(model: &Model) -> u64 {
    let billions = model.parts.weights.parameter_count / 1_000_000_000;
    4_000_000 + billions * 6_000_000
}

/// Runs a turn: streams NDJSON chunks (or one object with `stream:false`) and releases the
/// model when done, honouring the die/drop knobs.
pub(super) async fn respond(sim: Arc<Sim>, mut turn: Turn, mut lease: Lease) -> Response {
    let (steps, reason) = plan(&turn);
    let cached = lease.cache_prompt(std::mem::take(&mut turn.cache_tokens));
    let stream = turn.stream;
    let (sender, mut items) = mpsc::channel(16);
    tokio::spawn(produce(sim, turn, steps, reason, cached, lease, sender));
    if stream {
        return stream_response(items).await;
    }
    match items.recv().await {
        Some(Item::Line(body)) => json_bytes(StatusCode::OK, body),
        Some(Item::Fail(status, message)) => ApiError::new(status, message).into_response(),
        Some(Item::Drop) | None => aborted(),
    }
}

async fn produce(
    sim: Arc<Sim>,
    turn: Turn,
    steps: Vec<Step>,
    reason: &'static str,
    cached: usize,
    mut lease: Lease,
    out: mpsc::Sender<Item>,
) {
    let slowdown = u64::from(sim.knobs.slowdown());
    let delay = sim.knobs.token_delay();
    let (die, cut) = (sim.knobs.die_after(), sim.knobs.drop_after());
    let eval_started = Instant::now();
    let mut emitted = 0u32;
    let mut whole = Step::default();
    let mut output = String::new();
    let mut content = String::new();
    for step in steps.iter().map(Some).chain([None]) {
        let cost = step.map_or(0, |s| s.tokens);
        let over = |limit: Option<u32>| {
            limit.is_some_and(|n| emitted + cost > n || (step.is_none() && emitted >= n))
        };
        if over(die) {
            let _ = out.send(Item::Fail(500, RUNNER_DIED.to_owned())).await;
            return;
        }
        if over(cut) {
            // Let the connection flush what was sent before it is cut.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = out.send(Item::Drop).await;
            return;
        }
        let Some(step) = step else { break };
        crate::fault::wait_while_stalled(&sim.knobs.fault).await;
        if out.is_closed() {
            return;
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay * step.tokens).await;
        }
        emitted += step.tokens;
        output.push_str(&step.thinking);
        output.push_str(&step.content);
        content.push_str(&step.content);
        if turn.stream {
            let line = chunk(turn.shape, &turn.requested_as, step, None, turn.features);
            if out.send(Item::Line(line)).await.is_err() {
                return;
            }
        } else {
            whole.thinking.push_str(&step.thinking);
            whole.content.push_str(&step.content);
            whole.tool_calls.extend(step.tool_calls.iter().cloned());
        }
    }
    let per_token = nanos_per_token(&turn.model) * slowdown;
    let eval_duration = nanos(eval_started.elapsed()).max(u64::from(emitted) * per_token);
    let prompt_tokens = turn.prompt_tokens as u64;
    let evaluated = prompt_tokens.saturating_sub(cached as u64).max(1);
    let prompt_eval_duration = (evaluated * per_token / 8).max(1);
    let load_duration = nanos(lease.load_duration);
    let metrics = Metrics {
        total_duration: nanos(turn.started.elapsed())
            .max(load_duration + prompt_eval_duration + eval_duration),
        load_duration,
        prompt_eval_count: if turn.features.prompt_count_includes_cache {
            prompt_tokens
        } else {
            evaluated.min(prompt_tokens)
        },
        prompt_eval_duration,
        eval_count: u64::from(emitted),
        eval_duration: if emitted == 0 { 0 } else { eval_duration },
    };
    match turn.shape {
        Shape::Chat => lease.cache_answer(message_ids("assistant", &content)),
        Shape::Generate => {
            let vocab = turn.model.vocab_size();
            lease.cache_answer(
                text::split_tokens(&output)
                    .into_iter()
                    .map(|piece| text::token_id(piece, vocab)),
            );
        }
    }
    let context = turn.context.as_ref().map(|earlier| {
        let vocab = turn.model.vocab_size();
        let prompt =
            (0..turn.prompt_tokens).map(|i| text::token_id(&format!("{}#{i}", turn.input), vocab));
        let answer = text::split_tokens(&output)
            .into_iter()
            .map(|piece| text::token_id(piece, vocab));
        earlier
            .iter()
            .copied()
            .chain(prompt)
            .chain(answer)
            .collect::<Vec<i64>>()
    });
    let done = Done {
        reason,
        metrics,
        context: context.as_deref(),
    };
    let last = if turn.stream { Step::default() } else { whole };
    let _ = out
        .send(Item::Line(chunk(
            turn.shape,
            &turn.requested_as,
            &last,
            Some(done),
            turn.features,
        )))
        .await;
    drop(lease);
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Counts images as the vision encoder does (576 tokens each).
pub(super) const IMAGE_TOKENS: usize = 576;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_decoded_like_the_runner() {
        assert!(matches!(format(Some(&json!("json"))), Ok(Format::Json)));
        assert!(matches!(format(Some(&json!(""))), Ok(Format::Text)));
        assert!(matches!(
            format(Some(&json!({"type":"object"}))),
            Ok(Format::Schema(_))
        ));
        let err = format(Some(&json!("xml"))).expect_err("should fail");
        assert_eq!(
            err.message,
            r#"invalid format: "\"xml\""; expected "json" or a valid JSON Schema object"#
        );
    }
}
