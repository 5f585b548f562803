//! `/v1/models/import*`: start an import, follow it.

use crate::http::json::Path;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use ollama_dash_core::{ImportInfo, ImportRequest};
use serde::Serialize;

use super::AppState;
use super::error::ApiResult;
use super::json::JsonBody;
use super::openapi::JsonObject;

/// The import routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/models/import", post(start))
        .route("/v1/models/imports", get(list))
        .route("/v1/models/imports/{id}", get(show))
}

/// `POST /v1/models/import {upload_id, name, base?, template?, system?, parameters?, replace?}`:
/// 202 with the import record; follow it at `/v1/models/imports/{id}` or on the event stream.
#[utoipa::path(post, path = "/v1/models/import", tag = "uploads", request_body(content = JsonObject, description = "`upload_id`, `name`, and `base`, `template`, `system`, `parameters`, `replace` (optional)"), responses((status = 202, description = "The import record (`id`, `upload_id`, `name`, `state`, …).", body = JsonObject)))]
async fn start(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<ImportRequest>,
) -> ApiResult<(StatusCode, Json<ImportInfo>)> {
    let import = state.dashboard.import_model(request).await?;
    Ok((StatusCode::ACCEPTED, Json(import)))
}

/// The answer of `GET /v1/models/imports`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ImportList {
    /// Every import record, newest first.
    #[schema(value_type = Vec<Object>)]
    imports: Vec<ImportInfo>,
}

/// `GET /v1/models/imports`: every import, newest first.
#[utoipa::path(get, path = "/v1/models/imports", tag = "uploads", responses((status = 200, description = "`{\"imports\": [...]}`, newest first.", body = ImportList)))]
async fn list(State(state): State<AppState>) -> ApiResult<Json<ImportList>> {
    let imports = state.dashboard.list_imports().await?;
    Ok(Json(ImportList { imports }))
}

/// `GET /v1/models/imports/{id}`.
#[utoipa::path(get, path = "/v1/models/imports/{id}", tag = "uploads", params(("id" = String, Path, description = "The import's id")), responses((status = 200, description = "The import record.", body = JsonObject)))]
async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ImportInfo>> {
    Ok(Json(state.dashboard.import(&id).await?))
}
