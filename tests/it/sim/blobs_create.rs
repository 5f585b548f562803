//! §7: blobs (`HEAD`/`POST /api/blobs/:digest`) and `POST /api/create` from GGUF files written
//! with the core crate's `GgufWriter`.

use ollama_dash_core::gguf::{
    GgufValue, GgufWriter, sample_adapter, sample_model, sample_projector,
};
use ollama_dash_host::sim::SimConfig;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::support::{Sim, expect_error, start, start_with};

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

async fn upload(sim: &Sim, bytes: Vec<u8>) -> String {
    let digest = digest(&bytes);
    let response = sim
        .client
        .post(sim.url(&format!("/api/blobs/{digest}")))
        .body(bytes)
        .send()
        .await
        .expect("answered");
    assert!(
        matches!(response.status().as_u16(), 200 | 201),
        "upload: {}",
        response.status()
    );
    digest
}

/// A minimal F16 model of `arch` plus extra metadata.
fn tiny(arch: &str, extra: &[(&str, GgufValue)]) -> GgufWriter {
    let mut writer = GgufWriter::new(3)
        .kv("general.architecture", GgufValue::String(arch.to_owned()))
        .kv("general.file_type", GgufValue::U32(1))
        .kv(format!("{arch}.context_length"), GgufValue::U32(2048))
        .kv(format!("{arch}.embedding_length"), GgufValue::U32(64))
        .kv(format!("{arch}.block_count"), GgufValue::U32(1));
    for (key, value) in extra {
        writer = writer.kv(*key, value.clone());
    }
    writer
        .tensor("token_embd.weight", [64, 100], 1)
        .tensor("output_norm.weight", [64], 0)
}

fn statuses(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["status"].as_str().unwrap_or("<error>").to_owned())
        .collect()
}

#[tokio::test]
async fn blobs_are_checked_stored_and_verified() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = start_with(SimConfig {
        data_dir: Some(dir.path().to_owned()),
        ..SimConfig::default()
    })
    .await;
    let head = |path: String| sim.client.head(sim.url(&path)).send();
    let bytes = b"hello blob".to_vec();
    let good = digest(&bytes);

    let invalid = sim
        .client
        .post(sim.url("/api/blobs/sha256:xyz"))
        .body("x")
        .send()
        .await
        .expect("answered");
    expect_error(invalid, 400, "invalid digest format").await;
    let bad_head = head("/api/blobs/md5-abc".to_owned())
        .await
        .expect("answered");
    assert_eq!(
        bad_head.status(),
        StatusCode::BAD_REQUEST,
        "HEAD has no body to check"
    );
    let missing = sim
        .client
        .request(Method::HEAD, sim.url(&format!("/api/blobs/{good}")))
        .send()
        .await
        .expect("answered");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let wrong = digest(b"something else");
    let mismatch = sim
        .client
        .post(sim.url(&format!("/api/blobs/{wrong}")))
        .body(bytes.clone())
        .send()
        .await
        .expect("answered");
    expect_error(
        mismatch,
        400,
        &format!("digest mismatch, expected \"{wrong}\", got \"{good}\""),
    )
    .await;
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("blobs"))
        .expect("blobs dir")
        .collect();
    assert!(
        leftovers.is_empty(),
        "the partial upload is removed: {leftovers:?}"
    );

    let created = sim
        .client
        .post(sim.url(&format!("/api/blobs/{good}")))
        .body(bytes.clone())
        .send()
        .await
        .expect("answered");
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.text().await.expect("body"), "");
    assert!(
        dir.path()
            .join("blobs")
            .join(good.replace(':', "-"))
            .is_file()
    );
    let found = head(format!("/api/blobs/{good}")).await.expect("answered");
    assert_eq!(found.status(), StatusCode::OK);
    let dash = head(format!("/api/blobs/{}", good.replace(':', "-")))
        .await
        .expect("answered");
    assert_eq!(
        dash.status(),
        StatusCode::OK,
        "sha256-<hex> is accepted too"
    );
    let again = sim
        .client
        .post(sim.url(&format!("/api/blobs/{good}")))
        .body("ignored")
        .send()
        .await
        .expect("answered");
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "an existing blob is not read again"
    );
}

#[tokio::test]
async fn blob_head_404_body_is_json() {
    let sim = start().await;
    let absent = digest(b"absent");
    let response = sim
        .client
        .get(sim.url(&format!("/api/blobs/{absent}")))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let head = sim
        .client
        .head(sim.url(&format!("/api/blobs/{absent}")))
        .send()
        .await
        .expect("answered");
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
    assert!(
        head.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("application/json")
    );
}

