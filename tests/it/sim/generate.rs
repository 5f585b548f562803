//! §1: `POST /api/generate`, line by line.

use serde_json::{Value, json};

use super::support::{
    assert_created_at, assert_keys, assert_metrics, content_type, generated, json_ok, keys, start,
};

const CHUNK: &[&str] = &["model", "created_at", "response", "done"];
const DONE: &[&str] = &[
    "model",
    "created_at",
    "response",
    "done",
    "done_reason",
    "context",
    "total_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
];

#[tokio::test]
async fn streams_ndjson_chunks_then_a_done_line_with_metrics() {
    let sim = start().await;
    let lines = sim
        .stream(
            "/api/generate",
            &json!({"model": "llama3.2:1b", "prompt": "Why is the sky blue?"}),
        )
        .await;
    let (done, chunks) = lines.split_last().expect("lines");
    assert!(chunks.len() >= 10, "a few dozen tokens: {}", chunks.len());
    for chunk in chunks {
        assert_keys(chunk, CHUNK, &[]);
        assert_eq!(chunk["model"], "llama3.2:1b");
        assert_eq!(chunk["done"], false);
        assert!(!chunk["response"].as_str().expect("response").is_empty());
        assert_created_at(chunk);
    }
    assert_keys(done, DONE, &["load_duration"]);
    assert_eq!(
        (
            done["done"].clone(),
            done["done_reason"].clone(),
            done["response"].clone()
        ),
        (json!(true), json!("stop"), json!(""))
    );
    assert_metrics(done, true);
    assert_eq!(done["eval_count"].as_u64(), Some(chunks.len() as u64));
    let context = done["context"].as_array().expect("context");
    assert!(context.len() > chunks.len() && context.iter().all(Value::is_i64));
    let total = done["total_duration"].as_u64().expect("total");
    assert!(
        total
            >= done["eval_duration"].as_u64().expect("eval")
                + done["load_duration"].as_u64().expect("load")
    );

    // The model is loaded now: load_duration is omitted.
    let again = sim
        .stream(
            "/api/generate",
            &json!({"model": "llama3.2:1b", "prompt": "Why is the sky blue?"}),
        )
        .await;
    let done_again = again.last().expect("done");
    assert_metrics(done_again, false);
    assert_eq!(
        generated(&again, "response"),
        generated(&lines, "response"),
        "same input, same output"
    );
}

#[tokio::test]
async fn stream_false_returns_one_object_with_the_whole_text() {
    let sim = start().await;
    let request =
        json!({"model": "llama3.2:1b", "prompt": "Tell me about llamas", "stream": false});
    let response = sim.post("/api/generate", &request).await;
    assert_eq!(content_type(&response), "application/json; charset=utf-8");
    let single = json_ok(response).await;
    assert_keys(&single, DONE, &["load_duration"]);
    let streamed = sim
        .stream(
            "/api/generate",
            &json!({"model": "llama3.2:1b", "prompt": "Tell me about llamas"}),
        )
        .await;
    assert_eq!(
        single["response"].as_str(),
        Some(generated(&streamed, "response").as_str())
    );
    let other = sim
        .ok_json(
            "/api/generate",
            &json!({"model": "llama3.2:1b", "prompt": "Tell me about alpacas", "stream": false}),
        )
        .await;
    assert_ne!(
        other["response"], single["response"],
        "different input, different output"
    );
}

#[tokio::test]
async fn num_predict_caps_the_tokens_with_done_reason_length() {
    let sim = start().await;
    let request = json!({"model": "qwen3:0.6b", "prompt": "Count", "think": false, "options": {"num_predict": 5}});
    let lines = sim.stream("/api/generate", &request).await;
    let done = lines.last().expect("done");
    assert_eq!(
        (
            lines.len(),
            done["done_reason"].clone(),
            done["eval_count"].clone()
        ),
        (6, json!("length"), json!(5))
    );
}

