//! Upstream faults (#13 item 2): Ollama killed, stalled or refusing, before the answer and in
//! the middle of it, on the OpenAI route, the `/ollama` passthrough and a chat session. Each
//! case must end the answer cleanly within a bound (the stream idle timeout, set to 2 s here),
//! leave a trace marked `error` with the reason, keep the service answering, and health must go
//! degraded with the fault and back to ok once Ollama answers again (one probe round).

use std::time::{Duration, Instant};

use axum::body::Body;
use http::StatusCode;
use http_body_util::BodyExt;
use ollama_dash_host::sim::{SimConfig, SimHandle, Simulator};
use serde_json::{Value, json};

use crate::support::{TOKEN, TestHost, authed};

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
    TestHost::with_config(&sim.url(), |c| {
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
