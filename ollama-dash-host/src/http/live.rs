//! The live dashboard's routes: cached stats and models (never waiting on Ollama), the event
//! stream, model actions and jobs, the managed Ollama, settings and the catalogue.
//!
//! Model names contain `/` and `:` (`hf.co/org/model:Q4_K_M`), so they travel in the JSON body
//! of POSTs, as `?name=` in GET/DELETE, or as a catch-all path (`/api/models/show/{*name}`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::json::Query;
use crate::http::json::Path;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use ollama_dash_core::catalogue::{CatalogueEntry, Category};
use ollama_dash_core::fleet::Targets;
use ollama_dash_core::jobs::{Job, JobError, JobKind, JobState, Progress};
use ollama_dash_core::lifecycle::ModelInfo;
use ollama_dash_core::live::gpu::GpuReport;
use ollama_dash_core::live::system::SystemStats;
use ollama_dash_core::live::{HistorySample, ModelSnapshot, ProbeError};
use ollama_dash_core::ollama::types::KeepAlive as OllamaKeepAlive;
use ollama_dash_core::service::ServiceStatus;
use ollama_dash_core::settings::{EDITABLE, GenerationDefaults, SettingSpec};
use ollama_dash_core::{Cached, ErrorKind, Event, InstalledModel, RunningModel};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::json::JsonBody;
use super::openapi::JsonObject;
use crate::plugins::PluginMetric;

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

/// How fresh a cached read is: it sits beside the value (under the value's own key) in each
/// cached answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Freshness {
    /// When the value was taken (null before the first success).
    #[schema(value_type = Option<String>)]
    updated_at: Option<DateTime<Utc>>,
    /// How old the value is, in milliseconds (null before the first success).
    age_ms: Option<u64>,
    /// Older than twice the probe's interval (or never taken).
    stale: bool,
    /// Why the latest attempt failed, if it did (the value then is older).
    #[schema(value_type = Option<Object>)]
    error: Option<ProbeError>,
}

impl Freshness {
    fn of<T>(c: &Cached<T>) -> Self {
        Self {
            updated_at: c.updated_at,
            age_ms: c.age_ms(),
            stale: c.stale,
            error: c.error.clone(),
        }
    }
}

/// Writes `value` as `serde_json::to_value` does, as these answers always wrote it: an `f32`
/// inside widened to f64 (`0.1f32` as `0.10000000149011612`), not in f32's shortest form.
fn widened<T: Serialize, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    serde_json::to_value(value)
        .map_err(serde::ser::Error::custom)?
        .serialize(s)
}

/// A cached list's value, or the probe's error when there has never been one (502 if Ollama
/// is down, 503 before the first probe).
fn cached_list<T>(state: &AppState, c: Cached<Arc<T>>) -> ApiResult<(Arc<T>, Freshness)> {
    let freshness = Freshness::of(&c);
    let url = state.dashboard.ollama().base_url().to_owned();
    Ok((c.into_result(&url)?, freshness))
}

/// The answer of `GET /api/models/available`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct InstalledList {
    /// The installed models, with details and capabilities.
    #[schema(value_type = Vec<Object>)]
    models: Arc<Vec<InstalledModel>>,
    #[serde(flatten)]
    freshness: Freshness,
}

/// The answer of `GET /api/models/running`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct RunningList {
    /// The loaded models: VRAM share, expiry, capabilities.
    #[schema(value_type = Vec<Object>)]
    models: Arc<Vec<RunningModel>>,
    #[serde(flatten)]
    freshness: Freshness,
}

/// `GET /api/models/available`: installed models with details and capabilities (cached).
#[utoipa::path(get, path = "/api/models/available", tag = "models", responses((status = 200, description = "`models` (installed, with details and capabilities), `updated_at`, `age_ms`, `stale`, `error`.", body = InstalledList)))]
async fn available(State(state): State<AppState>) -> ApiResult<Json<InstalledList>> {
    let (models, freshness) = cached_list(&state, state.dashboard.list_models())?;
    Ok(Json(InstalledList { models, freshness }))
}

/// `GET /api/models/running`: loaded models, VRAM share, expiry, capabilities (cached).
#[utoipa::path(get, path = "/api/models/running", tag = "models", responses((status = 200, description = "`models` (loaded, VRAM share, expiry), `updated_at`, `age_ms`, `stale`, `error`.", body = RunningList)))]
async fn running(State(state): State<AppState>) -> ApiResult<Json<RunningList>> {
    let (models, freshness) = cached_list(&state, state.dashboard.running_models())?;
    Ok(Json(RunningList { models, freshness }))
}

