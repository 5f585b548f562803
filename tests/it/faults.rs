//! Upstream faults (#13 item 2): Ollama killed, stalled, refusing or answering garbage, before
//! the answer and in the middle of it, on the OpenAI route, the `/ollama` passthrough and a chat
//! session. Each
//! case must end the answer cleanly within a bound (the stream idle timeout, set to 2 s here),
//! leave a trace marked `error` with the reason, keep the service answering, and health must go
//! degraded with the fault and back to ok once Ollama answers again (one probe round).

use std::time::{Duration, Instant};

use axum::body::Body;
use http::StatusCode;
use http_body_util::BodyExt;
use ollama_dash_host::sim::{SimConfig, SimHandle, Simulator};
use serde_json::{Value, json};

use crate::support::{TOKEN, TestHost, authed, sim_with_preload};

const MODEL: &str = "llama3.2:1b";
/// The stream idle timeout of these hosts.
const IDLE: Duration = Duration::from_secs(2);
/// Longest any faulty answer may take to end: the idle timeout and some slack.
const BOUND: Duration = Duration::from_secs(12);

#[derive(Debug, Clone, Copy)]
enum Fault {
    Kill,
    Stall,
}

#[derive(Debug, Clone, Copy)]
enum Route {
    OpenAi,
    Passthrough,
    Session,
}

async fn slow_sim() -> SimHandle {
    Simulator::start(SimConfig {
        preload: vec![MODEL.to_owned()],
        token_delay: Duration::from_millis(60),
        ..SimConfig::default()
    })
    .await
    .expect("simulator")
}

async fn host(sim: &SimHandle) -> TestHost {
    host_at(&sim.url()).await
}

async fn host_at(url: &str) -> TestHost {
    TestHost::with_config(url, |c| {
        c.stream_idle_timeout_secs = IDLE.as_secs();
        c.request_timeout_secs = 1;
    })
    .await
}

fn ask() -> Value {
    json!([{ "role": "user", "content": "tell me a long story" }])
}

/// Starts a streamed generation on `route`.
async fn start(host: &TestHost, route: Route) -> axum::response::Response {
    let request = match route {
        Route::OpenAi => authed(
            "POST",
            "/v1/chat/completions",
            Some(json!({ "model": MODEL, "messages": ask(), "stream": true })),
            Some(TOKEN),
        ),
        Route::Passthrough => authed(
            "POST",
            "/ollama/api/chat",
            Some(json!({ "model": MODEL, "messages": ask() })),
            Some(TOKEN),
        ),
        Route::Session => {
            let (status, session) = host
                .call("POST", "/api/sessions", Some(json!({ "model": MODEL })))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{session}");
            let id = session["id"].as_str().expect("session id");
            authed(
                "POST",
                &format!("/api/sessions/{id}/messages"),
                Some(json!({ "content": "tell me a long story" })),
                Some(TOKEN),
            )
        }
    };
    host.open(request).await
}

/// Reads the body to its end (or its error); what arrived, and whether it ended in time.
async fn drain(body: Body, first_chunk: impl FnOnce()) -> (String, bool) {
    let mut body = body;
    let mut seen = String::new();
    let mut first_chunk = Some(first_chunk);
    let ended = tokio::time::timeout(BOUND, async {
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    if let Some(data) = frame.data_ref() {
                        seen.push_str(&String::from_utf8_lossy(data));
                        if let Some(fault) = first_chunk.take() {
                            fault();
                        }
                    }
                }
                Err(_) => return, // the connection was cut: clean for a byte-for-byte relay
            }
        }
    })
    .await
    .is_ok();
    (seen, ended)
}

