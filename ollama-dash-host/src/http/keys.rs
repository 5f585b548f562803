//! `/api/keys`: named API keys, admin only (the role policy in `auth` enforces it).

use crate::http::json::Path;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ollama_dash_core::ApiKey;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::json::JsonBody;

/// The answer of `GET /api/keys`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct KeyList {
    /// Every stored key, without its secret.
    keys: Vec<KeyInfo>,
}

/// A stored key as listed: never its secret (nor its hash).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct KeyInfo {
    /// The key's name.
    name: String,
    /// `viewer`, `user` or `admin`.
    role: &'static str,
    /// Creation time, Unix milliseconds.
    created_at: i64,
}

impl From<ApiKey> for KeyInfo {
    fn from(key: ApiKey) -> Self {
        Self {
            name: key.name,
            role: key.role.as_str(),
            created_at: key.created_at,
        }
    }
}

/// `GET /api/keys`: stored keys, never their secrets.
#[utoipa::path(get, path = "/api/keys", tag = "keys", responses((status = 200, description = "`{\"keys\": [{name, role, created_at}]}`, never the secrets.", body = KeyList)))]
pub(super) async fn list(State(state): State<AppState>) -> ApiResult<Json<KeyList>> {
    let keys = state.dashboard.api_keys().await?;
    let keys = keys.into_iter().map(KeyInfo::from).collect();
    Ok(Json(KeyList { keys }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct NewKey {
    name: String,
    role: String,
}

/// The answer of `POST /api/keys`: the key as listed, and its secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct CreatedKey {
    /// The key as `GET /api/keys` lists it.
    #[serde(flatten)]
    key: KeyInfo,
    /// The secret; the server keeps only its hash.
    #[serde(rename = "key")]
    secret: String,
}

/// `POST /api/keys {name, role}`: 201 with the secret, shown this once.
#[utoipa::path(post, path = "/api/keys", tag = "keys", request_body = NewKey, responses((status = 201, description = "`name`, `role`, `created_at` and the secret `key`, shown this once.", body = CreatedKey)))]
pub(super) async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewKey>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let role = body.role.parse()?;
    let (key, secret) = state.dashboard.create_api_key(&body.name, role).await?;
    state.auth.reload_stored_keys(&state.dashboard).await?;
    let key = KeyInfo::from(key);
    Ok((StatusCode::CREATED, Json(CreatedKey { key, secret })))
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
