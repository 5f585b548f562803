//! The TTL cache: one slot per probe, read at once, with its age and a `stale` flag.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::time::Instant;

use crate::error::{Error, Result};

/// One of the things the collector refreshes on its own interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    /// CPU, memory, disks, network (sysinfo).
    System,
    /// GPUs (NVML, else `nvidia-smi`).
    Gpu,
    /// Ollama's `/api/ps`.
    Running,
    /// Ollama's `/api/tags` (plus `/api/show` of models not seen before).
    Installed,
    /// Ollama's `/api/version`.
    Version,
}

impl Probe {
    /// Every probe, in a stable order.
    pub const ALL: [Probe; 5] = [
        Probe::System,
        Probe::Gpu,
        Probe::Running,
        Probe::Installed,
        Probe::Version,
    ];

    /// Its name as shown in health and events.
    pub fn name(self) -> &'static str {
        match self {
            Probe::System => "system",
            Probe::Gpu => "gpu",
            Probe::Running => "running",
            Probe::Installed => "installed",
            Probe::Version => "version",
        }
    }

    /// Whether the probe asks Ollama.
    pub fn is_ollama(self) -> bool {
        matches!(self, Probe::Running | Probe::Installed | Probe::Version)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Why the last attempt of a probe failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeError {
    /// `unreachable`, `timeout`, `ollama` (an error status) or `other`.
    pub kind: &'static str,
    /// The HTTP status Ollama answered, for `ollama`.
    pub status: Option<u16>,
    /// What went wrong.
    pub message: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The error's own detail (the message without the "Ollama is unreachable at …" prefix that
    /// [`Self::to_error`] puts back), so the prefix is never said twice.
    #[serde(skip)]
    detail: String,
}

impl ProbeError {
    pub(crate) fn from_error(error: &Error) -> Self {
        let message = error.to_string();
        let (kind, status, detail) = match error {
            Error::Unreachable { message, .. } => ("unreachable", None, message.clone()),
            Error::Timeout { .. } => ("timeout", None, message.clone()),
            Error::Ollama { status, message } => ("ollama", Some(*status), message.clone()),
            _ => ("other", None, message.clone()),
        };
        Self {
            kind,
            status,
            message,
            at: Utc::now(),
            detail,
        }
    }

    /// A probe that has not answered for `waited` (a stalled Ollama).
    pub(crate) fn overdue(probe: Probe, waited: Duration) -> Self {
        let message = format!(
            "Ollama has not answered the {} probe for {:.1} s",
            probe.name(),
            waited.as_secs_f64()
        );
        Self {
            kind: "timeout",
            status: None,
            detail: message.clone(),
            message,
            at: Utc::now(),
        }
    }

    /// Back into an [`Error`] a caller can answer with (502 / 504 / Ollama's status / 503).
    pub fn to_error(&self, url: &str) -> Error {
        match (self.kind, self.status) {
            ("unreachable", _) => Error::Unreachable {
                url: url.to_owned(),
                message: self.detail.clone(),
            },
            ("ollama", Some(status)) => Error::Ollama {
                status,
                message: self.detail.clone(),
            },
            _ => Error::Unavailable(self.message.clone()),
        }
    }
}

/// The latest value of a probe, as a reader gets it: at once, never waiting on the probe.
#[derive(Debug, Clone)]
pub struct Cached<T> {
    /// The last good value; `None` until the probe first succeeds.
    pub value: Option<T>,
    /// When that value was taken.
    pub updated_at: Option<DateTime<Utc>>,
    /// How old it is.
    pub age: Option<Duration>,
    /// Older than twice the probe's interval (or never taken).
    pub stale: bool,
    /// Why the latest attempt failed, if it did (the value then is older).
    pub error: Option<ProbeError>,
}

impl<T> Cached<T> {
    /// The value, or an error saying why there is none (the probe's last error, else 503).
    pub fn into_result(self, url: &str) -> Result<T> {
        match (self.value, self.error) {
            (Some(value), _) => Ok(value),
            (None, Some(error)) => Err(error.to_error(url)),
            (None, None) => Err(Error::Unavailable(
                "not probed yet; try again in a moment".to_owned(),
            )),
        }
    }

    /// The age in milliseconds, for JSON.
    pub fn age_ms(&self) -> Option<u64> {
        self.age
            .map(|a| u64::try_from(a.as_millis()).unwrap_or(u64::MAX))
    }
}

/// Health of one probe.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeStatus {
    /// Which.
    pub probe: Probe,
    /// Its interval in milliseconds.
    pub interval_ms: u64,
    /// Age of the cached value in milliseconds (none before the first success).
    pub age_ms: Option<u64>,
    /// Older than twice the interval.
    pub stale: bool,
    /// Failures in a row (0 when the last attempt succeeded).
    pub failures: u32,
    /// The last error, if the last attempt failed.
    pub last_error: Option<ProbeError>,
    /// How long the last attempt took, in milliseconds.
    pub last_latency_ms: Option<f64>,
}

