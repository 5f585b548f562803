//! `/ollama/…`: Ollama's native API passed through byte for byte, behind our auth.
//!
//! The request goes to Ollama with our `Authorization` removed and `Host` set to Ollama's own
//! (Ollama refuses foreign hosts when bound to loopback); bodies stream both ways untouched.
//! `generate`, `chat`, `embed` and `embeddings` are traced: their request body is read first
//! (it is small JSON) and the answer is watched line by line on its way out.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt, TryStreamExt};
use ollama_dash_core::ollama::transport;
use ollama_dash_core::ollama::types::{Message, Metrics};
use ollama_dash_core::{Probe, TraceHandle};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

use super::AppState;
use super::caller::Caller;
use super::sse::Hold;

/// Largest request body read for a traced call.
const MAX_TRACED_REQUEST: usize = 64 * 1024 * 1024;
/// Largest non-streamed answer kept aside to read its counts.
const MAX_WATCHED_ANSWER: usize = 32 * 1024 * 1024;

/// The `/ollama` routes.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/ollama", any(proxy))
        .route("/ollama/", any(proxy))
        .route(crate::auth::PASSTHROUGH_ROUTE, any(proxy))
}

fn native_error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, axum::Json(json!({ "error": message.to_string() }))).into_response()
}

/// A request body that could not be read whole: 413 past [`MAX_TRACED_REQUEST`], else 400.
fn body_error(error: axum::Error) -> Response {
    let error = error.into_inner();
    if error.is::<http_body_util::LengthLimitError>() {
        return native_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is over the limit of {MAX_TRACED_REQUEST} bytes"),
        );
    }
    native_error(
        StatusCode::BAD_REQUEST,
        format!("reading the request body: {error}"),
    )
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn forwarded(headers: &HeaderMap, drop: &[HeaderName]) -> HeaderMap {
    headers
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()) && !drop.contains(name))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

