//! Streaming answers built from an Ollama NDJSON stream, one write per upstream line.
//!
//! [`open`] waits for Ollama's answer up to one keep-alive interval: an error that comes first
//! is a plain JSON error with its real status. After that the response starts, a keep-alive
//! (an SSE comment) goes out every interval the upstream is silent (a model loading), and each
//! upstream line becomes a frame as soon as it arrives — no buffering layer. Dropping the body
//! (the client went away) drops the upstream request, which cancels it in Ollama.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use ollama_dash_core::{Error, Result};

/// Content type of Server-Sent Events.
pub const EVENT_STREAM: &str = "text/event-stream";
/// Content type of NDJSON streams.
pub const NDJSON: &str = "application/x-ndjson";

type Lines<T> = Pin<Box<dyn Stream<Item = Result<T>> + Send>>;
type Connecting<S> = Pin<Box<dyn Future<Output = Result<S>> + Send>>;

/// What the frame builder is told.
#[derive(Debug)]
pub enum Step<T> {
    /// An upstream line, or the error that ends the stream (no [`Step::End`] follows it).
    Line(Result<T>),
    /// The upstream stream is over after its final line.
    End,
}

/// Something to wait for before a frame goes out.
pub type Hold = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Turns upstream steps into bytes to send; an empty frame sends nothing.
pub trait Frames<T>: Send + 'static {
    /// Bytes for this step.
    fn frame(&mut self, step: Step<T>) -> Bytes;

    /// What the bytes of the last [`Frames::frame`] wait for before they go out: the commit of
    /// the trace that frame ended (so the client never sees the end before it is stored).
    fn hold(&mut self) -> Option<Hold> {
        None
    }
}

/// A trace's commit as a [`Hold`]: a failure (or a wait past
/// [`ollama_dash_core::generation::COMMIT_WAIT`]) is logged, and the answer goes out anyway.
pub fn committed(commit: ollama_dash_core::TraceCommit) -> Hold {
    Box::pin(ollama_dash_core::generation::settle(commit))
}

/// Ends the trace as failed and answers the error once the trace is durable.
pub async fn fail(trace: ollama_dash_core::TraceHandle, error: super::ApiError) -> Response {
    committed(trace.fail_committed(error.status().as_u16(), error.message())).await;
    axum::response::IntoResponse::into_response(error)
}

enum Upstream<S, T> {
    Connecting(Connecting<S>),
    Streaming(Lines<T>),
    Done,
}

/// Starts an upstream stream: an error before the answer starts is returned as is (the caller
/// answers it with its status); otherwise the streaming response, with `content_type`, frames
/// from `frames` and `keepalive` bytes every `interval` of silence.
pub async fn open<S, T, F>(
    connect: impl Future<Output = Result<S>> + Send + 'static,
    interval: Duration,
    content_type: &'static str,
    keepalive: &'static [u8],
    frames: F,
) -> Result<Response, (Error, F)>
where
    S: Stream<Item = Result<T>> + Send + 'static,
    T: Send + 'static,
    F: Frames<T>,
{
    let mut connect: Connecting<S> = Box::pin(connect);
    let upstream = match tokio::time::timeout(interval, &mut connect).await {
        Ok(Ok(lines)) => Upstream::Streaming(Box::pin(lines)),
        Ok(Err(e)) => return Err((e, frames)),
        Err(_) => Upstream::Connecting(connect),
    };
    let state = (upstream, frames);
    let body = futures_util::stream::unfold(state, move |(mut upstream, mut frames)| async move {
        loop {
            let step = match &mut upstream {
                Upstream::Done => return None,
                Upstream::Connecting(connect) => {
                    match tokio::time::timeout(interval, connect.as_mut()).await {
                        Err(_) => None,
                        Ok(Ok(lines)) => {
                            upstream = Upstream::Streaming(Box::pin(lines));
                            continue;
                        }
                        Ok(Err(e)) => Some(Step::Line(Err(e))),
                    }
                }
                Upstream::Streaming(lines) => {
                    match tokio::time::timeout(interval, lines.next()).await {
                        Err(_) => None,
                        Ok(Some(line)) => Some(Step::Line(line)),
                        Ok(None) => Some(Step::End),
                    }
                }
            };
            let bytes = match step {
                None => Bytes::from_static(keepalive),
                Some(step) => {
                    if matches!(step, Step::End | Step::Line(Err(_))) {
                        upstream = Upstream::Done;
                    }
                    let bytes = frames.frame(step);
                    if let Some(hold) = frames.hold() {
                        hold.await;
                    }
                    bytes
                }
            };
            if !bytes.is_empty() {
                return Some((Ok::<_, Infallible>(bytes), (upstream, frames)));
            }
        }
    });
    Ok(streaming(content_type, Body::from_stream(body)))
}

/// A 200 streaming response with caching and proxy buffering turned off.
pub fn streaming(content_type: &'static str, body: Body) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// One SSE event carrying `json`.
pub fn event(json: &impl serde::Serialize) -> Bytes {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"data: ");
    // Serialising a Value, or one of our plain structs, cannot fail.
    let _ = serde_json::to_writer(&mut out, json);
    out.extend_from_slice(b"\n\n");
    out.into()
}

/// One NDJSON line carrying `json`.
pub fn line(json: &impl serde::Serialize) -> Bytes {
    let mut out = Vec::with_capacity(128);
    let _ = serde_json::to_writer(&mut out, json);
    out.push(b'\n');
    out.into()
}
