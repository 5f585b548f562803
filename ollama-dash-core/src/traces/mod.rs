//! Traces: one row per generation (OpenAI gateway, Ollama passthrough, web chat).
//!
//! Writes go through the store's batched writer and never wait on SQLite ([`TraceHandle`]
//! records itself when dropped, so a cancelled stream still leaves its trace); an answer that
//! ends well awaits its trace's commit ([`TraceHandle::succeed_committed`]) before its last
//! byte, sharing that commit with the traces queued alongside. Reads use keyset
//! pagination on an integer key, filters on indexed columns and FTS5 for text search; offset
//! pages (`page=N`) seek from points kept in step with the table ([`pages`]).
//! [`retention`] keeps the table bounded by rows, age and file size.

mod handle;
mod pages;
mod query;
mod recent;
pub(crate) mod retention;
mod spool;
mod stats;
mod usage;

use serde::Serialize;

pub use handle::{TraceHandle, TraceStart};
pub use query::{MAX_LIMIT, TracePage, TraceQuery};
pub use recent::RECENT_WINDOW_MAX;
pub(crate) use recent::RecentTraces;
pub use retention::{RetentionPolicy, RetentionReport};
pub use stats::{ModelTraceStats, TraceStats, TraceTotals};
pub use usage::{MAX_USAGE_BUCKETS, TraceUsage, UsagePoint, UsageQuery};

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crate::dashboard::now_ms;
use crate::error::Result;
use crate::events::Event;
use crate::live::Nudger;
use crate::store::{Store, WriteFailure, WriteOutcome};

/// Longest input or output text kept in a trace, in bytes; longer text is cut with a marker.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Resolves once a trace is committed to the store (see
/// [`crate::Dashboard::record_trace_committed`]);
/// an error says it was not stored (the store is closing, or its insert failed).
pub type TraceCommit = std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send>>;

/// Told by the batch write, inside its transaction, whether the insert of one trace went well.
type Inserted = tokio::sync::oneshot::Sender<std::result::Result<(), String>>;

/// Who hears that a trace is in the file.
#[derive(Debug)]
pub(crate) enum Ack {
    /// Nobody (a trace recorded on drop).
    None,
    /// An answer waiting for the commit.
    Waiter(Inserted),
    /// The spool holds it: the answer has ended; the spool is told once it is committed.
    Spooled,
}

/// A trace waiting for the batch write, with who hears that it is in the file.
pub(crate) type Pending = (TraceRecord, Ack);

/// A trace of the batch being written, and how its own insert went.
type Inserting = (TraceRecord, Ack, WriteOutcome);

/// Most traces kept in memory while the disk is full; past it the oldest are dropped (counted,
/// logged and shown in health).
const MAX_HELD: usize = 10_000;

/// What [`crate::Dashboard::trace_backlog`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TraceBacklog {
    /// Traces not yet in the file: queued, or held back while the disk is full.
    pub waiting: usize,
    /// Traces dropped because the disk stayed full past the in-memory cap.
    pub dropped: u64,
}

/// Traces held back for lack of room, and those dropped past [`MAX_HELD`].
#[derive(Debug, Default)]
pub(crate) struct Held {
    dropped: std::sync::atomic::AtomicU64,
}

impl Held {
    /// Puts `trace` back in front of the queue for the next batch; drops the oldest past the cap.
    fn hold(&self, pending: &Mutex<Vec<Pending>>, spool: Option<&spool::Spool>, trace: Pending) {
        let mut waiting = pending.lock().unwrap_or_else(|p| p.into_inner());
        if waiting.len() >= MAX_HELD {
            let (lost, ack) = waiting.remove(0);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(id = %lost.id, "trace dropped: the disk stayed full for {MAX_HELD} traces");
            if let (Ack::Spooled, Some(spool)) = (ack, spool) {
                spool.settled(1);
            }
        }
        waiting.insert(0, trace);
    }
}

/// How a traced request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceStatus {
    /// Answered in full.
    Ok,
    /// Failed (upstream error, bad request, broken stream).
    Error,
    /// The client went away before the answer was complete.
    Cancelled,
}

impl TraceStatus {
    /// The stored name: `ok`, `error` or `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceStatus::Ok => "ok",
            TraceStatus::Error => "error",
            TraceStatus::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "ok" => TraceStatus::Ok,
            "cancelled" => TraceStatus::Cancelled,
            _ => TraceStatus::Error,
        }
    }
}