async fn proxy(State(state): State<AppState>, caller: Caller, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // The role was decided on this exact path (canonical: `path_guard`, the router's outermost
    // layer, refused any other), and this exact path is what Ollama gets. Escapes are refused
    // too: Ollama decodes them, so `%63hat` would be `chat` to Ollama and something else to our
    // role, trace and refresh decisions.
    let raw = parts.uri.path();
    if raw.contains('%') {
        return native_error(
            StatusCode::BAD_REQUEST,
            "Ollama's API paths need no percent escapes; send the path in its plain form",
        );
    }
    let path = raw.strip_prefix("/ollama").unwrap_or_default();
    let path = if path.is_empty() { "/" } else { path };
    let kind = (parts.method == axum::http::Method::POST)
        .then(|| Kind::of(path))
        .flatten();
    let mut drop = vec![header::HOST, header::AUTHORIZATION];
    // Which node: the one named, the only one, or (a generation) the one routing picks.
    let named = node_named(&parts);
    let fleet = state.dashboard.fleet();
    let client = match (&named, &*fleet.nodes()) {
        (Some(name), _) => match fleet.client(name) {
            Ok(client) => client,
            Err(e) => return native_error(StatusCode::NOT_FOUND, e),
        },
        (None, [only]) => only.client().clone(),
        (None, _) if kind.is_some() => state.dashboard.ollama().clone(), // replaced by routing below
        (None, nodes) => {
            let names: Vec<&str> = nodes.iter().map(|n| n.name()).collect();
            return native_error(
                StatusCode::BAD_REQUEST,
                format!(
                    "this Ollama call needs a node when there are several: add the {} header or \
                     ?node=<name> (nodes: {})",
                    super::nodes::NODE_HEADER,
                    names.join(", ")
                ),
            );
        }
    };
    drop.push(header::HeaderName::from_static(super::nodes::NODE_HEADER));
    let mut client = client;
    let mut routed = None;
    let mut trace = None;
    // Why the client's body broke off, if it did: then a failed call is the client's fault
    // (400), not Ollama's (502).
    let body_failed = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    // The body of an untraced read, kept to send it again once (see below).
    let mut replay = None;
    // Only a blob upload streams through: every other body is small and is read whole, then
    // sent with its length. A body sent in chunks races an answer that comes before it is read
    // (a GET's ignored body, an early refusal): the server answers and closes, our write fails,
    // and the caller got "unreachable" instead of Ollama's answer.
    let read = if path.starts_with("/api/blobs/") {
        Err(body)
    } else {
        match axum::body::to_bytes(body, MAX_TRACED_REQUEST).await {
            Ok(bytes) => {
                drop.push(header::CONTENT_LENGTH);
                Ok(bytes)
            }
            Err(e) => return body_error(e),
        }
    };
    let body = match (kind, read) {
        (_, Err(body)) => {
            let failed = std::sync::Arc::clone(&body_failed);
            let stream = body.into_data_stream().inspect_err(move |e| {
                let _ = failed.set(e.to_string());
            });
            transport::streamed(stream)
        }
        (None, Ok(bytes)) => {
            if parts.method.is_safe() {
                replay = Some(bytes.clone());
            }
            transport::full(bytes)
        }
        (Some(kind), Ok(bytes)) => {
            let (mut handle, kind, stream) = kind.start(&state, &caller, path, &bytes);
            if named.is_none() && fleet.nodes().len() > 1 {
                let model = model_of(&bytes);
                match fleet.route(&model, &Default::default(), &[]).await {
                    Ok(r) => {
                        handle.set_route(r.node().name(), r.reason().as_str(), r.queue_ms());
                        client = r.node().client().clone();
                        routed = Some(r);
                    }
                    Err(e) => {
                        let error = super::ApiError::from(e);
                        let status = error.status();
                        super::sse::committed(
                            handle.fail_committed(status.as_u16(), error.message()),
                        )
                        .await;
                        return error.into_response();
                    }
                }
            }
            trace = Some((handle, kind, stream));
            transport::full(bytes)
        }
    };
    let uri = match client.uri(path, parts.uri.query()) {
        Ok(uri) => uri,
        Err(e) => {
            let message = e.to_string();
            if let Some((trace, _, _)) = trace {
                super::sse::committed(trace.fail_committed(400, &message)).await;
            }
            return native_error(StatusCode::BAD_REQUEST, message);
        }
    };
    // A generation may take its time, but not in silence: the same idle bound as our own calls.
    let idle = std::time::Duration::from_secs(state.dashboard.config().stream_idle_timeout_secs);
    let request = |body| {
        let mut request = axum::http::Request::new(body);
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = forwarded(&parts.headers, &drop);
        request
    };
    let sent = client.exchange(request(body));
    let upstream = match trace {
        Some(_) => match tokio::time::timeout(idle, sent).await {
            Ok(sent) => sent,
            Err(_) => {
                let message = format!(
                    "Ollama at {} did not answer within {} s",
                    client.base_url(),
                    idle.as_secs()
                );
                if let Some((trace, _, _)) = trace {
                    super::sse::committed(trace.fail_committed(504, &message)).await;
                }
                return native_error(StatusCode::GATEWAY_TIMEOUT, message);
            }
        },
        None => sent.await,
    };
    // A read that failed without a refused connect or a timeout met a kept-alive connection the
    // upstream closed as we reused it (hyper closes one after an answer whose body it did not
    // read): sent again once, on a fresh connection. Reads only, so nothing is done twice.
    let upstream = match (upstream, replay) {
        (Err(e), Some(bytes)) if !e.is_connect() => {
            tracing::debug!(error = %e, "an Ollama read failed on a reused connection; sending it again");
            client.exchange(request(transport::full(bytes))).await
        }
        (upstream, _) => upstream,
    };
    let upstream = match upstream {
        Ok(upstream) => upstream,
        Err(_) if body_failed.get().is_some() => {
            let why = body_failed.get().map_or("", String::as_str);
            return native_error(
                StatusCode::BAD_REQUEST,
                format!("reading the request body: {why}"),
            );
        }
        Err(e) => {
            let message = format!(
                "Ollama is unreachable at {}: {}",
                client.base_url(),
                transport::describe(&e)
            );
            if let Some((trace, _, _)) = trace {
                super::sse::committed(trace.fail_committed(502, &message)).await;
            }
            return native_error(StatusCode::BAD_GATEWAY, message);
        }
    };
    let status = upstream.status();
    if let Some(routed) = routed.as_mut().filter(|_| status.is_success()) {
        routed.answered();
    }
    let upstream_length = hyper::body::Body::size_hint(upstream.body()).exact();
    let changes = status
        .is_success()
        .then(|| changes_models(&parts.method, path))
        .flatten();
    // A refresh at the end must finish before the client sees the end of the answer: without a
    // length the answer is chunked and its last chunk waits for the refresh. (With the length,
    // hyper ends the response after the last byte and may never poll the refresh at all.)
    let keep_length = !matches!(changes, Some(Change::AtEnd));
    let headers = forwarded(
        upstream.headers(),
        if keep_length {
            &[]
        } else {
            &[header::CONTENT_LENGTH]
        },
    );
    let served_by = match (&routed, &named, &*fleet.nodes()) {
        (Some(r), _, _) => Some(r.node().name().to_owned()),
        (None, Some(name), _) => Some(name.clone()),
        (None, None, [only]) => Some(only.name().to_owned()),
        _ => None,
    };
    // An untraced answer that changes nothing goes out as it comes, body for body.
    if trace.is_none() && changes.is_none() {
        return answer(status, headers, served_by, Body::new(upstream.into_body()));
    }
    let bytes = http_body_util::BodyExt::into_data_stream(upstream.into_body())
        .map_err(std::io::Error::other);
    let bytes: Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>> = if trace.is_some() {
        let timed = tokio_stream::StreamExt::timeout(bytes, idle);
        Box::pin(timed.map(move |item| {
            item.unwrap_or_else(|_| {
                let why = format!("Ollama sent nothing for {} s", idle.as_secs());
                Err(std::io::Error::new(std::io::ErrorKind::TimedOut, why))
            })
        }))
    } else {
        Box::pin(bytes)
    };
    let bytes: Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>> = match changes {
        // Quick answers: refresh the live cache before answering, so the next read sees it.
        Some(Change::Now) => {
            state
                .dashboard
                .refresh(&[Probe::Installed, Probe::Running])
                .await;
            Box::pin(bytes)
        }
        // Streams (pull, create): refresh once the stream is over, before it ends for the client.
        Some(Change::AtEnd) => {
            let dashboard = state.dashboard.clone();
            let refresh = futures_util::stream::once(async move {
                dashboard.refresh(&[Probe::Installed, Probe::Running]).await;
            });
            Box::pin(bytes.chain(refresh.filter_map(|()| async { None })))
        }
        None => Box::pin(bytes),
    };
    let body = match trace {
        None => Body::from_stream(bytes),
        Some((trace, kind, stream)) => Body::from_stream(Watched {
            inner: bytes,
            trace: Some(trace),
            kind,
            stream: stream && status.is_success(),
            status: status.as_u16(),
            remaining: upstream_length,
            buf: BytesMut::new(),
            failed: None,
            done: false,
            commit: None,
            held: None,
            _routed: routed,
        }),
    };
    answer(status, headers, served_by, body)
}

