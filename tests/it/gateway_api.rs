//! The gateway's routes in-process: completions, embeddings, models with `/` and `:` in ids,
//! traced passthrough, chat sessions and their owners, trace export and stats, health.

use http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{TOKEN, TestHost, assert_error_shape, authed, sim_with_preload};

async fn host() -> (ollama_dash_host::sim::SimHandle, TestHost) {
    let sim = sim_with_preload(&["llama3.2:1b"]).await;
    let host = TestHost::new(&sim.url(), &[]).await;
    (sim, host)
}

/// The raw body of a request (for streams).
async fn raw(
    host: &TestHost,
    method: &str,
    path: &str,
    body: Value,
    token: &str,
) -> (StatusCode, String) {
    let response = host
        .router
        .clone()
        .oneshot(authed(method, path, Some(body), Some(token)))
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn newest_trace(host: &TestHost) -> Value {
    host.dashboard.flush_writes().await.expect("flush");
    let (_, page) = host.call("GET", "/v1/traces?limit=1", None).await;
    let id = page["data"][0]["id"].as_str().expect("a trace").to_owned();
    host.call("GET", &format!("/v1/traces/{id}"), None).await.1
}

#[tokio::test]
async fn completions_whole_and_streamed() {
    let (_sim, host) = host().await;
    let body = json!({"model": "llama3.2:1b", "prompt": "Once upon a time", "max_tokens": 6});
    let (status, whole) = host
        .call("POST", "/v1/completions", Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{whole}");
    assert_eq!(whole["object"], "text_completion");
    let text = whole["choices"][0]["text"]
        .as_str()
        .expect("text")
        .to_owned();
    assert!(!text.is_empty());
    assert_eq!(whole["usage"]["completion_tokens"], 6);
    assert_eq!(whole["choices"][0]["finish_reason"], "length");

    let mut stream = body;
    stream["stream"] = true.into();
    stream["stream_options"] = json!({"include_usage": true});
    let (status, sse) = raw(&host, "POST", "/v1/completions", stream, TOKEN).await;
    assert_eq!(status, StatusCode::OK);
    let events: Vec<Value> = sse
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    let streamed: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(streamed, text);
    assert_eq!(
        events.last().expect("usage")["usage"]["completion_tokens"],
        6
    );
    assert!(sse.ends_with("data: [DONE]\n\n"));
    let trace = newest_trace(&host).await;
    assert_eq!(
        (trace["endpoint"].as_str(), trace["stream"].as_bool()),
        (Some("/v1/completions"), Some(true))
    );
    assert_eq!(trace["output"], text.as_str());

    let (status, json) = host
        .call(
            "POST",
            "/v1/completions",
            Some(json!({"model": "llama3.2:1b", "prompt": [1, 2]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json["error"]["param"], "prompt");
}

#[tokio::test]
async fn embeddings_as_floats_and_base64() {
    let (_sim, host) = host().await;
    let model = "nomic-embed-text:latest";
    let (status, floats) = host
        .call(
            "POST",
            "/v1/embeddings",
            Some(json!({"model": model, "input": "hello"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{floats}");
    let vector: Vec<f64> =
        serde_json::from_value(floats["data"][0]["embedding"].clone()).expect("floats");
    let (_, packed) = host
        .call(
            "POST",
            "/v1/embeddings",
            Some(json!({"model": model, "input": ["hello"], "encoding_format": "base64"})),
        )
        .await;
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(packed["data"][0]["embedding"].as_str().expect("base64"))
        .expect("decodes");
    let unpacked: Vec<f32> = bytes
        .chunks(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let parsed: Vec<f32> = vector.iter().map(|v| *v as f32).collect();
    assert_eq!(unpacked, parsed);
    assert!(
        floats["usage"]["prompt_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
    let (status, json) = host
        .call(
            "POST",
            "/v1/embeddings",
            Some(json!({"model": model, "input": []})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_shape(&json, "invalid_request_error");
}

#[tokio::test]
async fn model_ids_with_slashes_and_colons() {
    let (_sim, host) = host().await;
    let name = "hf.co/org/model:Q4_K_M";
    let (status, _) = host
        .call(
            "POST",
            "/ollama/api/copy",
            Some(json!({"source": "llama3.2:1b", "destination": name})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = host.call("GET", "/v1/models", None).await;
    let entry = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|m| m["id"] == name)
        .expect("copied model listed")
        .clone();
    assert_eq!(entry["owned_by"], "org");
    let (status, one) = host.call("GET", &format!("/v1/models/{name}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["id"], name);
    let (status, latest) = host.call("GET", "/v1/models/nomic-embed-text", None).await;
    assert_eq!(
        (status, latest["id"].as_str()),
        (StatusCode::OK, Some("nomic-embed-text:latest"))
    );
    let (status, missing) = host.call("GET", "/v1/models/no/such:model", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["error"]["code"], "model_not_found");
}

#[tokio::test]
async fn passthrough_traces_generate_and_embed() {
    let (_sim, host) = host().await;
    let (status, answer) = host
        .call(
            "POST",
            "/ollama/api/generate",
            Some(
                json!({"model": "llama3.2:1b", "prompt": "Why is the sky blue?", "stream": false}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let trace = newest_trace(&host).await;
    assert_eq!(trace["endpoint"], "/ollama/api/generate");
    assert_eq!(trace["output"], answer["response"]);
    assert_eq!(trace["completion_tokens"], answer["eval_count"]);
    assert_eq!(trace["eval_ns"], answer["eval_duration"]);
    assert_eq!(trace["input"], "\"Why is the sky blue?\"");

    let (status, embedded) = host
        .call(
            "POST",
            "/ollama/api/embed",
            Some(json!({"model": "nomic-embed-text:latest", "input": ["a", "b"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{embedded}");
    let trace = newest_trace(&host).await;
    assert_eq!(trace["endpoint"], "/ollama/api/embed");
    assert_eq!(trace["output"], "2 embeddings");
    assert!(trace["prompt_tokens"].as_u64().is_some_and(|n| n > 0));

    let (status, _) = host
        .call(
            "POST",
            "/ollama/api/chat",
            Some(json!({"model": "ghost:1b", "messages": [{"role": "user", "content": "x"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let trace = newest_trace(&host).await;
    assert_eq!(
        (trace["status"].as_str(), trace["http_status"].as_u64()),
        (Some("error"), Some(404))
    );
    assert!(
        trace["error"]
            .as_str()
            .is_some_and(|e| e.contains("not found"))
    );
}

#[tokio::test]
async fn sessions_belong_to_their_key() {
    let (_sim, host) = host().await;
    let alice = host.new_key("alice", "user").await;
    let bob = host.new_key("bob", "user").await;
    let (alice, bob) = (alice.as_str(), bob.as_str());
    let as_user = |token: &str, method: &str, path: &str, body: Option<Value>| {
        let request = authed(method, path, body, Some(token));
        async { host.send(request).await }
    };
    let (status, _, session) = as_user(
        alice,
        "POST",
        "/api/sessions",
        Some(json!({"title": "mine", "model": "llama3.2:1b", "system_prompt": "Be short."})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = session["id"].as_str().expect("id");
    assert_eq!(session["owner"], "alice");
    let (status, _, _) = as_user(bob, "GET", &format!("/api/sessions/{id}"), None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "bob cannot see alice's session"
    );
    let (status, _, _) = as_user(bob, "DELETE", &format!("/api/sessions/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, listed) = as_user(bob, "GET", "/api/sessions", None).await;
    assert_eq!(listed["sessions"], json!([]));

    let (status, _, sent) = as_user(
        alice,
        "POST",
        &format!("/api/sessions/{id}/messages"),
        Some(json!({"content": "Hello", "stream": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let trace_id = sent["assistant_message"]["trace_id"]
        .as_str()
        .expect("trace id")
        .to_owned();
    host.dashboard.flush_writes().await.expect("flush");
    let (_, _, messages) =
        as_user(alice, "GET", &format!("/api/sessions/{id}/messages"), None).await;
    let roles: Vec<&str> = messages["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles, ["user", "assistant"]);
    assert_eq!(messages["messages"][1]["trace_id"], trace_id.as_str());
    let (_, _, trace) = as_user(alice, "GET", &format!("/v1/traces/{trace_id}"), None).await;
    let input: Value = serde_json::from_str(trace["input"].as_str().expect("input")).expect("json");
    assert_eq!(input["content"], "Hello");
    assert_eq!(trace["api_key"], "alice");

    let (status, _, json) = as_user(
        alice,
        "PATCH",
        &format!("/api/sessions/{id}"),
        Some(json!({"title": ""})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_shape(&json, "invalid_request_error");
    let (status, _, json) = as_user(
        alice,
        "POST",
        &format!("/api/sessions/{id}/messages"),
        Some(json!({"content": "x", "model": "llama3.2:1b", "options": {"temperature": "hot"}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
}

#[tokio::test]
async fn export_streams_jsonl_and_csv_and_stats_summarise() {
    let (_sim, host) = host().await;
    for prompt in ["first, with a comma", "second \"quoted\"\nline"] {
        host.call(
            "POST",
            "/v1/chat/completions",
            Some(json!({"model": "llama3.2:1b", "messages": [{"role": "user", "content": prompt}], "max_tokens": 3})),
        )
        .await;
    }
    host.dashboard.flush_writes().await.expect("flush");
    let (status, jsonl) = raw(
        &host,
        "GET",
        "/v1/traces/export?format=jsonl",
        Value::Null,
        TOKEN,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let rows: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(rows.len(), 2);
    assert!(
        rows[0]["input"]
            .as_str()
            .is_some_and(|i| i.contains("quoted"))
    );
    let (_, csv) = raw(
        &host,
        "GET",
        "/v1/traces/export?format=csv",
        Value::Null,
        TOKEN,
    )
    .await;
    assert!(csv.starts_with("id,created_at,endpoint,model,"));
    assert!(
        csv.contains(
            "\"[{\"\"content\"\":\"\"first, with a comma\"\",\"\"role\"\":\"\"user\"\"}]\""
        ),
        "quoted per RFC 4180: {csv}"
    );
    let (status, json) = host.call("GET", "/v1/traces/export?format=xml", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json["error"]["param"], "format");

    let (_, stats) = host.call("GET", "/v1/traces/stats", None).await;
    let model = &stats["models"][0];
    assert_eq!(
        (model["model"].as_str(), model["count"].as_u64()),
        (Some("llama3.2:1b"), Some(2))
    );
    assert_eq!(model["completion_tokens"], 6);
    assert!(model["p95_latency_ms"].as_f64().is_some_and(|v| v > 0.0));
    assert!(model["tokens_per_second"].as_f64().is_some_and(|v| v > 0.0));

    let (status, json) = host.call("GET", "/v1/traces?since=yesterday", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json["error"]["param"], "since");
    let (_, health) = host.call("GET", "/api/health", None).await;
    assert_eq!(health["traces"]["retention"]["max_rows"], 1_000_000);
    assert!(
        health["store"]["size_bytes"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
}

#[tokio::test]
async fn per_model_settings_fill_what_an_openai_request_leaves_out() {
    let (_sim, host) = host().await;
    let (status, body) = host
        .call(
            "PUT",
            "/api/settings/model?name=llama3.2:1b",
            Some(json!({"num_predict": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let request = json!({"model": "llama3.2:1b", "messages": [{"role": "user", "content": "Tell me a long story"}]});
    let (status, answer) = host
        .call("POST", "/v1/chat/completions", Some(request))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["usage"]["completion_tokens"], 3, "{answer}");
    assert_eq!(answer["choices"][0]["finish_reason"], "length");
    // The request's own value still wins.
    let request = json!({"model": "llama3.2:1b", "max_tokens": 5, "messages": [{"role": "user", "content": "Tell me a long story"}]});
    let (_, answer) = host
        .call("POST", "/v1/chat/completions", Some(request))
        .await;
    assert_eq!(answer["usage"]["completion_tokens"], 5, "{answer}");
}

/// The upstream closes a connection without answering the first `GET /` on it (what a client
/// meets when it reuses a kept-alive connection the server has just closed): the passthrough
/// sends that read again, once, and relays the answer; a write is never sent twice.
#[tokio::test]
async fn passthrough_sends_a_read_again_when_its_connection_closes_unanswered() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let ours = head.starts_with(b"GET / ") || head.starts_with(b"POST /api/copy ");
                if ours && counter.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
                    return; // closed, unanswered
                }
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 17\r\nconnection: close\r\n\r\nOllama is running")
                    .await;
                let _ = socket.shutdown().await;
            });
        }
    });
    let host = TestHost::new(&url, &[]).await;
    let mut request = authed("GET", "/ollama/", None, Some(TOKEN));
    *request.body_mut() = axum::body::Body::from("\"a body a GET carries\"");
    let response = host.open(request).await;
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        (status, &body[..]),
        (StatusCode::OK, &b"Ollama is running"[..]),
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(
        seen.load(Ordering::SeqCst),
        2,
        "sent once more, not again and again"
    );
    // A write that meets the same is not sent again: Ollama may have done it.
    let (status, json) = host
        .call(
            "POST",
            "/ollama/api/copy",
            Some(json!({"source": "a", "destination": "b"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{json}");
    assert_eq!(seen.load(Ordering::SeqCst), 3, "the copy was sent once");
}
