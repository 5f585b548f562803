//! `/ping`, `/api/health`, `/api/version`, `/api/auth/verify`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::extract::State;
use axum::{Extension, Json};
use ollama_dash_core::live::ProbeError;
use ollama_dash_core::service::ServiceStatus;
use ollama_dash_core::traces::{RetentionPolicy, RetentionReport};
use ollama_dash_core::{OllamaHealth, StoreHealth};
use serde::Serialize;

use super::AppState;
use super::error::ApiResult;
use crate::auth::Principal;

/// The answer of `GET /ping`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Pong {
    /// Always `ok`.
    status: &'static str,
}

/// `GET /ping`: liveness, no auth.
#[utoipa::path(get, path = "/ping", tag = "system", responses((status = 200, description = "`{\"status\": \"ok\"}`: the server is up (no token).", body = Pong)))]
pub(super) async fn ping() -> Json<Pong> {
    Json(Pong { status: "ok" })
}

/// The answer of `GET /api/health`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct HealthAnswer {
    /// `ok`, or `degraded` while a component (or a node of several) is down.
    status: &'static str,
    /// Each node of the fleet by name.
    nodes: BTreeMap<String, NodeHealth>,
    /// Our version.
    version: &'static str,
    /// Seconds since the server started.
    uptime_secs: u64,
    /// The SQLite store and its writer.
    store: StoreAnswer,
    /// Trace retention and the traces waiting for the store.
    traces: TracesHealth,
    /// The Ollama server.
    ollama: OllamaAnswer,
    /// The live collector and its probes.
    collector: CollectorAnswer,
    /// The Ollama service as this host manages it.
    #[schema(value_type = Object)]
    service: ServiceStatus,
}

/// One node of the fleet in `/api/health`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct NodeHealth {
    /// `up`, `down` or `draining`.
    status: &'static str,
    /// The last error, if any.
    last_error: Option<String>,
}

/// The store in `/api/health`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct StoreAnswer {
    /// The store thread is running.
    ok: bool,
    /// The database file.
    #[schema(value_type = String)]
    path: PathBuf,
    /// Size of the database file plus its WAL, in bytes.
    size_bytes: u64,
    /// Writes waiting for the store thread.
    queued_writes: u64,
    /// Writes committed since start.
    written: u64,
    /// Transactions committed since start.
    batches: u64,
    /// Writes that failed.
    failed_writes: u64,
    /// Times a writer had to wait because the queue was full.
    queue_full: u64,
    /// Jobs that panicked on the store thread.
    panicked: u64,
    /// Why the most recent write failed, while writes keep failing.
    write_error: Option<String>,
}

impl From<StoreHealth> for StoreAnswer {
    fn from(s: StoreHealth) -> Self {
        Self {
            ok: s.alive,
            path: s.path,
            size_bytes: s.size_bytes,
            queued_writes: s.queued,
            written: s.written,
            batches: s.batches,
            failed_writes: s.failed,
            queue_full: s.queue_full,
            panicked: s.panicked,
            write_error: s.write_error,
        }
    }
}

/// Traces in `/api/health`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct TracesHealth {
    /// The retention policy.
    #[schema(value_type = Object)]
    retention: RetentionPolicy,
    /// What the last retention pass did, if one ran.
    #[schema(value_type = Option<Object>)]
    last_retention: Option<RetentionReport>,
    /// Traces held while the store cannot take them.
    waiting: usize,
    /// Traces dropped since the start.
    dropped: u64,
}

/// Ollama in `/api/health`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct OllamaAnswer {
    /// Every Ollama probe answered and none is stalled.
    ok: bool,
    /// Its address.
    url: String,
    /// Its version, as last probed.
    version: Option<String>,
    /// Why not, when it is not: the newest failure, named after its probe.
    error: Option<String>,
    /// How long the last version probe took, in milliseconds.
    latency_ms: f64,
}

impl From<OllamaHealth> for OllamaAnswer {
    fn from(o: OllamaHealth) -> Self {
        Self {
            ok: o.reachable,
            url: o.url,
            version: o.version,
            error: o.error,
            latency_ms: o.latency_ms,
        }
    }
}

