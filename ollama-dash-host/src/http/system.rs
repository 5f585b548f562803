//! `/ping`, `/api/health`, `/api/version`, `/api/auth/verify`.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiResult;

/// `GET /ping`: liveness, no auth.
pub(super) async fn ping() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /api/health`: each component and its state; 200 even when degraded (read `status`).
pub(super) async fn health(State(state): State<AppState>) -> Json<Value> {
    let h = state.dashboard.health().await;
    let s = &h.store;
    let (retention, last_retention) = state.dashboard.trace_retention();
    Json(json!({
        "status": if h.ok { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": h.uptime.as_secs(),
        "store": {
            "ok": s.alive,
            "path": s.path,
            "size_bytes": s.size_bytes,
            "queued_writes": s.queued,
            "written": s.written,
            "batches": s.batches,
            "failed_writes": s.failed,
            "queue_full": s.queue_full,
        },
        "traces": { "retention": retention, "last_retention": last_retention },
        "ollama": {
            "ok": h.ollama.reachable,
            "url": h.ollama.url,
            "version": h.ollama.version,
            "error": h.ollama.error,
            "latency_ms": h.ollama.latency_ms,
        },
    }))
}

/// `GET /api/version`: ours and Ollama's.
pub(super) async fn version(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let ollama = state.dashboard.version().await?;
    Ok(Json(
        json!({ "version": env!("CARGO_PKG_VERSION"), "ollama_version": ollama }),
    ))
}

/// `POST /api/auth/verify`: reached only with a valid token, so it just says so.
pub(super) async fn verify() -> Json<Value> {
    Json(json!({ "valid": true }))
}
