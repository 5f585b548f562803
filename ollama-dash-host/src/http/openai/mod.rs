//! The OpenAI-compatible API under `/v1`, translated to Ollama's native API.
//!
//! Requests are mapped field by field (see `request`), answers come back in OpenAI's shapes
//! with `usage` from Ollama's own counts, and every generation is traced.

mod chat;
mod completions;
mod embeddings;
mod models;
mod prem;
mod request;
mod responses;
mod stream;

use std::time::Duration;

pub(crate) use prem::alias;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use ollama_dash_core::Error;
use serde::Serialize;

use super::sse::fail;

use super::AppState;
use super::error::ApiError;

/// The `/v1` routes (traces are mounted by `http::traces`).
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat::completions))
        .route("/v1/completions", post(completions::completions))
        .route("/v1/responses", post(responses::create))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/v1/models", get(models::list))
        .route("/v1/models/{*id}", get(models::one))
        .merge(prem::router())
}

/// The OpenAPI paths of these routes (merged into `/openapi.json`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    chat::completions,
    completions::completions,
    responses::create,
    embeddings::embeddings,
    models::list,
    models::one,
    prem::running,
    prem::up,
    prem::down
))]
pub(super) struct Doc;

/// `chatcmpl-…`, `cmpl-…`: the trace id makes the answer easy to find in `/v1/traces`.
fn completion_id(prefix: &str, trace_id: &str) -> String {
    format!("{prefix}-{}", trace_id.replace('-', ""))
}

/// Unix seconds now.
fn created() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The keep-alive interval of streams.
fn keepalive(state: &AppState) -> Duration {
    Duration::from_millis(state.dashboard.config().stream_keepalive_ms)
}

/// An upstream error in OpenAI's terms: a missing model is `model_not_found` on `model`.
fn upstream_error(e: Error) -> ApiError {
    let not_found = e.is_not_found();
    let error = ApiError::from(e);
    if not_found {
        error.with_code("model_not_found").with_param("model")
    } else {
        error
    }
}

/// A 400 naming the field at fault.
fn invalid(param: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message).with_param(param)
}

/// `usage` of a chat or text completion.
#[derive(Debug, Clone, Copy, Serialize)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

/// `usage` from Ollama's counts; absent counts are zero (Ollama omits zeros).
fn usage(prompt: Option<u64>, completion: Option<u64>) -> Usage {
    let (p, c) = (prompt.unwrap_or(0), completion.unwrap_or(0));
    Usage {
        prompt_tokens: p,
        completion_tokens: c,
        total_tokens: p + c,
    }
}

/// A `chat.completion` or `text_completion`, whole or one streamed chunk: the envelope
/// around `choices` (an array: one choice, or none in the last chunk's `usage`).
#[derive(Debug, Serialize)]
struct Completion<'a, C> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: C,
    /// Always on a whole answer; on a chunk only the last (`stream_options.include_usage`).
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

impl<'a, C: Serialize> Completion<'a, C> {
    /// A whole answer, created now.
    fn whole(id: &'a str, object: &'static str, model: &'a str, choices: C, usage: Usage) -> Self {
        Self {
            id,
            object,
            created: created(),
            model,
            system_fingerprint: "fp_ollama",
            choices,
            usage: Some(usage),
        }
    }
}