/// The answer to the client: Ollama's status, headers and body, and the node that served it.
fn answer(
    status: StatusCode,
    headers: HeaderMap,
    served_by: Option<String>,
    body: Body,
) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    if let Some(value) = served_by.and_then(|n| axum::http::HeaderValue::from_str(&n).ok()) {
        response
            .headers_mut()
            .insert(super::nodes::NODE_HEADER, value);
    }
    response
}

/// The node a request names: `X-Ollama-Dash-Node`, else `?node=`.
fn node_named(parts: &axum::http::request::Parts) -> Option<String> {
    let header = parts
        .headers
        .get(super::nodes::NODE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    header.or_else(|| {
        parts.uri.query()?.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == "node" && !value.is_empty()).then(|| value.to_owned())
        })
    })
}

/// The model a generation's body names (`model`, or the older `name`).
fn model_of(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Named {
        #[serde(default)]
        model: Option<String>,
        #[serde(default)]
        name: Option<String>,
    }
    serde_json::from_slice::<Named>(body)
        .ok()
        .and_then(|n| n.model.or(n.name))
        .unwrap_or_default()
}

/// When a passthrough call changes what the live cache holds.
enum Change {
    /// A quick call (copy, delete): refresh before answering.
    Now,
    /// A stream (pull, create): refresh at its end. (A generation may load a model: its trace
    /// asks the collector for a coalesced look at the running models.)
    AtEnd,
}

