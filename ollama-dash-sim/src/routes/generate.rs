//! `POST /api/generate` (digest §1), checks in Ollama's order.

use std::time::Instant;

use axum::extract::State;
use bytes::Bytes;

use super::Shared;
use super::completion::{self, Common, Shape, Turn};
use crate::text;
use crate::wire::{ApiError, ApiResult, Req};

pub(super) async fn generate(State(sim): Shared, body: Bytes) -> ApiResult {
    let started = Instant::now();
    let features = sim.knobs.features();
    let req = Req::parse(&body, "GenerateRequest")?;
    let requested_as = req.string("model")?;
    let prompt = req.string("prompt")?;
    let suffix = req.string("suffix")?;
    let system = req.string("system")?;
    let template = req.string("template")?;
    let context = ints(&req, "context")?;
    let raw = req.flag("raw")?.unwrap_or(false);
    let images = req.images()?;
    let common = Common::parse(&req, features)?;

    let (name, model) = completion::find(&sim, &requested_as)?;
    if prompt.is_empty() && common.unloads() {
        sim.unload(&name);
        return Ok(completion::single(
            Shape::Generate,
            &requested_as,
            "unload",
            features,
        ));
    }
    if raw && !(template.is_empty() && system.is_empty() && context.is_empty()) {
        return Err(ApiError::bad_request(
            "raw mode does not support template, system, or context",
        ));
    }
    let think = completion::think(&model, &requested_as, common.think, features)?;
    let needs: Vec<&str> = [
        (!suffix.is_empty(), "insert"),
        (!images.is_empty(), "vision"),
    ]
    .into_iter()
    .filter_map(|(needed, cap)| needed.then_some(cap))
    .collect();
    completion::check_capabilities(&model, &requested_as, "generate", &needs)?;
    let options = completion::options(&model, &common.options)?;
    let lease = completion::schedule(&sim, &model, &options, common.keep_alive, features).await?;
    if prompt.is_empty() {
        return Ok(completion::single(
            Shape::Generate,
            &requested_as,
            "load",
            features,
        ));
    }
    let format = completion::format(req.get("format"))?;

    let system = if system.is_empty() {
        model.parts.system.clone()
    } else {
        system
    };
    let templated = if raw {
        0
    } else {
        text::count_tokens(&system) + text::count_tokens(&suffix) + 8 + context.len()
    };
    let prompt_tokens =
        text::count_tokens(&prompt) + templated + images.len() * completion::IMAGE_TOKENS;
    let input = format!("{system}\n{prompt}\n{suffix}");
    let vocab = model.vocab_size();
    // As `context` will hold them: the earlier context, then this prompt's ids.
    let cache_tokens = context
        .iter()
        .copied()
        .filter(|_| !raw)
        .chain((0..prompt_tokens).map(|i| text::token_id(&format!("{input}#{i}"), vocab)))
        .collect();
    let turn = Turn {
        shape: Shape::Generate,
        prompt_tokens,
        input,
        cache_tokens,
        topic: text::topic_words(&prompt),
        think,
        think_inline: !features.think && model.has("thinking"),
        format,
        tool: None,
        options,
        context: (!raw).then_some(context),
        stream: common.stream,
        started,
        features,
        requested_as,
        model,
    };
    Ok(completion::respond(sim, turn, lease).await)
}

/// `context`: an array of integers.
fn ints(req: &Req, key: &str) -> Result<Vec<i64>, ApiError> {
    let items = req.array(key, "[]int")?;
    items
        .iter()
        .map(|value| {
            value
                .as_i64()
                .ok_or_else(|| req.type_error(key, value, "int"))
        })
        .collect()
}
