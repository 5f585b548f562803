//! [`TraceHandle`]: collects a trace while a request runs and records it when dropped (or, with
//! a future for its commit, when told how it ended).

use std::time::Instant;

use serde_json::Value;

use super::{TraceCommit, TraceRecord, TraceStatus, Traces, clip};
use crate::dashboard::now_ms;
use crate::ollama::types::{Metrics, ToolCall};

/// What is known when a traced request starts.
#[derive(Debug, Clone, Default)]
pub struct TraceStart {
    /// Route, e.g. `/v1/chat/completions`.
    pub endpoint: String,
    /// Model asked for.
    pub model: String,
    /// Name of the API key.
    pub api_key: Option<String>,
    /// Client IP address.
    pub client_addr: Option<String>,
    /// Streamed answer.
    pub stream: bool,
    /// The request's messages or prompt, JSON; images already replaced by a marker.
    pub input: Option<String>,
}

/// A trace being collected. Dropping it records it: as `cancelled` unless [`Self::succeed`] or
/// [`Self::fail`] said otherwise, so a client that goes away mid-stream still leaves a trace with
/// what was produced so far.
#[derive(Debug)]
pub struct TraceHandle {
    traces: Traces,
    record: TraceRecord,
    started: Instant,
    thinking: String,
    output: String,
    tool_calls: Vec<ToolCall>,
    /// Already handed to the store (by a `*_committed` method): dropping records nothing.
    recorded: bool,
}

impl Traces {
    /// Starts a trace now; it gets a UUIDv7 id.
    pub(crate) fn start(&self, start: TraceStart) -> TraceHandle {
        let id = uuid::Uuid::now_v7().to_string();
        self.announce(crate::events::Event::TraceStarted {
            id: id.clone(),
            model: start.model.clone(),
            endpoint: start.endpoint.clone(),
            api_key: start.api_key.clone(),
        });
        TraceHandle {
            traces: self.clone(),
            record: TraceRecord {
                id,
                created_at: now_ms(),
                endpoint: start.endpoint,
                model: start.model,
                api_key: start.api_key,
                client_addr: start.client_addr,
                stream: start.stream,
                input: start.input.map(clip),
                ..empty_record()
            },
            started: Instant::now(),
            thinking: String::new(),
            output: String::new(),
            tool_calls: Vec::new(),
            recorded: false,
        }
    }
}

impl TraceHandle {
    /// The trace's id.
    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// The model, possibly corrected after the request was read.
    pub fn set_model(&mut self, model: &str) {
        model.clone_into(&mut self.record.model);
    }

    /// Marks the first token now, if none was marked yet. Only streams have one: a whole
    /// answer's first token is not seen.
    pub fn first_token(&mut self) {
        if self.record.stream && self.record.ttft_ms.is_none() {
            self.record.ttft_ms = Some(self.elapsed_ms());
        }
    }

    /// Appends generated text (a stream delta or a whole answer).
    pub fn push_output(&mut self, text: &str) {
        if !text.is_empty() {
            self.first_token();
            self.output.push_str(text);
        }
    }

    /// Appends reasoning text.
    pub fn push_thinking(&mut self, text: &str) {
        if !text.is_empty() {
            self.first_token();
            self.thinking.push_str(text);
        }
    }

    /// Adds tool calls made by the model.
    pub fn push_tool_calls(&mut self, calls: &[ToolCall]) {
        if !calls.is_empty() {
            self.first_token();
            self.tool_calls.extend_from_slice(calls);
        }
    }

    /// Text generated so far.
    pub fn output(&self) -> &str {
        &self.output
    }

    /// Reasoning produced so far.
    pub fn thinking(&self) -> &str {
        &self.thinking
    }

    /// Whether the answer streams (only a stream has a time to first token).
    pub(crate) fn set_stream(&mut self, stream: bool) {
        self.record.stream = stream;
    }

    /// Where it ran: the node, why routing chose it, and its wait for a slot.
    pub fn set_route(&mut self, node: &str, reason: &str, queue_ms: f64) {
        self.record.node = Some(node.to_owned());
        self.record.route_reason = Some(reason.to_owned());
        self.record.queue_ms = Some(queue_ms);
    }

