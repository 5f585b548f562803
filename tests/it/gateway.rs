//! The gateway over a real port: streams arrive as they are made, keep-alives while a model
//! loads, errors mid-stream are reported, a client going away cancels the upstream request, and
//! every generation (ok, error, cancelled) leaves a trace.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ollama_dash_core::DashboardConfig;
use ollama_dash_host::config::{Config, HostConfig};
use ollama_dash_host::server::Server;
use ollama_dash_host::sim::{SimConfig, SimHandle, Simulator};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::TOKEN;

/// A real server on a loopback port in front of `ollama_url`.
struct Live {
    base: String,
    client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Live {
    async fn start(ollama_url: &str, configure: impl FnOnce(&mut DashboardConfig)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut dashboard = DashboardConfig::with_data_path(dir.path());
        dashboard.ollama_host = ollama_url.to_owned();
        configure(&mut dashboard);
        let host: HostConfig = serde_json::from_value(json!({
            "listen": "127.0.0.1:0",
            "auth_token": TOKEN,
            "shutdown_grace_secs": 1,
        }))
        .expect("host config");
        let server = Server::bind(Config { dashboard, host })
            .await
            .expect("binds");
        let base = format!("http://{}", server.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            client: reqwest::Client::new(),
            _stop: stop,
            _dir: dir,
        }
    }

    fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(body)
    }

    /// POSTs JSON and reads the JSON answer.
    async fn post_json(&self, path: &str, body: &Value) -> Value {
        self.post(path, body)
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json")
    }

    async fn get(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json")
    }

