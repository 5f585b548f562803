//! Models across a fleet of three simulators: the installed and running lists merged with the
//! `nodes` that hold each model, and pull, start, stop and delete run as one job per node named
//! (`nodes`), over HTTP — with a clear 400 when several nodes exist and none is named.

use std::time::Duration;

use http::StatusCode;
use ollama_dash_core::fleet::NodeConfig;
use ollama_dash_host::sim::SimHandle;
use serde_json::{Value, json};

use crate::support::{TestHost, assert_error_shape, sim_with_preload};

/// Nodes `a` (the primary, at `OLLAMA_HOST`), `b` and `c`, probed every 100 ms.
async fn fleet() -> (TestHost, [SimHandle; 3]) {
    let sims = [
        sim_with_preload(&["llama3.2:1b"]).await,
        sim_with_preload(&["qwen3:0.6b"]).await,
        sim_with_preload(&[]).await,
    ];
    let urls: Vec<String> = sims.iter().map(SimHandle::url).collect();
    let host = TestHost::with_config(&urls[0], |config| {
        config.live.ps_interval_secs = 0.1;
        config.live.tags_interval_secs = 0.1;
        config.nodes = ["a", "b", "c"]
            .iter()
            .zip(&urls)
            .map(|(name, url)| NodeConfig::new(*name, url.clone()))
            .collect();
    })
    .await;
    (host, sims)
}

/// `model`'s `nodes` in a list answer (`None`: not listed).
fn holders(list: &Value, model: &str) -> Option<Vec<String>> {
    let found = list["models"]
        .as_array()?
        .iter()
        .find(|m| m["name"] == model)?;
    Some(
        found["nodes"]
            .as_array()?
            .iter()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect(),
    )
}

