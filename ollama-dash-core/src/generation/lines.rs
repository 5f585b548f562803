//! [`Lines`]: a streamed answer's lines on their way to the caller, filling their trace.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;

use super::{Ending, OnEnd, Traced, settle};
use crate::error::Result;
use crate::fleet::Routed;
use crate::ollama::NdjsonStream;
use crate::ollama::types::StreamItem;
use crate::traces::TraceHandle;

type Upstream<T> = Pin<Box<dyn Stream<Item = Result<T>> + Send>>;

/// The lines of a streamed answer. Each line tells the trace what it carried; the line that
/// ends the answer (the final one, or an error) comes out only once the trace is committed.
/// Dropped before the end (the caller went away), the trace is recorded as `cancelled` with
/// what was produced so far.
pub struct Lines<T> {
    upstream: Upstream<T>,
    trace: Option<TraceHandle>,
    trace_id: String,
    on_end: Option<OnEnd>,
    /// The ended trace's commit, which the last item waits for.
    commit: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// The item that ended the answer, held until the commit.
    held: Option<Result<T>>,
    /// The node's slot, held until the answer is over.
    routed: Option<Routed>,
}

impl<T> std::fmt::Debug for Lines<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lines")
            .field("trace_id", &self.trace_id)
            .field("ended", &self.trace.is_none())
            .finish_non_exhaustive()
    }
}

impl<T> Lines<T>
where
    T: DeserializeOwned + StreamItem + Traced + Send + 'static,
{
    pub(super) fn new(
        lines: NdjsonStream<T>,
        trace: TraceHandle,
        on_end: Option<OnEnd>,
        routed: Routed,
    ) -> Self {
        Self {
            routed: Some(routed),
            upstream: Box::pin(lines.into_stream()),
            trace_id: trace.id().to_owned(),
            trace: Some(trace),
            on_end,
            commit: None,
            held: None,
        }
    }
}

impl<T> Lines<T> {
    /// The node these lines come from.
    pub fn node(&self) -> Option<&str> {
        self.routed.as_ref().map(|r| r.node().name())
    }

    /// The id of the trace these lines fill.
    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    /// Ends the trace with `item` (the final line or an error) and holds the item until the
    /// trace is committed.
    fn end(&mut self, item: Result<T>, ending: Ending<'_>) {
        let Some(trace) = self.trace.take() else {
            self.held = Some(item);
            return;
        };
        if let Some(on_end) = self.on_end.take() {
            on_end(&trace, ending);
        }
        let commit = match &item {
            Ok(_) => trace.succeed_committed(200),
            // The answer had started: the caller saw a 200.
            Err(e) => trace.fail_committed(200, e),
        };
        self.commit = Some(Box::pin(settle(commit)));
        self.held = Some(item);
        self.routed = None; // the slot is free for the next request
    }
}

// Nothing in it is pinned in place: `T` is only ever moved (the upstream and the commit are
// boxed), so a `Lines` may move too.
impl<T> Unpin for Lines<T> {}

impl<T> Stream for Lines<T>
where
    T: Traced + Send + 'static,
{
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(commit) = this.commit.as_mut() {
            std::task::ready!(commit.as_mut().poll(cx));
            this.commit = None;
        }
        if let Some(item) = this.held.take() {
            return Poll::Ready(Some(item));
        }
        if this.trace.is_none() {
            return Poll::Ready(None); // ended: what follows the final line is not for us
        }
        match std::task::ready!(this.upstream.poll_next_unpin(cx)) {
            Some(Ok(line)) => {
                if let Some(trace) = this.trace.as_mut() {
                    line.record(trace);
                }
                if !line.is_done() {
                    return Poll::Ready(Some(Ok(line)));
                }
                let metrics = line.metrics();
                this.end(Ok(line), Ending::Done(&metrics));
            }
            Some(Err(e)) => this.end(Err(e), Ending::Failed),
            // The upstream stream reports a missing final line as an error; this is after it.
            None => return Poll::Ready(None),
        }
        // Wait for the commit, then hand out what ended the answer.
        self.poll_next(cx)
    }
}

impl<T> Drop for Lines<T> {
    fn drop(&mut self) {
        if let (Some(trace), Some(on_end)) = (&self.trace, self.on_end.take()) {
            on_end(trace, Ending::Cancelled);
        }
        // Dropping the trace records it as `cancelled`.
    }
}
