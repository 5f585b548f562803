//! Per-model aggregates over a time window: counts, tokens, latency and TTFT percentiles.

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::Serialize;

/// Aggregates of the traces of one model.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModelTraceStats {
    /// Model name.
    pub model: String,
    /// Traces in the window.
    pub count: u64,
    /// Of which ended in error.
    pub errors: u64,
    /// Of which were cancelled by the client.
    pub cancelled: u64,
    /// Sum of prompt tokens.
    pub prompt_tokens: u64,
    /// Sum of generated tokens.
    pub completion_tokens: u64,
    /// Sum of both.
    pub total_tokens: u64,
    /// Median request duration, ms.
    pub p50_latency_ms: Option<f64>,
    /// 95th percentile request duration, ms.
    pub p95_latency_ms: Option<f64>,
    /// Median time to first token, ms.
    pub p50_ttft_ms: Option<f64>,
    /// 95th percentile time to first token, ms.
    pub p95_ttft_ms: Option<f64>,
    /// Generated tokens per second of Ollama's generation time.
    pub tokens_per_second: Option<f64>,
}

/// Aggregates per model between two times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceStats {
    /// Window start, Unix ms (inclusive).
    pub since: i64,
    /// Window end, Unix ms (exclusive).
    pub until: i64,
    /// One entry per model, by name.
    pub models: Vec<ModelTraceStats>,
}

/// Totals of the traces of a window, all models and keys (what collector plugins see).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TraceTotals {
    /// Traces in the window.
    pub count: u64,
    /// Of which ended in error.
    pub errors: u64,
    /// Sum of prompt tokens.
    pub prompt_tokens: u64,
    /// Sum of generated tokens.
    pub completion_tokens: u64,
    /// Ollama's generation time (`eval_duration`) summed, ms.
    pub generation_ms: u64,
}

#[derive(Default)]
struct Acc {
    stats: ModelTraceStats,
    latencies: Vec<f64>,
    ttfts: Vec<f64>,
    eval_tokens: u64,
    eval_ns: u64,
}

pub(super) fn compute(
    c: &Connection,
    since: i64,
    until: i64,
    api_key: Option<&str>,
) -> rusqlite::Result<TraceStats> {
    let mut st = c.prepare_cached(
        "SELECT model, status, prompt_tokens, completion_tokens, duration_ms, ttft_ms, eval_ns \
         FROM traces WHERE created_at >= ?1 AND created_at < ?2 AND (?3 IS NULL OR api_key = ?3)",
    )?;
    let mut rows = st.query((since, until, api_key))?;
    let mut per_model: BTreeMap<String, Acc> = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let model: String = r.get(0)?;
        let status: String = r.get(1)?;
        let prompt = r.get::<_, Option<i64>>(2)?.unwrap_or(0).max(0) as u64;
        let completion = r.get::<_, Option<i64>>(3)?.unwrap_or(0).max(0) as u64;
        let acc = per_model.entry(model).or_default();
        let s = &mut acc.stats;
        s.count += 1;
        s.errors += u64::from(status == "error");
        s.cancelled += u64::from(status == "cancelled");
        s.prompt_tokens += prompt;
        s.completion_tokens += completion;
        s.total_tokens += prompt + completion;
        if let Some(ms) = r.get::<_, Option<f64>>(4)? {
            acc.latencies.push(ms);
        }
        if let Some(ms) = r.get::<_, Option<f64>>(5)? {
            acc.ttfts.push(ms);
        }
        if let Some(ns) = r.get::<_, Option<i64>>(6)?.filter(|ns| *ns > 0) {
            acc.eval_ns += ns as u64;
            acc.eval_tokens += completion;
        }
    }
    let models = per_model
        .into_iter()
        .map(|(model, mut acc)| {
            let s = &mut acc.stats;
            s.model = model;
            (s.p50_latency_ms, s.p95_latency_ms) = percentiles(&mut acc.latencies);
            (s.p50_ttft_ms, s.p95_ttft_ms) = percentiles(&mut acc.ttfts);
            s.tokens_per_second =
                (acc.eval_ns > 0).then(|| acc.eval_tokens as f64 * 1e9 / acc.eval_ns as f64);
            acc.stats
        })
        .collect();
    Ok(TraceStats {
        since,
        until,
        models,
    })
}

/// p50 and p95 by nearest rank.
pub(super) fn percentiles(values: &mut [f64]) -> (Option<f64>, Option<f64>) {
    if values.is_empty() {
        return (None, None);
    }
    values.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let index = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
        values[index]
    };
    (Some(rank(0.50)), Some(rank(0.95)))
}

#[cfg(test)]
mod tests {
    use super::percentiles;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentiles(&mut v), (Some(50.0), Some(95.0)));
        assert_eq!(percentiles(&mut [7.0]), (Some(7.0), Some(7.0)));
        assert_eq!(percentiles(&mut []), (None, None));
    }
}