async fn last_trace(host: &TestHost) -> Value {
    host.dashboard.flush_writes().await.expect("flush");
    let (status, page) = host.call("GET", "/v1/traces?limit=1", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"][0].clone()
}

/// Brings Ollama back and waits (bounded) until it accepts connections again: a killed
/// simulator listens anew a moment after `recover`.
async fn recover(sim: &SimHandle) {
    sim.control().recover();
    let addr = sim.url().trim_start_matches("http://").to_owned();
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(&addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the simulator did not come back");
}

async fn health(host: &TestHost) -> String {
    host.dashboard.refresh_all().await;
    let (_, health) = host.call("GET", "/api/health", None).await;
    let status = health["status"].as_str().unwrap_or_default().to_owned();
    if status != "ok" {
        eprintln!("faults: health {status}: {}", health["ollama"]);
    }
    status
}

async fn mid_stream(fault: Fault) {
    for route in [Route::OpenAi, Route::Passthrough, Route::Session] {
        let sim = slow_sim().await;
        let host = host(&sim).await;
        assert_eq!(health(&host).await, "ok");
        let response = start(&host, route).await;
        assert_eq!(response.status(), StatusCode::OK, "{route:?}");
        let control = sim.control();
        let started = Instant::now();
        let (seen, ended) = drain(response.into_body(), || match fault {
            Fault::Kill => control.kill(),
            Fault::Stall => control.stall(),
        })
        .await;
        let took = started.elapsed();
        assert!(ended, "{fault:?} {route:?}: the answer did not end: {seen}");
        eprintln!("faults: {fault:?} mid-stream on {route:?}: ended after {took:?}");
        match route {
            // An error event the SDKs raise, not a silent cut.
            Route::OpenAi => assert!(seen.contains("\"error\""), "{seen}"),
            Route::Session => assert!(seen.contains("\"type\":\"error\""), "{seen}"),
            // Byte for byte: Ollama's bytes as far as they came, then the cut.
            Route::Passthrough => assert!(!seen.contains("\"done\":true"), "{seen}"),
        }
        let trace = last_trace(&host).await;
        assert_eq!(trace["status"], "error", "{fault:?} {route:?}: {trace}");
        assert!(
            trace["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{trace}"
        );
        assert_eq!(health(&host).await, "degraded", "{fault:?} {route:?}");
        recover(&sim).await;
        assert_eq!(health(&host).await, "ok", "{fault:?} {route:?}: recovered");
        // The service goes on: the next answer is whole.
        let (status, answer) = host
            .call(
                "POST",
                "/v1/chat/completions",
                Some(json!({ "model": MODEL, "messages": ask() })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn ollama_killed_mid_stream_ends_every_route_cleanly() {
    mid_stream(Fault::Kill).await;
}

#[tokio::test]
async fn ollama_stalled_mid_stream_ends_every_route_within_the_idle_timeout() {
    mid_stream(Fault::Stall).await;
}

#[tokio::test]
async fn ollama_down_or_stalled_before_the_answer_is_a_clean_error_and_a_trace() {
    for fault in [Fault::Kill, Fault::Stall] {
        for route in [Route::OpenAi, Route::Passthrough, Route::Session] {
            let sim = slow_sim().await;
            let host = host(&sim).await;
            match fault {
                Fault::Kill => sim.control().kill(),
                Fault::Stall => sim.control().stall(),
            }
            let started = Instant::now();
            let response = tokio::time::timeout(BOUND, start(&host, route))
                .await
                .unwrap_or_else(|_| panic!("{fault:?} {route:?}: no answer in {BOUND:?}"));
            let status = response.status();
            let (seen, ended) = drain(response.into_body(), || {}).await;
            assert!(ended, "{fault:?} {route:?}: the answer did not end");
            eprintln!(
                "faults: {fault:?} before the answer on {route:?}: {status} after {:?}",
                started.elapsed()
            );
            // Before anything was sent: a real error status (or, once a stream had started with
            // keep-alives, an error event).
            assert!(
                status.is_server_error() || seen.contains("error"),
                "{fault:?} {route:?}: {status} {seen}"
            );
            let trace = last_trace(&host).await;
            assert_eq!(trace["status"], "error", "{fault:?} {route:?}: {trace}");
            assert_eq!(health(&host).await, "degraded");
            recover(&sim).await;
            assert_eq!(health(&host).await, "ok", "{fault:?} {route:?}: recovered");
            sim.shutdown().await;
        }
    }
}

/// What the garbage upstream does to `POST /api/chat` (everything else it relays to a healthy
/// simulator, so the probes stay green and only the generation is broken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Garbage {
    /// Relay: a healthy Ollama.
    None = 0,
    /// Bytes that are not HTTP at all, before any status line or header, then the close.
    NotHttp = 1,
    /// 200 and a whole body that is not JSON (an HTML error page from something in between).
    NotJson = 2,
    /// 200, valid answer lines (or a JSON prefix when not streamed), then a line that is not
    /// JSON, then the end.
    MidStream = 3,
}

/// An Ollama in front of the simulator that answers chats with [`Garbage`] on demand. Every
/// answer closes its connection, so each call opens a new one and meets the current mode even
/// before headers (where the listener, not the router, answers).
struct GarbageUpstream {
    url: String,
    mode: std::sync::Arc<std::sync::atomic::AtomicU8>,
    task: tokio::task::JoinHandle<()>,
}

impl GarbageUpstream {
    async fn start(sim: &SimHandle) -> Self {
        use std::sync::Arc;
        use std::sync::atomic::AtomicU8;
        let mode = Arc::new(AtomicU8::new(Garbage::None as u8));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let relay = Relay {
            sim: sim.url(),
            client: reqwest::Client::new(),
            mode: Arc::clone(&mode),
        };
        let app = axum::Router::new()
            .fallback(relay_call)
            .with_state(Arc::new(relay));
        let listener = Peeking {
            inner: listener,
            mode: Arc::clone(&mode),
        };
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, mode, task }
    }

    fn set(&self, garbage: Garbage) {
        self.mode
            .store(garbage as u8, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for GarbageUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn current(mode: &std::sync::atomic::AtomicU8) -> Garbage {
    match mode.load(std::sync::atomic::Ordering::SeqCst) {
        1 => Garbage::NotHttp,
        2 => Garbage::NotJson,
        3 => Garbage::MidStream,
        _ => Garbage::None,
    }
}

/// The listener: in [`Garbage::NotHttp`] mode a connection whose request is a chat gets bytes
/// that are not HTTP and is closed; the router never sees it.
struct Peeking {
    inner: tokio::net::TcpListener,
    mode: std::sync::Arc<std::sync::atomic::AtomicU8>,
}

impl axum::serve::Listener for Peeking {
    type Io = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.inner.accept().await else {
                continue;
            };
            if current(&self.mode) != Garbage::NotHttp || !is_chat(&stream).await {
                return (stream, addr);
            }
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut stream = stream;
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head).await;
                let _ = stream
                    .write_all(b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02 garbage, not HTTP\r\n\r\n")
                    .await;
                let _ = stream.shutdown().await;
            });
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Whether the connection's first request is `POST /api/chat` (peeked, not read).
async fn is_chat(stream: &tokio::net::TcpStream) -> bool {
    const LINE: &[u8] = b"POST /api/chat ";
    let mut buf = [0u8; 64];
    for _ in 0..200 {
        match stream.peek(&mut buf).await {
            Ok(n) if n >= LINE.len() => return buf.starts_with(LINE),
            Ok(0) | Err(_) => return false,
            Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    false
}

struct Relay {
    sim: String,
    client: reqwest::Client,
    mode: std::sync::Arc<std::sync::atomic::AtomicU8>,
}

fn closing(status: u16, content_type: &str, body: Body) -> axum::response::Response {
    axum::response::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("connection", "close")
        .body(body)
        .unwrap()
}

async fn relay_call(
    axum::extract::State(relay): axum::extract::State<std::sync::Arc<Relay>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let chat = parts.method == http::Method::POST && parts.uri.path() == "/api/chat";
    let streamed = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["stream"].as_bool())
        .unwrap_or(true);
    let ndjson = if streamed {
        "application/x-ndjson"
    } else {
        "application/json; charset=utf-8"
    };
    match current(&relay.mode) {
        Garbage::NotJson if chat => {
            let page =
                "<html><head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>\n";
            return closing(200, ndjson, Body::from(page));
        }
        Garbage::MidStream if chat && streamed => {
            let line = |word: &str| {
                format!(
                    "{}\n",
                    json!({
                        "model": MODEL,
                        "created_at": "2025-01-01T00:00:00Z",
                        "message": { "role": "assistant", "content": word },
                        "done": false,
                    })
                )
            };
            let lines: Vec<Result<String, std::io::Error>> = vec![
                Ok(line("Once")),
                Ok(line(" upon")),
                Ok(line(" a")),
                Ok("\u{1}\u{2}garbage{{{ not json\n".to_owned()),
            ];
            return closing(
                200,
                ndjson,
                Body::from_stream(futures_util::stream::iter(lines)),
            );
        }
        Garbage::MidStream if chat => {
            let cut = r#"{"model":"llama3.2:1b","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":"Once upon"#;
            return closing(200, ndjson, Body::from(format!("{cut}\u{1}garbage\n")));
        }
        _ => {}
    }
    let target = format!(
        "{}{}",
        relay.sim,
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut headers = parts.headers.clone();
    for name in ["host", "connection", "content-length", "transfer-encoding"] {
        headers.remove(name);
    }
    let answer = relay
        .client
        .request(parts.method, target)
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let content_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    closing(
        status,
        &content_type,
        Body::from(answer.bytes().await.unwrap()),
    )
}

/// A chat on `route`, streamed or not.
fn garbage_chat(route: Route, stream: bool) -> http::Request<Body> {
    match route {
        Route::OpenAi => authed(
            "POST",
            "/v1/chat/completions",
            Some(json!({ "model": MODEL, "messages": ask(), "stream": stream })),
            Some(TOKEN),
        ),
        Route::Passthrough => authed(
            "POST",
            "/ollama/api/chat",
            Some(json!({ "model": MODEL, "messages": ask(), "stream": stream })),
            Some(TOKEN),
        ),
        Route::Session => unreachable!("sessions are driven by `start`"),
    }
}

/// Ollama answering garbage before the headers, as the whole body, or in the middle of the
/// answer: on the OpenAI route (streamed and not) a clean error — 502 with the JSON error shape
/// before anything was sent, an error event in a stream — and on the passthrough the bytes as
/// Ollama sent them, or 502 in Ollama's error shape when there were none; always within the
/// bound, a trace marked `error` with a reason, and the next call (to a healthy Ollama) whole.
#[tokio::test]
async fn ollama_answering_garbage_is_a_clean_error_a_trace_and_the_service_goes_on() {
    let sim = sim_with_preload(&[MODEL]).await;
    let upstream = GarbageUpstream::start(&sim).await;
    let host = host_at(&upstream.url).await;
    assert_eq!(health(&host).await, "ok");
    let cases = [Route::OpenAi, Route::Passthrough]
        .into_iter()
        .flat_map(|r| [(r, false), (r, true)])
        .map(|(r, s)| (r, Some(s)))
        .chain([(Route::Session, None)]);
    let mut cases_run = 0;
    for (route, stream) in cases {
        for garbage in [Garbage::NotHttp, Garbage::NotJson, Garbage::MidStream] {
            let case = format!("{garbage:?} on {route:?} (stream {stream:?})");
            upstream.set(garbage);
            let started = Instant::now();
            let request = async {
                match stream {
                    Some(stream) => host.open(garbage_chat(route, stream)).await,
                    None => start(&host, route).await,
                }
            };
            let response = tokio::time::timeout(BOUND, request)
                .await
                .unwrap_or_else(|_| panic!("{case}: no answer in {BOUND:?}"));
            let status = response.status();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let (seen, ended) = drain(response.into_body(), || {}).await;
            let took = started.elapsed();
            assert!(ended, "{case}: the answer did not end in {BOUND:?}: {seen}");
            let json: Option<Value> = serde_json::from_str(&seen).ok();
            match (route, stream) {
                (Route::OpenAi, Some(false)) => {
                    assert_eq!(status, StatusCode::BAD_GATEWAY, "{case}: {seen}");
                    let json = json.unwrap_or_else(|| panic!("{case}: not JSON: {seen}"));
                    assert!(
                        json["error"]["message"]
                            .as_str()
                            .is_some_and(|m| !m.is_empty()),
                        "{case}: {json}"
                    );
                    assert_eq!(json["error"]["type"], "upstream_error", "{case}: {json}");
                    assert_eq!(json["error"]["code"], "upstream_unavailable", "{case}");
                }
                (Route::OpenAi, _) | (Route::Session, _) if status == StatusCode::OK => {
                    // Streamed: an error event the SDKs raise, never a normal end.
                    assert!(content_type.starts_with("text/event-stream"), "{case}");
                    assert!(seen.contains("\"error\""), "{case}: {seen}");
                    assert!(
                        !seen.contains("\"finish_reason\":\"stop\""),
                        "{case}: {seen}"
                    );
                }
                (Route::OpenAi, _) | (Route::Session, _) => {
                    assert_eq!(status, StatusCode::BAD_GATEWAY, "{case}: {seen}");
                    let json = json.unwrap_or_else(|| panic!("{case}: not JSON: {seen}"));
                    assert!(json["error"]["message"].is_string(), "{case}: {json}");
                }
                (Route::Passthrough, _) if garbage == Garbage::NotHttp => {
                    // Nothing came from Ollama to relay: our error, in Ollama's shape.
                    assert_eq!(status, StatusCode::BAD_GATEWAY, "{case}: {seen}");
                    let json = json.unwrap_or_else(|| panic!("{case}: not JSON: {seen}"));
                    assert!(
                        json["error"].as_str().is_some_and(|m| !m.is_empty()),
                        "{case}: {json}"
                    );
                }
                (Route::Passthrough, _) => {
                    // Byte for byte: what Ollama sent, never a made-up end.
                    assert_eq!(status, StatusCode::OK, "{case}");
                    assert!(
                        seen.contains("garbage") || seen.contains("nginx"),
                        "{case}: {seen}"
                    );
                    assert!(!seen.contains("\"done\":true"), "{case}: {seen}");
                }
            }
            let trace = last_trace(&host).await;
            assert_eq!(trace["status"], "error", "{case}: {trace}");
            assert!(
                trace["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{case}: a reason: {trace}"
            );
            eprintln!(
                "faults: garbage {case}: {status} after {took:?}, trace error: {}",
                trace["error"]
            );
            // The service goes on: with Ollama healthy again, the next answers are whole.
            upstream.set(Garbage::None);
            let (status, answer) = host
                .call(
                    "POST",
                    "/v1/chat/completions",
                    Some(json!({ "model": MODEL, "messages": ask() })),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{case}: after: {answer}");
            assert!(
                answer["choices"][0]["message"]["content"]
                    .as_str()
                    .is_some_and(|c| !c.is_empty()),
                "{case}: {answer}"
            );
            let (status, answer) = host
                .call(
                    "POST",
                    "/ollama/api/chat",
                    Some(json!({ "model": MODEL, "messages": ask(), "stream": false })),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{case}: after: {answer}");
            assert_eq!(answer["done"], true, "{case}: {answer}");
            assert_eq!(last_trace(&host).await["status"], "ok", "{case}");
            cases_run += 1;
        }
    }
    assert_eq!(cases_run, 15);
    // Only the chats were broken: health stayed ok throughout.
    assert_eq!(health(&host).await, "ok");
    sim.shutdown().await;
}