fn changes_models(method: &axum::http::Method, path: &str) -> Option<Change> {
    use axum::http::Method;
    match (method, path) {
        (&Method::POST, "/api/copy") | (&Method::DELETE, "/api/delete") => Some(Change::Now),
        (&Method::POST, "/api/pull" | "/api/create") => Some(Change::AtEnd),
        _ => None,
    }
}

/// The traced endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Generate,
    Chat,
    Embed,
    Embeddings,
}

impl Kind {
    fn of(path: &str) -> Option<Self> {
        match path {
            "/api/generate" => Some(Kind::Generate),
            "/api/chat" => Some(Kind::Chat),
            "/api/embed" => Some(Kind::Embed),
            "/api/embeddings" => Some(Kind::Embeddings),
            _ => None,
        }
    }

    /// Starts the trace from the request body; returns it with whether the answer streams.
    fn start(
        self,
        state: &AppState,
        caller: &Caller,
        path: &str,
        body: &[u8],
    ) -> (TraceHandle, Kind, bool) {
        let mut request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let model = request["model"]
            .as_str()
            .or_else(|| request["name"].as_str())
            .unwrap_or_default()
            .to_owned();
        let streams = matches!(self, Kind::Generate | Kind::Chat);
        let stream = streams && request["stream"].as_bool().unwrap_or(true);
        if let Some(messages) = request["messages"].as_array_mut() {
            for m in messages {
                if let Some(images) = m.get_mut("images").and_then(Value::as_array_mut) {
                    for image in images {
                        let len = image.as_str().map_or(0, str::len);
                        *image = format!("[image: {len} base64 chars]").into();
                    }
                }
            }
        }
        let input = match self {
            Kind::Chat => request["messages"].take(),
            Kind::Generate | Kind::Embeddings => request["prompt"].take(),
            Kind::Embed => request["input"].take(),
        };
        let endpoint = format!("/ollama{path}");
        let start = caller.trace(&endpoint, &model, stream, input.to_string());
        (state.dashboard.start_trace(start), self, stream)
    }
}

/// One line (or the whole answer) of a traced endpoint; only what traces need.
#[derive(Debug, Default, Deserialize)]
struct Line {
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    response: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    done: Option<bool>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    embeddings: Option<Vec<IgnoredAny>>,
    #[serde(default)]
    embedding: Option<IgnoredAny>,
    #[serde(default)]
    done_reason: Option<String>,
    #[serde(default)]
    total_duration: Option<u64>,
    #[serde(default)]
    load_duration: Option<u64>,
    #[serde(default)]
    prompt_eval_count: Option<u64>,
    #[serde(default)]
    prompt_eval_duration: Option<u64>,
    #[serde(default)]
    eval_count: Option<u64>,
    #[serde(default)]
    eval_duration: Option<u64>,
}

/// The answer's bytes on their way to the client, untouched, watched for the trace.
struct Watched {
    inner: Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>,
    trace: Option<TraceHandle>,
    kind: Kind,
    stream: bool,
    status: u16,
    /// Bytes still to come, when Ollama said how many.
    remaining: Option<u64>,
    buf: BytesMut,
    failed: Option<String>,
    done: bool,
    /// The ended trace's commit: what ended the answer waits for it.
    commit: Option<Hold>,
    /// What ended the answer (its last chunk, an error or the end), held until the commit.
    held: Option<Option<std::io::Result<Bytes>>>,
    /// The node's slot, held while the answer streams.
    _routed: Option<ollama_dash_core::fleet::Routed>,
}

