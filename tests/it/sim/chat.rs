//! §2: `POST /api/chat`, line by line, with tools, thinking and streaming pace.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::support::{assert_created_at, assert_keys, assert_metrics, chat_text, start};

const DONE: &[&str] = &[
    "model",
    "created_at",
    "message",
    "done",
    "done_reason",
    "total_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
];

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city", "unit"]}}})
}

#[tokio::test]
async fn streams_assistant_deltas_then_done() {
    let sim = start().await;
    let request = json!({"model": "llama3.2:1b", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]});
    let lines = sim.stream("/api/chat", &request).await;
    let (done, chunks) = lines.split_last().expect("lines");
    for chunk in chunks {
        assert_keys(chunk, &["model", "created_at", "message", "done"], &[]);
        assert_keys(&chunk["message"], &["role", "content"], &[]);
        assert_eq!(
            (chunk["message"]["role"].clone(), chunk["done"].clone()),
            (json!("assistant"), json!(false))
        );
        assert_created_at(chunk);
    }
    assert_keys(done, DONE, &["load_duration"]);
    assert_eq!(done["message"], json!({"role": "assistant", "content": ""}));
    assert_eq!(done["done_reason"], "stop");
    assert_metrics(done, true);
    assert_eq!(done["eval_count"].as_u64(), Some(chunks.len() as u64));

    let single = sim.ok_json("/api/chat", &json!({"model": "llama3.2:1b", "stream": false,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]})).await;
    assert_keys(&single, DONE, &["load_duration"]);
    assert_eq!(
        single["message"]["content"].as_str(),
        Some(chat_text(&lines, "content").as_str())
    );
}

