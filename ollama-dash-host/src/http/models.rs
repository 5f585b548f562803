//! `/api/models/*`.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiResult;

/// `GET /api/models/available`: models installed in Ollama.
pub(super) async fn available(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let models = state.dashboard.list_models().await?;
    Ok(Json(json!({ "models": models })))
}

/// `GET /api/models/running`: models loaded in memory.
pub(super) async fn running(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let models = state.dashboard.running_models().await?;
    Ok(Json(json!({ "models": models })))
}
