//! `/v1/traces`: list (keyset or page), one trace, streamed export, per-model stats.
//!
//! A `user` key sees only its own traces; viewers and admins see all.

use std::convert::Infallible;

use super::json::Query;
use crate::http::json::Path;
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use ollama_dash_core::traces::{TracePage, TraceStats};
use ollama_dash_core::{Dashboard, TraceQuery, TraceRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AppState;
use super::caller::Caller;
use super::error::{ApiError, ApiResult};
use super::openapi::JsonObject;

/// The `/v1/traces` routes.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/traces", get(list))
        .route("/v1/traces/export", get(export))
        .route("/v1/traces/stats", get(stats))
        .route("/v1/traces/{id}", get(one))
}

/// Query parameters of the list and the export.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Params {
    limit: Option<u32>,
    cursor: Option<String>,
    page: Option<u32>,
    model: Option<String>,
    status: Option<String>,
    key: Option<String>,
    since: Option<String>,
    until: Option<String>,
    q: Option<String>,
    format: Option<String>,
}

impl Params {
    fn query(&self, caller: &Caller) -> ApiResult<TraceQuery> {
        Ok(TraceQuery {
            limit: self.limit,
            cursor: self.cursor.clone().filter(|c| !c.is_empty()),
            page: self.page,
            model: self.model.clone().filter(|m| !m.is_empty()),
            status: self.status.clone().filter(|s| !s.is_empty()),
            api_key: match caller.scope() {
                Some(own) => Some(own.to_owned()),
                None => self.key.clone().filter(|k| !k.is_empty()),
            },
            since_ms: time(self.since.as_deref(), "since")?,
            until_ms: time(self.until.as_deref(), "until")?,
            search: self.q.clone().filter(|q| !q.trim().is_empty()),
            with_bodies: false,
        })
    }
}

/// Unix milliseconds or an RFC 3339 time.
fn time(value: Option<&str>, name: &str) -> ApiResult<Option<i64>> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(ms) = value.parse::<i64>() {
        return Ok(Some(ms));
    }
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| Some(t.timestamp_millis()))
        .map_err(|_| {
            ApiError::bad_request(format!(
                "{name} must be Unix milliseconds or an RFC 3339 time, not {value:?}"
            ))
            .with_param(name)
        })
}

/// The answer of `GET /v1/traces`: a page of traces in OpenAI's list shape.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TraceList {
    /// Always `list`.
    object: &'static str,
    /// The traces, without their bodies.
    #[schema(value_type = Vec<Object>)]
    data: Vec<TraceRecord>,
    /// Pass as `cursor` to get the next page; null on the last page.
    next_cursor: Option<String>,
    /// There is a next page.
    has_more: bool,
    /// The page number, when paging by `page` (else null).
    page: Option<u32>,
    /// How many traces match, when paging by `page` (else null).
    total: Option<u64>,
}

impl From<TracePage> for TraceList {
    fn from(page: TracePage) -> Self {
        Self {
            object: "list",
            data: page.traces,
            has_more: page.next_cursor.is_some(),
            next_cursor: page.next_cursor,
            page: page.page,
            total: page.total,
        }
    }
}

/// `GET /v1/traces`.
#[utoipa::path(get, path = "/v1/traces", tag = "traces", params(Params), responses((status = 200, description = "A page of traces (a user key sees its own): `data`, `has_more`, `next_cursor`, `page`, `total`.", body = TraceList)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<Params>,
) -> ApiResult<Json<TraceList>> {
    let page = state.dashboard.traces(params.query(&caller)?).await?;
    Ok(Json(page.into()))
}

