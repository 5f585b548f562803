//! `/api/plugins*`: what is loaded and how it fares, reload, metrics, detection for one model.

use std::fmt::Write as _;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ollama_dash_core::ollama::types::ShowRequest;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiResult;
use crate::plugins::{MetricKind, PluginMetric, facts_from_show};

/// The plugin routes (behind the token check like every `/api` route).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/plugins", get(list))
        .route("/api/plugins/reload", post(reload))
        .route("/api/plugins/metrics", get(metrics))
        .route("/api/plugins/collect", post(collect))
        .route("/api/plugins/detect/{*model}", get(detect))
}

/// `GET /api/plugins`: every plugin file with what it provides, state, calls, failures, last
/// error and p50/p99 call time.
async fn list(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "dir": state.plugins.dir(),
        "plugins": state.plugins.list(),
    }))
}

/// `POST /api/plugins/reload`: reloads every file (re-enabling disabled plugins).
async fn reload(State(state): State<AppState>) -> Json<Value> {
    let report = state.plugins.reload(true).await;
    let failed = report.failed.iter().map(|(f, _)| f.clone()).collect();
    state
        .dashboard
        .announce_plugins_changed(report.loaded.clone(), failed);
    Json(json!({
        "loaded": report.loaded,
        "failed": report.failed.iter().map(|(file, error)| json!({"file": file, "error": error})).collect::<Vec<_>>(),
        "removed": report.removed,
        "plugins": state.plugins.list(),
    }))
}

#[derive(Debug, Deserialize)]
struct MetricsQuery {
    format: Option<String>,
}

/// `GET /api/plugins/metrics`: the latest collection round, as JSON or (`?format=prometheus`)
/// in the Prometheus text format.
async fn metrics(State(state): State<AppState>, Query(q): Query<MetricsQuery>) -> Response {
    let metrics = state.plugins.latest_metrics();
    match q.format.as_deref() {
        Some("prometheus") => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            render_prometheus(&metrics),
        )
            .into_response(),
        _ => Json(json!({ "metrics": metrics })).into_response(),
    }
}

/// `POST /api/plugins/collect`: runs a collection round now (it also runs on a schedule).
async fn collect(State(state): State<AppState>) -> Json<Value> {
    let metrics = state
        .plugins
        .collect_round(&state.dashboard)
        .await
        .unwrap_or_default();
    state.dashboard.publish_plugin_metrics(metrics.clone());
    Json(json!({ "metrics": metrics }))
}

/// `GET /api/plugins/detect/{model}`: what the detectors add to one installed model.
async fn detect(
    State(state): State<AppState>,
    Path(model): Path<String>,
) -> ApiResult<Json<Value>> {
    let request = ShowRequest {
        model: model.clone(),
        verbose: None,
    };
    let show = state.dashboard.ollama().show(&request).await?;
    let facts = facts_from_show(&model, &show);
    let plugins = state.plugins.clone();
    let detect_facts = facts.clone();
    let flags = tokio::task::spawn_blocking(move || plugins.detect(&detect_facts))
        .await
        .unwrap_or_default();
    Ok(Json(json!({
        "model": model,
        "capabilities": facts.capabilities,
        "plugin_flags": flags,
    })))
}

/// Plugin metrics in the Prometheus text format: `ollama_dash_plugin_<name>{plugin="…",…}`.
pub(crate) fn render_prometheus(metrics: &[PluginMetric]) -> String {
    let mut out = String::new();
    let mut described = std::collections::HashSet::new();
    for m in metrics {
        let name = format!("ollama_dash_plugin_{}", m.name);
        if described.insert(name.clone()) {
            let kind = match m.kind {
                MetricKind::Gauge => "gauge",
                MetricKind::Counter => "counter",
            };
            let _ = writeln!(out, "# HELP {name} {}", escape(&m.help, false));
            let _ = writeln!(out, "# TYPE {name} {kind}");
        }
        let mut labels = format!("plugin=\"{}\"", escape(&m.plugin, true));
        for (key, value) in &m.labels {
            let _ = write!(labels, ",{key}=\"{}\"", escape(value, true));
        }
        let _ = writeln!(out, "{name}{{{labels}}} {}", m.value);
    }
    out
}

fn escape(text: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}
