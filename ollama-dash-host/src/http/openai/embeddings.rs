//! `POST /v1/embeddings` → `/api/embed`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ollama_dash_core::Origin;
use ollama_dash_core::ollama::types::EmbedRequest;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{invalid, upstream_error};
use crate::http::AppState;
use crate::http::caller::Caller;
use crate::http::json::JsonBody;
use crate::http::nodes::with_node;

const ENDPOINT: &str = "/v1/embeddings";

/// `POST /v1/embeddings` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct EmbeddingsRequest {
    model: String,
    input: Value,
    #[serde(default)]
    dimensions: Option<u32>,
    #[serde(default)]
    encoding_format: Option<String>,
}

/// `POST /v1/embeddings`.
#[utoipa::path(post, path = "/v1/embeddings", tag = "openai", request_body = EmbeddingsRequest, responses((status = 200, description = "`object` (`list`), `data` (one `embedding` per input), `model`, `usage`.", body = crate::http::openapi::JsonObject)))]
pub(super) async fn embeddings(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<EmbeddingsRequest>,
) -> Response {
    let input = req.input.to_string();
    let checked = match check(&req) {
        Ok(checked) => checked,
        Err(e) => {
            let start = caller.trace(ENDPOINT, &req.model, false, input);
            let trace = state.dashboard.start_trace(start);
            trace.fail(e.status().as_u16(), e.message());
            return e.into_response();
        }
    };
    let base64 = req.encoding_format.as_deref() == Some("base64");
    let upstream = EmbedRequest {
        model: req.model.clone(),
        input: checked,
        dimensions: req.dimensions,
        ..EmbedRequest::default()
    };
    let origin = Origin {
        input: Some(input),
        ..caller.origin(ENDPOINT)
    };
    let generation = state.dashboard.embed(origin, upstream);
    let placement = generation.placement();
    let answer = match generation.answer().await {
        Ok(answer) => answer,
        Err(e) => return with_node(upstream_error(e).into_response(), &placement),
    };
    let data: Vec<Value> = answer
        .embeddings
        .iter()
        .enumerate()
        .map(|(index, v)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
                Value::from(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                Value::from(v.clone())
            };
            json!({ "object": "embedding", "embedding": embedding, "index": index })
        })
        .collect();
    let tokens = answer.prompt_eval_count.unwrap_or(0);
    let response = Json(json!({
        "object": "list",
        "data": data,
        "model": req.model,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    }))
    .into_response();
    with_node(response, &placement)
}

fn check(req: &EmbeddingsRequest) -> Result<Value, crate::http::ApiError> {
    if req.model.trim().is_empty() {
        return Err(invalid("model", "model is required"));
    }
    if !matches!(
        req.encoding_format.as_deref(),
        None | Some("float" | "base64")
    ) {
        return Err(invalid(
            "encoding_format",
            "encoding_format must be float or base64",
        ));
    }
    match &req.input {
        Value::String(s) => Ok(Value::from(vec![s.clone()])),
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_string) => {
            Ok(req.input.clone())
        }
        _ => Err(invalid(
            "input",
            "input must be a string or a non-empty array of strings",
        )),
    }
}