/// `GET /v1/traces/{id}`: full detail.
#[utoipa::path(get, path = "/v1/traces/{id}", tag = "traces", params(("id" = String, Path, description = "The trace's id")), responses((status = 200, description = "The trace with its bodies.", body = JsonObject)))]
async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<TraceRecord>> {
    let trace = state.dashboard.trace(&id).await?;
    match caller.scope() {
        Some(own) if trace.api_key.as_deref() != Some(own) => {
            Err(ApiError::not_found(format!("trace {id:?} not found")))
        }
        _ => Ok(Json(trace)),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct StatsParams {
    since: Option<String>,
    until: Option<String>,
}

/// `GET /v1/traces/stats?since=&until=`: per model, over the last 24 hours by default.
#[utoipa::path(get, path = "/v1/traces/stats", tag = "traces", params(StatsParams), responses((status = 200, description = "Per model counts, tokens and latencies over the span.", body = JsonObject)))]
async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<StatsParams>,
) -> ApiResult<Json<TraceStats>> {
    let until = time(params.until.as_deref(), "until")?
        .unwrap_or_else(|| chrono::Utc::now().timestamp_millis() + 1);
    let since = time(params.since.as_deref(), "since")?.unwrap_or(until - 24 * 3600 * 1000);
    let key = caller.scope().map(str::to_owned);
    let stats = state.dashboard.trace_stats(since, until, key).await?;
    Ok(Json(stats))
}

/// `GET /v1/traces/export?format=jsonl|csv`: every matching trace with bodies, streamed in
/// pages so memory stays flat.
#[utoipa::path(get, path = "/v1/traces/export", tag = "traces", params(Params), responses((status = 200, description = "Every matching trace with its bodies: JSON lines, or CSV with `format=csv`.", content((String = "application/x-ndjson"), (String = "text/csv")))))]
async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<Params>,
) -> ApiResult<Response> {
    let csv = match params.format.as_deref() {
        None | Some("jsonl") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format must be jsonl or csv, not {other:?}"
            ))
            .with_param("format"));
        }
    };
    let mut query = params.query(&caller)?;
    query.with_bodies = true;
    query.page = None;
    query.limit = Some(500);
    // Fail early (bad filters) with a proper status, before the body starts.
    let first = state.dashboard.traces(query.clone()).await?;
    let header_row = csv.then(|| Bytes::from(format!("{}\n", CSV_COLUMNS.join(","))));
    let pages = futures_util::stream::unfold(
        (state.dashboard.clone(), query, Some(first), false),
        move |(dashboard, mut query, pending, finished)| async move {
            if finished {
                return None;
            }
            let page = match pending {
                Some(page) => page,
                None => next_page(&dashboard, &query).await?,
            };
            query.cursor.clone_from(&page.next_cursor);
            let finished = page.next_cursor.is_none();
            let bytes = render(&page.traces, csv);
            Some((
                Ok::<_, Infallible>(bytes),
                (dashboard, query, None, finished),
            ))
        },
    );
    let head = futures_util::stream::iter(header_row.map(Ok));
    let body = Body::from_stream(futures_util::StreamExt::chain(head, pages));
    let (kind, file) = if csv {
        ("text/csv; charset=utf-8", "traces.csv")
    } else {
        ("application/x-ndjson", "traces.jsonl")
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// The next page; `None` ends the export early when the store fails (logged).
async fn next_page(dashboard: &Dashboard, query: &TraceQuery) -> Option<TracePage> {
    match dashboard.traces(query.clone()).await {
        Ok(page) => Some(page),
        Err(e) => {
            tracing::warn!(error = %e, "trace export stopped");
            None
        }
    }
}

const CSV_COLUMNS: &[&str] = &[
    "id",
    "created_at",
    "endpoint",
    "model",
    "api_key",
    "client_addr",
    "stream",
    "status",
    "http_status",
    "error",
    "input",
    "output",
    "tool_calls",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "duration_ms",
    "ttft_ms",
    "load_ns",
    "prompt_eval_ns",
    "eval_ns",
    "total_ns",
];

fn render(traces: &[TraceRecord], csv: bool) -> Bytes {
    let mut out = Vec::new();
    for t in traces {
        if csv {
            // The record's wire form, read by column name.
            let v = serde_json::to_value(t).unwrap_or_default();
            let cells: Vec<String> = CSV_COLUMNS
                .iter()
                .map(|c| match &v[c] {
                    Value::Null => String::new(),
                    Value::String(s) => csv_cell(s),
                    other => csv_cell(&other.to_string()),
                })
                .collect();
            out.extend_from_slice(cells.join(",").as_bytes());
        } else {
            let _ = serde_json::to_writer(&mut out, t);
        }
        out.push(b'\n');
    }
    out.into()
}

/// RFC 4180 quoting.
fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
