//! `GET /v1/models`, `GET /v1/models/{id}`: Ollama's installed models as OpenAI model objects.

use crate::http::json::Path;
use axum::Json;
use axum::extract::State;
use ollama_dash_core::InstalledModel;
use serde_json::{Value, json};

use super::upstream_error;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};

fn model(m: &InstalledModel) -> Value {
    // `owned_by` is the namespace: `library` unless the name says otherwise.
    let path = m.name.split(':').next().unwrap_or_default();
    let parts: Vec<&str> = path.split('/').collect();
    let owned_by = match parts.as_slice() {
        [_, ns, _] | [ns, _] => *ns,
        _ => "library",
    };
    json!({
        "id": m.name,
        "object": "model",
        "created": m.modified_at.map_or(0, |t| t.timestamp()),
        "owned_by": owned_by,
    })
}

/// `GET /v1/models`.
#[utoipa::path(get, path = "/v1/models", tag = "openai", responses((status = 200, description = "`object` (`list`) and `data`: the installed models as OpenAI `model` objects.", body = crate::http::openapi::JsonObject)))]
pub(super) async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let models = installed(&state)?;
    let data: Vec<Value> = models.iter().map(model).collect();
    Ok(Json(json!({ "object": "list", "data": data })))
}

/// `GET /v1/models/{id}`: `id` may contain `/` and `:`; `llama3.2` finds `llama3.2:latest`.
#[utoipa::path(get, path = "/v1/models/{id}", tag = "openai", params(("id" = String, Path, description = "The model (may hold `/` and `:`)")), responses((status = 200, description = "The model as an OpenAI `model` object (`id`, `object`, `created`, `owned_by`).", body = crate::http::openapi::JsonObject)))]
pub(super) async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let models = installed(&state)?;
    let wanted = id.to_ascii_lowercase();
    let latest = format!("{wanted}:latest");
    models
        .iter()
        .find(|m| {
            let name = m.name.to_ascii_lowercase();
            name == wanted || name == latest
        })
        .map(|m| Json(model(m)))
        .ok_or_else(|| {
            ApiError::not_found(format!("model {id:?} not found"))
                .with_code("model_not_found")
                .with_param("model")
        })
}

/// Installed models from the live cache (never waits on Ollama); an error only if Ollama was
/// never reached.
fn installed(state: &AppState) -> ApiResult<std::sync::Arc<Vec<InstalledModel>>> {
    let cached = state.dashboard.list_models();
    match (cached.value, cached.error) {
        (Some(models), _) => Ok(models),
        (None, Some(e)) => Err(upstream_error(
            e.to_error(state.dashboard.ollama().base_url()),
        )),
        (None, None) => Err(upstream_error(ollama_dash_core::Error::Unavailable(
            "the model list is not loaded yet; try again in a moment".to_owned(),
        ))),
    }
}