#[derive(Debug)]
struct SlotState<T> {
    value: Option<Arc<T>>,
    taken: Option<(Instant, DateTime<Utc>)>,
    /// Start time of the attempt that produced `value`: an older attempt finishing later
    /// never overwrites a newer value.
    started: Option<Instant>,
    error: Option<ProbeError>,
    failures: u32,
    latency: Option<Duration>,
    /// Start of the attempt under way, if one is: one running longer than the interval is a
    /// stalled source.
    attempt: Option<Instant>,
}

/// How the latest attempt of a probe went, as health reads it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Never attempted yet.
    NotYet,
    /// The latest attempt answered.
    Answered,
    /// The latest attempt failed, or the one under way has run longer than the interval.
    Failed(ProbeError),
}

/// One cache entry.
#[derive(Debug)]
pub(crate) struct Slot<T> {
    interval: Duration,
    state: RwLock<SlotState<T>>,
}

impl<T> Slot<T> {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: RwLock::new(SlotState {
                value: None,
                taken: None,
                started: None,
                error: None,
                failures: 0,
                latency: None,
                attempt: None,
            }),
        }
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, SlotState<T>> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, SlotState<T>> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The value now, with its age.
    pub(crate) fn read(&self) -> Cached<Arc<T>> {
        let now = Instant::now();
        let s = self.read_state();
        let age = s.taken.map(|(at, _)| now.saturating_duration_since(at));
        Cached {
            value: s.value.clone(),
            updated_at: s.taken.map(|(_, wall)| wall),
            age,
            stale: age.is_none_or(|a| a > self.interval * 2),
            error: s.error.clone(),
        }
    }

    /// The value without age bookkeeping.
    pub(crate) fn value(&self) -> Option<Arc<T>> {
        self.read_state().value.clone()
    }

    /// Notes that an attempt started at `started` is under way (the earliest one counts).
    pub(crate) fn begin(&self, started: Instant) {
        self.write_state().attempt.get_or_insert(started);
    }

    /// An attempt is under way.
    pub(crate) fn in_flight(&self) -> bool {
        self.read_state().attempt.is_some()
    }

    /// How the latest attempt went, or that the one under way is overdue (running longer
    /// than the interval, and at least a second).
    pub(crate) fn outcome(&self, probe: Probe) -> Outcome {
        let now = Instant::now();
        let s = self.read_state();
        if let Some(started) = s.attempt {
            let waited = now.saturating_duration_since(started);
            if waited > self.interval.max(Duration::from_secs(1)) {
                return Outcome::Failed(ProbeError::overdue(probe, waited));
            }
        }
        match (&s.error, s.taken) {
            (Some(error), _) => Outcome::Failed(error.clone()),
            (None, Some(_)) => Outcome::Answered,
            (None, None) => Outcome::NotYet,
        }
    }

    /// Stores a good value from an attempt started at `started`; returns the previous value
    /// when this one replaced it, `None` when a newer attempt had already answered.
    pub(crate) fn succeed(&self, started: Instant, value: T) -> Option<Option<Arc<T>>> {
        let now = Instant::now();
        let mut s = self.write_state();
        s.attempt = None;
        if s.started.is_some_and(|prev| prev > started) {
            return None;
        }
        s.started = Some(started);
        s.taken = Some((now, Utc::now()));
        s.error = None;
        s.failures = 0;
        s.latency = Some(now.saturating_duration_since(started));
        Some(s.value.replace(Arc::new(value)))
    }

    /// Records a failed attempt; the old value stays (and ages). Returns failures in a row.
    pub(crate) fn fail(&self, started: Instant, error: &Error) -> u32 {
        let mut s = self.write_state();
        s.attempt = None;
        s.error = Some(ProbeError::from_error(error));
        s.failures = s.failures.saturating_add(1);
        s.latency = Some(Instant::now().saturating_duration_since(started));
        s.failures
    }

    pub(crate) fn status(&self, probe: Probe) -> ProbeStatus {
        let cached = self.read();
        let s = self.read_state();
        ProbeStatus {
            probe,
            interval_ms: u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX),
            age_ms: cached.age_ms(),
            stale: cached.stale,
            failures: s.failures,
            last_error: s.error.clone(),
            last_latency_ms: s.latency.map(|l| l.as_secs_f64() * 1000.0),
        }
    }
}

