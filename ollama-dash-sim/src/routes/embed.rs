//! `POST /api/embed` and the legacy `POST /api/embeddings` (digest §3).

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};

use super::{Shared, completion, not_found};
use crate::keep_alive::KeepAlive;
use crate::names::Name;
use crate::text::{self, Rng};
use crate::wire::{ApiError, ApiResult, Req, json_response};

#[derive(Serialize)]
struct EmbedResponse<'a> {
    model: &'a str,
    embeddings: Vec<Vec<f32>>,
    #[serde(skip_serializing_if = "is_zero")]
    total_duration: u64,
    #[serde(skip_serializing_if = "is_zero")]
    load_duration: u64,
    #[serde(skip_serializing_if = "is_zero")]
    prompt_eval_count: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn missing(requested_as: &str) -> ApiError {
    ApiError::not_found(format!(
        "model \"{requested_as}\" not found, try pulling it first"
    ))
}

pub(super) async fn embed(State(sim): Shared, body: Bytes) -> ApiResult {
    let started = Instant::now();
    let features = sim.knobs.features();
    if !features.embed {
        return Ok(not_found().await.into_response());
    }
    let req = Req::parse(&body, "EmbedRequest")?;
    let requested_as = req.string("model")?;
    let truncate = req.flag("truncate")?.unwrap_or(true);
    let dimensions = if features.dimensions {
        req.int("dimensions")?.unwrap_or(0)
    } else {
        0
    };
    let keep_alive = req.keep_alive()?;
    let request_options = req.object("options", "map[string]interface {}")?;
    let name =
        Name::parse(&requested_as).ok_or_else(|| ApiError::bad_request("invalid model name"))?;
    let inputs: Vec<String> = match req.get("input") {
        None => Vec::new(),
        Some(Value::String(s)) if s.is_empty() => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::bad_request("invalid input type"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::bad_request("invalid input type")),
    };
    let model = sim.find(&name).ok_or_else(|| missing(&requested_as))?;
    let options = completion::options(&model, &request_options)?;
    let limit = completion::context_length(&model, &options, features) as usize;
    let lease = sim
        .acquire(
            &model,
            limit as u64,
            keep_alive.unwrap_or(KeepAlive::DEFAULT),
        )
        .await?;
    if inputs.is_empty() {
        return Ok(json_response(
            StatusCode::OK,
            &EmbedResponse {
                model: &requested_as,
                embeddings: Vec::new(),
                total_duration: 0,
                load_duration: 0,
                prompt_eval_count: 0,
            },
        ));
    }
    let mut embeddings = Vec::with_capacity(inputs.len());
    let mut tokens = 0;
    for input in &inputs {
        let pieces = text::split_tokens(input);
        if pieces.len() > limit && !truncate {
            return Err(ApiError::bad_request(
                "the input length exceeds the context length",
            ));
        }
        let kept: String = pieces.iter().take(limit).copied().collect();
        tokens += pieces.len().min(limit) as u64;
        let mut vector = text::embedding(&model.digest, &kept, model.embedding_length());
        if dimensions > 0 && (dimensions as usize) < vector.len() {
            vector.truncate(dimensions as usize);
            text::normalise(&mut vector);
        }
        embeddings.push(vector);
    }
    let load_duration = lease.load_duration.as_nanos() as u64;
    let total_duration =
        (started.elapsed().as_nanos() as u64).max(load_duration + tokens * 250_000);
    let response = EmbedResponse {
        model: &requested_as,
        embeddings,
        total_duration,
        load_duration,
        prompt_eval_count: tokens,
    };
    Ok(json_response(StatusCode::OK, &response))
}

pub(super) async fn embeddings(State(sim): Shared, body: Bytes) -> ApiResult {
    let features = sim.knobs.features();
    let req = Req::parse(&body, "EmbeddingRequest")?;
    let requested_as = req.string("model")?;
    let prompt = req.string("prompt")?;
    let keep_alive = req.keep_alive()?;
    let request_options = req.object("options", "map[string]interface {}")?;
    let name =
        Name::parse(&requested_as).ok_or_else(|| ApiError::bad_request("invalid model name"))?;
    let model = sim.find(&name).ok_or_else(|| missing(&requested_as))?;
    let options = completion::options(&model, &request_options)?;
    let limit = completion::context_length(&model, &options, features);
    let _lease = sim
        .acquire(&model, limit, keep_alive.unwrap_or(KeepAlive::DEFAULT))
        .await?;
    if prompt.is_empty() {
        return Ok(json_response(StatusCode::OK, &json!({ "embedding": [] })));
    }
    let scale = 4.0 + Rng::seeded(&["norm", &model.digest, &prompt]).below(1600) as f32 / 100.0;
    let vector: Vec<f64> = text::embedding(&model.digest, &prompt, model.embedding_length())
        .into_iter()
        .map(|x| f64::from(x * scale))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "embedding": vector }),
    ))
}
