//! The test knobs: planned failures, mid-stream errors and drops, refused connections, delays,
//! request counts, shutdown, and the in-process router.

use std::time::Duration;

use futures_util::StreamExt;
use http_body_util::BodyExt;
use ollama_dash_host::sim::{SimConfig, SimControl, router};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::support::{assert_metrics, expect_error, start, start_with};

fn prompt() -> Value {
    json!({"model": "llama3.2:1b", "prompt": "Tell me a story"})
}

#[tokio::test]
async fn fail_next_answers_the_planned_error_n_times() {
    let sim = start().await;
    sim.control().fail_next(
        2,
        503,
        "server busy, please try again.  maximum pending requests exceeded",
    );
    expect_error(
        sim.get("/api/tags").await,
        503,
        "server busy, please try again.  maximum pending requests exceeded",
    )
    .await;
    assert_eq!(sim.get("/").await.status(), 200, "only /api routes fail");
    expect_error(
        sim.post("/api/generate", &prompt()).await,
        503,
        "server busy, please try again.  maximum pending requests exceeded",
    )
    .await;
    assert_eq!(sim.get("/api/tags").await.status(), 200);
}

#[tokio::test]
async fn die_mid_stream_ends_with_an_error_line_and_no_done() {
    let sim = start().await;
    sim.control().die_mid_stream_after(Some(3));
    let lines = sim.stream("/api/generate", &prompt()).await;
    assert_eq!(lines.len(), 4);
    assert!(lines[..3].iter().all(|l| l["done"] == false));
    assert_eq!(
        lines[3],
        json!({"error": "an error was encountered while running the model: unexpected EOF"})
    );
    let chat = sim
        .stream(
            "/api/chat",
            &json!({"model": "llama3.2:1b", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(chat.len(), 4);
    assert!(chat[3]["error"].is_string());
    let single = sim
        .post(
            "/api/generate",
            &json!({"model": "llama3.2:1b", "prompt": "x", "stream": false}),
        )
        .await;
    expect_error(
        single,
        500,
        "an error was encountered while running the model: unexpected EOF",
    )
    .await;

    sim.control().die_mid_stream_after(Some(0));
    expect_error(
        sim.post("/api/generate", &prompt()).await,
        500,
        "an error was encountered while running the model: unexpected EOF",
    )
    .await;
    sim.control().die_mid_stream_after(None);
    assert_eq!(
        sim.stream("/api/generate", &prompt())
            .await
            .last()
            .expect("done")["done"],
        true
    );
}

#[tokio::test]
async fn dropped_connections_end_the_stream_without_done() {
    let sim = start().await;
    sim.control().drop_connection_mid_stream_after(Some(2));
    let response = sim
        .post(
            "/api/chat",
            &json!({"model": "llama3.2:1b", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut received = Vec::new();
    let mut failed = false;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => received.extend_from_slice(&bytes),
            Err(_) => failed = true,
        }
    }
    assert!(failed, "the body ends in a transport error");
    let text = String::from_utf8(received).expect("UTF-8");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines
            .iter()
            .all(|l| l["done"] == false && l.get("error").is_none())
    );
    sim.control().drop_connection_mid_stream_after(None);
    assert_eq!(
        sim.stream("/api/generate", &prompt())
            .await
            .last()
            .expect("done")["done"],
        true
    );
}

#[tokio::test]
async fn refused_connections_fail_until_allowed_again() {
    let sim = start().await;
    let fresh = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client")
    };
    assert!(fresh().get(sim.url("/")).send().await.is_ok());
    sim.control().set_refuse_connections(true);
    let refused = fresh().get(sim.url("/")).send().await;
    assert!(refused.is_err(), "connection reset: {refused:?}");
    assert!(
        sim.client.get(sim.url("/api/tags")).send().await.is_err(),
        "pooled connections are closed too"
    );
    sim.control().set_refuse_connections(false);
    assert_eq!(
        fresh()
            .get(sim.url("/"))
            .send()
            .await
            .expect("answered")
            .status(),
        200
    );
}

#[tokio::test]
async fn load_delay_shows_in_load_duration_only_when_loading() {
    let sim = start_with(SimConfig {
        load_delay: Duration::from_millis(150),
        ..SimConfig::default()
    })
    .await;
    let first = sim
        .ok_json(
            "/api/generate",
            &json!({"model": "qwen3:0.6b", "prompt": "hi", "stream": false}),
        )
        .await;
    assert!(first["load_duration"].as_u64().expect("load") >= 150_000_000);
    assert_metrics(&first, true);
    let second = sim
        .ok_json(
            "/api/generate",
            &json!({"model": "qwen3:0.6b", "prompt": "hi", "stream": false}),
        )
        .await;
    assert!(second.get("load_duration").is_none());
    sim.control().set_load_delay(Duration::ZERO);
    let other_context = sim.ok_json("/api/generate", &json!({"model": "qwen3:0.6b", "prompt": "hi", "stream": false, "options": {"num_ctx": 8192}})).await;
    assert!(
        other_context["load_duration"].as_u64().is_some(),
        "a new num_ctx reloads"
    );
}

#[tokio::test]
async fn preloaded_models_are_running_and_requests_are_counted() {
    let sim = start_with(SimConfig {
        preload: vec!["llama3.2:1b".into()],
        ..SimConfig::default()
    })
    .await;
    let running = sim.ps().await;
    assert_eq!(running.len(), 1);
    assert_eq!(running[0]["name"], "llama3.2:1b");
    sim.stream("/api/generate", &prompt()).await;
    sim.get("/nope").await;
    assert_eq!(sim.control().request_count("/api/generate"), 1);
    assert_eq!(sim.control().request_count("/api/ps"), 1);
    assert_eq!(sim.control().request_count("/nope"), 1);
    assert_eq!(sim.control().request_count("/api/chat"), 0);
    let bad = ollama_dash_host::sim::Simulator::start(SimConfig {
        preload: vec!["nosuch".into()],
        ..SimConfig::default()
    })
    .await;
    assert!(bad.is_err());
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let sim = start().await;
    let url = sim.url("/");
    assert_eq!(sim.get("/").await.status(), 200);
    sim.handle.shutdown().await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    assert!(client.get(url).send().await.is_err());
}

#[tokio::test]
async fn the_router_serves_in_process() {
    let control = SimControl::detached(&SimConfig::default()).expect("state");
    let request = axum::http::Request::post("/api/generate")
        .body(axum::body::Body::from(
            r#"{"model":"llama3.2:1b","prompt":"hi"}"#,
        ))
        .expect("request");
    let response = router(&control).oneshot(request).await.expect("response");
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let lines: Vec<Value> = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("JSON"))
        .collect();
    assert_eq!(lines.last().expect("done")["done_reason"], "stop");
    assert_eq!(control.request_count("/api/generate"), 1);
}

#[tokio::test]
async fn run_standalone_serves_until_the_shutdown_future_completes() {
    let outcome = tokio::time::timeout(
        Duration::from_secs(5),
        ollama_dash_host::sim::run_standalone(SimConfig::default(), async {}),
    )
    .await;
    assert!(matches!(outcome, Ok(Ok(()))));
    let taken = start().await;
    let busy = SimConfig {
        listen: taken.handle.addr(),
        ..SimConfig::default()
    };
    assert!(
        ollama_dash_host::sim::run_standalone(busy, async {})
            .await
            .is_err(),
        "the port is in use"
    );
}

#[tokio::test]
async fn older_versions_drop_newer_fields() {
    let sim = start().await;
    sim.control().set_version("0.8.0");
    let inline = sim
        .ok_json(
            "/api/generate",
            &json!({"model": "qwen3:0.6b", "prompt": "hi", "think": true, "stream": false}),
        )
        .await;
    assert!(
        inline.get("thinking").is_none(),
        "no think field before v0.9"
    );
    assert!(
        inline["response"]
            .as_str()
            .expect("response")
            .starts_with("<think>")
    );
    let ignored = sim
        .ok_json(
            "/api/generate",
            &json!({"model": "llama3.2:1b", "prompt": "hi", "think": true, "stream": false}),
        )
        .await;
    assert_eq!(
        ignored["done"], true,
        "think is an unknown field before v0.9"
    );
    let running = sim.ps().await;
    assert!(
        running
            .iter()
            .all(|m| m.get("context_length").is_none() && m.get("size_vram").is_some())
    );
    sim.control().set_version("0.1.30");
    let old = sim
        .ok_json(
            "/api/generate",
            &json!({"model": "llama3.2:1b", "prompt": "hi", "stream": false}),
        )
        .await;
    assert!(old.get("done_reason").is_none());
    assert!(sim.ps().await.iter().all(|m| m.get("size_vram").is_none()));
}