/// The answer of `GET /api/stats`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Stats {
    /// The machine, cached.
    system: CachedSystem,
    /// The GPUs, cached.
    gpu: CachedGpu,
    /// The latest collection round of plugin metrics.
    #[schema(value_type = Vec<Object>)]
    plugins: Vec<PluginMetric>,
}

/// The machine's last sample under `stats` (null before the first), and how fresh it is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CachedSystem {
    /// Written [`widened`]: its CPU percentages are `f32`.
    #[schema(value_type = Option<Object>)]
    #[serde(serialize_with = "widened_system")]
    stats: Option<Arc<SystemStats>>,
    #[serde(flatten)]
    freshness: Freshness,
}

fn widened_system<S: Serializer>(
    value: &Option<Arc<SystemStats>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    widened(&value.as_deref(), s)
}

/// The GPUs' last report under `report` (null before the first), and how fresh it is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CachedGpu {
    #[schema(value_type = Option<Object>)]
    report: Option<Arc<GpuReport>>,
    #[serde(flatten)]
    freshness: Freshness,
}

/// `GET /api/stats`: system and GPU, cached.
#[utoipa::path(get, path = "/api/stats", tag = "live", responses((status = 200, description = "`system`, `gpu` (each a cached read: the value, `updated_at`, `age_ms`, `stale`, `error`) and `plugins`.", body = Stats)))]
async fn stats(State(state): State<AppState>) -> Json<Stats> {
    let (system, gpu) = (state.dashboard.system_stats(), state.dashboard.gpu_stats());
    Json(Stats {
        system: CachedSystem {
            freshness: Freshness::of(&system),
            stats: system.value,
        },
        gpu: CachedGpu {
            freshness: Freshness::of(&gpu),
            report: gpu.value,
        },
        plugins: state.plugins.latest_metrics(),
    })
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

/// The answer of `GET /api/stats/history`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct History {
    /// The window, in seconds.
    window_secs: u64,
    /// The samples, oldest first; written [`widened`] (their percentages are `f32`).
    #[schema(value_type = Vec<Object>)]
    #[serde(serialize_with = "widened")]
    points: Vec<HistorySample>,
}

