//! `POST /v1/embeddings` → `/api/embed`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ollama_dash_core::ollama::types::{EmbedRequest, Metrics};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{invalid, upstream_error};
use crate::http::AppState;
use crate::http::caller::Caller;
use crate::http::json::JsonBody;

/// `POST /v1/embeddings` body.
#[derive(Debug, Deserialize)]
pub(super) struct EmbeddingsRequest {
    model: String,
    input: Value,
    #[serde(default)]
    dimensions: Option<u32>,
    #[serde(default)]
    encoding_format: Option<String>,
}

/// `POST /v1/embeddings`.
pub(super) async fn embeddings(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<EmbeddingsRequest>,
) -> Response {
    let start = caller.trace("/v1/embeddings", &req.model, false, req.input.to_string());
    let mut trace = state.dashboard.start_trace(start);
    let checked = check(&req);
    let input = match checked {
        Ok(input) => input,
        Err(e) => {
            trace.fail(e.status().as_u16(), e.message());
            return e.into_response();
        }
    };
    let base64 = req.encoding_format.as_deref() == Some("base64");
    let upstream = EmbedRequest {
        model: req.model.clone(),
        input,
        dimensions: req.dimensions,
        ..EmbedRequest::default()
    };
    match state.dashboard.ollama().embed(&upstream).await {
        Ok(answer) => {
            let count = answer.embeddings.len();
            let dims = answer.embeddings.first().map_or(0, Vec::len);
            trace.push_output(&format!("{count} embeddings of {dims} dimensions"));
            trace.set_metrics(&Metrics {
                prompt_eval_count: answer.prompt_eval_count,
                load_duration: answer.load_duration,
                total_duration: answer.total_duration,
                ..Metrics::default()
            });
            crate::http::sse::committed(trace.succeed_committed(200)).await;
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
            Json(json!({
                "object": "list",
                "data": data,
                "model": req.model,
                "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
            }))
            .into_response()
        }
        Err(e) => super::fail(trace, upstream_error(e)).await,
    }
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
