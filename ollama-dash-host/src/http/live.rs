//! The live dashboard's routes: cached stats and models (never waiting on Ollama), the event
//! stream, model actions and jobs, the managed Ollama, settings and the catalogue.
//!
//! Model names contain `/` and `:` (`hf.co/org/model:Q4_K_M`), so they travel in the JSON body
//! of POSTs, as `?name=` in GET/DELETE, or as a catch-all path (`/api/models/show/{*name}`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use super::json::Query;
use crate::http::json::Path;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use futures_util::{Stream, StreamExt};
use ollama_dash_core::catalogue::Category;
use ollama_dash_core::fleet::Targets;
use ollama_dash_core::jobs::Job;
use ollama_dash_core::live::ProbeError;
use ollama_dash_core::ollama::types::KeepAlive as OllamaKeepAlive;
use ollama_dash_core::settings::EDITABLE;
use ollama_dash_core::{Cached, Event};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::json::JsonBody;
use super::openapi::JsonObject;

/// The routes (auth is applied by the caller).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/events", get(events))
        .route("/api/stats", get(stats))
        .route("/api/stats/history", get(history))
        .route("/api/models/available", get(available))
        .route("/api/models/running", get(running))
        .route("/api/models/snapshots", get(snapshots))
        .route("/api/models/downloadable", get(downloadable))
        .route("/api/models/show", get(show_query))
        .route("/api/models/show/{*name}", get(show_path))
        .route("/api/models/start", post(start))
        .route("/api/models/stop", post(stop))
        .route("/api/models/pull", post(pull))
        .route("/api/models/delete", post(delete_body))
        .route("/api/models", axum::routing::delete(delete_query))
        .route("/api/models/copy", post(copy))
        .route("/api/jobs", get(jobs))
        .route("/api/jobs/{id}", get(job))
        .route("/api/jobs/{id}/cancel", post(cancel_job))
        .route("/api/jobs/{id}/resume", post(resume_job))
        .route("/api/service/status", get(service_status))
        .route("/api/service/start", post(service_start))
        .route("/api/service/stop", post(service_stop))
        .route("/api/service/restart", post(service_restart))
        .route("/api/settings", get(settings))
        .route("/api/settings/global", put(put_global))
        .route(
            "/api/settings/model",
            put(put_model).delete(delete_model_settings),
        )
}

/// `value`, `updated_at`, `age_ms`, `stale`, `error` of a cached read, the value under `key`.
fn cached<T: serde::Serialize>(key: &str, c: &Cached<Arc<T>>) -> Value {
    let mut out = Map::new();
    out.insert(
        key.to_owned(),
        serde_json::to_value(c.value.as_deref()).unwrap_or(Value::Null),
    );
    out.insert("updated_at".to_owned(), json!(c.updated_at));
    out.insert("age_ms".to_owned(), json!(c.age_ms()));
    out.insert("stale".to_owned(), json!(c.stale));
    out.insert(
        "error".to_owned(),
        json!(c.error.as_ref().map(|e: &ProbeError| e)),
    );
    Value::Object(out)
}

/// A cached list, or the probe's error when there has never been one (502 if Ollama is down).
fn cached_list<T: serde::Serialize>(state: &AppState, c: Cached<Arc<T>>) -> ApiResult<Json<Value>> {
    if c.value.is_none() {
        let url = state.dashboard.ollama().base_url().to_owned();
        c.clone_error_into_result(&url)?;
    }
    Ok(Json(cached("models", &c)))
}

trait CachedExt {
    fn clone_error_into_result(&self, url: &str) -> Result<(), ollama_dash_core::Error>;
}

impl<T> CachedExt for Cached<T> {
    fn clone_error_into_result(&self, url: &str) -> Result<(), ollama_dash_core::Error> {
        match &self.error {
            Some(e) => Err(e.to_error(url)),
            None => Err(ollama_dash_core::Error::Unavailable(
                "not probed yet; try again in a moment".to_owned(),
            )),
        }
    }
}

