//! What the streamed `/v1` answers share: the chunk envelope, the error event, `usage` and
//! `[DONE]` after the final line. Each endpoint only maps one upstream line to its chunks
//! ([`Choices`]); the lines come from core's generation, which fills and records the trace.

use std::future::Future;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ollama_dash_core::Lines;
use ollama_dash_core::Result;
use ollama_dash_core::ollama::types::{ChatResponse, GenerateResponse, Metrics};
use serde::Serialize;

use super::{Completion, Usage, created, keepalive, upstream_error, usage};
use crate::http::AppState;
use crate::http::sse::{self, EVENT_STREAM, Frames, Step};

/// The fixed part of every chunk of one answer.
#[derive(Debug)]
pub(super) struct Head {
    /// `chatcmpl-…` or `cmpl-…`.
    pub(super) id: String,
    /// `chat.completion.chunk` or `text_completion`.
    pub(super) object: &'static str,
    /// The model as the client named it.
    pub(super) model: String,
    /// `stream_options.include_usage`: a last chunk with `usage` and no choices.
    pub(super) include_usage: bool,
    /// How long the body stays open after the `done` frame. The npm Prem SDK (0.3.100) loses
    /// its `done` frame when the end of the body arrives in the same read — its stream then
    /// never ends — so its requests (they carry `project_id`) get the frame well before the end.
    pub(super) linger: Option<std::time::Duration>,
    created: i64,
}

/// [`Head::linger`] for Prem clients.
pub(super) const PREM_LINGER: std::time::Duration = std::time::Duration::from_millis(100);

impl Head {
    /// The envelope of one answer, created now.
    pub(super) fn new(
        id: String,
        object: &'static str,
        model: String,
        include_usage: bool,
    ) -> Self {
        Self {
            id,
            object,
            model,
            include_usage,
            linger: None,
            created: created(),
        }
    }

    /// One `data:` event with these choices (an array) and `usage`, when given.
    pub(super) fn chunk<C: Serialize>(&self, choices: C, usage: Option<Usage>) -> Bytes {
        let chunk = Completion {
            id: &self.id,
            object: self.object,
            created: self.created,
            model: &self.model,
            system_fingerprint: "fp_ollama",
            choices,
            usage,
        };
        // Named `completion`: the npm Prem SDK only reads named frames; OpenAI's clients and
        // plain SSE readers read `data:` whatever the name.
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"event: completion\ndata: ");
        // Serialising these plain structs cannot fail.
        let _ = serde_json::to_writer(&mut out, &chunk);
        out.extend_from_slice(b"\n\n");
        out.into()
    }

    /// The last frame: `data: [DONE]`, named `done` with the trace id on a `trace_id:` line
    /// (the npm Prem SDK ends its stream there; SSE readers ignore an unknown field).
    fn done(&self) -> Bytes {
        let hex = self.id.rsplit('-').next().unwrap_or_default();
        let trace_id = if hex.len() == 32 {
            format!(
                "{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            )
        } else {
            hex.to_owned()
        };
        format!("event: done\ntrace_id: {trace_id}\ndata: [DONE]\n\n").into()
    }
}

/// The last line of an upstream answer carries `done` and the counts.
pub(super) trait Final {
    /// Whether this is the final line.
    fn done(&self) -> bool;
    /// Its counts and `done_reason`.
    fn metrics(&self) -> &Metrics;
}

impl Final for ChatResponse {
    fn done(&self) -> bool {
        self.done
    }
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

impl Final for GenerateResponse {
    fn done(&self) -> bool {
        self.done
    }
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// Maps one upstream line to the chunks of an endpoint.
pub(super) trait Choices<T>: Send + 'static {
    /// Chunks for `line` (none is fine).
    fn line(&mut self, head: &Head, line: &T) -> Vec<Bytes>;
}

/// An OpenAI stream over upstream lines: the endpoint's chunks, then `usage` and `[DONE]`.
struct Translated<M> {
    head: Head,
    choices: M,
    /// The upstream ended: the end of the body waits one turn of the scheduler (below).
    ended: bool,
}

impl<T: Final, M: Choices<T>> Frames<T> for Translated<M> {
    fn frame(&mut self, step: Step<T>) -> Bytes {
        let line = match step {
            Step::End => {
                self.ended = true;
                return Bytes::new();
            }
            Step::Line(Err(e)) => return sse::event(&upstream_error(e).body()),
            Step::Line(Ok(line)) => line,
        };
        let mut out = self.choices.line(&self.head, &line);
        if line.done() {
            let metrics = line.metrics();
            if self.head.include_usage {
                let usage = usage(metrics.prompt_eval_count, metrics.eval_count);
                let no_choices: [(); 0] = [];
                out.push(self.head.chunk(no_choices, Some(usage)));
            }
            out.push(self.head.done());
        }
        out.concat().into()
    }

    /// For a Prem client ([`Head::linger`]) the body ends a moment after the `done` frame.
    fn hold(&mut self) -> Option<sse::Hold> {
        let linger = self
            .head
            .linger
            .filter(|_| std::mem::take(&mut self.ended))?;
        Some(Box::pin(tokio::time::sleep(linger)))
    }
}

/// Streams an upstream answer as OpenAI chunks. An error before the answer starts is a plain
/// JSON error with its status (its trace already recorded by the generation).
pub(super) async fn respond<T, M>(
    state: &AppState,
    connect: impl Future<Output = Result<Lines<T>>> + Send + 'static,
    head: Head,
    choices: M,
) -> Response
where
    T: Final + Send + 'static,
    Lines<T>: futures_util::Stream<Item = Result<T>>,
    M: Choices<T>,
{
    let frames = Translated {
        head,
        choices,
        ended: false,
    };
    let keepalive = keepalive(state);
    match sse::open(
        connect,
        keepalive,
        EVENT_STREAM,
        b": keep-alive\n\n",
        frames,
    )
    .await
    {
        Ok(response) => response,
        Err((e, _)) => upstream_error(e).into_response(),
    }
}