#[tokio::test]
async fn empty_prompt_loads_and_keep_alive_zero_unloads() {
    let sim = start().await;
    let loaded = sim
        .ok_json("/api/generate", &json!({"model": "llama3.2:1b"}))
        .await;
    assert_keys(
        &loaded,
        &["model", "created_at", "response", "done", "done_reason"],
        &[],
    );
    assert_eq!(
        (
            loaded["done_reason"].clone(),
            loaded["response"].clone(),
            loaded["done"].clone()
        ),
        (json!("load"), json!(""), json!(true))
    );
    assert_eq!(sim.ps().await.len(), 1);
    let unloaded = sim
        .ok_json(
            "/api/generate",
            &json!({"model": "llama3.2:1b", "keep_alive": 0}),
        )
        .await;
    assert_eq!(unloaded["done_reason"], "unload");
    assert_keys(
        &unloaded,
        &["model", "created_at", "response", "done", "done_reason"],
        &[],
    );
    assert!(sim.ps().await.is_empty());
    // Unloading answers even for a model that is not loaded.
    let again = sim
        .ok_json(
            "/api/generate",
            &json!({"model": "qwen3:0.6b", "prompt": "", "keep_alive": "0s"}),
        )
        .await;
    assert_eq!(again["done_reason"], "unload");
}

#[tokio::test]
async fn raw_mode_has_no_context_and_refuses_templates() {
    let sim = start().await;
    let lines = sim
        .stream(
            "/api/generate",
            &json!({"model": "llama3.2:1b", "prompt": "[INST] hi", "raw": true}),
        )
        .await;
    assert!(lines.last().expect("done").get("context").is_none());
    for extra in [
        json!({"system": "be brief"}),
        json!({"template": "{{ .Prompt }}"}),
        json!({"context": [1, 2]}),
    ] {
        let mut request = json!({"model": "llama3.2:1b", "prompt": "x", "raw": true});
        request
            .as_object_mut()
            .expect("object")
            .extend(extra.as_object().cloned().expect("object"));
        sim.error(
            "/api/generate",
            &request,
            400,
            "raw mode does not support template, system, or context",
        )
        .await;
    }
    let with_context = json!({"model": "llama3.2:1b", "prompt": "and then?", "context": [1, 2, 3], "stream": false});
    let context = sim.ok_json("/api/generate", &with_context).await["context"]
        .as_array()
        .cloned()
        .expect("context");
    assert_eq!(&context[..3], &[json!(1), json!(2), json!(3)]);
}

#[tokio::test]
async fn json_format_and_schemas_produce_valid_json() {
    let sim = start().await;
    let plain = sim
        .ok_json(
            "/api/generate",
            &json!({"model": "llama3.2:1b", "prompt": "x", "format": "json", "stream": false}),
        )
        .await;
    assert!(
        serde_json::from_str::<Value>(plain["response"].as_str().expect("text"))
            .expect("JSON")
            .is_object()
    );
    let schema = json!({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["name", "age", "tags"]});
    let lines = sim
        .stream(
            "/api/generate",
            &json!({"model": "llama3.2:1b", "prompt": "a person", "format": schema}),
        )
        .await;
    let value: Value = serde_json::from_str(&generated(&lines, "response")).expect("JSON");
    assert!(
        value["name"].is_string() && value["age"].is_i64() && value["tags"].is_array(),
        "{value}"
    );
    let bad = json!({"model": "llama3.2:1b", "prompt": "x", "format": "xml"});
    sim.error(
        "/api/generate",
        &bad,
        500,
        r#"invalid format: "\"xml\""; expected "json" or a valid JSON Schema object"#,
    )
    .await;
}

#[tokio::test]
async fn thinking_models_think_by_default() {
    let sim = start().await;
    let lines = sim
        .stream(
            "/api/generate",
            &json!({"model": "qwen3:0.6b", "prompt": "Why is the sky blue?"}),
        )
        .await;
    let thinking: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get("thinking").is_some())
        .collect();
    assert!(!thinking.is_empty() && thinking.iter().all(|l| l["response"] == ""));
    let first_answer = lines
        .iter()
        .position(|l| l["response"] != "")
        .expect("an answer");
    assert!(
        lines[..first_answer]
            .iter()
            .all(|l| l.get("thinking").is_some() || l["done"] == true)
    );
    assert!(
        lines[first_answer..]
            .iter()
            .all(|l| l.get("thinking").is_none())
    );
    let done = lines.last().expect("done");
    assert_eq!(
        done["eval_count"].as_u64(),
        Some(lines.len() as u64 - 1),
        "thinking tokens count"
    );

    let off = sim
        .ok_json(
            "/api/generate",
            &json!({"model": "qwen3:0.6b", "prompt": "hi", "think": false, "stream": false}),
        )
        .await;
    assert!(off.get("thinking").is_none());
    let on = sim
        .ok_json(
            "/api/generate",
            &json!({"model": "qwen3:0.6b", "prompt": "hi", "think": "high", "stream": false}),
        )
        .await;
    assert!(on["thinking"].as_str().is_some_and(|t| !t.is_empty()));
    sim.error(
        "/api/generate",
        &json!({"model": "llama3.2:1b", "prompt": "hi", "think": true}),
        400,
        r#""llama3.2:1b" does not support thinking"#,
    )
    .await;
    sim.error(
        "/api/generate",
        &json!({"model": "qwen3:0.6b", "prompt": "hi", "think": "extreme"}),
        400,
        r#"invalid think value: "extreme" (must be "high", "medium", "low", true, or false)"#,
    )
    .await;
}

