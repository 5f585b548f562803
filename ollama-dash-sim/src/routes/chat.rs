//! `POST /api/chat` (digest §2), checks in Ollama's order.

use std::time::Instant;

use axum::extract::State;
use bytes::Bytes;
use serde_json::Value;

use super::Shared;
use super::completion::{self, Common, Shape, Turn};
use crate::text;
use crate::wire::{ApiError, ApiResult, Req};

/// A decoded chat message.
#[derive(Debug)]
struct Message {
    role: String,
    content: String,
    images: usize,
}

impl Message {
    fn parse(value: Value) -> Result<Message, ApiError> {
        let req = Req::from_value(value, "ChatRequest.messages")?;
        req.string("thinking")?;
        req.string("tool_name")?;
        req.array("tool_calls", "[]api.ToolCall")?;
        Ok(Message {
            role: req.string("role")?.to_lowercase(),
            content: req.string("content")?,
            images: req.images()?.len(),
        })
    }
}

pub(super) async fn chat(State(sim): Shared, body: Bytes) -> ApiResult {
    let started = Instant::now();
    let features = sim.knobs.features();
    let req = Req::parse(&body, "ChatRequest")?;
    let requested_as = req.string("model")?;
    let messages = req
        .array("messages", "[]api.Message")?
        .into_iter()
        .map(Message::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let tools = req.array("tools", "api.Tools")?;
    if let Some(bad) = tools.iter().find(|tool| !tool.is_object()) {
        return Err(req.type_error("tools", bad, "api.Tool"));
    }
    let common = Common::parse(&req, features)?;

    let (name, model) = completion::find(&sim, &requested_as)?;
    if messages.is_empty() && common.unloads() {
        sim.unload(&name);
        return Ok(completion::single(
            Shape::Chat,
            &requested_as,
            "unload",
            features,
        ));
    }
    let think = completion::think(&model, &requested_as, common.think, features)?;
    let images: usize = messages.iter().map(|m| m.images).sum();
    let needs: Vec<&str> = [(!tools.is_empty(), "tools"), (images > 0, "vision")]
        .into_iter()
        .filter_map(|(needed, cap)| needed.then_some(cap))
        .collect();
    completion::check_capabilities(&model, &requested_as, "chat", &needs)?;
    let options = completion::options(&model, &common.options)?;
    let lease = completion::schedule(&sim, &model, &options, common.keep_alive, features).await?;
    if messages.is_empty() {
        return Ok(completion::single(
            Shape::Chat,
            &requested_as,
            "load",
            features,
        ));
    }
    let format = completion::format(req.get("format"))?;

    let system = match messages.first() {
        Some(first) if first.role != "system" => model.parts.system.clone(),
        _ => String::new(),
    };
    let tools_text = if tools.is_empty() {
        String::new()
    } else {
        Value::from(tools.clone()).to_string()
    };
    let prompt_tokens = 1
        + text::count_tokens(&system)
        + text::count_tokens(&tools_text)
        + messages
            .iter()
            .map(|m| text::count_tokens(&m.content) + 4)
            .sum::<usize>()
        + images * completion::IMAGE_TOKENS;
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map_or("", |m| m.content.as_str());
    let wants_tool = messages.last().is_some_and(|m| m.role != "tool");
    let input: Vec<String> = messages
        .iter()
        .map(|m| format!("{}: {}", m.role, m.content))
        .collect();
    let cache_tokens = text::split_tokens(&system)
        .into_iter()
        .chain(text::split_tokens(&tools_text))
        .map(completion::piece_id)
        .chain(
            messages
                .iter()
                .flat_map(|m| completion::message_ids(&m.role, &m.content)),
        )
        .collect();
    let turn = Turn {
        shape: Shape::Chat,
        prompt_tokens,
        cache_tokens,
        input: format!("{system}\n{tools_text}\n{}", input.join("\n")),
        topic: text::topic_words(last_user),
        think,
        think_inline: !features.think && model.has("thinking"),
        format,
        tool: tools.first().filter(|_| wants_tool).cloned(),
        options,
        context: None,
        stream: common.stream,
        started,
        features,
        requested_as,
        model,
    };
    Ok(completion::respond(sim, turn, lease).await)
}
