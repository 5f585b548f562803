//! `POST /v1/embeddings` → `/api/embed`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ollama_dash_core::Origin;
use ollama_dash_core::ollama::types::EmbedRequest;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

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
    let data = answer
        .embeddings
        .iter()
        .enumerate()
        .map(|(index, v)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
                Vector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                Vector::Floats(v)
            };
            Embedding {
                object: "embedding",
                embedding,
                index,
            }
        })
        .collect();
    let tokens = answer.prompt_eval_count.unwrap_or(0);
    let response = Json(EmbeddingList {
        object: "list",
        data,
        model: &req.model,
        usage: EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    })
    .into_response();
    with_node(response, &placement)
}

/// The answer: one embedding per input.
#[derive(Debug, Serialize)]
struct EmbeddingList<'a> {
    object: &'static str,
    data: Vec<Embedding<'a>>,
    model: &'a str,
    usage: EmbeddingUsage,
}

/// One input's embedding.
#[derive(Debug, Serialize)]
struct Embedding<'a> {
    object: &'static str,
    embedding: Vector<'a>,
    index: usize,
}

/// An embedding as numbers, or (`encoding_format: base64`) its little-endian f32 bytes.
#[derive(Debug)]
enum Vector<'a> {
    Floats(&'a [f32]),
    Base64(String),
}

impl Serialize for Vector<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            // Each widened to f64, as the answer always wrote them (0.1f32 is
            // 0.10000000149011612), not f32's shortest form.
            Self::Floats(v) => serializer.collect_seq(v.iter().map(|&f| f64::from(f))),
            Self::Base64(text) => serializer.serialize_str(text),
        }
    }
}

/// `usage`: the input's tokens (an embedding generates none).
#[derive(Debug, Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
    total_tokens: u64,
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn floats_are_written_widened_to_f64_as_before() {
        let v = [0.1f32, -2.5, f32::NAN];
        let typed = serde_json::to_string(&Vector::Floats(&v)).unwrap();
        let as_value = serde_json::to_string(&Value::from(v.to_vec())).unwrap();
        assert_eq!(typed, as_value);
        assert_eq!(typed, "[0.10000000149011612,-2.5,null]");
    }
}
