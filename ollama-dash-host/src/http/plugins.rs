//! `/api/plugins*`: what is loaded and how it fares, reload, metrics, detection for one model.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::http::json::Path;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use ollama_dash_core::ollama::types::ShowRequest;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use serde::Serialize;

use super::AppState;
use super::error::ApiResult;
use crate::plugins::{
    DetectedFlag, MetricKind, PluginHost, PluginMetric, PluginStatus, facts_from_show,
};

/// The plugin routes (behind the token check like every `/api` route).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/plugins", get(list))
        .route("/api/plugins/reload", post(reload))
        .route("/api/plugins/metrics", get(metrics))
        .route("/api/plugins/collect", post(collect))
        .route("/api/plugins/detect/{*model}", get(detect))
}

/// The answer of `GET /api/plugins`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PluginList {
    /// The plugin directory.
    #[schema(value_type = String)]
    dir: PathBuf,
    /// Every plugin file with what it provides, state, calls, failures, last error and p50/p99
    /// call time.
    #[schema(value_type = Vec<Object>)]
    plugins: Vec<PluginStatus>,
}

/// `GET /api/plugins`: every plugin file with what it provides, state, calls, failures, last
/// error and p50/p99 call time.
#[utoipa::path(get, path = "/api/plugins", tag = "plugins", responses((status = 200, description = "`dir` and `plugins`.", body = PluginList)))]
async fn list(State(state): State<AppState>) -> Json<PluginList> {
    Json(PluginList {
        dir: state.plugins.dir().to_owned(),
        plugins: state.plugins.list(),
    })
}

/// The answer of `POST /api/plugins/reload`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Reloaded {
    /// Plugins loaded and callable (or disabled by their manifest) after the reload.
    loaded: Vec<String>,
    /// Files that failed to load, with the reason.
    failed: Vec<FailedPlugin>,
    /// Files gone since the last reload.
    removed: Vec<String>,
    /// Every plugin after the reload, as `GET /api/plugins` lists them.
    #[schema(value_type = Vec<Object>)]
    plugins: Vec<PluginStatus>,
}

/// A plugin file that failed to load.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct FailedPlugin {
    /// The file.
    file: String,
    /// Why.
    error: String,
}

/// `POST /api/plugins/reload`: reloads every file (re-enabling disabled plugins).
#[utoipa::path(post, path = "/api/plugins/reload", tag = "plugins", responses((status = 200, description = "`loaded`, `failed`, `removed`, `plugins`.", body = Reloaded)))]
async fn reload(State(state): State<AppState>) -> Json<Reloaded> {
    let report = state.plugins.reload(true).await;
    state.plugins.after_reload(&state.dashboard, &report).await;
    let failed = report
        .failed
        .into_iter()
        .map(|(file, error)| FailedPlugin { file, error })
        .collect();
    Json(Reloaded {
        loaded: report.loaded,
        failed,
        removed: report.removed,
        plugins: state.plugins.list(),
    })
}

/// The answer of `GET /api/plugins/metrics` and `POST /api/plugins/collect`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MetricsRound {
    /// The samples of a collection round.
    #[schema(value_type = Vec<Object>)]
    metrics: Vec<PluginMetric>,
}

/// `GET /api/plugins/metrics`: the latest collection round (also in `/api/stats` and, as
/// `ollama_dash_plugin_<name>{plugin="…"}`, in `/metrics`).
#[utoipa::path(get, path = "/api/plugins/metrics", tag = "plugins", responses((status = 200, description = "`metrics`: the latest collection round.", body = MetricsRound)))]
async fn metrics(State(state): State<AppState>) -> Json<MetricsRound> {
    Json(MetricsRound {
        metrics: state.plugins.latest_metrics(),
    })
}

/// `POST /api/plugins/collect`: runs a collection round now (it also runs on a schedule).
#[utoipa::path(post, path = "/api/plugins/collect", tag = "plugins", responses((status = 200, description = "`metrics`: this round.", body = MetricsRound)))]
async fn collect(State(state): State<AppState>) -> Json<MetricsRound> {
    let metrics = state
        .plugins
        .collect_round(&state.dashboard)
        .await
        .unwrap_or_default();
    state.dashboard.publish_plugin_metrics(metrics.clone());
    Json(MetricsRound { metrics })
}

/// The answer of `GET /api/plugins/detect/{model}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Detection {
    /// The model asked about.
    model: String,
    /// Its capabilities as Ollama reports them.
    capabilities: Vec<String>,
    /// What the detectors add, each with its plugin.
    #[schema(value_type = Vec<Object>)]
    plugin_flags: Vec<DetectedFlag>,
}

/// `GET /api/plugins/detect/{model}`: what the detectors add to one installed model.
#[utoipa::path(get, path = "/api/plugins/detect/{model}", tag = "plugins", params(("model" = String, Path, description = "An installed model (may hold `/` and `:`)")), responses((status = 200, description = "What the detectors add to the model.", body = Detection)))]
async fn detect(
    State(state): State<AppState>,
    Path(model): Path<String>,
) -> ApiResult<Json<Detection>> {
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
    Ok(Json(Detection {
        model,
        capabilities: facts.capabilities,
        plugin_flags: flags,
    }))
}

/// Plugin metrics in `/metrics`: `ollama_dash_plugin_<name>` with a `plugin` label and the
/// plugin's own labels, read at scrape time from the latest collection round.
#[derive(Debug)]
pub(super) struct PluginsCollector(pub(super) PluginHost);

/// One sample, a gauge or a counter.
#[derive(Debug)]
struct Sample(f64, MetricKind);

impl EncodeMetric for Sample {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        match self.1 {
            MetricKind::Gauge => encoder.encode_gauge(&self.0),
            MetricKind::Counter => encoder.encode_counter::<NoLabelSet, _, f64>(&self.0, None),
        }
    }

    fn metric_type(&self) -> MetricType {
        match self.1 {
            MetricKind::Gauge => MetricType::Gauge,
            MetricKind::Counter => MetricType::Counter,
        }
    }
}

impl Collector for PluginsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let metrics = self.0.latest_metrics();
        let mut by_name: BTreeMap<&str, Vec<&PluginMetric>> = BTreeMap::new();
        for m in &metrics {
            by_name.entry(&m.name).or_default().push(m);
        }
        for (name, series) in by_name {
            // Two plugins may use one name with different help or kinds: the first gives the
            // descriptor, and a series of another kind is left out rather than mislabelled.
            let first = series[0];
            let kind = Sample(0.0, first.kind).metric_type();
            let full = format!("ollama_dash_plugin_{name}");
            let mut family = encoder.encode_descriptor(&full, &first.help, None, kind)?;
            for m in series.iter().filter(|m| m.kind == first.kind) {
                let mut labels = vec![("plugin".to_owned(), m.plugin.clone())];
                labels.extend(m.labels.iter().cloned());
                Sample(m.value, m.kind).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