    /// Waits (on the condition, bounded) until a trace matching `query` exists.
    async fn trace_where(&self, query: &str) -> Value {
        let found = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let page = self.get(&format!("/v1/traces?limit=1&{query}")).await;
                if let Some(first) = page["data"].get(0) {
                    let id = first["id"].as_str().expect("id").to_owned();
                    return self.get(&format!("/v1/traces/{id}")).await;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no trace with {query}"))
    }
}

async fn slow_sim(token_delay: Duration) -> SimHandle {
    Simulator::start(SimConfig {
        token_delay,
        preload: vec!["llama3.2:1b".into()],
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

fn chat(stream: bool, max_tokens: u32) -> Value {
    json!({
        "model": "llama3.2:1b",
        "stream": stream,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": "Tell me about the sea"}],
    })
}

/// Receipt instants of the chunks that carried generated text.
async fn content_receipts(response: reqwest::Response, marker: &str) -> Vec<Instant> {
    let mut receipts = Vec::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("chunk");
        if String::from_utf8_lossy(&chunk).contains(marker) {
            receipts.push(Instant::now());
        }
    }
    receipts
}

#[tokio::test]
async fn stream_chunks_arrive_as_they_are_made_not_all_at_the_end() {
    let delay = Duration::from_millis(40);
    let sim = slow_sim(delay).await;
    let host = Live::start(&sim.url(), |_| {}).await;

    let response = host
        .post("/v1/chat/completions", &chat(true, 12))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let receipts = content_receipts(response, "\"content\":\"").await;
    assert!(
        receipts.len() >= 10,
        "one chunk per token: {}",
        receipts.len()
    );
    let spread = receipts[receipts.len() - 1] - receipts[0];
    // The simulator sleeps `delay` between tokens: if the gateway buffered, every chunk would
    // arrive at once; streamed, the first arrives at least (n - 2) delays before the last.
    assert!(
        spread >= delay * (receipts.len() as u32 - 2),
        "first chunk {spread:?} before the last"
    );

    let native = json!({
        "model": "llama3.2:1b",
        "messages": [{"role": "user", "content": "Tell me about the sea"}],
        "options": {"num_predict": 12},
    });
    let response = host
        .post("/ollama/api/chat", &native)
        .send()
        .await
        .expect("send");
    let receipts = content_receipts(response, "\"done\":false").await;
    assert!(receipts.len() >= 10, "{}", receipts.len());
    assert!(receipts[receipts.len() - 1] - receipts[0] >= delay * (receipts.len() as u32 - 2));
}

#[tokio::test]
async fn traces_exist_for_ok_error_and_cancelled_requests() {
    let sim = slow_sim(Duration::from_millis(30)).await;
    let host = Live::start(&sim.url(), |_| {}).await;

    let ok: Value = host
        .post_json("/v1/chat/completions", &chat(false, 5))
        .await;
    let trace = host.trace_where("status=ok").await;
    assert_eq!(trace["output"], ok["choices"][0]["message"]["content"]);
    assert_eq!(trace["completion_tokens"], ok["usage"]["completion_tokens"]);
    assert_eq!(trace["api_key"], "admin");
    assert!(trace["ttft_ms"].is_null(), "no TTFT for a whole answer");

    sim.control()
        .fail_next(1, 500, "llama runner process has terminated");
    let failed = host
        .post("/v1/chat/completions", &chat(false, 5))
        .send()
        .await
        .expect("send");
    assert_eq!(failed.status(), 500);
    let body: Value = failed.json().await.expect("json");
    assert_eq!(body["error"]["type"], "api_error");
    assert!(body["error"].get("param").is_some() && body["error"].get("code").is_some());
    let trace = host.trace_where("status=error").await;
    assert_eq!(trace["http_status"], 500);
    assert!(
        trace["error"]
            .as_str()
            .is_some_and(|e| e.contains("terminated"))
    );

    let response = host
        .post("/v1/chat/completions", &chat(true, 200))
        .send()
        .await
        .expect("send");
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("\"content\":\"") {
        seen.push_str(&String::from_utf8_lossy(
            &body.next().await.expect("chunk").expect("ok"),
        ));
    }
    drop(body);
    let trace = host.trace_where("status=cancelled").await;
    assert_eq!(trace["stream"], true);
    assert_eq!(trace["http_status"], 499);
    assert!(
        trace["output"].as_str().is_some_and(|o| !o.is_empty()),
        "what was produced is kept: {trace}"
    );
    assert!(
        trace["completion_tokens"].is_null(),
        "no final counts arrived"
    );
}

#[tokio::test]
async fn keepalive_comments_flow_while_the_model_loads() {
    let sim = Simulator::start(SimConfig {
        load_delay: Duration::from_millis(600),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    let host = Live::start(&sim.url(), |c| c.stream_keepalive_ms = 50).await;
    let text = host
        .post("/v1/chat/completions", &chat(true, 3))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("body");
    let keepalive = text.find(": keep-alive").expect("a keep-alive comment");
    let first_data = text.find("data: ").expect("data events");
    assert!(keepalive < first_data, "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
}

#[tokio::test]
async fn upstream_failure_mid_stream_ends_with_an_error_event() {
    let sim = slow_sim(Duration::ZERO).await;
    sim.control().die_mid_stream_after(Some(3));
    let host = Live::start(&sim.url(), |_| {}).await;
    let text = host
        .post("/v1/chat/completions", &chat(true, 50))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("body");
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    let last = events.last().expect("events");
    assert!(last["error"]["message"].is_string(), "{text}");
    assert!(
        !text.contains("[DONE]"),
        "no normal end after an error: {text}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["choices"][0]["delta"]["content"].is_string())
    );
    let trace = host.trace_where("status=error").await;
    assert_eq!(trace["http_status"], 200, "the stream had started");
}

#[tokio::test]
async fn errors_before_the_stream_starts_keep_their_status() {
    let sim = slow_sim(Duration::ZERO).await;
    let host = Live::start(&sim.url(), |_| {}).await;
    let mut body = chat(true, 3);
    body["model"] = "missing:latest".into();
    let response = host
        .post("/v1/chat/completions", &body)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 404);
    let json: Value = response.json().await.expect("json");
    assert_eq!(json["error"]["type"], "not_found_error");
    assert_eq!(json["error"]["code"], "model_not_found");
    assert_eq!(json["error"]["param"], "model");
}

#[tokio::test]
async fn passthrough_is_byte_for_byte_and_usage_comes_from_ollama() {
    let sim = slow_sim(Duration::ZERO).await;
    let host = Live::start(&sim.url(), |_| {}).await;
    let direct = reqwest::get(format!("{}/api/tags", sim.url()))
        .await
        .expect("tags")
        .bytes()
        .await
        .expect("body");
    let proxied = host
        .client
        .get(format!("{}/ollama/api/tags", host.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("tags")
        .bytes()
        .await
        .expect("body");
    assert_eq!(proxied, direct);
    let root = host
        .client
        .get(format!("{}/ollama/", host.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("root");
    assert_eq!(root.text().await.expect("text"), "Ollama is running");

    let native = json!({
        "model": "llama3.2:1b", "stream": false,
        "messages": [{"role": "user", "content": "Tell me about the sea"}],
        "options": {"num_predict": 4},
    });
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/api/chat", sim.url()))
        .json(&native)
        .send()
        .await
        .expect("chat")
        .json()
        .await
        .expect("json");
    let ours: Value = host
        .post_json("/v1/chat/completions", &chat(false, 4))
        .await;
    assert_eq!(ours["usage"]["prompt_tokens"], answer["prompt_eval_count"]);
    assert_eq!(ours["usage"]["completion_tokens"], answer["eval_count"]);
}

/// A stand-in upstream that answers one streamed line, then reports when the connection to it
/// is closed: how we see that the gateway cancelled the upstream request.
async fn hanging_upstream() -> (String, tokio::sync::oneshot::Receiver<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (closed_tx, closed) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut closed_tx = Some(closed_tx);
        loop {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            if !request.starts_with(b"POST /api/chat ") {
                // The dashboard's own probes (ps, tags, version): not what this test watches.
                let _ = socket.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                continue;
            }
            let line = "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n";
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n";
            let chunk = format!("{head}{:x}\r\n{line}\r\n", line.len());
            socket.write_all(chunk.as_bytes()).await.expect("write");
            // Never finishes the answer; wait for the other side to hang up.
            loop {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            if let Some(tx) = closed_tx.take() {
                let _ = tx.send(());
            }
        }
    });
    (url, closed)
}

#[tokio::test]
async fn a_client_going_away_cancels_the_upstream_request() {
    let (upstream, closed) = hanging_upstream().await;
    let host = Live::start(&upstream, |_| {}).await;
    let response = host
        .post("/v1/chat/completions", &chat(true, 50))
        .send()
        .await
        .expect("send");
    let mut body = response.bytes_stream();
    let first = body.next().await.expect("chunk").expect("ok");
    assert!(String::from_utf8_lossy(&first).contains("chat.completion.chunk"));
    drop(body);
    tokio::time::timeout(Duration::from_secs(10), closed)
        .await
        .expect("the upstream connection is closed once the client is gone")
        .expect("signal");
    let trace = host.trace_where("status=cancelled").await;
    assert_eq!(trace["output"], "Hi");
}

#[tokio::test]
async fn roles_viewer_reads_user_generates_and_sees_only_its_traces() {
    let sim = slow_sim(Duration::ZERO).await;
    let host = Live::start(&sim.url(), |_| {}).await;
    let key = |name: &str, role: &str| {
        let host = &host;
        let body = json!({"name": name, "role": role});
        async move {
            let created = host.post_json("/api/keys", &body).await;
            created["key"].as_str().expect("secret").to_owned()
        }
    };
    let viewer = key("watcher", "viewer").await;
    let user = key("dev", "user").await;
    let as_key = |secret: &str, path: &str, body: &Value| {
        host.client
            .post(format!("{}{path}", host.base))
            .bearer_auth(secret)
            .json(body)
    };
    let denied = as_key(&viewer, "/v1/chat/completions", &chat(false, 2))
        .send()
        .await
        .expect("send");
    assert_eq!(denied.status(), 403);
    let json: Value = denied.json().await.expect("json");
    assert_eq!(json["error"]["type"], "permission_error");
    let delete = host
        .client
        .delete(format!("{}/ollama/api/delete", host.base))
        .bearer_auth(&viewer)
        .json(&json!({"model": "llama3.2:1b"}))
        .send()
        .await
        .expect("send");
    assert_eq!(delete.status(), 403);

    host.post("/v1/chat/completions", &chat(false, 2))
        .send()
        .await
        .expect("admin generates");
    let mine = as_key(&user, "/v1/chat/completions", &chat(false, 2))
        .send()
        .await
        .expect("send");
    assert_eq!(mine.status(), 200);
    let own: Value = host
        .client
        .get(format!("{}/v1/traces", host.base))
        .bearer_auth(&user)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let keys: Vec<&str> = own["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|t| t["api_key"].as_str())
        .collect();
    assert_eq!(keys, ["dev"], "a user sees only its own traces");
    let all = host.get("/v1/traces").await;
    assert_eq!(all["data"].as_array().expect("data").len(), 2);
    let admins = all["data"][1]["id"].as_str().expect("id").to_owned();
    let hidden = host
        .client
        .get(format!("{}/v1/traces/{admins}", host.base))
        .bearer_auth(&user)
        .send()
        .await
        .expect("get");
    assert_eq!(hidden.status(), 404);
}