#[tokio::test]
async fn create_from_a_gguf_file_uses_its_header() {
    let sim = start().await;
    let blob = upload(&sim, sample_model("llama", 3).to_bytes()).await;
    let request = json!({"model": "me/sample:v1", "files": {"model.gguf": blob}, "system": "You are a sample."});
    let lines = sim.stream("/api/create", &request).await;
    let all = statuses(&lines);
    assert_eq!(all[0], "parsing GGUF");
    assert_eq!(all[1], format!("using existing layer {blob}"));
    assert!(
        all[2..all.len() - 2]
            .iter()
            .any(|s| s.starts_with("creating new layer sha256:")),
        "{all:?}"
    );
    assert!(
        all[2..all.len() - 2]
            .iter()
            .all(|s| s.starts_with("creating new layer sha256:")
                || s.starts_with("using existing layer sha256:"))
    );
    assert_eq!(&all[all.len() - 2..], ["writing manifest", "success"]);
    for line in &lines {
        super::support::assert_keys(line, &["status"], &[]);
    }
    let tags = sim.tags().await;
    let model = tags
        .iter()
        .find(|m| m["name"] == "me/sample:v1")
        .expect("listed");
    assert_eq!(
        model["details"],
        json!({"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
        "parameter_size": "7K", "quantization_level": "Q4_K_M"})
    );
    let show = sim
        .ok_json("/api/show", &json!({"model": "me/sample:v1"}))
        .await;
    assert_eq!(show["capabilities"], json!(["completion"]));
    assert_eq!(show["model_info"]["llama.context_length"], 4096);
    assert!(show["model_info"].get("general.name").is_none());
    assert_eq!(show["tensors"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        show["tensors"][0],
        json!({"name": "token_embd.weight", "type": "F16", "shape": [64, 100]})
    );
    let reply = sim
        .ok_json(
            "/api/generate",
            &json!({"model": "me/sample:v1", "prompt": "hi", "stream": false}),
        )
        .await;
    assert_eq!(reply["done"], true);
}

#[tokio::test]
async fn create_derives_capabilities_like_ollama() {
    let sim = start().await;
    let embedding = upload(
        &sim,
        tiny("bert", &[("bert.pooling_type", GgufValue::U32(1))]).to_bytes(),
    )
    .await;
    let thinking = upload(
        &sim,
        tiny(
            "qwen3",
            &[(
                "tokenizer.chat_template",
                GgufValue::String("<think>{{ x }}</think> tools".into()),
            )],
        )
        .to_bytes(),
    )
    .await;
    let plain = upload(&sim, tiny("llama", &[]).to_bytes()).await;
    let projector = upload(&sim, sample_projector(3).to_bytes()).await;
    let cases = [
        (
            json!({"model": "emb", "files": {"m.gguf": embedding}}),
            json!(["embedding"]),
        ),
        (
            json!({"model": "think", "files": {"m.gguf": thinking}}),
            json!(["completion", "tools", "thinking"]),
        ),
        (
            json!({"model": "vis", "files": {"a.gguf": plain, "b.gguf": projector}}),
            json!(["completion", "vision"]),
        ),
        (
            json!({"model": "tooled", "files": {"m.gguf": plain}, "template": "{{ if .Tools }}{{ .Tools }}{{ end }}{{ .Prompt }}"}),
            json!(["completion", "tools"]),
        ),
        (
            json!({"model": "fim", "files": {"m.gguf": plain}, "template": "<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>"}),
            json!(["completion", "insert"]),
        ),
    ];
    for (mut request, capabilities) in cases {
        let name = request["model"].clone();
        request["stream"] = json!(false);
        assert_eq!(
            sim.ok_json("/api/create", &request).await,
            json!({"status": "success"})
        );
        let show = sim.ok_json("/api/show", &json!({"model": name})).await;
        assert_eq!(show["capabilities"], capabilities, "{name}");
    }
    let vis = sim.ok_json("/api/show", &json!({"model": "vis"})).await;
    assert_eq!(vis["projector_info"]["general.architecture"], "clip");
    assert_eq!(vis["details"]["families"], json!(["llama", "clip"]));
    let emb = sim
        .ok_json("/api/embed", &json!({"model": "emb", "input": "x"}))
        .await;
    assert_eq!(emb["embeddings"][0].as_array().map(Vec::len), Some(64));
}

#[tokio::test]
async fn create_from_a_model_with_overrides() {
    let sim = start().await;
    let request = json!({"model": "terse", "from": "llama3.2:1b", "system": "You are terse.",
        "parameters": {"temperature": 0.2, "stop": ["END"]}, "messages": [{"role": "user", "content": "hi"}]});
    let lines = sim.stream("/api/create", &request).await;
    let all = statuses(&lines);
    assert!(
        all.iter()
            .any(|s| s.starts_with("using existing layer sha256:"))
    );
    assert!(
        all.iter()
            .any(|s| s.starts_with("creating new layer sha256:"))
    );
    assert_eq!(all.last().map(String::as_str), Some("success"));
    let show = sim.ok_json("/api/show", &json!({"model": "terse"})).await;
    assert_eq!(show["system"], "You are terse.");
    assert_eq!(show["details"]["parent_model"], "llama3.2:1b");
    let tags = sim.tags().await;
    let listed = tags
        .iter()
        .find(|m| m["name"] == "terse:latest")
        .expect("listed");
    assert_eq!(
        listed["details"]["parent_model"], "",
        "the list leaves parent_model empty"
    );
    assert_eq!(listed["digest"].as_str().map(str::len), Some(64));
    assert_eq!(show["messages"], json!([{"role": "user", "content": "hi"}]));
    let parameters = show["parameters"].as_str().expect("parameters");
    assert!(
        parameters.contains("stop                           \"END\"")
            && parameters.contains("temperature                    0.2")
    );

    // `from` a model that is not local pulls it first.
    let pulled = sim
        .stream(
            "/api/create",
            &json!({"model": "small", "from": "gemma3:1b"}),
        )
        .await;
    let all = statuses(&pulled);
    assert_eq!(all[0], "pulling manifest");
    assert_eq!(all.last().map(String::as_str), Some("success"));
    let missing = sim
        .stream(
            "/api/create",
            &json!({"model": "x", "from": "no-such-model"}),
        )
        .await;
    assert_eq!(
        missing,
        [
            json!({"status": "pulling manifest"}),
            json!({"error": "pull model manifest: file does not exist"})
        ]
    );
}

#[tokio::test]
async fn create_validates_before_streaming() {
    let sim = start().await;
    let text_blob = upload(&sim, b"definitely not gguf".to_vec()).await;
    let model_blob = upload(&sim, sample_model("llama", 3).to_bytes()).await;
    let absent = digest(b"never uploaded");
    let not_found = format!("blob \"{absent}\" not found");
    let cases = [
        (
            json!({"model": "x"}),
            "neither 'from' or 'files' was specified",
        ),
        (
            json!({"model": "x", "files": {"/etc/model.gguf": model_blob}}),
            "file path must be relative",
        ),
        (
            json!({"model": "x", "files": {"../model.gguf": model_blob}}),
            "file path must be relative",
        ),
        (
            json!({"model": "x", "files": {"model.gguf": ""}}),
            "invalid digest format",
        ),
        (
            json!({"model": "x y", "files": {"model.gguf": model_blob}}),
            "invalid model name",
        ),
        (
            json!({"model": "x", "files": {"model.gguf": text_blob}}),
            "supplied file was not in GGUF format",
        ),
        (
            json!({"model": "x", "files": {"model.gguf": absent}}),
            not_found.as_str(),
        ),
        (
            json!({"model": "x", "files": {"model.gguf": model_blob}, "parameters": {"num_ctx": "big"}}),
            r#"option "num_ctx" must be of type integer"#,
        ),
        (
            json!({"model": "x", "files": {"model.gguf": model_blob}, "quantize": "q4_K_M"}),
            "quantization is only supported for F16 and F32 models",
        ),
        (
            json!({"model": "x", "files": {"model.gguf": model_blob}, "quantize": "q9"}),
            "unsupported quantization type q9",
        ),
    ];
    for (request, message) in cases {
        sim.error("/api/create", &request, 400, message).await;
    }
}

#[tokio::test]
async fn create_quantizes_f16_models() {
    let sim = start().await;
    let blob = upload(&sim, tiny("llama", &[]).to_bytes()).await;
    let lines = sim
        .stream(
            "/api/create",
            &json!({"model": "q", "files": {"m.gguf": blob}, "quantize": "q4_K_M"}),
        )
        .await;
    let progress: Vec<&Value> = lines
        .iter()
        .filter(|l| l["status"] == "quantizing F16 model to Q4_K_M")
        .collect();
    assert!(progress.len() >= 2 && progress.iter().all(|l| l["total"].is_u64()));
    let tags = sim.tags().await;
    let model = tags
        .iter()
        .find(|m| m["name"] == "q:latest")
        .expect("created");
    assert_eq!(model["details"]["quantization_level"], "Q4_K_M");
}

#[tokio::test]
async fn create_with_an_adapter() {
    let sim = start().await;
    let adapter = upload(&sim, sample_adapter("llama", 3).to_bytes()).await;
    let request = json!({"model": "tuned", "from": "llama3.2:1b", "adapters": {"lora.gguf": adapter}, "stream": false});
    assert_eq!(
        sim.ok_json("/api/create", &request).await,
        json!({"status": "success"})
    );
    let show = sim.ok_json("/api/show", &json!({"model": "tuned"})).await;
    assert!(
        show["modelfile"]
            .as_str()
            .expect("modelfile")
            .contains("\nADAPTER ")
    );
    let base = sim.tags().await;
    let digest = |name: &str| {
        base.iter()
            .find(|m| m["name"] == name)
            .map(|m| m["digest"].clone())
    };
    assert_ne!(
        digest("tuned:latest"),
        digest("llama3.2:1b"),
        "a new manifest"
    );
}