impl Watched {
    /// Watches a chunk before it goes out; the trace is recorded as soon as the answer is
    /// complete, and the chunk that completed it waits for the trace's commit, so a client that
    /// reads the whole answer then asks for its trace finds it (even after a `kill -9`).
    fn watch_chunk(&mut self, chunk: &Bytes) {
        if let Some(remaining) = &mut self.remaining {
            *remaining = remaining.saturating_sub(chunk.len() as u64);
        }
        if self.stream || self.buf.len() + chunk.len() <= MAX_WATCHED_ANSWER {
            self.buf.extend_from_slice(chunk);
        }
        if self.stream {
            while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line = self.buf.split_to(pos + 1);
                self.watch_line(&line);
            }
        }
        if self.done || self.failed.is_some() || self.remaining == Some(0) {
            self.finish();
        }
    }

    fn watch_line(&mut self, bytes: &[u8]) {
        let bytes = bytes.trim_ascii();
        if bytes.is_empty() {
            return;
        }
        let Ok(line) = serde_json::from_slice::<Line>(bytes) else {
            return;
        };
        let Some(trace) = &mut self.trace else {
            return;
        };
        if let Some(error) = line.error {
            self.failed = Some(error);
            return;
        }
        if let Some(m) = &line.message {
            trace.push_thinking(m.thinking.as_deref().unwrap_or_default());
            trace.push_output(&m.content);
            trace.push_tool_calls(m.tool_calls.as_deref().unwrap_or_default());
        }
        trace.push_thinking(line.thinking.as_deref().unwrap_or_default());
        trace.push_output(line.response.as_deref().unwrap_or_default());
        if let Some(embeddings) = &line.embeddings {
            trace.push_output(&format!("{} embeddings", embeddings.len()));
        }
        if line.embedding.is_some() {
            trace.push_output("1 embedding");
        }
        let last = line.done == Some(true) || matches!(self.kind, Kind::Embed | Kind::Embeddings);
        if last {
            trace.set_metrics(&Metrics {
                done_reason: line.done_reason,
                total_duration: line.total_duration,
                load_duration: line.load_duration,
                prompt_eval_count: line.prompt_eval_count,
                prompt_eval_duration: line.prompt_eval_duration,
                eval_count: line.eval_count,
                eval_duration: line.eval_duration,
            });
            self.done = true;
        }
    }

    /// The answer is over: record how it went.
    fn finish(&mut self) {
        let rest = std::mem::take(&mut self.buf);
        self.watch_line(&rest);
        let Some(trace) = self.trace.take() else {
            return;
        };
        let commit = match (&self.failed, self.status) {
            (Some(error), status) => trace.fail_committed(status, error),
            (None, status) if !(200..300).contains(&status) => {
                trace.fail_committed(status, format!("Ollama answered {status}"))
            }
            (None, status) if self.done => trace.succeed_committed(status),
            (None, status) => trace.fail_committed(status, "the answer ended before it was done"),
        };
        self.commit = Some(super::sse::committed(commit));
    }
}

impl Stream for Watched {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(commit) = self.commit.as_mut() {
                std::task::ready!(commit.as_mut().poll(cx));
                self.commit = None;
                if let Some(item) = self.held.take() {
                    return Poll::Ready(item);
                }
            }
            let polled = self.inner.poll_next_unpin(cx);
            match &polled {
                Poll::Ready(Some(Ok(chunk))) => {
                    let chunk = chunk.clone();
                    self.watch_chunk(&chunk);
                }
                Poll::Ready(Some(Err(e))) => {
                    self.failed = Some(format!("the answer from Ollama broke off: {e}"));
                    self.finish();
                }
                Poll::Ready(None) => self.finish(),
                Poll::Pending => {}
            }
            match polled {
                // The trace just ended: what ended it goes out once the trace is committed.
                Poll::Ready(item) if self.commit.is_some() => self.held = Some(item),
                other => return other,
            }
        }
    }
}
