//! §3: `POST /api/embed` and the legacy `POST /api/embeddings`.

use serde_json::{Value, json};

use super::support::{assert_keys, content_type, start};

fn vector(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .expect("vector")
        .iter()
        .map(|x| x.as_f64().expect("float"))
        .collect()
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

#[tokio::test]
async fn embeds_strings_and_arrays_as_unit_vectors() {
    let sim = start().await;
    let one = sim
        .ok_json(
            "/api/embed",
            &json!({"model": "nomic-embed-text", "input": "The sky is blue"}),
        )
        .await;
    assert_keys(
        &one,
        &[
            "model",
            "embeddings",
            "total_duration",
            "load_duration",
            "prompt_eval_count",
        ],
        &[],
    );
    assert_eq!(one["model"], "nomic-embed-text");
    let first = vector(&one["embeddings"][0]);
    assert_eq!(first.len(), 768);
    assert!((norm(&first) - 1.0).abs() < 1e-3);
    assert!(one["prompt_eval_count"].as_u64().expect("count") >= 4);

    let many = sim.ok_json("/api/embed", &json!({"model": "nomic-embed-text", "input": ["The sky is blue", "Grass is green", "x"]})).await;
    assert_keys(
        &many,
        &["model", "embeddings", "total_duration", "prompt_eval_count"],
        &[],
    );
    let vectors = many["embeddings"].as_array().expect("embeddings");
    assert_eq!(vectors.len(), 3);
    assert_eq!(vector(&vectors[0]), first, "deterministic");
    assert_ne!(vector(&vectors[1]), first);

    let short = sim
        .ok_json(
            "/api/embed",
            &json!({"model": "nomic-embed-text", "input": "The sky is blue", "dimensions": 256}),
        )
        .await;
    let cut = vector(&short["embeddings"][0]);
    assert_eq!(cut.len(), 256);
    assert!((norm(&cut) - 1.0).abs() < 1e-3, "renormalised");

    let other_model = sim
        .ok_json(
            "/api/embed",
            &json!({"model": "llama3.2:1b", "input": "hi"}),
        )
        .await;
    assert_eq!(
        vector(&other_model["embeddings"][0]).len(),
        2048,
        "the model's embedding length"
    );
}

#[tokio::test]
async fn empty_input_only_loads_and_errors_match() {
    let sim = start().await;
    for input in [json!(""), json!([]), Value::Null] {
        let mut request = json!({"model": "nomic-embed-text"});
        if !input.is_null() {
            request["input"] = input;
        }
        let response = sim.post("/api/embed", &request).await;
        assert!(content_type(&response).starts_with("application/json"));
        assert_eq!(
            response.json::<Value>().await.expect("JSON"),
            json!({"model": "nomic-embed-text", "embeddings": []})
        );
    }
    assert_eq!(sim.ps().await.len(), 1, "loaded");
    let long = "word ".repeat(3000);
    let cases = [
        (
            json!({"model": "nomic-embed-text", "input": 5}),
            400,
            "invalid input type",
        ),
        (
            json!({"model": "nomic-embed-text", "input": ["ok", 5]}),
            400,
            "invalid input type",
        ),
        (
            json!({"model": "nosuch", "input": "x"}),
            404,
            r#"model "nosuch" not found, try pulling it first"#,
        ),
        (
            json!({"model": "", "input": "x"}),
            400,
            "invalid model name",
        ),
        (
            json!({"model": "nomic-embed-text", "input": long, "truncate": false}),
            400,
            "the input length exceeds the context length",
        ),
    ];
    for (request, status, message) in cases {
        sim.error("/api/embed", &request, status, message).await;
    }
    let truncated = sim
        .ok_json(
            "/api/embed",
            &json!({"model": "nomic-embed-text", "input": "word ".repeat(3000)}),
        )
        .await;
    assert_eq!(
        truncated["prompt_eval_count"], 2048,
        "truncated to the context length"
    );
}

#[tokio::test]
async fn legacy_embeddings_are_not_normalised() {
    let sim = start().await;
    let legacy = sim
        .ok_json(
            "/api/embeddings",
            &json!({"model": "nomic-embed-text", "prompt": "The sky is blue"}),
        )
        .await;
    assert_keys(&legacy, &["embedding"], &[]);
    let v = vector(&legacy["embedding"]);
    assert_eq!(v.len(), 768);
    assert!(norm(&v) > 2.0, "not normalised: {}", norm(&v));
    let empty = sim
        .ok_json(
            "/api/embeddings",
            &json!({"model": "nomic-embed-text", "prompt": ""}),
        )
        .await;
    assert_eq!(empty, json!({"embedding": []}));
    sim.error(
        "/api/embeddings",
        &json!({"model": "nosuch", "prompt": "x"}),
        404,
        r#"model "nosuch" not found, try pulling it first"#,
    )
    .await;
}

#[tokio::test]
async fn embed_does_not_exist_before_v0_3() {
    let sim = start().await;
    sim.control().set_version("0.2.8");
    let response = sim
        .post(
            "/api/embed",
            &json!({"model": "nomic-embed-text", "input": "x"}),
        )
        .await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.text().await.expect("body"), "404 page not found");
}
