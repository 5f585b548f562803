//! The fleet's state over HTTP: `node_changed` on `/api/events` when a node is drained and when
//! one dies, VRAM scraped from a node's `metrics_url` on `/api/nodes` and `/metrics`, and a
//! freed slot going to the next key in turn rather than to the key that queued the most.

use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use ollama_dash_core::DashboardConfig;
use ollama_dash_core::fleet::NodeConfig;
use serde_json::{Value, json};

use crate::support::{TOKEN, TestHost, authed, sim_with_preload};

const MODEL: &str = "llama3.2:1b";

/// A host over `nodes`, probed every 0.1 s, queueing up to 16 calls for 30 s.
async fn host(nodes: Vec<NodeConfig>) -> TestHost {
    let first = nodes[0].url.clone();
    TestHost::with_config(&first, move |c: &mut DashboardConfig| {
        c.nodes = nodes;
        c.live.ps_interval_secs = 0.1;
        c.live.tags_interval_secs = 0.1;
        c.max_queue = 16;
        c.queue_timeout_secs = 30;
    })
    .await
}

/// `GET /api/nodes` until `check` holds for its list (bounded); the list.
async fn nodes_until(host: &TestHost, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut last = Value::Null;
    for _ in 0..200 {
        let (status, body) = host.call("GET", "/api/nodes", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let nodes = body["nodes"].as_array().cloned().unwrap_or_default();
        if check(&nodes) {
            return nodes;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}: {last}");
}

/// The `/api/events` stream, read frame by frame.
struct Events {
    body: Body,
    text: String,
}

impl Events {
    async fn open(host: &TestHost) -> Self {
        let response = host
            .open(authed("GET", "/api/events", None, Some(TOKEN)))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        Self {
            body: response.into_body(),
            text: String::new(),
        }
    }

    /// The next `node_changed` event's data for which `wanted` holds (others are skipped).
    async fn node_changed(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let found = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                while let Some(end) = self.text.find("\n\n") {
                    let event: String = self.text.drain(..end + 2).collect();
                    if !event.starts_with("event: node_changed\n") {
                        continue;
                    }
                    let data = event
                        .lines()
                        .find_map(|l| l.strip_prefix("data: "))
                        .expect("a data line");
                    let data: Value = serde_json::from_str(data).unwrap();
                    if wanted(&data) {
                        return data;
                    }
                }
                let frame = self.body.frame().await.expect("the stream stays open");
                if let Ok(bytes) = frame.unwrap().into_data() {
                    self.text.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no node_changed event for {what}"))
    }
}

#[tokio::test]
async fn node_changed_arrives_on_the_event_stream_when_a_node_is_drained_and_when_one_dies() {
    let a = sim_with_preload(&[MODEL]).await;
    let b = sim_with_preload(&[]).await;
    let host = host(vec![
        NodeConfig::new("a", a.url()),
        NodeConfig::new("b", b.url()),
    ])
    .await;
    nodes_until(&host, "both probed", |n| {
        n.len() == 2 && n.iter().all(|n| !n["version"].is_null())
    })
    .await;
    let mut events = Events::open(&host).await;

    let (status, body) = host.call("POST", "/api/nodes/b/drain", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let drained = events.node_changed("the drain", |n| n["name"] == "b").await;
    assert_eq!(drained["type"], "node_changed");
    assert_eq!(drained["state"], "draining", "{drained}");
    // The whole status, as /api/nodes shows it.
    for key in [
        "url",
        "loaded",
        "vram_source",
        "in_flight",
        "queued",
        "source",
    ] {
        assert!(drained.get(key).is_some(), "{key} in {drained}");
    }

    // The node dies: its probe fails, and it is announced down.
    b.shutdown().await;
    let down = events
        .node_changed("the dead node", |n| n["name"] == "b")
        .await;
    assert_eq!(down["state"], "down", "{down}");
    assert!(down["last_error"].is_string(), "{down}");

    // A node added and removed over the API: its first status, then its last (`removed`).
    let c = sim_with_preload(&[]).await;
    let node = json!({"name": "c", "url": c.url()});
    let (status, body) = host.call("POST", "/api/nodes", Some(node)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let added = events
        .node_changed("the addition", |n| n["name"] == "c")
        .await;
    assert_eq!(added["state"], "up");
    let (status, _) = host.call("DELETE", "/api/nodes/c", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let removed = events
        .node_changed("the removal", |n| n["name"] == "c" && n["state"] != "up")
        .await;
    assert_eq!(removed["state"], "removed", "{removed}");
}

/// Serves `page` at `/metrics` on loopback; its URL.
async fn exporter(page: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app =
        axum::Router::new().route("/metrics", axum::routing::get(move || async move { page }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/metrics")
}

#[tokio::test]
async fn scraped_vram_shows_on_api_nodes_and_metrics_with_its_source() {
    const MIB: u64 = 1024 * 1024;
    let url = exporter(
        "# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).\n\
         # TYPE DCGM_FI_DEV_FB_USED gauge\n\
         DCGM_FI_DEV_FB_USED{gpu=\"0\",UUID=\"GPU-0\",modelName=\"NVIDIA L4\"} 2048\n\
         DCGM_FI_DEV_FB_USED{gpu=\"1\",UUID=\"GPU-1\",modelName=\"NVIDIA L4\"} 0\n\
         # TYPE DCGM_FI_DEV_FB_FREE gauge\n\
         DCGM_FI_DEV_FB_FREE{gpu=\"0\",UUID=\"GPU-0\",modelName=\"NVIDIA L4\"} 20480\n\
         DCGM_FI_DEV_FB_FREE{gpu=\"1\",UUID=\"GPU-1\",modelName=\"NVIDIA L4\"} 22528\n",
    )
    .await;
    let a = sim_with_preload(&[]).await;
    let b = sim_with_preload(&[]).await;
    let host = host(vec![
        NodeConfig {
            metrics_url: Some(url),
            ..NodeConfig::new("gpu", a.url())
        },
        NodeConfig::new("plain", b.url()),
    ])
    .await;
    let nodes = nodes_until(&host, "the scrape", |n| n[0]["vram_source"] == "metrics").await;
    let gpu = &nodes[0];
    assert_eq!(
        (&gpu["vram_total"], &gpu["vram_used"], &gpu["vram_free"]),
        (&json!(45056 * MIB), &json!(2048 * MIB), &json!(43008 * MIB)),
        "{gpu}"
    );
    assert!(gpu["metrics_error"].is_null(), "{gpu}");
    assert_eq!(
        (&nodes[1]["vram_source"], &nodes[1]["vram_free"]),
        (&json!("ps"), &Value::Null)
    );
    // /metrics has the node's gauges.
    let response = host
        .open(authed("GET", "/metrics", None, Some(TOKEN)))
        .await;
    let text = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&text);
    for line in [
        format!(
            "ollama_dash_node_vram_free_bytes{{node=\"gpu\"}} {}",
            43008 * MIB
        ),
        format!(
            "ollama_dash_node_vram_total_bytes{{node=\"gpu\"}} {}",
            45056 * MIB
        ),
        format!(
            "ollama_dash_node_vram_used_bytes{{node=\"gpu\"}} {}",
            2048 * MIB
        ),
        "ollama_dash_node_up{node=\"plain\"} 1".to_owned(),
    ] {
        assert!(text.contains(&line), "{line} missing in\n{text}");
    }
    assert!(
        !text.contains("ollama_dash_node_vram_free_bytes{node=\"plain\"}"),
        "an unknown figure is left out"
    );
}

/// A chat request pinned to `node`, as the key `secret`.
fn chat(secret: &str, node: &str, stream: bool) -> Request<Body> {
    let body = json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": "hello"}],
        "stream": stream,
    });
    Request::builder()
        .method("POST")
        .uri("/v1/chat/completions")
        .header("authorization", format!("Bearer {secret}"))
        .header("content-type", "application/json")
        .header("x-ollama-dash-node", node)
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn a_key_with_one_request_waits_behind_one_of_a_busier_keys_not_all() {
    let a = sim_with_preload(&[MODEL]).await;
    let b = sim_with_preload(&[MODEL]).await;
    let host = std::sync::Arc::new(
        host(vec![
            NodeConfig {
                max_parallel: Some(1),
                ..NodeConfig::new("one-slot", a.url())
            },
            NodeConfig::new("other", b.url()),
        ])
        .await,
    );
    let busy = host.new_key("busy", "user").await;
    let quiet = host.new_key("quiet", "user").await;
    // The busy key's stream holds the one slot while its body is open.
    let holder = host.open(chat(&busy, "one-slot", true)).await;
    let status = holder.status();
    if status != StatusCode::OK {
        let body = holder.into_body().collect().await.unwrap().to_bytes();
        panic!("{status}: {}", String::from_utf8_lossy(&body));
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let line = [
        ("busy-1", &busy),
        ("busy-2", &busy),
        ("busy-3", &busy),
        ("busy-4", &busy),
        ("quiet", &quiet),
    ];
    for (queued, (who, secret)) in line.iter().enumerate() {
        let (caller, tx, request) = (
            std::sync::Arc::clone(&host),
            tx.clone(),
            chat(secret, "one-slot", true),
        );
        let who = *who;
        tokio::spawn(async move {
            // A stream answers once its call has the slot, and holds it while it is open.
            let response = caller.open(request).await;
            tx.send((who, response)).unwrap();
        });
        nodes_until(&host, "the call queued", |n| {
            n[0]["queued"].as_u64() == Some(queued as u64 + 1)
        })
        .await;
    }
    drop(holder);
    let mut served = Vec::new();
    for _ in 0..line.len() {
        let (who, response) = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{who}");
        served.push(who);
        drop(response); // its slot goes to the next in turn
    }
    // First come first served would put the quiet key's one request last.
    assert_eq!(served, ["busy-1", "quiet", "busy-2", "busy-3", "busy-4"]);
}
