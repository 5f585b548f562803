//! What the Prem SDKs need besides the OpenAI routes.
//!
//! - Python `premai` calls `/api/v1/…`: [`alias`] maps `/api/v1/chat/completions`,
//!   `/api/v1/models` (and any other `/api/v1/x`) onto `/v1/x` before routing, so the role table
//!   and every handler see one path; its model calls that `/v1` lacks are served here:
//!   `GET /api/v1/models/running?model=` (`{"status": bool}`), `POST /api/v1/models/up` and
//!   `/down` (`{"message"}`).
//! - npm `@premai/prem-sdk` asks for `/v1/models/`, `/v1/models/{id}/`, `/v1/traces/`: [`alias`]
//!   drops one trailing slash under `/v1/` and `/api/`. Its streaming reads `event: completion`
//!   frames and ends at `event: done` (see `stream`), and it sends `system_prompt` (see
//!   `request`).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::routing::{get, post};
use axum::{Router, response::IntoResponse};
use ollama_dash_core::fleet::Targets;
use ollama_dash_core::lifecycle::same_model;
use serde::{Deserialize, Serialize};

use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::json::JsonBody;

/// Prem's model calls, under their own paths (these three are not rewritten by [`alias`]).
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(RUNNING, get(running))
        .route(UP, post(up))
        .route(DOWN, post(down))
}

const RUNNING: &str = "/api/v1/models/running";
const UP: &str = "/api/v1/models/up";
const DOWN: &str = "/api/v1/models/down";

/// The path a Prem SDK's request is served at, when it differs: `/api/v1/x` → `/v1/x` (but
/// for Prem's own model calls), and one trailing slash dropped under `/v1/` and `/api/`. The
/// query is kept. A path ending in `//` is left alone (the path guard refuses it).
pub(crate) fn alias(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    let mut new = path;
    if (new.starts_with("/v1/") || new.starts_with("/api/"))
        && new.len() > 1
        && new.ends_with('/')
        && !new.ends_with("//")
    {
        new = &new[..new.len() - 1];
    }
    let rewritten = match new.strip_prefix("/api/v1/") {
        Some(rest) if ![RUNNING, UP, DOWN].contains(&new) => format!("/v1/{rest}"),
        _ if new.len() == path.len() => return None,
        _ => new.to_owned(),
    };
    let path_and_query = match uri.query() {
        Some(query) => format!("{rewritten}?{query}"),
        None => rewritten,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    Uri::from_parts(parts).ok()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ModelQuery {
    model: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ModelBody {
    model: Option<String>,
}

fn required(model: Option<&str>) -> Result<&str, ApiError> {
    model
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("model is required").with_param("model"))
}

/// `{"status": …}`: whether the model is loaded.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Status {
    status: bool,
}

/// `{"message": …}` of a load or unload, with the load's job.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Message {
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_id: Option<String>,
}

/// `GET /api/v1/models/running?model=NAME`: asks Ollama now (not the cache), so it holds just
/// after a load.
#[utoipa::path(get, path = "/api/v1/models/running", tag = "prem", params(ModelQuery), responses((status = 200, description = "Whether the model is loaded.", body = Status)))]
async fn running(
    State(state): State<AppState>,
    Query(query): Query<ModelQuery>,
) -> Result<Json<Status>, ApiError> {
    let model = required(query.model.as_deref())?;
    let ps = state.dashboard.ollama().ps().await?;
    let status = ps
        .models
        .iter()
        .any(|m| same_model(&m.name, model) || same_model(&m.model, model));
    Ok(Json(Status { status }))
}

/// `POST /api/v1/models/up {"model"}`: starts the load job (as `POST /api/models/start`).
#[utoipa::path(post, path = "/api/v1/models/up", tag = "prem", request_body = ModelBody, responses((status = 200, description = "The load started.", body = Message)))]
async fn up(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ModelBody>,
) -> Result<impl IntoResponse, ApiError> {
    let model = required(body.model.as_deref())?;
    let jobs = state
        .dashboard
        .start_model(model, None, &Targets::Default)?;
    Ok(Json(Message {
        message: format!("Loading {model}"),
        job_id: jobs.into_iter().next().map(|job| job.id),
    }))
}

/// `POST /api/v1/models/down {"model"}`: unloads and waits until it left `/api/ps`.
#[utoipa::path(post, path = "/api/v1/models/down", tag = "prem", request_body = ModelBody, responses((status = 200, description = "Unloaded (or was not loaded).", body = Message)))]
async fn down(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ModelBody>,
) -> Result<Json<Message>, ApiError> {
    let model = required(body.model.as_deref())?;
    let outcomes = state.dashboard.stop_model(model, &Targets::Default).await?;
    let message = if outcomes.iter().any(|(_, o)| o.was_loaded) {
        format!("Unloaded {model}")
    } else {
        format!("{model} was not loaded")
    };
    Ok(Json(Message {
        message,
        job_id: None,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn aliased(uri: &str) -> Option<String> {
        alias(&uri.parse().unwrap()).map(|u| u.to_string())
    }

    #[test]
    fn maps_prem_paths_onto_the_served_ones() {
        assert_eq!(
            aliased("/api/v1/chat/completions").as_deref(),
            Some("/v1/chat/completions")
        );
        assert_eq!(aliased("/api/v1/models").as_deref(), Some("/v1/models"));
        assert_eq!(aliased("/v1/models/").as_deref(), Some("/v1/models"));
        assert_eq!(
            aliased("/v1/models/llama3.2:1b/").as_deref(),
            Some("/v1/models/llama3.2:1b")
        );
        assert_eq!(
            aliased("/v1/traces/?limit=5").as_deref(),
            Some("/v1/traces?limit=5")
        );
        assert_eq!(
            aliased("/api/v1/models/running/?model=x").as_deref(),
            Some("/api/v1/models/running?model=x")
        );
        for unchanged in [
            "/v1/models",
            "/api/v1/models/running?model=x",
            "/api/v1/models/up",
            "/",
            "/assets/",
            "/v1/models//",
            "/api/models/available",
        ] {
            assert_eq!(aliased(unchanged), None, "{unchanged}");
        }
    }
}
