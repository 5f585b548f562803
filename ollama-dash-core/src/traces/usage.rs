//! Usage over time: the traces of a window bucketed server-side, per bucket and model —
//! requests, errors, tokens, tokens/s, p50/p95 TTFT and latency — for the charts.
//!
//! One pass over the window's rows in `created_at` order (the `traces_created` index), on the
//! store thread. Cost is linear in the rows of the window and bounded: at most
//! [`MAX_USAGE_BUCKETS`] buckets, models interned once, two `f64` per row kept for the
//! percentiles (16 MB at 1M rows). benches/RESULTS.md has the figure at 1M traces.

use std::collections::{BTreeMap, HashMap};

use rusqlite::Connection;
use serde::Serialize;

use super::Traces;
use super::stats::percentiles;
use crate::error::{Error, Result};

/// Most buckets one usage query may ask for.
pub const MAX_USAGE_BUCKETS: i64 = 2000;

/// What [`crate::Dashboard::trace_usage`] is asked: a window cut into buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageQuery {
    /// Window start, Unix ms (inclusive); the first bucket starts here.
    pub since_ms: i64,
    /// Window end, Unix ms (exclusive).
    pub until_ms: i64,
    /// Width of a bucket, ms (> 0; the window holds at most [`MAX_USAGE_BUCKETS`]).
    pub bucket_ms: i64,
    /// Only the traces of this key when given.
    pub api_key: Option<String>,
}

impl UsageQuery {
    /// `Error::BadRequest` unless the window is non-empty and cut into at most
    /// [`MAX_USAGE_BUCKETS`] buckets.
    pub fn validate(&self) -> Result<()> {
        if self.bucket_ms <= 0 {
            return Err(Error::BadRequest("the bucket must be longer than 0".into()));
        }
        if self.until_ms <= self.since_ms {
            return Err(Error::BadRequest(
                "the window must end after it starts".into(),
            ));
        }
        // In i128: a window from `i64::MIN` to `i64::MAX` does not overflow.
        let (span, width) = (
            i128::from(self.until_ms) - i128::from(self.since_ms),
            i128::from(self.bucket_ms),
        );
        let buckets = (span + width - 1) / width;
        if buckets > i128::from(MAX_USAGE_BUCKETS) {
            return Err(Error::BadRequest(format!(
                "{buckets} buckets asked; at most {MAX_USAGE_BUCKETS}: use a wider bucket"
            )));
        }
        Ok(())
    }
}

/// One model in one bucket. Buckets without a trace of the model are left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsagePoint {
    /// Bucket start, Unix ms.
    pub start: i64,
    /// Model name.
    pub model: String,
    /// Traces that started in the bucket.
    pub requests: u64,
    /// Of which ended in error.
    pub errors: u64,
    /// Of which were cancelled by the client.
    pub cancelled: u64,
    /// Sum of prompt tokens.
    pub prompt_tokens: u64,
    /// Sum of generated tokens.
    pub completion_tokens: u64,
    /// Generated tokens per second of Ollama's generation time.
    pub tokens_per_second: Option<f64>,
    /// Median time to first token, ms.
    pub p50_ttft_ms: Option<f64>,
    /// 95th percentile time to first token, ms.
    pub p95_ttft_ms: Option<f64>,
    /// Median request duration, ms.
    pub p50_latency_ms: Option<f64>,
    /// 95th percentile request duration, ms.
    pub p95_latency_ms: Option<f64>,
}

/// Usage of a window, bucket by bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceUsage {
    /// Window start, Unix ms.
    pub since: i64,
    /// Window end, Unix ms.
    pub until: i64,
    /// Width of a bucket, ms.
    pub bucket_ms: i64,
    /// Every model seen in the window, by name.
    pub models: Vec<String>,
    /// By bucket start, then model name.
    pub points: Vec<UsagePoint>,
}

impl Traces {
    /// See [`crate::Dashboard::trace_usage`].
    pub(crate) async fn usage(&self, query: UsageQuery) -> Result<TraceUsage> {
        query.validate()?;
        self.store().call(move |c| compute(c, &query)).await
    }
}

#[derive(Default)]
struct Acc {
    point: UsagePoint,
    latencies: Vec<f64>,
    ttfts: Vec<f64>,
    eval_tokens: u64,
    eval_ns: u64,
}

fn compute(c: &Connection, query: &UsageQuery) -> rusqlite::Result<TraceUsage> {
    let mut statement = c.prepare_cached(
        "SELECT created_at, model, status, prompt_tokens, completion_tokens, duration_ms, \
         ttft_ms, eval_ns FROM traces \
         WHERE created_at >= ?1 AND created_at < ?2 AND (?3 IS NULL OR api_key = ?3)",
    )?;
    let mut rows = statement.query((query.since_ms, query.until_ms, query.api_key.as_deref()))?;
    let mut model_ids: HashMap<String, usize> = HashMap::new();
    let mut groups: BTreeMap<(i64, usize), Acc> = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let created: i64 = r.get(0)?;
        let model = r.get_ref(1)?.as_str().unwrap_or_default();
        let next_id = model_ids.len();
        let model_id = match model_ids.get(model) {
            Some(id) => *id,
            None => *model_ids.entry(model.to_owned()).or_insert(next_id),
        };
        let bucket = (created - query.since_ms) / query.bucket_ms;
        let acc = groups.entry((bucket, model_id)).or_default();
        let p = &mut acc.point;
        p.requests += 1;
        match r.get_ref(2)?.as_str().unwrap_or_default() {
            "error" => p.errors += 1,
            "cancelled" => p.cancelled += 1,
            _ => {}
        }
        let completion = r.get::<_, Option<i64>>(4)?.unwrap_or(0).max(0) as u64;
        p.prompt_tokens += r.get::<_, Option<i64>>(3)?.unwrap_or(0).max(0) as u64;
        p.completion_tokens += completion;
        if let Some(ms) = r.get::<_, Option<f64>>(5)? {
            acc.latencies.push(ms);
        }
        if let Some(ms) = r.get::<_, Option<f64>>(6)? {
            acc.ttfts.push(ms);
        }
        if let Some(ns) = r.get::<_, Option<i64>>(7)?.filter(|ns| *ns > 0) {
            acc.eval_ns += ns as u64;
            acc.eval_tokens += completion;
        }
    }
    let mut names = vec![String::new(); model_ids.len()];
    for (name, id) in model_ids {
        names[id] = name;
    }
    let mut points: Vec<UsagePoint> = groups
        .into_iter()
        .map(|((bucket, model_id), mut acc)| {
            let p = &mut acc.point;
            p.start = query.since_ms + bucket * query.bucket_ms;
            p.model.clone_from(&names[model_id]);
            (p.p50_latency_ms, p.p95_latency_ms) = percentiles(&mut acc.latencies);
            (p.p50_ttft_ms, p.p95_ttft_ms) = percentiles(&mut acc.ttfts);
            p.tokens_per_second =
                (acc.eval_ns > 0).then(|| acc.eval_tokens as f64 * 1e9 / acc.eval_ns as f64);
            acc.point
        })
        .collect();
    points.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.model.cmp(&b.model)));
    names.sort();
    Ok(TraceUsage {
        since: query.since_ms,
        until: query.until_ms,
        bucket_ms: query.bucket_ms,
        models: names,
        points,
    })
}
