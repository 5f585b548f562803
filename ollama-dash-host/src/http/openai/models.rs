//! `GET /v1/models`, `GET /v1/models/{id}`: Ollama's installed models as OpenAI model objects.

use crate::http::json::Path;
use axum::Json;
use axum::extract::State;
use ollama_dash_core::InstalledModel;
use serde::Serialize;

use super::upstream_error;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};

/// An installed model as an OpenAI `model` object.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct ModelObject {
    /// The model's name.
    id: String,
    /// Always `model`.
    object: &'static str,
    /// Unix seconds of its last change (0 when unknown).
    created: i64,
    /// The namespace: `library` unless the name says otherwise.
    owned_by: String,
}

/// The answer of `GET /v1/models`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct ModelList {
    /// Always `list`.
    object: &'static str,
    /// The installed models.
    data: Vec<ModelObject>,
}

fn model(m: &InstalledModel) -> ModelObject {
    // `owned_by` is the namespace: `library` unless the name says otherwise.
    let path = m.name.split(':').next().unwrap_or_default();
    let parts: Vec<&str> = path.split('/').collect();
    let owned_by = match parts.as_slice() {
        [_, ns, _] | [ns, _] => *ns,
        _ => "library",
    };
    ModelObject {
        id: m.name.clone(),
        object: "model",
        created: m.modified_at.map_or(0, |t| t.timestamp()),
        owned_by: owned_by.to_owned(),
    }
}

/// `GET /v1/models`.
#[utoipa::path(get, path = "/v1/models", tag = "openai", responses((status = 200, description = "`object` (`list`) and `data`: the installed models as OpenAI `model` objects.", body = ModelList)))]
pub(super) async fn list(State(state): State<AppState>) -> ApiResult<Json<ModelList>> {
    let models = installed(&state)?;
    let data = models.iter().map(model).collect();
    Ok(Json(ModelList {
        object: "list",
        data,
    }))
}

/// `GET /v1/models/{id}`: `id` may contain `/` and `:`; `llama3.2` finds `llama3.2:latest`.
#[utoipa::path(get, path = "/v1/models/{id}", tag = "openai", params(("id" = String, Path, description = "The model (may hold `/` and `:`)")), responses((status = 200, description = "The model as an OpenAI `model` object (`id`, `object`, `created`, `owned_by`).", body = ModelObject)))]
pub(super) async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ModelObject>> {
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