    /// Takes Ollama's counts and durations from a final line.
    pub fn set_metrics(&mut self, m: &Metrics) {
        let r = &mut self.record;
        r.prompt_tokens = m.prompt_eval_count.or(r.prompt_tokens);
        r.completion_tokens = m.eval_count.or(r.completion_tokens);
        r.load_ns = m.load_duration.or(r.load_ns);
        r.prompt_eval_ns = m.prompt_eval_duration.or(r.prompt_eval_ns);
        r.eval_ns = m.eval_duration.or(r.eval_ns);
        r.total_ns = m.total_duration.or(r.total_ns);
    }

    /// Ended well with this HTTP status.
    pub fn succeed(mut self, http_status: u16) {
        self.record.status = TraceStatus::Ok;
        self.record.http_status = Some(http_status);
    }

    /// Failed with this HTTP status (200 if the stream had already started) and error.
    pub fn fail(mut self, http_status: u16, error: impl std::fmt::Display) {
        self.record.status = TraceStatus::Error;
        self.record.http_status = Some(http_status);
        self.record.error = Some(error.to_string());
    }

    /// Ended well with this HTTP status: records the trace now and returns a future that
    /// resolves once it is committed. An answer awaits it before its last byte goes out, so the
    /// end a client sees is never ahead of the trace (even across a `kill -9`).
    pub fn succeed_committed(mut self, http_status: u16) -> TraceCommit {
        self.record.status = TraceStatus::Ok;
        self.record.http_status = Some(http_status);
        self.commit()
    }

    /// Failed with this HTTP status and error, like [`Self::fail`], but returns a future that
    /// resolves once the trace is committed (see [`Self::succeed_committed`]).
    pub fn fail_committed(
        mut self,
        http_status: u16,
        error: impl std::fmt::Display,
    ) -> TraceCommit {
        self.record.status = TraceStatus::Error;
        self.record.http_status = Some(http_status);
        self.record.error = Some(error.to_string());
        self.commit()
    }

    /// Failed with this error, like [`Self::fail_committed`]; `None` when no HTTP status was
    /// answered (an embedder's own call).
    pub(crate) fn fail_committed_with(
        mut self,
        http_status: Option<u16>,
        error: impl std::fmt::Display,
    ) -> TraceCommit {
        self.record.status = TraceStatus::Error;
        self.record.http_status = http_status;
        self.record.error = Some(error.to_string());
        self.commit()
    }

    fn commit(mut self) -> TraceCommit {
        self.recorded = true;
        let record = self.take_record();
        self.traces.record_committed(record)
    }

    fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    /// The finished record (duration, output, tool calls, totals); leaves an empty one behind.
    fn take_record(&mut self) -> TraceRecord {
        let duration = self.elapsed_ms();
        let r = &mut self.record;
        r.duration_ms = Some(duration);
        if r.status == TraceStatus::Cancelled && r.error.is_none() {
            r.error = Some("the client went away before the answer was complete".to_owned());
            r.http_status.get_or_insert(499);
        }
        let output = match (self.thinking.is_empty(), self.output.is_empty()) {
            (true, true) => None,
            (true, false) => Some(std::mem::take(&mut self.output)),
            (false, _) => Some(format!("<think>{}</think>\n{}", self.thinking, self.output)),
        };
        r.output = output.map(clip);
        if !self.tool_calls.is_empty() {
            let calls = Value::from(
                self.tool_calls
                    .iter()
                    .filter_map(|c| serde_json::to_value(c).ok())
                    .collect::<Vec<_>>(),
            );
            r.tool_calls = Some(calls.to_string());
        }
        if r.prompt_tokens.is_some() || r.completion_tokens.is_some() {
            r.total_tokens = Some(r.prompt_tokens.unwrap_or(0) + r.completion_tokens.unwrap_or(0));
        }
        std::mem::replace(r, empty_record())
    }
}

impl Drop for TraceHandle {
    fn drop(&mut self) {
        if !self.recorded {
            let record = self.take_record();
            self.traces.record(record);
        }
    }
}

pub(super) fn empty_record() -> TraceRecord {
    TraceRecord {
        status: TraceStatus::Cancelled,
        ..TraceRecord::new(String::new(), 0)
    }
}