#[tokio::test]
async fn tools_produce_one_whole_tool_call() {
    let sim = start().await;
    let request = json!({"model": "llama3.2:1b", "messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": [weather_tool()]});
    let lines = sim.stream("/api/chat", &request).await;
    let calls: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"].get("tool_calls").is_some())
        .collect();
    assert_eq!(calls.len(), 1, "one chunk carries the call: {lines:?}");
    let message = &calls[0]["message"];
    assert_keys(message, &["role", "content", "tool_calls"], &[]);
    assert_eq!(message["content"], "");
    let call = &message["tool_calls"][0];
    assert_keys(call, &["id", "function"], &[]);
    assert!(call["id"].as_str().expect("id").starts_with("call_"));
    assert_keys(&call["function"], &["index", "name", "arguments"], &[]);
    assert_eq!(
        (
            call["function"]["index"].clone(),
            call["function"]["name"].clone()
        ),
        (json!(0), json!("get_weather"))
    );
    let arguments = &call["function"]["arguments"];
    assert!(
        arguments["city"].is_string(),
        "arguments is an object: {arguments}"
    );
    assert!(["celsius", "fahrenheit"].contains(&arguments["unit"].as_str().expect("unit")));
    let done = lines.last().expect("done");
    assert_eq!(done["done_reason"], "stop");
    assert!(
        done["eval_count"].as_u64().expect("eval") > 1,
        "the call took tokens"
    );

    let single = sim
        .ok_json(
            "/api/chat",
            &json!({"model": "qwen3:0.6b", "think": false, "stream": false,
        "messages": [{"role": "user", "content": "Weather?"}], "tools": [weather_tool()]}),
        )
        .await;
    assert_eq!(
        single["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );

    let answered = json!({"model": "llama3.2:1b", "stream": false, "tools": [weather_tool()], "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "22 degrees", "tool_name": "get_weather"}]});
    let reply = sim.ok_json("/api/chat", &answered).await;
    assert!(reply["message"].get("tool_calls").is_none());
    assert!(
        !reply["message"]["content"]
            .as_str()
            .expect("content")
            .is_empty()
    );
}

#[tokio::test]
async fn thinking_deltas_come_before_the_answer() {
    let sim = start().await;
    let lines = sim
        .stream(
            "/api/chat",
            &json!({"model": "qwen3:0.6b", "messages": [{"role": "user", "content": "Why?"}]}),
        )
        .await;
    assert!(!chat_text(&lines, "thinking").is_empty() && !chat_text(&lines, "content").is_empty());
    for line in &lines[..lines.len() - 1] {
        let message = &line["message"];
        assert!(
            message.get("thinking").is_some() != (message["content"] != ""),
            "one of thinking or content: {line}"
        );
    }
    let single = sim.ok_json("/api/chat", &json!({"model": "qwen3:0.6b", "stream": false, "messages": [{"role": "user", "content": "Why?"}]})).await;
    assert_eq!(
        single["message"]["thinking"].as_str(),
        Some(chat_text(&lines, "thinking").as_str())
    );
}

#[tokio::test]
async fn load_unload_and_errors() {
    let sim = start().await;
    let loaded = sim
        .ok_json(
            "/api/chat",
            &json!({"model": "llama3.2:1b", "messages": []}),
        )
        .await;
    assert_keys(
        &loaded,
        &["model", "created_at", "message", "done", "done_reason"],
        &[],
    );
    assert_eq!(
        (loaded["message"].clone(), loaded["done_reason"].clone()),
        (json!({"role": "assistant", "content": ""}), json!("load"))
    );
    let unloaded = sim
        .ok_json(
            "/api/chat",
            &json!({"model": "llama3.2:1b", "keep_alive": 0}),
        )
        .await;
    assert_eq!(unloaded["done_reason"], "unload");
    assert!(sim.ps().await.is_empty());

    let user = json!([{"role": "user", "content": "hi"}]);
    let image = "aGVsbG8=";
    let cases = [
        (
            json!({"model": "nosuch:7b", "messages": user}),
            404,
            "model 'nosuch:7b' not found",
        ),
        (
            json!({"model": "", "messages": user}),
            400,
            "invalid model name",
        ),
        (
            json!({"model": "nomic-embed-text:latest", "messages": user}),
            400,
            r#""nomic-embed-text:latest" does not support chat"#,
        ),
        (
            json!({"model": "llava:7b", "messages": user, "tools": [weather_tool()]}),
            400,
            "registry.ollama.ai/library/llava:7b does not support tools",
        ),
        (
            json!({"model": "llama3.2:1b", "messages": [{"role": "user", "content": "x", "images": [image]}]}),
            400,
            "registry.ollama.ai/library/llama3.2:1b does not support vision",
        ),
        (
            json!({"model": "llava:7b", "messages": user, "think": true}),
            400,
            r#""llava:7b" does not support thinking"#,
        ),
        (
            json!({"model": "llama3.2:1b", "messages": "hi"}),
            400,
            "json: cannot unmarshal string into Go struct field ChatRequest.messages of type []api.Message",
        ),
        (
            json!({"model": "llama3.2:1b", "messages": [{"role": "user", "content": 1}]}),
            400,
            "json: cannot unmarshal number into Go struct field ChatRequest.messages.content of type string",
        ),
    ];
    for (request, status, message) in cases {
        sim.error("/api/chat", &request, status, message).await;
    }
    let vision = json!({"model": "llava:7b", "stream": false, "messages": [{"role": "user", "content": "what is it?", "images": [image]}]});
    assert_eq!(sim.ok_json("/api/chat", &vision).await["done"], true);
}

#[tokio::test]
async fn chunks_arrive_separately_over_time() {
    let sim = start().await;
    let delay = Duration::from_millis(20);
    sim.control().set_token_delay(delay);
    let request = json!({"model": "llama3.2:1b", "messages": [{"role": "user", "content": "go"}], "options": {"num_predict": 8}});
    let response = sim.post("/api/chat", &request).await;
    let mut body = response.bytes_stream();
    let (mut pending, mut arrivals) = (Vec::new(), Vec::new());
    while let Some(bytes) = body.next().await {
        pending.extend_from_slice(&bytes.expect("bytes"));
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let value: Value = serde_json::from_slice(&line).expect("JSON line");
            arrivals.push((Instant::now(), value));
        }
    }
    assert_eq!(arrivals.len(), 9);
    let (first, last) = (arrivals[0].0, arrivals[arrivals.len() - 2].0);
    assert!(
        last - first >= delay * 7 / 2,
        "chunks are paced: {:?}",
        last - first
    );
    assert!(
        arrivals.last().expect("done").1["eval_duration"]
            .as_u64()
            .expect("eval")
            >= 8 * 20_000_000 * 9 / 10
    );
}