/// `GET /api/stats/history?window=10m`: recent samples (memory) or downsampled points (SQLite).
#[utoipa::path(get, path = "/api/stats/history", tag = "models", params(WindowQuery), responses((status = 200, description = "`window_secs` and `points`.", body = History)))]
async fn history(
    State(state): State<AppState>,
    Query(q): Query<WindowQuery>,
) -> ApiResult<Json<History>> {
    let window = parse_window(q.window.as_deref().unwrap_or("10m"))?;
    let points = state.dashboard.stats_history(window).await?;
    Ok(Json(History {
        window_secs: window.as_secs(),
        points,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SnapshotQuery {
    kind: Option<String>,
    limit: Option<usize>,
}

/// The answer of `GET /api/models/snapshots`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Snapshots {
    /// What was loaded or installed when, newest first.
    #[schema(value_type = Vec<Object>)]
    snapshots: Vec<ModelSnapshot>,
}

/// `GET /api/models/snapshots?kind=running|installed&limit=50`.
#[utoipa::path(get, path = "/api/models/snapshots", tag = "models", params(SnapshotQuery), responses((status = 200, description = "`{\"snapshots\": [...]}`.", body = Snapshots)))]
async fn snapshots(
    State(state): State<AppState>,
    Query(q): Query<SnapshotQuery>,
) -> ApiResult<Json<Snapshots>> {
    if let Some(kind) = q.kind.as_deref()
        && !matches!(kind, "running" | "installed")
    {
        return Err(ApiError::bad_request("kind must be running or installed"));
    }
    let rows = state
        .dashboard
        .model_snapshots(q.kind.as_deref(), q.limit.unwrap_or(50))
        .await?;
    Ok(Json(Snapshots { snapshots: rows }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CategoryQuery {
    category: Option<String>,
}

/// The answer of `GET /api/models/downloadable`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Catalogue {
    /// The catalogue's models of the category, the installed ones marked.
    #[schema(value_type = Vec<Object>)]
    models: Vec<CatalogueEntry>,
}

/// `GET /api/models/downloadable?category=best|all`.
#[utoipa::path(get, path = "/api/models/downloadable", tag = "models", params(CategoryQuery), responses((status = 200, description = "`{\"models\": [...]}`: the catalogue.", body = Catalogue)))]
async fn downloadable(
    State(state): State<AppState>,
    Query(q): Query<CategoryQuery>,
) -> ApiResult<Json<Catalogue>> {
    let category: Category = q.category.as_deref().unwrap_or("best").parse()?;
    let models = state.dashboard.downloadable(category)?;
    Ok(Json(Catalogue { models }))
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
) -> ApiResult<Json<ModelInfo>> {
    let name = required_model_name(q)?;
    Ok(Json(state.dashboard.show_model(&name).await?))
}

/// `GET /api/models/show/{*name}`.
#[utoipa::path(get, path = "/api/models/show/{name}", tag = "models", params(("name" = String, Path, description = "The model (may hold `/` and `:`)")), responses((status = 200, description = "Ollama's `show` of the model.", body = JsonObject)))]
async fn show_path(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<ModelInfo>> {
    Ok(Json(state.dashboard.show_model(&name).await?))
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

/// A job as answered: the job, whether it can be started again, and where to read it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
struct JobAnswer {
    #[serde(flatten)]
    job: ShownJob,
    /// A pull or start that did not finish: `POST /api/jobs/{id}/resume` starts it again.
    resumable: bool,
    /// `/api/jobs/{id}`.
    url: String,
}

impl From<Job> for JobAnswer {
    fn from(job: Job) -> Self {
        Self {
            resumable: job.resumable(),
            url: format!("/api/jobs/{}", job.id),
            job: job.into(),
        }
    }
}

/// A job's own fields, as `/api/jobs` and the `job` event show them: a failed job's error
/// carries the status its failure is answered with.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
struct ShownJob {
    /// Its id (UUIDv7).
    id: String,
    /// `pull`, `start` or `delete`.
    #[schema(value_type = String)]
    kind: JobKind,
    /// On which model.
    model: String,
    /// The node it runs on (null: a job stored before jobs named their node).
    node: Option<String>,
    /// `queued`, `running`, `done`, `failed`, `cancelled` or `interrupted`.
    #[schema(value_type = String)]
    state: JobState,
    /// How far: `status`, `completed`, `total`, `percent`, `bytes_per_sec`, `eta_secs`.
    #[schema(value_type = Object)]
    progress: Progress,
    /// Why it failed (null unless it did).
    error: Option<ShownJobError>,
    /// Unix ms.
    created_at: i64,
    /// Unix ms.
    updated_at: i64,
}

impl From<Job> for ShownJob {
    fn from(job: Job) -> Self {
        // Whole, so that a new field of `Job` is a choice made here.
        let Job {
            id,
            kind,
            model,
            node,
            state,
            progress,
            error,
            created_at,
            updated_at,
        } = job;
        Self {
            id,
            kind,
            model,
            node,
            state,
            progress,
            error: error.map(ShownJobError::from),
            created_at,
            updated_at,
        }
    }
}

/// Why a job failed, with the status its failure is answered with.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
struct ShownJobError {
    /// `not_found`, `does_not_fit`, `runner_crashed`, `unreachable`, `still_loaded` or `other`.
    kind: String,
    /// The error's kind (`not_found`, `invalid`, …), which sets `status`.
    #[schema(value_type = String)]
    error_kind: ErrorKind,
    /// What happened.
    message: String,
    /// The HTTP status that kind is answered with.
    status: u16,
}

impl From<JobError> for ShownJobError {
    fn from(error: JobError) -> Self {
        let JobError {
            kind,
            error_kind,
            message,
        } = error;
        Self {
            kind,
            error_kind,
            message,
            status: crate::http::error::status_of_kind(error_kind),
        }
    }
}

/// The answer of a call that starts jobs (202): `job` (the first) and `jobs` (one per node).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Accepted {
    /// The first job (null if none started).
    job: Option<JobAnswer>,
    /// Every job started, one per node.
    jobs: Vec<JobAnswer>,
}

/// 202 with `job` (the first) and `jobs` (one per node).
fn accepted(jobs: Vec<Job>) -> (StatusCode, Json<Accepted>) {
    let jobs: Vec<JobAnswer> = jobs.into_iter().map(JobAnswer::from).collect();
    let job = jobs.first().cloned();
    (StatusCode::ACCEPTED, Json(Accepted { job, jobs }))
}

/// `POST /api/models/start {"model", "keep_alive"?}` → 202 with the job.
#[utoipa::path(post, path = "/api/models/start", tag = "models", request_body = ModelBody, responses((status = 202, description = "`{\"job\": …}`: the job (`id`, `kind`, `model`, `state`, progress, `resumable`, `url`).", body = Accepted)))]
async fn start(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ModelBody>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    if let Some(OllamaKeepAlive::Duration(raw)) = &body.keep_alive {
        ollama_dash_core::settings::parse_keep_alive(raw).map_err(ApiError::bad_request)?;
    }
    let model = body.model()?.to_owned();
    let jobs = state
        .dashboard
        .start_model(&model, body.keep_alive, &body.nodes)?;
    Ok(accepted(jobs))
}

/// The answer of `POST /api/models/stop`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Stopped {
    /// The model.
    model: String,
    /// It was loaded on some node when asked.
    was_loaded: bool,
    /// Always false: it has left `/api/ps` on each node.
    loaded: bool,
    /// Each node it was unloaded on.
    nodes: Vec<NodeStopped>,
}

/// One node of a stop.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct NodeStopped {
    /// The node.
    node: String,
    /// The model was loaded there when asked.
    was_loaded: bool,
}

/// `POST /api/models/stop {"model"}`: unloads and confirms it left `/api/ps`.
#[utoipa::path(post, path = "/api/models/stop", tag = "models", request_body = ModelBody, responses((status = 200, description = "`model`, `was_loaded`, `loaded` (false), `nodes` (`node`, `was_loaded`).", body = Stopped)))]
async fn stop(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ModelBody>,
) -> ApiResult<Json<Stopped>> {
    let model = body.model()?.to_owned();
    let outcomes = state.dashboard.stop_model(&model, &body.nodes).await?;
    let nodes: Vec<NodeStopped> = outcomes
        .into_iter()
        .map(|(node, o)| NodeStopped {
            node,
            was_loaded: o.was_loaded,
        })
        .collect();
    let was_loaded = nodes.iter().any(|n| n.was_loaded);
    Ok(Json(Stopped {
        model,
        was_loaded,
        loaded: false,
        nodes,
    }))
}

/// `POST /api/models/pull {"model"}` → 202 with the job.
#[utoipa::path(post, path = "/api/models/pull", tag = "models", request_body = ModelBody, responses((status = 202, description = "`{\"job\": …}`: the job (`id`, `kind`, `model`, `state`, progress, `resumable`, `url`).", body = Accepted)))]
async fn pull(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ModelBody>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let model = body.model()?.to_owned();
    Ok(accepted(state.dashboard.pull(&model, &body.nodes)?))
}

/// `POST /api/models/delete {"model"}` → 202 with the job.
#[utoipa::path(post, path = "/api/models/delete", tag = "models", request_body = ModelBody, responses((status = 202, description = "`{\"job\": …}`: the job (`id`, `kind`, `model`, `state`, progress, `resumable`, `url`).", body = Accepted)))]
async fn delete_body(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ModelBody>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let model = body.model()?.to_owned();
    Ok(accepted(state.dashboard.delete_model(&model, &body.nodes)?))
}

/// `DELETE /api/models?name=…` → 202 with the job.
#[utoipa::path(delete, path = "/api/models", tag = "models", params(NameQuery), responses((status = 202, description = "`{\"job\": …}`: the job (`id`, `kind`, `model`, `state`, progress, `resumable`, `url`).", body = Accepted)))]
async fn delete_query(
    State(state): State<AppState>,
    Query(q): Query<NameQuery>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let nodes = q.nodes.clone();
    let targets = match nodes.as_deref() {
        None | Some("") => Targets::Default,
        Some("all") => Targets::All,
        Some(list) => Targets::Named(list.split(',').map(|n| n.trim().to_owned()).collect()),
    };
    let name = required_model_name(q)?;
    Ok(accepted(state.dashboard.delete_model(&name, &targets)?))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct CopyBody {
    source: String,
    destination: String,
}

/// The answer of `POST /api/models/copy`: what was copied where.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Copied {
    source: String,
    destination: String,
}

/// `POST /api/models/copy {"source", "destination"}`.
#[utoipa::path(post, path = "/api/models/copy", tag = "models", request_body = CopyBody, responses((status = 200, description = "`source` and `destination`.", body = Copied)))]
async fn copy(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CopyBody>,
) -> ApiResult<Json<Copied>> {
    state
        .dashboard
        .copy_model(&body.source, &body.destination)
        .await?;
    Ok(Json(Copied {
        source: body.source,
        destination: body.destination,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct LimitQuery {
    limit: Option<usize>,
}

/// The answer of `GET /api/jobs`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct JobList {
    /// Newest first.
    jobs: Vec<JobAnswer>,
}

/// `GET /api/jobs?limit=50`.
#[utoipa::path(get, path = "/api/jobs", tag = "jobs", params(LimitQuery), responses((status = 200, description = "`{\"jobs\": [...]}`, newest first.", body = JobList)))]
async fn jobs(
    State(state): State<AppState>,
    Query(q): Query<LimitQuery>,
) -> ApiResult<Json<JobList>> {
    let jobs = state.dashboard.jobs(q.limit.unwrap_or(50)).await?;
    Ok(Json(JobList {
        jobs: jobs.into_iter().map(JobAnswer::from).collect(),
    }))
}

/// `GET /api/jobs/{id}`.
#[utoipa::path(get, path = "/api/jobs/{id}", tag = "jobs", params(("id" = String, Path, description = "The job's id")), responses((status = 200, description = "The job.", body = JobAnswer)))]
async fn job(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<JobAnswer>> {
    Ok(Json(state.dashboard.job(&id).await?.into()))
}

/// `POST /api/jobs/{id}/cancel`.
#[utoipa::path(post, path = "/api/jobs/{id}/cancel", tag = "jobs", params(("id" = String, Path, description = "The job's id")), responses((status = 200, description = "The job.", body = JobAnswer)))]
async fn cancel_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobAnswer>> {
    Ok(Json(state.dashboard.cancel_job(&id).await?.into()))
}

/// `POST /api/jobs/{id}/resume` → 202 with the new job.
#[utoipa::path(post, path = "/api/jobs/{id}/resume", tag = "jobs", params(("id" = String, Path, description = "The job's id")), responses((status = 202, description = "`{\"job\": …}`: the job (`id`, `kind`, `model`, `state`, progress, `resumable`, `url`). (the new job)", body = Accepted)))]
async fn resume_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    Ok(accepted(vec![state.dashboard.resume_job(&id).await?]))
}

/// `GET /api/service/status`.
#[utoipa::path(get, path = "/api/service/status", tag = "service", responses((status = 200, description = "The managed Ollama's state.", body = JsonObject)))]
async fn service_status(State(state): State<AppState>) -> Json<ServiceStatus> {
    Json(state.dashboard.service_status())
}

/// `POST /api/service/start`.
#[utoipa::path(post, path = "/api/service/start", tag = "service", responses((status = 200, description = "The managed Ollama's state.", body = JsonObject)))]
async fn service_start(State(state): State<AppState>) -> ApiResult<Json<ServiceStatus>> {
    Ok(Json(state.dashboard.service_start().await?))
}

/// `POST /api/service/stop`.
#[utoipa::path(post, path = "/api/service/stop", tag = "service", responses((status = 200, description = "The managed Ollama's state.", body = JsonObject)))]
async fn service_stop(State(state): State<AppState>) -> ApiResult<Json<ServiceStatus>> {
    Ok(Json(state.dashboard.service_stop().await?))
}

/// `POST /api/service/restart`.
#[utoipa::path(post, path = "/api/service/restart", tag = "service", responses((status = 200, description = "The managed Ollama's state.", body = JsonObject)))]
async fn service_restart(State(state): State<AppState>) -> ApiResult<Json<ServiceStatus>> {
    Ok(Json(state.dashboard.service_restart().await?))
}

/// The answer of `GET /api/settings`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SettingsAnswer {
    /// What the UI may change: `key`, `kind`, `min`, `max`, `description`.
    #[schema(value_type = Vec<Object>)]
    editable: &'static [SettingSpec],
    /// The global generation defaults.
    #[schema(value_type = Object)]
    global: GenerationDefaults,
    /// Per-model generation defaults, by model name.
    #[schema(value_type = Object)]
    models: BTreeMap<String, GenerationDefaults>,
    /// The deployment settings, read-only here.
    deployment: Deployment,
}

/// The deployment settings in `GET /api/settings`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Deployment {
    /// Where they come from.
    source: &'static str,
    values: DeploymentValues,
}

/// The values of the deployment settings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DeploymentValues {
    ollama_host: String,
    #[schema(value_type = String)]
    data_path: PathBuf,
    request_timeout_secs: u64,
    system_interval_secs: f64,
    gpu_interval_secs: f64,
    ps_interval_secs: f64,
    tags_interval_secs: f64,
    version_interval_secs: f64,
    start_keep_alive: Option<String>,
    manage_ollama: bool,
    #[schema(value_type = Option<String>)]
    ollama_binary: Option<PathBuf>,
    history_days: u64,
}

/// `GET /api/settings`: what the UI may change (with its current values) and, read-only, the
/// deployment settings that come from the config file and environment.
#[utoipa::path(get, path = "/api/settings", tag = "settings", responses((status = 200, description = "`editable`, `global`, `models`, `deployment`.", body = SettingsAnswer)))]
async fn settings(State(state): State<AppState>) -> Json<SettingsAnswer> {
    let view = state.dashboard.settings();
    let c = state.dashboard.config();
    let live = &c.live;
    Json(SettingsAnswer {
        editable: EDITABLE,
        global: view.global,
        models: view.models,
        deployment: Deployment {
            source: "config file and environment (read-only here)",
            values: DeploymentValues {
                ollama_host: c.ollama_host.clone(),
                data_path: c.data_path.clone(),
                request_timeout_secs: c.request_timeout_secs,
                system_interval_secs: live.system_interval_secs,
                gpu_interval_secs: live.gpu_interval_secs,
                ps_interval_secs: live.ps_interval_secs,
                tags_interval_secs: live.tags_interval_secs,
                version_interval_secs: live.version_interval_secs,
                start_keep_alive: live.start_keep_alive.clone(),
                manage_ollama: live.manage_ollama,
                ollama_binary: live.ollama_binary.clone(),
                history_days: live.history_days,
            },
        },
    })
}

/// The answer of a settings update: the scope and its settings now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SettingsUpdated {
    /// `global`, or the model.
    scope: String,
    /// The scope's generation defaults after the update (fields not set are left out).
    #[schema(value_type = Object)]
    settings: GenerationDefaults,
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
#[utoipa::path(put, path = "/api/settings/global", tag = "settings", request_body(content = JsonObject, description = "`{field: value or null}`"), responses((status = 200, description = "`scope` (`global`) and `settings`.", body = SettingsUpdated)))]
async fn put_global(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<SettingsUpdated>> {
    let settings = state.dashboard.update_settings(None, object(body)?).await?;
    Ok(Json(SettingsUpdated {
        scope: "global".to_owned(),
        settings,
    }))
}

/// `PUT /api/settings/model?name=… {field: value|null, …}`.
#[utoipa::path(put, path = "/api/settings/model", tag = "settings", params(NameQuery), request_body(content = JsonObject, description = "`{field: value or null}`"), responses((status = 200, description = "`scope` (the model) and `settings`.", body = SettingsUpdated)))]
async fn put_model(
    State(state): State<AppState>,
    Query(q): Query<NameQuery>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<SettingsUpdated>> {
    // Defaults for a name no model can have would never apply: refuse them (400 on `name`).
    let name = required_model_name(q)?;
    let settings = state
        .dashboard
        .update_settings(Some(&name), object(body)?)
        .await?;
    Ok(Json(SettingsUpdated {
        scope: name,
        settings,
    }))
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

/// The `job` event: the job's fields beside `type`, its error with its status (as in
/// `/api/jobs`).
#[derive(Debug, Serialize)]
struct JobEvent {
    #[serde(rename = "type")]
    event_type: &'static str,
    /// The job as `/api/jobs/{id}` answers it (`resumable` and `url` included).
    #[serde(flatten)]
    job: JobAnswer,
}

fn sse(event: &Event) -> SseEvent {
    let data = match event {
        Event::Job(job) => serde_json::to_value(JobEvent {
            event_type: "job",
            job: job.clone().into(),
        }),
        other => serde_json::to_value(other),
    }
    .unwrap_or(Value::Null);
    let name = data
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("event")
        .to_owned();
    SseEvent::default().event(name).data(data.to_string())
}
