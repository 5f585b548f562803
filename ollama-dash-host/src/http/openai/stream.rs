//! What the streamed `/v1` answers share: the chunk envelope, the error event, `usage` and
//! `[DONE]` after the final line. Each endpoint only maps one upstream line to its chunks
//! ([`Choices`]); the lines come from core's generation, which fills and records the trace.

use std::future::Future;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use ollama_dash_core::Lines;
use ollama_dash_core::Result;
use ollama_dash_core::ollama::types::{ChatResponse, GenerateResponse, Metrics};
use serde_json::{Value, json};

use super::{created, keepalive, upstream_error, usage};
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
    created: i64,
}

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
            created: created(),
        }
    }

    /// One `data:` event with these choices (and `usage`, when given).
    pub(super) fn chunk(&self, choices: Value, usage: Option<Value>) -> Bytes {
        let mut chunk = json!({
            "id": self.id,
            "object": self.object,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_ollama",
            "choices": choices,
        });
        if let Some(usage) = usage {
            chunk["usage"] = usage;
        }
        sse::event(&chunk)
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
}

impl<T: Final, M: Choices<T>> Frames<T> for Translated<M> {
    fn frame(&mut self, step: Step<T>) -> Bytes {
        let line = match step {
            Step::End => return Bytes::new(),
            Step::Line(Err(e)) => return sse::event(&upstream_error(e).body()),
            Step::Line(Ok(line)) => line,
        };
        let mut out = self.choices.line(&self.head, &line);
        if line.done() {
            let metrics = line.metrics();
            if self.head.include_usage {
                let usage = usage(metrics.prompt_eval_count, metrics.eval_count);
                out.push(self.head.chunk(json!([]), Some(usage)));
            }
            out.push(Bytes::from_static(b"data: [DONE]\n\n"));
        }
        out.concat().into()
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
    let frames = Translated { head, choices };
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
