//! Totals of the traces recorded in the last hour, in memory: one bucket per second, updated as
//! each trace is recorded, so a collection round asks SQLite nothing.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use super::{TraceRecord, TraceStatus, TraceTotals};

/// The longest window [`RecentTraces::totals`] can answer.
pub const RECENT_WINDOW_MAX: Duration = Duration::from_secs(3600);

/// Per-second totals, oldest first.
#[derive(Debug, Default)]
pub(crate) struct RecentTraces {
    buckets: Mutex<VecDeque<(i64, TraceTotals)>>,
}

impl RecentTraces {
    /// Counts a trace recorded at `now_ms`.
    pub(crate) fn add(&self, now_ms: i64, trace: &TraceRecord) {
        let second = now_ms.div_euclid(1000);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let oldest = second - RECENT_WINDOW_MAX.as_secs().cast_signed();
        while buckets.front().is_some_and(|(s, _)| *s <= oldest) {
            buckets.pop_front();
        }
        if buckets.back().is_none_or(|(s, _)| *s < second) {
            buckets.push_back((second, TraceTotals::default()));
        }
        // A clock stepping back lands in the newest bucket.
        if let Some((_, t)) = buckets.back_mut() {
            t.count += 1;
            t.errors += u64::from(trace.status == TraceStatus::Error);
            t.prompt_tokens += trace.prompt_tokens.unwrap_or(0);
            t.completion_tokens += trace.completion_tokens.unwrap_or(0);
            t.generation_ms += trace.eval_ns.unwrap_or(0) / 1_000_000;
        }
    }

    /// Totals of the traces recorded in the last `window` (at most [`RECENT_WINDOW_MAX`])
    /// before `now_ms`.
    pub(crate) fn totals(&self, now_ms: i64, window: Duration) -> TraceTotals {
        let window = window.min(RECENT_WINDOW_MAX).as_secs().cast_signed();
        let since = now_ms.div_euclid(1000) - window;
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let mut sum = TraceTotals::default();
        for (_, t) in buckets.iter().rev().take_while(|(s, _)| *s > since) {
            sum.count += t.count;
            sum.errors += t.errors;
            sum.prompt_tokens += t.prompt_tokens;
            sum.completion_tokens += t.completion_tokens;
            sum.generation_ms += t.generation_ms;
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn trace(status: TraceStatus, tokens: u64) -> TraceRecord {
        TraceRecord {
            model: "m".into(),
            status,
            completion_tokens: Some(tokens),
            eval_ns: Some(tokens * 10_000_000),
            ..TraceRecord::new(String::new(), 0)
        }
    }

    #[test]
    fn counts_what_falls_in_the_window_and_forgets_the_rest() {
        let recent = RecentTraces::default();
        let t0 = 1_700_000_000_000;
        recent.add(t0, &trace(TraceStatus::Ok, 10));
        recent.add(t0 + 400, &trace(TraceStatus::Error, 0));
        recent.add(t0 + 120_000, &trace(TraceStatus::Ok, 5));
        let now = t0 + 150_000;
        let all = recent.totals(now, Duration::from_secs(300));
        assert_eq!(
            (
                all.count,
                all.errors,
                all.completion_tokens,
                all.generation_ms
            ),
            (3, 1, 15, 150)
        );
        assert_eq!(recent.totals(now, Duration::from_secs(60)).count, 1);
        // An hour and more later, the old buckets are gone.
        recent.add(t0 + 3_800_000, &trace(TraceStatus::Ok, 1));
        let later = recent.totals(t0 + 3_800_000, RECENT_WINDOW_MAX);
        assert_eq!(later.count, 1);
        assert_eq!(recent.buckets.lock().unwrap().len(), 1);
    }
}