/// Polls `path` until `model` is held by exactly `nodes` (or `None`: not listed), up to 10 s.
async fn wait_holders(host: &TestHost, path: &str, model: &str, nodes: Option<&[&str]>) -> Value {
    let want: Option<Vec<String>> = nodes.map(|n| n.iter().map(|s| (*s).to_owned()).collect());
    let mut last = Value::Null;
    for _ in 0..200 {
        let (status, list) = host.call("GET", path, None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        if holders(&list, model) == want {
            return list;
        }
        last = list;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{model} never held by {want:?} in {path}: {last}");
}

/// Polls a job until it is no longer running.
async fn finished(host: &TestHost, job: &Value) -> Value {
    let url = job["url"].as_str().expect("a job url").to_owned();
    for _ in 0..400 {
        let (_, now) = host.call("GET", &url, None).await;
        if now["state"] != "running" {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("job {job} did not finish");
}

#[tokio::test]
async fn lists_merge_across_nodes_and_actions_run_once_per_node_named() {
    let (host, sims) = fleet().await;
    let [a, b, c] = &sims;
    // Running: each preloaded model under the node holding it. Installed: every model names
    // its nodes.
    wait_holders(&host, "/api/models/running", "qwen3:0.6b", Some(&["b"])).await;
    let list = wait_holders(&host, "/api/models/running", "llama3.2:1b", Some(&["a"])).await;
    assert_eq!(list["models"].as_array().map(Vec::len), Some(2), "{list}");
    let (_, installed) = host.call("GET", "/api/models/available", None).await;
    for model in installed["models"].as_array().expect("models") {
        let nodes = model["nodes"].as_array().expect("nodes on every model");
        assert!(!nodes.is_empty(), "{model}");
    }

    // Several nodes and none named: refused with the names, nothing started.
    let (status, body) = host
        .call(
            "POST",
            "/api/models/pull",
            Some(json!({"model": "smollm2:135m"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error_shape(&body, "invalid_request_error");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("a, b, c") && message.contains("nodes"),
        "{body}"
    );
    let (status, body) = host
        .call(
            "POST",
            "/api/models/pull",
            Some(json!({"model": "smollm2:135m", "nodes": ["b", "nope"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(b.control().request_count("/api/pull"), 0, "nothing started");

    // A pull on b and c: one job each, naming its node; a never sees a pull.
    let (status, body) = host
        .call(
            "POST",
            "/api/models/pull",
            Some(json!({"model": "smollm2:135m", "nodes": ["b", "c", "b"]})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let jobs = body["jobs"].as_array().expect("jobs").clone();
    let on: Vec<&str> = jobs.iter().filter_map(|j| j["node"].as_str()).collect();
    assert_eq!(on, ["b", "c"], "a node named twice runs once: {body}");
    assert_eq!(body["job"]["id"], jobs[0]["id"]);
    for job in &jobs {
        assert_eq!(finished(&host, job).await["state"], "done");
    }
    let (requests_a, requests_b, requests_c) = (
        a.control().request_count("/api/pull"),
        b.control().request_count("/api/pull"),
        c.control().request_count("/api/pull"),
    );
    assert_eq!((requests_a, requests_b, requests_c), (0, 1, 1));

    // Start on c: loaded there; the running list says so.
    let (status, body) = host
        .call(
            "POST",
            "/api/models/start",
            Some(json!({"model": "smollm2:135m", "nodes": "c"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(finished(&host, &body["job"]).await["state"], "done");
    wait_holders(&host, "/api/models/running", "smollm2:135m", Some(&["c"])).await;

    // A stop naming no node unloads it wherever it is loaded, and says where it was.
    let (status, body) = host
        .call(
            "POST",
            "/api/models/stop",
            Some(json!({"model": "qwen3:0.6b"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["was_loaded"], true, "{body}");
    let was: Vec<(&str, bool)> = body["nodes"]
        .as_array()
        .expect("per node")
        .iter()
        .map(|n| (n["node"].as_str().unwrap_or(""), n["was_loaded"] == true))
        .collect();
    assert_eq!(was, [("a", false), ("b", true), ("c", false)]);
    wait_holders(&host, "/api/models/running", "qwen3:0.6b", None).await;

    // Delete from every node with `all`, through the query form: three jobs.
    let (status, body) = host
        .call("DELETE", "/api/models?name=smollm2:135m&nodes=all", None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let states: Vec<Value> = {
        let mut out = Vec::new();
        for job in body["jobs"].as_array().expect("jobs") {
            let done = finished(&host, job).await;
            out.push(json!([done["node"], done["state"]]));
        }
        out
    };
    assert_eq!(
        states,
        [
            json!(["a", "failed"]),
            json!(["b", "done"]),
            json!(["c", "done"])
        ],
        "a never had it: its job fails (not found), the others delete"
    );
    wait_holders(&host, "/api/models/available", "smollm2:135m", None).await;
}

#[tokio::test]
async fn an_upload_imports_into_the_nodes_it_names_and_only_those() {
    use ollama_dash_core::ImportState;
    use ollama_dash_core::gguf::sample_model;

    use crate::uploads::{import_of, settle, tus_upload};

    let (host, sims) = fleet().await;
    let [a, b, c] = &sims;
    let d = &host.dashboard;
    let file = sample_model("qwen2", 3).to_bytes();

    // Naming a model but no node, in a fleet of three: refused before a byte is taken.
    let create = http::Request::post("/v1/uploads")
        .header("authorization", format!("Bearer {}", crate::support::TOKEN))
        .header("tus-resumable", "1.0.0")
        .header("upload-length", file.len())
        .header(
            "upload-metadata",
            "filename cXdlbi5nZ3Vm,model bXktcXdlbjpxNA==",
        )
        .body(axum::body::Body::empty())
        .expect("request");
    let (status, _, body) = host.send(create).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Into b and c: blobs and /api/create on each of them, a not touched.
    let mut events = d.subscribe();
    let id = tus_upload(
        &host,
        &file,
        &[
            ("filename", "qwen.gguf"),
            ("model", "my-qwen:q4"),
            ("nodes", "b,c"),
        ],
    )
    .await;
    let import = import_of(d, &id).await;
    let (done, _) = settle(d, &mut events, &import.id).await;
    assert_eq!(done.state, ImportState::Ready, "{:?}", done.error);
    assert_eq!(
        done.progress.map(|p| p.status),
        Some("c: success".to_owned()),
        "with several nodes each status line names its node"
    );
    let creates = [a, b, c].map(|s| s.control().request_count("/api/create"));
    assert_eq!(creates, [0, 1, 1]);
    wait_holders(
        &host,
        "/api/models/available",
        "my-qwen:q4",
        Some(&["b", "c"]),
    )
    .await;
}
