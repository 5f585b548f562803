//! The chat view's per-session panel (#16): a session keeps its model, system prompt, options,
//! `think` and `keep_alive`, and every turn of it is sent to Ollama with them. A simulator
//! behind a recording layer shows what Ollama received.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use http::StatusCode;
use serde_json::{Value, json};

use ollama_dash_host::sim::{SimConfig, SimControl, router};

use crate::support::TestHost;

const MODEL: &str = "llama3.2:1b";

/// The bodies of the `/api/chat` requests a simulator received, oldest first.
type Received = Arc<Mutex<Vec<Value>>>;

async fn record(
    State(received): State<Received>,
    request: Request,
    next: Next,
) -> axum::response::Response {
    if request.uri().path() != "/api/chat" {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
    if let Ok(json) = serde_json::from_slice(&bytes) {
        received.lock().expect("lock").push(json);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// A simulator (with `MODEL` loaded) on a loopback port that records every `/api/chat` body.
async fn recording_sim() -> (String, Received, tokio::task::JoinHandle<()>) {
    let config = SimConfig {
        preload: vec![MODEL.to_owned()],
        ..SimConfig::default()
    };
    let control = SimControl::detached(&config).expect("simulator state");
    let received = Received::default();
    let app = router(&control).layer(axum::middleware::from_fn_with_state(
        received.clone(),
        record,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, received, task)
}

/// Sends `body` to the session (not streamed); the `/api/chat` body Ollama received for it.
async fn turn(host: &TestHost, received: &Received, id: &str, body: Value) -> Value {
    let before = received.lock().expect("lock").len();
    let (status, answer) = host
        .call("POST", &format!("/api/sessions/{id}/messages"), Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let all = received.lock().expect("lock");
    assert_eq!(all.len(), before + 1, "one /api/chat per turn");
    all[before].clone()
}

#[tokio::test]
async fn a_sessions_options_reach_ollama_on_every_turn() {
    let (url, received, task) = recording_sim().await;
    let host = TestHost::new(&url, &[]).await;
    let (status, session) = host
        .call(
            "POST",
            "/api/sessions",
            Some(json!({ "model": MODEL, "title": "panel" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    assert_eq!(
        (&session["think"], &session["keep_alive"]),
        (&Value::Null, &Value::Null)
    );
    let id = session["id"].as_str().expect("id").to_owned();

    // The panel's PATCH: system prompt, options, think and keep_alive.
    let panel = json!({
        "system_prompt": "Answer in one line.",
        "options": { "temperature": 0.25, "top_p": 0.5, "num_ctx": 4096, "seed": 42 },
        "think": false,
        "keep_alive": "10m",
    });
    let (status, patched) = host
        .call("PATCH", &format!("/api/sessions/{id}"), Some(panel))
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["think"], json!(false));
    assert_eq!(patched["keep_alive"], json!("10m"));
    assert_eq!(patched["options"]["seed"], json!(42));

    // Both turns carry them, without the client repeating them.
    for content in ["first", "second"] {
        let sent = turn(
            &host,
            &received,
            &id,
            json!({ "content": content, "stream": false }),
        )
        .await;
        assert_eq!(sent["model"], MODEL, "{sent}");
        let options = &sent["options"];
        assert_eq!(options["temperature"], json!(0.25), "{sent}");
        assert_eq!(options["top_p"], json!(0.5), "{sent}");
        assert_eq!(options["num_ctx"], json!(4096), "{sent}");
        assert_eq!(options["seed"], json!(42), "{sent}");
        assert_eq!(sent["think"], json!(false), "{sent}");
        assert_eq!(sent["keep_alive"], json!("10m"), "{sent}");
        assert_eq!(sent["messages"][0]["role"], "system", "{sent}");
        assert_eq!(sent["messages"][0]["content"], "Answer in one line.");
        let last = sent["messages"].as_array().and_then(|m| m.last());
        assert_eq!(last.map(|m| &m["content"]), Some(&json!(content)), "{sent}");
    }

    // A turn's own option wins for that turn; the session's others stay.
    let sent = turn(
        &host,
        &received,
        &id,
        json!({ "content": "third", "options": { "temperature": 1.5 }, "stream": false }),
    )
    .await;
    assert_eq!(sent["options"]["temperature"], json!(1.5), "{sent}");
    assert_eq!(sent["options"]["seed"], json!(42), "{sent}");

    // Cleared (null) and emptied, they fall back to the settings, as a turn without a session's
    // values always did.
    let (status, _) = host
        .call(
            "PUT",
            "/api/settings/global",
            Some(json!({ "top_k": 7, "keep_alive": "3m" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, cleared) = host
        .call(
            "PATCH",
            &format!("/api/sessions/{id}"),
            Some(json!({ "options": {}, "think": null, "keep_alive": null })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(
        (&cleared["think"], &cleared["keep_alive"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(cleared["system_prompt"], "Answer in one line.", "untouched");
    let sent = turn(
        &host,
        &received,
        &id,
        json!({ "content": "fourth", "stream": false }),
    )
    .await;
    assert!(sent.get("think").is_none(), "{sent}");
    assert_eq!(sent["keep_alive"], json!("3m"), "{sent}");
    assert_eq!(sent["options"]["top_k"], json!(7), "{sent}");
    assert!(sent["options"].get("temperature").is_none(), "{sent}");

    // A PATCH without them leaves them as they are.
    host.call(
        "PATCH",
        &format!("/api/sessions/{id}"),
        Some(json!({ "think": "high", "keep_alive": -1 })),
    )
    .await;
    let (status, renamed) = host
        .call(
            "PATCH",
            &format!("/api/sessions/{id}"),
            Some(json!({ "title": "renamed" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(
        (&renamed["think"], &renamed["keep_alive"]),
        (&json!("high"), &json!(-1.0))
    );
    let (_, shown) = host.call("GET", &format!("/api/sessions/{id}"), None).await;
    assert_eq!(shown["session"]["think"], "high", "{shown}");
    task.abort();
}

#[tokio::test]
async fn a_bad_think_or_keep_alive_is_refused_by_field() {
    let (url, _received, task) = recording_sim().await;
    let host = TestHost::new(&url, &[]).await;
    let (_, session) = host
        .call("POST", "/api/sessions", Some(json!({ "model": MODEL })))
        .await;
    let id = session["id"].as_str().expect("id");
    for (field, value) in [("think", json!("extreme")), ("keep_alive", json!("soon"))] {
        let (status, body) = host
            .call(
                "PATCH",
                &format!("/api/sessions/{id}"),
                Some(json!({ field: value })),
            )
            .await;
        assert!(status.is_client_error(), "{field}: {status} {body}");
        assert!(body.to_string().contains(field), "{field}: {body}");
    }
    let (status, body) = host
        .call(
            "POST",
            "/api/sessions",
            Some(json!({ "model": MODEL, "keep_alive": "5 minutes" })),
        )
        .await;
    assert!(status.is_client_error(), "{status} {body}");
    task.abort();
}
