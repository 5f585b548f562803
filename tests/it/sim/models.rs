//! §4, §5, §6, §10, §11: tags, ps (keep-alive, expiry, memory), show, copy, delete, names.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::support::{Sim, assert_keys, expect_error, json_ok, now_unix, start, unix_seconds};

const DETAILS: &[&str] = &[
    "parent_model",
    "format",
    "family",
    "families",
    "parameter_size",
    "quantization_level",
];

async fn delete(sim: &Sim, model: &str) -> reqwest::Response {
    sim.request(
        Method::DELETE,
        "/api/delete",
        Some(&json!({"model": model})),
    )
    .await
}

fn find<'a>(models: &'a [Value], name: &str) -> &'a Value {
    models
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {models:?}"))
}

#[tokio::test]
async fn tags_lists_the_catalogue_field_by_field() {
    let sim = start().await;
    let models = sim.tags().await;
    let names: Vec<&str> = models
        .iter()
        .map(|m| m["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "llama3.2:1b",
            "llava:7b",
            "qwen3:0.6b",
            "nomic-embed-text:latest"
        ],
        "newest first"
    );
    let mut stamps = Vec::new();
    for model in &models {
        assert_keys(
            model,
            &["name", "model", "modified_at", "size", "digest", "details"],
            &[],
        );
        assert_eq!(model["name"], model["model"]);
        assert_keys(&model["details"], DETAILS, &[]);
        assert_eq!(
            (
                model["details"]["format"].clone(),
                model["details"]["parent_model"].clone()
            ),
            (json!("gguf"), json!(""))
        );
        let digest = model["digest"].as_str().expect("digest");
        assert!(
            digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
            "manifest hex: {digest}"
        );
        assert!(model["size"].as_u64().expect("size") > 100_000_000);
        stamps.push(unix_seconds(
            model["modified_at"].as_str().expect("modified_at"),
        ));
    }
    assert!(stamps.windows(2).all(|w| w[0] >= w[1]));
    let details = |name: &str| find(&models, name)["details"].clone();
    assert_eq!(
        details("llama3.2:1b"),
        json!({"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"], "parameter_size": "1.2B", "quantization_level": "Q8_0"})
    );
    assert_eq!(details("llava:7b")["families"], json!(["llama", "clip"]));
    assert_eq!(
        (
            details("qwen3:0.6b")["family"].clone(),
            details("qwen3:0.6b")["parameter_size"].clone()
        ),
        (json!("qwen3"), json!("751.63M"))
    );
    assert_eq!(
        (
            details("nomic-embed-text:latest")["family"].clone(),
            details("nomic-embed-text:latest")["quantization_level"].clone()
        ),
        (json!("nomic-bert"), json!("F16"))
    );
    assert_eq!(
        sim.request(Method::HEAD, "/api/tags", None).await.status(),
        StatusCode::OK
    );

    sim.control().set_version("0.30.1");
    let newest = sim.tags().await;
    let llama = find(&newest, "llama3.2:1b");
    assert_eq!(llama["capabilities"], json!(["completion", "tools"]));
    assert_eq!(llama["details"]["context_length"], 131_072);
}

