//! §8, §9: `POST /api/pull` and `POST /api/push` progress streams.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::support::{assert_keys, start};

fn statuses(lines: &[Value]) -> Vec<&str> {
    lines.iter().filter_map(|l| l["status"].as_str()).collect()
}

#[tokio::test]
async fn pull_streams_layer_progress_then_success() {
    let sim = start().await;
    let started = Instant::now();
    let lines = sim
        .stream("/api/pull", &json!({"model": "smollm2:135m"}))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "fast with no token delay"
    );
    let all = statuses(&lines);
    assert_eq!(all.first(), Some(&"pulling manifest"));
    assert_eq!(
        &all[all.len() - 4..],
        [
            "verifying sha256 digest",
            "writing manifest",
            "removing unused layers",
            "success"
        ]
    );
    let layers: Vec<&Value> = lines.iter().filter(|l| l.get("digest").is_some()).collect();
    for line in &layers {
        assert_keys(line, &["status", "digest", "total"], &["completed"]);
        let digest = line["digest"].as_str().expect("digest");
        assert!(digest.starts_with("sha256:") && digest.len() == 71);
        assert_eq!(
            line["status"].as_str(),
            Some(format!("pulling {}", &digest[7..19]).as_str())
        );
        assert!(line["completed"].as_u64().unwrap_or(0) <= line["total"].as_u64().expect("total"));
    }
    let model_layer: Vec<&&Value> = layers
        .iter()
        .filter(|l| l["total"].as_u64() > Some(100_000_000))
        .collect();
    assert!(model_layer.len() >= 5, "several lines for the big layer");
    assert!(
        model_layer[0].get("completed").is_none(),
        "completed is absent before the first bytes"
    );
    let completed: Vec<u64> = model_layer
        .iter()
        .filter_map(|l| l["completed"].as_u64())
        .collect();
    assert!(completed.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(completed.last(), model_layer[0]["total"].as_u64().as_ref());
    let distinct: std::collections::BTreeSet<&str> =
        layers.iter().filter_map(|l| l["digest"].as_str()).collect();
    assert!(
        distinct.len() >= 4,
        "model, template, params, license and config layers: {distinct:?}"
    );
    assert!(sim.tags().await.iter().any(|m| m["name"] == "smollm2:135m"));

    // A re-pull finds every layer cached.
    let again = sim
        .stream("/api/pull", &json!({"name": "llama3.2:1b"}))
        .await;
    for line in again.iter().filter(|l| l.get("digest").is_some()) {
        assert_eq!(line["completed"], line["total"], "cached: {line}");
    }
    assert_eq!(statuses(&again).last(), Some(&"success"));
}

#[tokio::test]
async fn pull_failures_and_stream_false() {
    let sim = start().await;
    let lines = sim
        .stream("/api/pull", &json!({"model": "no-such-model"}))
        .await;
    assert_eq!(
        lines,
        [
            json!({"status": "pulling manifest"}),
            json!({"error": "pull model manifest: file does not exist"})
        ]
    );
    sim.error(
        "/api/pull",
        &json!({"model": "no-such-model", "stream": false}),
        500,
        "pull model manifest: file does not exist",
    )
    .await;
    sim.error(
        "/api/pull",
        &json!({"model": "bad name"}),
        400,
        "invalid model name",
    )
    .await;
    assert_eq!(
        sim.ok_json(
            "/api/pull",
            &json!({"model": "all-minilm", "stream": false})
        )
        .await,
        json!({"status": "success"})
    );
    let minilm = sim
        .ok_json("/api/show", &json!({"model": "all-minilm"}))
        .await;
    assert_eq!(minilm["capabilities"], json!(["embedding"]));
}

#[tokio::test]
async fn hugging_face_repositories_are_pullable() {
    let sim = start().await;
    let name = "hf.co/bartowski/Qwen2.5-1.5B-Instruct-GGUF:Q4_K_M";
    let lines = sim.stream("/api/pull", &json!({"model": name})).await;
    assert_eq!(statuses(&lines).last(), Some(&"success"));
    let tags = sim.tags().await;
    let model = tags
        .iter()
        .find(|m| m["name"] == name)
        .expect("listed under its full name");
    assert_eq!(model["details"]["quantization_level"], "Q4_K_M");
    assert_eq!(model["details"]["parameter_size"], "1.5B");
    let reply = sim.ok_json("/api/chat", &json!({"model": name, "messages": [{"role": "user", "content": "hi"}], "stream": false})).await;
    assert_eq!(reply["model"], name);
}

#[tokio::test]
async fn push_ends_unauthorized() {
    let sim = start().await;
    sim.post(
        "/api/copy",
        &json!({"source": "llama3.2:1b", "destination": "someone/llama:1b"}),
    )
    .await;
    let lines = sim
        .stream("/api/push", &json!({"model": "someone/llama:1b"}))
        .await;
    assert_eq!(
        statuses(&lines)[..2],
        [
            "retrieving manifest",
            lines[1]["status"].as_str().expect("pushing")
        ]
    );
    assert!(
        lines[1]["status"]
            .as_str()
            .expect("status")
            .starts_with("pushing ")
    );
    assert_keys(&lines[1], &["status", "digest", "total"], &[]);
    assert_eq!(
        lines.last(),
        Some(&json!({"error": "unauthorized: access denied"}))
    );
    let missing = sim
        .stream("/api/push", &json!({"model": "someone/nothing:1"}))
        .await;
    assert_eq!(
        statuses(&missing),
        ["retrieving manifest", "couldn't retrieve manifest"]
    );
    assert!(missing.last().expect("error")["error"].is_string());
    sim.error("/api/push", &json!({}), 400, "model is required")
        .await;
    sim.error("/api/push", &json!({"model": "llama3.2:1b", "stream": false}), 500,
        "you are not authorized to push to this namespace, create the model under a namespace you own").await;
}