/// One traced generation. Times are Unix milliseconds; Ollama's durations are nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TraceRecord {
    /// UUIDv7, sorts by start time.
    pub id: String,
    /// When the request arrived.
    pub created_at: i64,
    /// Route it came through, e.g. `/v1/chat/completions` or `/ollama/api/chat`.
    pub endpoint: String,
    /// Model asked for.
    pub model: String,
    /// Name of the API key used (never the secret).
    pub api_key: Option<String>,
    /// Client IP address.
    pub client_addr: Option<String>,
    /// Streamed answer.
    pub stream: bool,
    /// How it ended.
    pub status: TraceStatus,
    /// HTTP status answered (200 for a stream that failed after it started).
    pub http_status: Option<u16>,
    /// What went wrong.
    pub error: Option<String>,
    /// The request's messages or prompt, JSON (images replaced by a marker). `None` in lists
    /// and once body retention has cleared it.
    pub input: Option<String>,
    /// The text produced (reasoning first, between `<think>` tags, when there was some).
    pub output: Option<String>,
    /// Tool calls made, JSON array in Ollama's shape.
    pub tool_calls: Option<String>,
    /// Prompt tokens, from Ollama's `prompt_eval_count`.
    pub prompt_tokens: Option<u64>,
    /// Generated tokens, from Ollama's `eval_count`.
    pub completion_tokens: Option<u64>,
    /// Sum of both.
    pub total_tokens: Option<u64>,
    /// Whole request as seen by ollama-dash, ms.
    pub duration_ms: Option<f64>,
    /// Time to the first token (text, reasoning or tool call), ms.
    pub ttft_ms: Option<f64>,
    /// Ollama's model load time, ns.
    pub load_ns: Option<u64>,
    /// Ollama's prompt evaluation time, ns.
    pub prompt_eval_ns: Option<u64>,
    /// Ollama's generation time, ns.
    pub eval_ns: Option<u64>,
    /// Ollama's whole-request time, ns.
    pub total_ns: Option<u64>,
    /// The node that served it.
    #[serde(default)]
    pub node: Option<String>,
    /// Why routing chose that node (`resident`, `fits`, `affinity`, …).
    #[serde(default)]
    pub route_reason: Option<String>,
    /// Time it waited for a slot on that node, ms.
    #[serde(default)]
    pub queue_ms: Option<f64>,
}

impl TraceRecord {
    /// A record with this id and start time and nothing else known yet (status `ok`).
    pub fn new(id: impl Into<String>, created_at: i64) -> Self {
        Self {
            id: id.into(),
            created_at,
            endpoint: String::new(),
            model: String::new(),
            api_key: None,
            client_addr: None,
            stream: false,
            status: TraceStatus::Ok,
            http_status: None,
            error: None,
            input: None,
            output: None,
            tool_calls: None,
            prompt_tokens: None,
            completion_tokens: None,
            total_tokens: None,
            duration_ms: None,
            ttft_ms: None,
            load_ns: None,
            prompt_eval_ns: None,
            eval_ns: None,
            total_ns: None,
            node: None,
            route_reason: None,
            queue_ms: None,
        }
    }
}

/// The traces service: queues traces for the store's batched writer, reads them back, keeps
/// retention. Cheap to clone; built from explicit handles, it never sees the facade.
#[derive(Debug, Clone)]
pub(crate) struct Traces(Arc<Inner>);

/// The taps of [`Traces`].
#[derive(Default)]
struct Taps(std::sync::RwLock<Vec<TraceTap>>);

impl std::fmt::Debug for Taps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.read().map_or(0, |t| t.len());
        write!(f, "Taps({n})")
    }
}

/// An in-process listener called with every trace event on the task that records it (see
/// [`crate::Dashboard::tap_traces`]).
pub type TraceTap = Arc<dyn Fn(&Event) + Send + Sync>;

#[derive(Debug)]
struct Inner {
    store: Store,
    events: tokio::sync::broadcast::Sender<Event>,
    taps: Taps,
    /// A generation may have loaded a model: each trace asks the collector for the running list.
    running: Nudger,
    state: retention::TraceState,
}

impl Traces {
    /// The service over `store`, with the retention policy and spool `config` asks for.
    pub(crate) fn new(
        config: &crate::DashboardConfig,
        store: Store,
        events: tokio::sync::broadcast::Sender<Event>,
        running: Nudger,
    ) -> Self {
        Self(Arc::new(Inner {
            store,
            events,
            taps: Taps::default(),
            running,
            state: retention::TraceState::new(config),
        }))
    }

    fn state(&self) -> &retention::TraceState {
        &self.0.state
    }

    fn store(&self) -> &Store {
        &self.0.store
    }