#[tokio::test]
async fn ps_reports_memory_expiry_and_context() {
    let sim = start().await;
    assert!(sim.ps().await.is_empty());
    sim.ok_json(
        "/api/generate",
        &json!({"model": "llama3.2:1b", "keep_alive": "10m"}),
    )
    .await;
    sim.ok_json(
        "/api/generate",
        &json!({"model": "qwen3:0.6b", "keep_alive": -1}),
    )
    .await;
    sim.ok_json(
        "/api/embed",
        &json!({"model": "nomic-embed-text", "input": "x", "keep_alive": 3600}),
    )
    .await;
    let running = sim.ps().await;
    let names: Vec<&str> = running
        .iter()
        .map(|m| m["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        ["qwen3:0.6b", "nomic-embed-text:latest", "llama3.2:1b"],
        "most time left first"
    );
    for model in &running {
        assert_keys(
            model,
            &[
                "name",
                "model",
                "size",
                "digest",
                "details",
                "expires_at",
                "size_vram",
                "context_length",
            ],
            &[],
        );
        assert_keys(&model["details"], DETAILS, &[]);
        let (size, vram) = (
            model["size"].as_u64().expect("size"),
            model["size_vram"].as_u64().expect("vram"),
        );
        assert!(size > 0 && vram == size, "fully on the 8 GiB GPU: {model}");
    }
    let expires = |i: usize| {
        unix_seconds(running[i]["expires_at"].as_str().expect("expires_at")) - now_unix()
    };
    assert!((expires(2) - 600).abs() <= 5, "10m ahead: {}", expires(2));
    assert!((expires(1) - 3600).abs() <= 5, "3600 s ahead");
    assert_eq!(
        expires(0) / (365 * 86_400),
        292,
        "forever is about 292 years"
    );
    let llama = find(&running, "llama3.2:1b");
    assert_eq!(llama["context_length"], 4096);
    assert_eq!(
        llama["digest"],
        find(&sim.tags().await, "llama3.2:1b")["digest"]
    );

    // A request with keep_alive 0 unloads the model when it is done.
    sim.ok_json(
        "/api/generate",
        &json!({"model": "llama3.2:1b", "prompt": "bye", "keep_alive": 0, "stream": false}),
    )
    .await;
    assert!(sim.ps().await.iter().all(|m| m["name"] != "llama3.2:1b"));
}

#[tokio::test]
async fn models_expire_when_their_keep_alive_passes() {
    let sim = start().await;
    sim.ok_json(
        "/api/generate",
        &json!({"model": "llama3.2:1b", "keep_alive": "300ms"}),
    )
    .await;
    assert_eq!(sim.ps().await.len(), 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sim.ps().await.is_empty() {
        assert!(Instant::now() < deadline, "the model never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn big_models_split_between_gpu_and_ram() {
    let sim = start().await;
    sim.ok_json(
        "/api/generate",
        &json!({"model": "llava:7b", "options": {"num_ctx": 32768}}),
    )
    .await;
    let llava = sim.ps().await.remove(0);
    let (size, vram) = (
        llava["size"].as_u64().expect("size"),
        llava["size_vram"].as_u64().expect("vram"),
    );
    assert!(
        vram < size && vram > size / 2,
        "partly on the GPU: {vram} of {size}"
    );
    assert!(vram <= 8 << 30);
    assert_eq!(llava["context_length"], 32768);
}

#[tokio::test]
async fn show_returns_ollamas_fields() {
    let sim = start().await;
    let show = sim
        .ok_json("/api/show", &json!({"model": "llama3.2:1b"}))
        .await;
    assert_keys(
        &show,
        &[
            "license",
            "modelfile",
            "parameters",
            "template",
            "details",
            "model_info",
            "tensors",
            "capabilities",
            "modified_at",
        ],
        &[],
    );
    assert!(
        show["license"]
            .as_str()
            .expect("license")
            .starts_with("LLAMA 3.2 COMMUNITY LICENSE AGREEMENT")
    );
    let modelfile = show["modelfile"].as_str().expect("modelfile");
    assert!(modelfile.starts_with("# Modelfile generated by \"ollama show\"\n# To build a new Modelfile based on this, replace FROM with:\n# FROM llama3.2:1b\n\nFROM "));
    assert!(
        modelfile.contains("\nTEMPLATE \"\"\"")
            && modelfile.contains("\nPARAMETER stop <|eot_id|>\n")
    );
    assert_eq!(
        show["parameters"],
        "stop                           \"<|start_header_id|>\"\nstop                           \"<|end_header_id|>\"\nstop                           \"<|eot_id|>\""
    );
    assert!(
        show["template"]
            .as_str()
            .expect("template")
            .contains(".Tools")
    );
    assert_eq!(show["capabilities"], json!(["completion", "tools"]));
    assert_eq!(show["details"]["parameter_size"], "1.2B");
    let info = &show["model_info"];
    assert_eq!(info["general.architecture"], "llama");
    assert_eq!(info["llama.context_length"], 131_072);
    assert_eq!(info["general.parameter_count"], 1_235_814_432_u64);
    assert_eq!(info["tokenizer.ggml.tokens"], json!([]));
    assert!(info.get("general.name").is_none() && info.get("tokenizer.chat_template").is_none());
    let tensors = show["tensors"].as_array().expect("tensors");
    assert!(tensors.len() > 100);
    for tensor in tensors {
        assert_keys(tensor, &["name", "type", "shape"], &[]);
    }
    assert!(unix_seconds(show["modified_at"].as_str().expect("modified_at")) <= now_unix());

    let llava = sim.ok_json("/api/show", &json!({"name": "llava:7b"})).await;
    assert_eq!(llava["capabilities"], json!(["completion", "vision"]));
    assert_eq!(llava["projector_info"]["general.architecture"], "clip");
    let qwen = sim
        .ok_json(
            "/api/show",
            &json!({"model": "qwen3:0.6b", "system": "You are terse."}),
        )
        .await;
    assert_eq!(
        qwen["capabilities"],
        json!(["completion", "tools", "thinking"])
    );
    assert_eq!(qwen["system"], "You are terse.");
    assert!(
        qwen["parameters"]
            .as_str()
            .expect("parameters")
            .contains("temperature                    0.6")
    );
    let nomic = sim
        .ok_json("/api/show", &json!({"model": "nomic-embed-text"}))
        .await;
    assert_eq!(nomic["capabilities"], json!(["embedding"]));
    assert_eq!(nomic["model_info"]["nomic-bert.pooling_type"], 1);

    sim.error("/api/show", &json!({}), 400, "model is required")
        .await;
    sim.error(
        "/api/show",
        &json!({"model": "nosuch"}),
        404,
        "model 'nosuch' not found",
    )
    .await;
    sim.error(
        "/api/show",
        &json!({"model": "a b"}),
        400,
        "invalid model name",
    )
    .await;
    sim.control().set_version("0.6.0");
    assert!(
        sim.ok_json("/api/show", &json!({"model": "llama3.2:1b"}))
            .await
            .get("capabilities")
            .is_none()
    );
}

#[tokio::test]
async fn copy_and_delete() {
    let sim = start().await;
    let copied = sim
        .post(
            "/api/copy",
            &json!({"source": "llama3.2:1b", "destination": "myuser/my-model:v1"}),
        )
        .await;
    assert_eq!(copied.status(), StatusCode::OK);
    assert_eq!(copied.text().await.expect("body"), "");
    let models = sim.tags().await;
    assert_eq!(models[0]["name"], "myuser/my-model:v1", "newest first");
    assert_eq!(
        models[0]["digest"],
        find(&models, "llama3.2:1b")["digest"],
        "same manifest"
    );
    let echoed = sim
        .ok_json(
            "/api/generate",
            &json!({"model": "MyUser/My-Model:V1", "prompt": "hi", "stream": false}),
        )
        .await;
    assert_eq!(echoed["model"], "MyUser/My-Model:V1");
    sim.ok_json("/api/show", &json!({"model": "myuser/my-model:v1"}))
        .await;

    sim.error(
        "/api/copy",
        &json!({"source": "nosuch", "destination": "x"}),
        404,
        r#"model "nosuch" not found"#,
    )
    .await;
    sim.error(
        "/api/copy",
        &json!({"source": "a b", "destination": "x"}),
        400,
        r#"source "a b" is invalid"#,
    )
    .await;
    sim.error(
        "/api/copy",
        &json!({"source": "llama3.2:1b", "destination": ""}),
        400,
        r#"destination "" is invalid"#,
    )
    .await;

    sim.ok_json("/api/generate", &json!({"model": "myuser/my-model:v1"}))
        .await;
    let deleted = delete(&sim, "myuser/my-model:v1").await;
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(deleted.text().await.expect("body"), "");
    assert!(
        sim.tags()
            .await
            .iter()
            .all(|m| m["name"] != "myuser/my-model:v1")
    );
    assert!(sim.ps().await.is_empty(), "deleting unloads");
    expect_error(
        delete(&sim, "myuser/my-model:v1").await,
        404,
        "model 'myuser/my-model:v1' not found",
    )
    .await;
    expect_error(delete(&sim, "a b").await, 400, r#"name "a b" is invalid"#).await;
    let by_name = sim
        .request(
            Method::DELETE,
            "/api/delete",
            Some(&json!({"name": "qwen3:0.6b"})),
        )
        .await;
    assert_eq!(by_name.status(), StatusCode::OK);
    assert_eq!(
        json_ok(sim.get("/api/tags").await).await["models"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
}