/// `GET /api/models/available`: installed models with details and capabilities (cached).
#[utoipa::path(get, path = "/api/models/available", tag = "models", responses((status = 200, description = "`models` (installed, with details and capabilities), `updated_at`, `age_ms`, `stale`, `error`.", body = JsonObject)))]
async fn available(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let c = state.dashboard.list_models();
    cached_list(&state, c)
}

/// `GET /api/models/running`: loaded models, VRAM share, expiry, capabilities (cached).
#[utoipa::path(get, path = "/api/models/running", tag = "models", responses((status = 200, description = "`models` (loaded, VRAM share, expiry), `updated_at`, `age_ms`, `stale`, `error`.", body = JsonObject)))]
async fn running(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let c = state.dashboard.running_models();
    cached_list(&state, c)
}

/// `GET /api/stats`: system and GPU, cached.
#[utoipa::path(get, path = "/api/stats", tag = "live", responses((status = 200, description = "`system`, `gpu` (each a cached read: the value, `updated_at`, `age_ms`, `stale`, `error`) and `plugins`.", body = JsonObject)))]
async fn stats(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "system": cached("stats", &state.dashboard.system_stats()),
        "gpu": cached("report", &state.dashboard.gpu_stats()),
        "plugins": state.plugins.latest_metrics(),
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct WindowQuery {
    window: Option<String>,
}

/// `10m`, `1h`, `24h`, `7d`, or seconds.
fn parse_window(raw: &str) -> Result<Duration, ApiError> {
    let bad = || ApiError::bad_request(format!("window {raw:?}: use e.g. 10m, 1h, 24h or 7d"));
    let (number, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: u64 = number.parse().map_err(|_| bad())?;
    let unit_secs: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    // Checked: `9999999999999999999d` is a number of days past u64 seconds.
    let secs = n.checked_mul(unit_secs).ok_or_else(bad)?;
    if secs == 0 || secs > 366 * 86_400 {
        return Err(bad());
    }
    Ok(Duration::from_secs(secs))
}

/// `GET /api/stats/history?window=10m`: recent samples (memory) or downsampled points (SQLite).
#[utoipa::path(get, path = "/api/stats/history", tag = "models", params(WindowQuery), responses((status = 200, description = "`window_secs` and `points`.", body = JsonObject)))]
async fn history(
    State(state): State<AppState>,
    Query(q): Query<WindowQuery>,
) -> ApiResult<Json<Value>> {
    let window = parse_window(q.window.as_deref().unwrap_or("10m"))?;
    let points = state.dashboard.stats_history(window).await?;
    Ok(Json(
        json!({ "window_secs": window.as_secs(), "points": points }),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SnapshotQuery {
    kind: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/models/snapshots?kind=running|installed&limit=50`.
#[utoipa::path(get, path = "/api/models/snapshots", tag = "models", params(SnapshotQuery), responses((status = 200, description = "`{\"snapshots\": [...]}`.", body = JsonObject)))]
async fn snapshots(
    State(state): State<AppState>,
    Query(q): Query<SnapshotQuery>,
) -> ApiResult<Json<Value>> {
    if let Some(kind) = q.kind.as_deref()
        && !matches!(kind, "running" | "installed")
    {
        return Err(ApiError::bad_request("kind must be running or installed"));
    }
    let rows = state
        .dashboard
        .model_snapshots(q.kind.as_deref(), q.limit.unwrap_or(50))
        .await?;
    Ok(Json(json!({ "snapshots": rows })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CategoryQuery {
    category: Option<String>,
}

/// `GET /api/models/downloadable?category=best|all`.
#[utoipa::path(get, path = "/api/models/downloadable", tag = "models", params(CategoryQuery), responses((status = 200, description = "`{\"models\": [...]}`: the catalogue.", body = JsonObject)))]
async fn downloadable(
    State(state): State<AppState>,
    Query(q): Query<CategoryQuery>,
) -> ApiResult<Json<Value>> {
    let category: Category = q.category.as_deref().unwrap_or("best").parse()?;
    let models = state.dashboard.downloadable(category)?;
    Ok(Json(json!({ "models": models })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct NameQuery {
    name: Option<String>,
    /// For `DELETE /api/models`: the nodes, comma-separated, or `all`.
    nodes: Option<String>,
}

fn required_name(q: NameQuery) -> ApiResult<String> {
    q.name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("name is required, e.g. ?name=llama3.2:1b"))
}

/// [`required_name`], checked against Ollama's name grammar so a refusal names `name`.
fn required_model_name(q: NameQuery) -> ApiResult<String> {
    let name = required_name(q)?;
    ollama_dash_core::lifecycle::check_named("name", &name)?;
    Ok(name)
}

/// `GET /api/models/show?name=…`.
#[utoipa::path(get, path = "/api/models/show", tag = "models", params(NameQuery), responses((status = 200, description = "Ollama's `show` of the model.", body = JsonObject)))]
async fn show_query(
    State(state): State<AppState>,
    Query(q): Query<NameQuery>,
) -> ApiResult<Json<Value>> {
    let name = required_model_name(q)?;
    Ok(Json(json!(state.dashboard.show_model(&name).await?)))
}

/// `GET /api/models/show/{*name}`.
#[utoipa::path(get, path = "/api/models/show/{name}", tag = "models", params(("name" = String, Path, description = "The model (may hold `/` and `:`)")), responses((status = 200, description = "Ollama's `show` of the model.", body = JsonObject)))]
async fn show_path(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(state.dashboard.show_model(&name).await?)))
}

/// `{"model": …}` (or Ollama's old `name`), and the nodes to act on.
#[derive(Deserialize, utoipa::ToSchema)]
struct ModelBody {
    model: Option<String>,
    name: Option<String>,
    /// How long to keep it loaded: a duration (`5m`) or seconds (`-1`: forever).
    #[schema(value_type = Option<serde_json::Value>)]
    keep_alive: Option<OllamaKeepAlive>,
    /// The nodes to act on: a name, a list of names, or `"all"`. Needed for pull, start and
    /// delete when there are several nodes; a stop without it unloads everywhere.
    #[schema(value_type = Option<serde_json::Value>)]
    #[serde(default)]
    nodes: Targets,
}

impl ModelBody {
    fn model(&self) -> ApiResult<&str> {
        self.model
            .as_deref()
            .or(self.name.as_deref())
            .filter(|m| !m.is_empty())
            .ok_or_else(|| ApiError::bad_request("model is required"))
    }
}

fn job_json(job: &Job) -> Value {
    let mut v = json!(job);
    v["resumable"] = json!(job.resumable());
    v["url"] = json!(format!("/api/jobs/{}", job.id));
    with_error_status(job, &mut v);
    v
}

/// A failed job's error carries the status its failure is answered with.
fn with_error_status(job: &Job, v: &mut Value) {
    if let (Some(error), Some(shown)) = (&job.error, v.get_mut("error").filter(|e| e.is_object())) {
        shown["status"] = json!(crate::http::error::status_of_kind(error.error_kind));
    }
}

/// 202 with `job` (the first) and `jobs` (one per node).
fn accepted(jobs: &[Job]) -> Response {
    let all: Vec<Value> = jobs.iter().map(job_json).collect();
    let body = json!({ "job": all.first(), "jobs": all });
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// `POST /api/models/start {"model", "keep_alive"?}` → 202 with the job.
#[utoipa::path(post, path = "/api/models/start", tag = "models", request_body = ModelBody, responses((status = 202, description = "`{\"job\": …}`: the job (`id`, `kind`, `model`, `state`, progress, `resumable`, `url`).", body = JsonObject)))]
async fn start(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ModelBody>,
) -> ApiResult<Response> {
    if let Some(OllamaKeepAlive::Duration(raw)) = &body.keep_alive {
        ollama_dash_core::settings::parse_keep_alive(raw).map_err(ApiError::bad_request)?;
    }
    let model = body.model()?.to_owned();
    let jobs = state
        .dashboard
        .start_model(&model, body.keep_alive, &body.nodes)?;
    Ok(accepted(&jobs))
}

/// `POST /api/models/stop {"model"}`: unloads and confirms it left `/api/ps`.
#[utoipa::path(post, path = "/api/models/stop", tag = "models", request_body = ModelBody, responses((status = 200, description = "`model`, `was_loaded`, `loaded` (false).", body = JsonObject)))]
async fn stop(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ModelBody>,
) -> ApiResult<Json<Value>> {
    let model = body.model()?.to_owned();
    let outcomes = state.dashboard.stop_model(&model, &body.nodes).await?;
    let nodes: Vec<Value> = outcomes
        .iter()
        .map(|(node, o)| json!({ "node": node, "was_loaded": o.was_loaded }))
        .collect();
    let was_loaded = outcomes.iter().any(|(_, o)| o.was_loaded);
    Ok(Json(
        json!({ "model": model, "was_loaded": was_loaded, "loaded": false, "nodes": nodes }),
    ))
}

/// `POST /api/models/pull {"model"}` → 202 with the job.
#[utoipa::path(post, path = "/api/models/pull", tag = "models", request_body = ModelBody, responses((status = 202, description = "`{\"job\": …}`: the job (`id`, `kind`, `model`, `state`, progress, `resumable`, `url`).", body = JsonObject)))]
async fn pull(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ModelBody>,
) -> ApiResult<Response> {
    let model = body.model()?.to_owned();
    Ok(accepted(&state.dashboard.pull(&model, &body.nodes)?))
}

/// `POST /api/models/delete {"model"}` → 202 with the job.
#[utoipa::path(post, path = "/api/models/delete", tag = "models", request_body = ModelBody, responses((status = 202, description = "`{\"job\": …}`: the job (`id`, `kind`, `model`, `state`, progress, `resumable`, `url`).", body = JsonObject)))]
async fn delete_body(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ModelBody>,
) -> ApiResult<Response> {
    let model = body.model()?.to_owned();
    Ok(accepted(
        &state.dashboard.delete_model(&model, &body.nodes)?,
    ))
}

/// `DELETE /api/models?name=…` → 202 with the job.
#[utoipa::path(delete, path = "/api/models", tag = "models", params(NameQuery), responses((status = 202, description = "`{\"job\": …}`: the job (`id`, `kind`, `model`, `state`, progress, `resumable`, `url`).", body = JsonObject)))]
async fn delete_query(
    State(state): State<AppState>,
    Query(q): Query<NameQuery>,
) -> ApiResult<Response> {
    let nodes = q.nodes.clone();
    let targets = match nodes.as_deref() {
        None | Some("") => Targets::Default,
        Some("all") => Targets::All,
        Some(list) => Targets::Named(list.split(',').map(|n| n.trim().to_owned()).collect()),
    };
    let name = required_model_name(q)?;
    Ok(accepted(&state.dashboard.delete_model(&name, &targets)?))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct CopyBody {
    source: String,
    destination: String,
}

/// `POST /api/models/copy {"source", "destination"}`.
#[utoipa::path(post, path = "/api/models/copy", tag = "models", request_body = CopyBody, responses((status = 200, description = "`source` and `destination`.", body = JsonObject)))]
async fn copy(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CopyBody>,
) -> ApiResult<Json<Value>> {
    state
        .dashboard
        .copy_model(&body.source, &body.destination)
        .await?;
    Ok(Json(
        json!({ "source": body.source, "destination": body.destination }),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct LimitQuery {
    limit: Option<usize>,
}

/// `GET /api/jobs?limit=50`.
#[utoipa::path(get, path = "/api/jobs", tag = "jobs", params(LimitQuery), responses((status = 200, description = "`{\"jobs\": [...]}`, newest first.", body = JsonObject)))]
async fn jobs(
    State(state): State<AppState>,
    Query(q): Query<LimitQuery>,
) -> ApiResult<Json<Value>> {
    let jobs = state.dashboard.jobs(q.limit.unwrap_or(50)).await?;
    Ok(Json(
        json!({ "jobs": jobs.iter().map(job_json).collect::<Vec<_>>() }),
    ))
}

/// `GET /api/jobs/{id}`.
#[utoipa::path(get, path = "/api/jobs/{id}", tag = "jobs", params(("id" = String, Path, description = "The job's id")), responses((status = 200, description = "The job.", body = JsonObject)))]
async fn job(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(job_json(&state.dashboard.job(&id).await?)))
}

/// `POST /api/jobs/{id}/cancel`.
#[utoipa::path(post, path = "/api/jobs/{id}/cancel", tag = "jobs", params(("id" = String, Path, description = "The job's id")), responses((status = 200, description = "The job.", body = JsonObject)))]
async fn cancel_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(job_json(&state.dashboard.cancel_job(&id).await?)))
}

/// `POST /api/jobs/{id}/resume` → 202 with the new job.
#[utoipa::path(post, path = "/api/jobs/{id}/resume", tag = "jobs", params(("id" = String, Path, description = "The job's id")), responses((status = 202, description = "`{\"job\": …}`: the job (`id`, `kind`, `model`, `state`, progress, `resumable`, `url`). (the new job)", body = JsonObject)))]
async fn resume_job(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(accepted(&[state.dashboard.resume_job(&id).await?]))
}

/// `GET /api/service/status`.
#[utoipa::path(get, path = "/api/service/status", tag = "service", responses((status = 200, description = "The managed Ollama's state.", body = JsonObject)))]
async fn service_status(State(state): State<AppState>) -> Json<Value> {
    Json(json!(state.dashboard.service_status()))
}

/// `POST /api/service/start`.
#[utoipa::path(post, path = "/api/service/start", tag = "service", responses((status = 200, description = "The managed Ollama's state.", body = JsonObject)))]
async fn service_start(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(json!(state.dashboard.service_start().await?)))
}

/// `POST /api/service/stop`.
#[utoipa::path(post, path = "/api/service/stop", tag = "service", responses((status = 200, description = "The managed Ollama's state.", body = JsonObject)))]
async fn service_stop(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(json!(state.dashboard.service_stop().await?)))
}

/// `POST /api/service/restart`.
#[utoipa::path(post, path = "/api/service/restart", tag = "service", responses((status = 200, description = "The managed Ollama's state.", body = JsonObject)))]
async fn service_restart(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(json!(state.dashboard.service_restart().await?)))
}

/// `GET /api/settings`: what the UI may change (with its current values) and, read-only, the
/// deployment settings that come from the config file and environment.
#[utoipa::path(get, path = "/api/settings", tag = "settings", responses((status = 200, description = "`editable`, `global`, `models`, `deployment`.", body = JsonObject)))]
async fn settings(State(state): State<AppState>) -> Json<Value> {
    let view = state.dashboard.settings();
    let c = state.dashboard.config();
    let live = &c.live;
    Json(json!({
        "editable": EDITABLE,
        "global": view.global,
        "models": view.models,
        "deployment": {
            "source": "config file and environment (read-only here)",
            "values": {
                "ollama_host": c.ollama_host,
                "data_path": c.data_path,
                "request_timeout_secs": c.request_timeout_secs,
                "system_interval_secs": live.system_interval_secs,
                "gpu_interval_secs": live.gpu_interval_secs,
                "ps_interval_secs": live.ps_interval_secs,
                "tags_interval_secs": live.tags_interval_secs,
                "version_interval_secs": live.version_interval_secs,
                "start_keep_alive": live.start_keep_alive,
                "manage_ollama": live.manage_ollama,
                "ollama_binary": live.ollama_binary,
                "history_days": live.history_days,
            },
        },
    }))
}

fn object(body: Value) -> ApiResult<Map<String, Value>> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request(
            "the body must be a JSON object of settings",
        )),
    }
}

/// `PUT /api/settings/global {field: value|null, …}`.
#[utoipa::path(put, path = "/api/settings/global", tag = "settings", request_body(content = JsonObject, description = "`{field: value or null}`"), responses((status = 200, description = "`scope` (`global`) and `settings`.", body = JsonObject)))]
async fn put_global(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let updated = state.dashboard.update_settings(None, object(body)?).await?;
    Ok(Json(json!({ "scope": "global", "settings": updated })))
}

/// `PUT /api/settings/model?name=… {field: value|null, …}`.
#[utoipa::path(put, path = "/api/settings/model", tag = "settings", params(NameQuery), request_body(content = JsonObject, description = "`{field: value or null}`"), responses((status = 200, description = "`scope` (the model) and `settings`.", body = JsonObject)))]
async fn put_model(
    State(state): State<AppState>,
    Query(q): Query<NameQuery>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    // Defaults for a name no model can have would never apply: refuse them (400 on `name`).
    let name = required_model_name(q)?;
    let updated = state
        .dashboard
        .update_settings(Some(&name), object(body)?)
        .await?;
    Ok(Json(json!({ "scope": name, "settings": updated })))
}

/// `DELETE /api/settings/model?name=…`: forget every default of that model.
#[utoipa::path(delete, path = "/api/settings/model", tag = "settings", params(NameQuery), responses((status = 204, description = "Forgotten.")))]
async fn delete_model_settings(
    State(state): State<AppState>,
    Query(q): Query<NameQuery>,
) -> ApiResult<StatusCode> {
    let name = required_name(q)?;
    let keys: Map<String, Value> = EDITABLE
        .iter()
        .map(|s| (s.key.to_owned(), Value::Null))
        .collect();
    state.dashboard.update_settings(Some(&name), keys).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/events`: Server-Sent Events. A new client first gets the current state (stats,
/// GPU, running models), then every change; a comment every 15 s keeps proxies from timing
/// the stream out. The stream ends when the client goes, or when the server shuts down.
#[utoipa::path(get, path = "/api/events", tag = "live", responses((status = 200, description = "Server-Sent Events: the current state, then every change (`event:` is the event's `type`, `data:` its JSON).", body = String, content_type = "text/event-stream")))]
async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let d = &state.dashboard;
    let rx = d.subscribe();
    let mut initial = Vec::new();
    if let Some(s) = d.system_stats().value {
        initial.push(Event::SystemStats(s.as_ref().clone()));
    }
    if let Some(g) = d.gpu_stats().value {
        initial.push(Event::GpuStats(g.as_ref().clone()));
    }
    if let Some(m) = d.running_models().value {
        initial.push(Event::RunningModels {
            models: m.as_ref().clone(),
        });
    }
    let live = BroadcastStream::new(rx).map(|item| match item {
        Ok(event) => event,
        Err(BroadcastStreamRecvError::Lagged(missed)) => Event::Lagged { missed },
    });
    let stream = futures_util::stream::iter(initial)
        .chain(live)
        .map(|event| Ok(sse(&event)))
        .take_until(d.closed());
    Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("keep-alive"),
    )
}

fn sse(event: &Event) -> SseEvent {
    let mut data = serde_json::to_value(event).unwrap_or(Value::Null);
    if let Event::Job(job) = event {
        with_error_status(job, &mut data); // the job's fields sit beside `type`
    }
    let name = data
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("event")
        .to_owned();
    SseEvent::default().event(name).data(data.to_string())
}