/// First retry 2 s after a failure, then 4, 8, 16, and 32 s at most: 2 s · 2^(n−1).
pub fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(4);
    Duration::from_secs(2u64 << exponent)
}

/// When a probe runs next.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pub(crate) interval: Duration,
    pub(crate) failures: u32,
    pub(crate) due: Instant,
}

impl Schedule {
    pub(crate) fn new(interval: Duration, now: Instant) -> Self {
        Self {
            interval,
            failures: 0,
            due: now,
        }
    }

    pub(crate) fn succeeded(&mut self, now: Instant) {
        self.failures = 0;
        self.due = now + self.interval;
    }

    pub(crate) fn failed(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        self.due = now + backoff(self.failures);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn backoff_doubles_from_two_seconds_and_caps_at_32() {
        let secs: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [2, 4, 8, 16, 32, 32, 32, 32]);
        assert_eq!(backoff(u32::MAX).as_secs(), 32);
    }

    #[tokio::test(start_paused = true)]
    async fn a_value_ages_and_turns_stale_after_twice_its_interval() {
        let slot = Slot::new(Duration::from_secs(2));
        let empty = slot.read();
        assert!(empty.value.is_none() && empty.stale && empty.age.is_none());
        slot.succeed(Instant::now(), 7u32);
        tokio::time::advance(Duration::from_millis(3999)).await;
        let fresh = slot.read();
        assert_eq!(fresh.value.as_deref(), Some(&7));
        assert_eq!(fresh.age, Some(Duration::from_millis(3999)));
        assert!(!fresh.stale);
        tokio::time::advance(Duration::from_millis(2)).await;
        assert!(slot.read().stale, "older than 2 × interval");
        // A failure keeps the old value, says why, and does not make it younger.
        let failures = slot.fail(Instant::now(), &Error::Unavailable("down".into()));
        assert_eq!(failures, 1);
        let after = slot.read();
        assert_eq!(after.value.as_deref(), Some(&7));
        assert!(after.stale && after.error.is_some());
        slot.succeed(Instant::now(), 8);
        let recovered = slot.read();
        assert!(!recovered.stale && recovered.error.is_none());
        assert_eq!(slot.status(Probe::System).failures, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_older_attempt_finishing_late_never_overwrites_a_newer_value() {
        let slot = Slot::new(Duration::from_secs(2));
        let old = Instant::now();
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(slot.succeed(Instant::now(), "new").is_some());
        assert!(slot.succeed(old, "old").is_none());
        assert_eq!(slot.value().as_deref(), Some(&"new"));
    }

    #[test]
    fn no_value_yet_is_unavailable_and_an_unreachable_probe_says_so() {
        let none: Cached<u8> = Cached {
            value: None,
            updated_at: None,
            age: None,
            stale: true,
            error: None,
        };
        assert_eq!(
            none.into_result("u").unwrap_err().kind(),
            crate::ErrorKind::Unavailable
        );
        let down: Cached<u8> = Cached {
            value: None,
            updated_at: None,
            age: None,
            stale: true,
            error: Some(ProbeError::from_error(&Error::Unreachable {
                url: "u".into(),
                message: "refused".into(),
            })),
        };
        assert_eq!(
            down.into_result("u").unwrap_err().kind(),
            crate::ErrorKind::Unreachable
        );
    }
}
