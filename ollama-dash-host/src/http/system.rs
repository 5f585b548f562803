//! `/ping`, `/api/health`, `/api/version`, `/api/auth/verify`.

use axum::extract::State;
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiResult;
use super::openapi::JsonObject;
use crate::auth::Principal;

/// `GET /ping`: liveness, no auth.
#[utoipa::path(get, path = "/ping", tag = "system", responses((status = 200, description = "`{\"status\": \"ok\"}`: the server is up (no token).", body = JsonObject)))]
pub(super) async fn ping() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /api/health`: each component and its state, from the cache (never waits on Ollama);
/// 200 even when degraded (read `status`).
#[utoipa::path(get, path = "/api/health", tag = "system", responses((status = 200, description = "`status` (`ok` or `degraded`), `nodes`, `version`, `uptime_secs`, `store`, `traces`, `ollama`, `collector`, `service`; 200 even when degraded.", body = JsonObject)))]
pub(super) async fn health(State(state): State<AppState>) -> Json<Value> {
    let h = state.dashboard.health().await;
    let s = &h.store;
    let (retention, last_retention) = state.dashboard.trace_retention();
    let backlog = state.dashboard.trace_backlog();
    // A fleet of several is degraded while any node is down; one node is `ollama` below.
    let fleet = state.dashboard.fleet().status();
    let nodes_ok = fleet.len() < 2 || fleet.iter().all(|n| n.state != "down");
    let nodes: serde_json::Map<String, Value> = fleet
        .iter()
        .map(|n| {
            (
                n.name.clone(),
                json!({ "status": n.state, "last_error": n.last_error }),
            )
        })
        .collect();
    Json(json!({
        "status": if h.ok && nodes_ok { "ok" } else { "degraded" },
        "nodes": nodes,
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
            "panicked": s.panicked,
            "write_error": s.write_error,
        },
        "traces": {
            "retention": retention,
            "last_retention": last_retention,
            "waiting": backlog.waiting,
            "dropped": backlog.dropped,
        },
        "ollama": {
            "ok": h.ollama.reachable,
            "url": h.ollama.url,
            "version": h.ollama.version,
            "error": h.ollama.error,
            "latency_ms": h.ollama.latency_ms,
        },
        "collector": {
            "alive": h.collector.alive,
            "last_round_ms": h.collector.last_round_ms,
            "probes": h.collector.probes.iter().map(|p| (p.probe.name().to_owned(), json!({
                "interval_ms": p.interval_ms,
                "age_ms": p.age_ms,
                "stale": p.stale,
                "failures": p.failures,
                "last_error": p.last_error,
                "last_latency_ms": p.last_latency_ms,
            }))).collect::<serde_json::Map<String, Value>>(),
        },
        "service": state.dashboard.service_status(),
    }))
}

/// `GET /api/version`: ours and Ollama's.
#[utoipa::path(get, path = "/api/version", tag = "system", responses((status = 200, description = "`version` (ours) and `ollama_version`.", body = JsonObject)))]
pub(super) async fn version(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let ollama = state.dashboard.version().await?;
    Ok(Json(
        json!({ "version": env!("CARGO_PKG_VERSION"), "ollama_version": ollama }),
    ))
}

/// `POST /api/auth/verify`: reached only with a valid token; says who it is and its role, so
/// the web page can hide what the key may not do.
#[utoipa::path(post, path = "/api/auth/verify", tag = "system", responses((status = 200, description = "`valid` (true), the key's `name` and `role`.", body = JsonObject)))]
pub(super) async fn verify(Extension(principal): Extension<Principal>) -> Json<Value> {
    Json(json!({ "valid": true, "name": principal.name, "role": principal.role.as_str() }))
}
