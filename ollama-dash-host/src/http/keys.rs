//! `/api/keys`: named API keys, admin only (the role policy in `auth` enforces it).

use crate::http::json::Path;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::json::JsonBody;
use super::openapi::JsonObject;

/// `GET /api/keys`: stored keys, never their secrets.
#[utoipa::path(get, path = "/api/keys", tag = "keys", responses((status = 200, description = "`{\"keys\": [{name, role, created_at}]}`, never the secrets.", body = JsonObject)))]
pub(super) async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let keys = state.dashboard.api_keys().await?;
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| json!({ "name": k.name, "role": k.role.as_str(), "created_at": k.created_at }))
        .collect();
    Ok(Json(json!({ "keys": keys })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct NewKey {
    name: String,
    role: String,
}

/// `POST /api/keys {name, role}`: 201 with the secret, shown this once.
#[utoipa::path(post, path = "/api/keys", tag = "keys", request_body = NewKey, responses((status = 201, description = "`name`, `role`, `created_at` and the secret `key`, shown this once.", body = JsonObject)))]
pub(super) async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let role = body.role.parse()?;
    let (key, secret) = state.dashboard.create_api_key(&body.name, role).await?;
    state.auth.reload_stored_keys(&state.dashboard).await?;
    let body = json!({ "name": key.name, "role": key.role.as_str(), "key": secret, "created_at": key.created_at });
    Ok((StatusCode::CREATED, Json(body)))
}

/// `DELETE /api/keys/{name}`.
#[utoipa::path(delete, path = "/api/keys/{name}", tag = "keys", params(("name" = String, Path, description = "The key's name")), responses((status = 204, description = "Deleted.")))]
pub(super) async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.dashboard.delete_api_key(&name).await?;
    state
        .auth
        .reload_stored_keys(&state.dashboard)
        .await
        .map_err(ApiError::from)?;
    Ok(StatusCode::NO_CONTENT)
}
