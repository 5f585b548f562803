//! `GET /v1/traces/usage?window=1h[&bucket=1m]`: the traces of the last `window` bucketed
//! server-side (per bucket and model: requests, errors, tokens/s, p50/p95 TTFT and latency),
//! what the Usage charts draw. A `user` key sees only its own traces.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::caller::Caller;
use super::error::{ApiError, ApiResult};
use super::json::Query;
use ollama_dash_core::traces::{TraceUsage, UsagePoint, UsageQuery};

/// Query parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct UsageParams {
    window: Option<String>,
    bucket: Option<String>,
}

/// The answer: the window and bucket asked for, and the core's buckets.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct UsageAnswer {
    /// The window, seconds.
    window_secs: u64,
    /// The width of a bucket, seconds.
    bucket_secs: u64,
    /// Window start, Unix ms.
    since: i64,
    /// Window end, Unix ms.
    until: i64,
    /// Width of a bucket, ms.
    bucket_ms: i64,
    /// Every model seen in the window, by name.
    models: Vec<String>,
    /// By bucket start, then model name: requests, errors, tokens/s, p50/p95 TTFT and latency.
    #[schema(value_type = Vec<Object>)]
    points: Vec<UsagePoint>,
}

/// The handler.
#[utoipa::path(get, path = "/v1/traces/usage", tag = "traces", params(UsageParams), responses((status = 200, description = "`window_secs`, `bucket_secs` and the buckets (per bucket and model: requests, errors, tokens/s, p50/p95 TTFT and latency).", body = UsageAnswer)))]
pub(super) async fn usage(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<UsageParams>,
) -> ApiResult<Json<UsageAnswer>> {
    let window = parse_duration(params.window.as_deref().unwrap_or("1h"), "window")?;
    let bucket = match params.bucket.as_deref() {
        Some(raw) => parse_duration(raw, "bucket")?,
        None => default_bucket(window),
    };
    let (window_ms, bucket_ms) = (millis(window), millis(bucket));
    // Buckets end on wall-clock multiples of their width, so a live chart's points stay put.
    let now = chrono::Utc::now().timestamp_millis();
    let until = (now / bucket_ms + 1) * bucket_ms;
    let query = UsageQuery {
        since_ms: until - window_ms,
        until_ms: until,
        bucket_ms,
        api_key: caller.scope().map(str::to_owned),
    };
    let TraceUsage {
        since,
        until,
        bucket_ms,
        models,
        points,
    } = state.dashboard.trace_usage(query).await?;
    Ok(Json(UsageAnswer {
        window_secs: window.as_secs(),
        bucket_secs: bucket.as_secs(),
        since,
        until,
        bucket_ms,
        models,
        points,
    }))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// About 60–100 points whatever the window: 10 m → 10 s, 1 h → 1 min, 24 h → 15 min,
/// 7 d → 2 h; other windows a sixtieth of themselves.
fn default_bucket(window: Duration) -> Duration {
    let secs = match window.as_secs() {
        600 => 10,
        3600 => 60,
        86_400 => 900,
        604_800 => 7200,
        other => (other / 60).max(1),
    };
    Duration::from_secs(secs)
}

/// `10s`, `10m`, `1h`, `24h`, `7d`, or seconds; at most a year.
fn parse_duration(raw: &str, what: &str) -> Result<Duration, ApiError> {
    let bad = || ApiError::bad_request(format!("{what} {raw:?}: use e.g. 10m, 1h, 24h or 7d"));
    let (number, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: u64 = number.parse().map_err(|_| bad())?;
    let unit_secs: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let secs = n.checked_mul(unit_secs).ok_or_else(bad)?;
    if secs == 0 || secs > 366 * 86_400 {
        return Err(bad());
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn windows_get_about_a_hundred_buckets_or_fewer() {
        for (window, bucket) in [
            ("10m", 10),
            ("1h", 60),
            ("24h", 900),
            ("7d", 7200),
            ("2h", 120),
        ] {
            let w = parse_duration(window, "window").unwrap();
            assert_eq!(default_bucket(w).as_secs(), bucket, "{window}");
        }
        assert!(parse_duration("0m", "window").is_err());
        assert!(parse_duration("1w", "window").is_err());
        assert!(parse_duration("99999999999999999999d", "window").is_err());
    }
}