/// The collector in `/api/health`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct CollectorAnswer {
    /// The task is running and went round its loop recently.
    alive: bool,
    /// Milliseconds since its last round.
    last_round_ms: Option<u64>,
    /// Each probe by name.
    probes: BTreeMap<&'static str, ProbeAnswer>,
}

/// A probe of the collector in `/api/health`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct ProbeAnswer {
    /// Its interval in milliseconds.
    interval_ms: u64,
    /// Age of the cached value in milliseconds (none before the first success).
    age_ms: Option<u64>,
    /// Older than twice the interval.
    stale: bool,
    /// Failures in a row.
    failures: u32,
    /// The last error, if the last attempt failed.
    #[schema(value_type = Option<Object>)]
    last_error: Option<ProbeError>,
    /// How long the last attempt took, in milliseconds.
    last_latency_ms: Option<f64>,
}

/// `GET /api/health`: each component and its state, from the cache (never waits on Ollama);
/// 200 even when degraded (read `status`).
#[utoipa::path(get, path = "/api/health", tag = "system", responses((status = 200, description = "`status` (`ok` or `degraded`), `nodes`, `version`, `uptime_secs`, `store`, `traces`, `ollama`, `collector`, `service`; 200 even when degraded.", body = HealthAnswer)))]
pub(super) async fn health(State(state): State<AppState>) -> Json<HealthAnswer> {
    let h = state.dashboard.health().await;
    let (retention, last_retention) = state.dashboard.trace_retention();
    let backlog = state.dashboard.trace_backlog();
    // A fleet of several is degraded while any node is down; one node is `ollama` below.
    let fleet = state.dashboard.fleet().status();
    let nodes_ok = fleet.len() < 2 || fleet.iter().all(|n| n.state != "down");
    let nodes = fleet
        .into_iter()
        .map(|n| {
            let node = NodeHealth {
                status: n.state,
                last_error: n.last_error,
            };
            (n.name, node)
        })
        .collect();
    let probes = h
        .collector
        .probes
        .into_iter()
        .map(|p| {
            let probe = ProbeAnswer {
                interval_ms: p.interval_ms,
                age_ms: p.age_ms,
                stale: p.stale,
                failures: p.failures,
                last_error: p.last_error,
                last_latency_ms: p.last_latency_ms,
            };
            (p.probe.name(), probe)
        })
        .collect();
    Json(HealthAnswer {
        status: if h.ok && nodes_ok { "ok" } else { "degraded" },
        nodes,
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: h.uptime.as_secs(),
        store: h.store.into(),
        traces: TracesHealth {
            retention,
            last_retention,
            waiting: backlog.waiting,
            dropped: backlog.dropped,
        },
        ollama: h.ollama.into(),
        collector: CollectorAnswer {
            alive: h.collector.alive,
            last_round_ms: h.collector.last_round_ms,
            probes,
        },
        service: state.dashboard.service_status(),
    })
}

/// The answer of `GET /api/version`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Versions {
    /// Ours.
    version: &'static str,
    /// Ollama's.
    ollama_version: String,
}

/// `GET /api/version`: ours and Ollama's.
#[utoipa::path(get, path = "/api/version", tag = "system", responses((status = 200, description = "`version` (ours) and `ollama_version`.", body = Versions)))]
pub(super) async fn version(State(state): State<AppState>) -> ApiResult<Json<Versions>> {
    let ollama_version = state.dashboard.version().await?;
    Ok(Json(Versions {
        version: env!("CARGO_PKG_VERSION"),
        ollama_version,
    }))
}

/// The answer of `POST /api/auth/verify`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Verified {
    /// Always true (an invalid token never gets here).
    valid: bool,
    /// The key's name (`admin` for `AUTH_TOKEN`).
    name: String,
    /// `viewer`, `user` or `admin`.
    role: &'static str,
}

/// `POST /api/auth/verify`: reached only with a valid token; says who it is and its role, so
/// the web page can hide what the key may not do.
#[utoipa::path(post, path = "/api/auth/verify", tag = "system", responses((status = 200, description = "`valid` (true), the key's `name` and `role`.", body = Verified)))]
pub(super) async fn verify(Extension(principal): Extension<Principal>) -> Json<Verified> {
    Json(Verified {
        valid: true,
        name: principal.name,
        role: principal.role.as_str(),
    })
}