    /// Adds an in-process listener of trace events (see [`crate::Dashboard::tap_traces`]).
    pub(crate) fn tap(&self, tap: TraceTap) {
        self.0
            .taps
            .0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(tap);
    }

    /// Tells the taps, at once and on this task, then the subscribers of the event stream
    /// (nobody listening is fine).
    fn announce(&self, event: Event) {
        for tap in self
            .0
            .taps
            .0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            tap(&event);
        }
        let _ = self.0.events.send(event);
    }

    /// Queues a trace for the store's batched writer; never waits on SQLite.
    ///
    /// Traces gather in a buffer and one queued write inserts all that are waiting (one
    /// savepoint, one full-text flush per batch, not per trace). If the store's queue is full the
    /// wait is counted (`queue_full` in health) and handed to a task: a trace is never dropped.
    pub(crate) fn record(&self, trace: TraceRecord) {
        self.enqueue(trace, Ack::None);
    }

    /// Queues a trace like [`Traces::record`] (at once, in the same batches) and
    /// returns a future that resolves once the transaction holding it is committed: what an
    /// answer awaits before its last byte, so a client that saw the end finds the trace even if
    /// the process dies right after. Concurrent traces still share one commit.
    ///
    /// Dropping the future does not cancel the write.
    pub(crate) fn record_committed(&self, trace: TraceRecord) -> TraceCommit {
        // In the spool (one append), the trace survives a kill: the answer need not wait.
        if let Some(spool) = &self.state().spool {
            match spool.append(&trace) {
                Ok(true) => {
                    self.enqueue(trace, Ack::Spooled);
                    return Box::pin(std::future::ready(Ok(())));
                }
                Ok(false) => {} // full of uncommitted traces: wait for the commit
                Err(e) => {
                    tracing::warn!(error = %e, "trace spool append failed; waiting for the commit")
                }
            }
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.enqueue(trace, Ack::Waiter(tx));
        Box::pin(async move {
            // Told by the store thread once the transaction holding the trace is over.
            rx.await
                .map_err(|_| crate::Error::ShuttingDown)?
                .map_err(crate::Error::Store)
        })
    }

    fn enqueue(&self, trace: TraceRecord, ack: Ack) {
        self.0.running.nudge(crate::Probe::Running);
        self.state().recent.add(now_ms(), &trace);
        self.announce(Event::TraceRecorded {
            id: trace.id.clone(),
            model: trace.model.clone(),
            status: trace.status.as_str().to_owned(),
            endpoint: trace.endpoint.clone(),
            api_key: trace.api_key.clone(),
            prompt_tokens: trace.prompt_tokens,
            completion_tokens: trace.completion_tokens,
            ttft_ms: trace.ttft_ms,
            duration_ms: trace.duration_ms,
            eval_ns: trace.eval_ns,
            total_ns: trace.total_ns,
        });
        let state = self.state();
        state
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((trace, ack));
        if state.scheduled.swap(true, Ordering::AcqRel) {
            return; // the write already queued takes this one too
        }
        let (pending, scheduled) = (Arc::clone(&state.pending), Arc::clone(&state.scheduled));
        let (held, spool) = (Arc::clone(&state.held), state.spool.clone());
        // The batch, handed from the write (inside the transaction) to its outcome (after it).
        let taken: Arc<Mutex<Vec<Inserting>>> = Arc::default();
        let write = {
            let taken = Arc::clone(&taken);
            move |c: &rusqlite::Connection| {
                // From here on a new trace queues a new write.
                scheduled.store(false, Ordering::Release);
                let batch = std::mem::take(&mut *pending.lock().unwrap_or_else(|p| p.into_inner()));
                let inserting = batch
                    .into_iter()
                    .map(|(trace, ack)| {
                        // A failing statement rolls back only itself: the rest of the batch stays.
                        let result = query::insert(c, &trace).map_err(|e| WriteFailure::of(&e));
                        (trace, ack, result)
                    })
                    .collect();
                *taken.lock().unwrap_or_else(|p| p.into_inner()) = inserting;
                Ok(())
            }
        };
        let pending = Arc::clone(&state.pending);
        let outcome = move |outcome: WriteOutcome| {
            let batch = std::mem::take(&mut *taken.lock().unwrap_or_else(|p| p.into_inner()));
            let mut settled = 0;
            for (trace, ack, inserted) in batch {
                let result = outcome.clone().and(inserted);
                match (&result, ack) {
                    // No room (a full disk): keep the trace and write it with the next batch.
                    (Err(failure), ack) if failure.storage => {
                        let ack = match ack {
                            Ack::Waiter(waiter) => {
                                let _ = waiter.send(Err(failure.message.clone()));
                                Ack::None
                            }
                            other => other,
                        };
                        held.hold(&pending, spool.as_deref(), (trace, ack));
                    }
                    (result, ack) => {
                        if let Err(failure) = result {
                            tracing::error!(error = %failure.message, id = %trace.id, "trace not stored");
                        }
                        match ack {
                            Ack::Waiter(waiter) => {
                                let _ = waiter.send(result.clone().map_err(|f| f.message));
                            }
                            Ack::Spooled => settled += 1,
                            Ack::None => {}
                        }
                    }
                }
            }
            if let Some(spool) = &spool {
                spool.settled(settled);
            }
        };
        if let Err(e) = self.store().write_then(write, outcome) {
            tracing::warn!(error = %e, "traces not recorded: the store is closed");
        }
    }

    /// Inserts the traces a killed process left in the spool (most are in the table already),
    /// then empties it; returns how many were missing from the table.
    pub(crate) async fn replay_spool(store: &Store, data_path: &std::path::Path) -> Result<usize> {
        let path = data_path.join(spool::SPOOL_FILE_NAME);
        let traces = spool::read_spool(&path)
            .map_err(|e| crate::Error::io(format!("reading {}", path.display()), e))?;
        if traces.is_empty() {
            return Ok(0);
        }
        let added = store
            .call(move |c| {
                let tx = c.transaction()?;
                let mut added = 0;
                for t in &traces {
                    added += query::insert_or_ignore(&tx, t)?;
                }
                tx.commit()?;
                Ok(added)
            })
            .await?;
        std::fs::File::create(&path)
            .map_err(|e| crate::Error::io(format!("emptying {}", path.display()), e))?;
        if added > 0 {
            tracing::info!(
                added,
                "traces recovered from the spool of a process that did not stop cleanly"
            );
        }
        Ok(added)
    }

    /// Writes many traces in one transaction (imports, benchmarks); waits for the commit.
    pub(crate) async fn import(&self, traces: Vec<TraceRecord>) -> Result<()> {
        self.store()
            .call(move |c| {
                let tx = c.transaction()?;
                for t in &traces {
                    query::insert(&tx, t)?;
                }
                tx.commit()
            })
            .await
    }

    /// Traces waiting to be written (held back while the disk is full, or just queued), and
    /// traces dropped because the disk stayed full too long.
    pub(crate) fn backlog(&self) -> TraceBacklog {
        let state = self.state();
        TraceBacklog {
            waiting: state
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len(),
            dropped: state.held.dropped.load(Ordering::Relaxed),
        }
    }

    /// One trace with its bodies.
    pub(crate) async fn get(&self, id: &str) -> Result<TraceRecord> {
        let owned = id.to_owned();
        self.store()
            .call(move |c| query::get(c, &owned))
            .await?
            .ok_or_else(|| crate::Error::NotFound(format!("trace {id:?}")))
    }

    /// A page of traces, newest first, without bodies unless `query.with_bodies`.
    pub(crate) async fn list(&self, query: TraceQuery) -> Result<TracePage> {
        query.validate()?;
        let pages = Arc::clone(&self.state().pages);
        self.store()
            .call(move |c| query::list(c, &query, &pages))
            .await
    }

    /// Per-model counts, tokens, latency and TTFT percentiles, tokens/s between two times;
    /// only the traces of `api_key` when given.
    pub(crate) async fn stats(
        &self,
        since_ms: i64,
        until_ms: i64,
        api_key: Option<String>,
    ) -> Result<TraceStats> {
        self.store()
            .call(move |c| stats::compute(c, since_ms, until_ms, api_key.as_deref()))
            .await
    }

    /// Totals of the traces recorded in the last `window` (at most [`RECENT_WINDOW_MAX`]), from
    /// memory: no SQL, so it is cheap enough for every collection round. Counts traces recorded
    /// by this process (imports and earlier runs are not in it).
    pub(crate) fn recent_totals(&self, window: std::time::Duration) -> TraceTotals {
        self.state().recent.totals(now_ms(), window)
    }
}

/// Cuts `text` to at most [`MAX_BODY_BYTES`] on a character boundary, saying so.
pub(crate) fn clip(mut text: String) -> String {
    if text.len() > MAX_BODY_BYTES {
        let mut end = MAX_BODY_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let dropped = text.len() - end;
        text.truncate(end);
        text.push_str(&format!("…[{dropped} more bytes not kept]"));
    }
    text
}

#[cfg(test)]
mod tests;