#[tokio::test]
async fn capability_checks_match_ollamas_messages() {
    let sim = start().await;
    let image = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";
    let vision = sim.ok_json("/api/generate", &json!({"model": "llava:7b", "prompt": "What is this?", "images": [image], "stream": false})).await;
    assert!(
        vision["prompt_eval_count"].as_u64().expect("count") > 576,
        "images count as tokens"
    );
    let cases = [
        (
            json!({"model": "llama3.2:1b", "prompt": "x", "images": [image]}),
            400,
            "registry.ollama.ai/library/llama3.2:1b does not support vision",
        ),
        (
            json!({"model": "llama3.2:1b", "prompt": "x", "suffix": "y"}),
            400,
            "registry.ollama.ai/library/llama3.2:1b does not support insert",
        ),
        (
            json!({"model": "nomic-embed-text", "prompt": "x"}),
            400,
            r#""nomic-embed-text" does not support generate"#,
        ),
        (
            json!({"model": "llava:7b", "prompt": "x", "images": ["not base64!"]}),
            400,
            "illegal base64 data at input byte 3",
        ),
    ];
    for (request, status, message) in cases {
        sim.error("/api/generate", &request, status, message).await;
    }
}

#[tokio::test]
async fn request_errors_have_ollamas_status_and_text() {
    let sim = start().await;
    let cases = [
        (
            json!({"model": "nosuch", "prompt": "x"}),
            404,
            "model 'nosuch' not found",
        ),
        (
            json!({"model": "", "prompt": "x"}),
            400,
            "invalid model name",
        ),
        (json!({"prompt": "x"}), 400, "invalid model name"),
        (
            json!({"model": "bad name!", "prompt": "x"}),
            400,
            "invalid model name",
        ),
        (
            json!({"model": "llama3.2:1b", "prompt": "x", "options": {"num_predict": "ten"}}),
            400,
            r#"option "num_predict" must be of type integer"#,
        ),
        (
            json!({"model": "llama3.2:1b", "prompt": "x", "options": {"temperature": "hot"}}),
            400,
            r#"option "temperature" must be of type float32"#,
        ),
        (
            json!({"model": "llama3.2:1b", "prompt": "x", "keep_alive": "soon"}),
            400,
            r#"time: invalid duration "soon""#,
        ),
        (
            json!({"model": "llama3.2:1b", "prompt": "x", "keep_alive": "10"}),
            400,
            r#"time: missing unit in duration "10""#,
        ),
        (
            json!({"model": "llama3.2:1b", "prompt": "x", "top_logprobs": 21}),
            400,
            "top_logprobs must be between 0 and 20",
        ),
        (
            json!({"model": "llama3.2:1b", "prompt": 7}),
            400,
            "json: cannot unmarshal number into Go struct field GenerateRequest.prompt of type string",
        ),
    ];
    for (request, status, message) in cases {
        sim.error("/api/generate", &request, status, message).await;
    }
}

#[tokio::test]
async fn names_match_case_insensitively_and_are_echoed() {
    let sim = start().await;
    let single = sim
        .ok_json(
            "/api/generate",
            &json!({"model": "LLaMA3.2:1B", "prompt": "hi", "stream": false}),
        )
        .await;
    assert_eq!(single["model"], "LLaMA3.2:1B");
    let full = sim.ok_json("/api/generate", &json!({"model": "registry.ollama.ai/library/qwen3:0.6b", "prompt": "hi", "stream": false})).await;
    assert!(keys(&full).contains("thinking"));
}
