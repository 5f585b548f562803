//! The simulator as Ollama's scheduler (`server/sched.go`): VRAM budget and eviction order,
//! `max_loaded_models`, parallel slots, the busy answer of a full queue, load time from size, the
//! prompt cache, the kill/stall/slow knobs and the fleet. Every ordering asserted here follows
//! from the rules, not from timing: a sleep only makes a wrong order possible to see.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ollama_dash_sim::{Fleet, SimConfig, SimHandle, Simulator};
use serde_json::{Value, json};

// The installed catalogue: 0.5 GB, 1.3 GB and 4.1 GB of weights.
const A: &str = "qwen3:0.6b";
const B: &str = "llama3.2:1b";
const C: &str = "llava:7b";
const BIG: &str = C;
const BUSY: &str = "server busy, please try again.  maximum pending requests exceeded";

async fn start(config: SimConfig) -> SimHandle {
    Simulator::start(config).await.expect("simulator starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// POSTs JSON and returns the status and the body as JSON.
async fn post(url: &str, path: &str, body: &Value) -> (u16, Value) {
    let response = client()
        .post(format!("{url}{path}"))
        .json(body)
        .send()
        .await
        .expect("answered");
    let status = response.status().as_u16();
    let body = response.json().await.expect("JSON body");
    (status, body)
}

/// Loads a model (a generate request without a prompt).
async fn load(url: &str, model: &str) {
    let (status, body) = post(url, "/api/generate", &json!({ "model": model })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["done_reason"], "load");
}

/// `/api/ps` as (name, size, size_vram), in the order it lists them.
async fn ps(url: &str) -> Vec<(String, u64, u64)> {
    let body: Value = client()
        .get(format!("{url}/api/ps"))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    body["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap_or_default().to_owned(),
                m["size"].as_u64().unwrap_or_default(),
                m["size_vram"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

async fn loaded_names(url: &str) -> Vec<String> {
    let mut names: Vec<String> = ps(url).await.into_iter().map(|(n, _, _)| n).collect();
    names.sort();
    names
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    names.sort();
    names
}

/// The resident size of each model at the default context, read from an unlimited simulator.
async fn sizes(models: &[&str]) -> Vec<u64> {
    let sim = start(SimConfig::default()).await;
    let mut out = Vec::new();
    for model in models {
        load(&sim.url(), model).await;
        let size = ps(&sim.url())
            .await
            .into_iter()
            .find(|(n, _, _)| n == model)
            .map(|(_, size, _)| size)
            .expect("loaded");
        out.push(size);
    }
    sim.shutdown().await;
    out
}

/// A streamed generate: its lines arrive on the returned channel as they come.
async fn stream(url: &str, body: Value) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
    let response = client()
        .post(format!("{url}/api/generate"))
        .json(&body)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut bytes = response.bytes_stream();
        let mut buffer = Vec::new();
        while let Some(Ok(chunk)) = bytes.next().await {
            buffer.extend_from_slice(&chunk);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                if let Ok(value) = serde_json::from_slice::<Value>(&line) {
                    let _ = sender.send(value);
                }
            }
        }
    });
    receiver
}

/// Reads lines until the done line; returns it.
async fn until_done(lines: &mut tokio::sync::mpsc::UnboundedReceiver<Value>) -> Value {
    while let Some(line) = lines.recv().await {
        if line["done"] == true {
            return line;
        }
    }
    panic!("the stream ended without a done line");
}

fn long_prompt(model: &str) -> Value {
    json!({"model": model, "prompt": "Tell me a long story about the sea", "options": {"num_predict": 40}})
}

#[tokio::test]
async fn vram_budget_evicts_the_least_recently_used_idle_model() {
    let [a, b, c] = sizes(&[A, B, C]).await[..] else {
        panic!("three sizes")
    };
    let sim = start(SimConfig {
        vram_bytes: Some(a + b + c - 1),
        ..SimConfig::default()
    })
    .await;
    let url = sim.url();
    load(&url, A).await;
    load(&url, B).await;
    load(&url, A).await; // A is used again: B is now the least recently used
    assert_eq!(loaded_names(&url).await, sorted(&[A, B]));
    load(&url, C).await;
    assert_eq!(
        loaded_names(&url).await,
        sorted(&[A, C]),
        "B (least recently used) made room for C"
    );
    for (name, size, size_vram) in ps(&url).await {
        assert_eq!(size, size_vram, "{name} is wholly on the GPU");
    }
    load(&url, B).await;
    assert_eq!(
        loaded_names(&url).await,
        sorted(&[B, C]),
        "then A was the least recently used"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_shorter_keep_alive_is_evicted_before_an_older_model() {
    let sim = start(SimConfig {
        max_loaded_models: Some(2),
        ..SimConfig::default()
    })
    .await;
    let url = sim.url();
    load(&url, A).await;
    let (status, _) = post(
        &url,
        "/api/generate",
        &json!({"model": B, "keep_alive": "1m"}),
    )
    .await;
    assert_eq!(status, 200);
    load(&url, C).await;
    assert_eq!(
        loaded_names(&url).await,
        sorted(&[A, C]),
        "B's 1m keep-alive is shorter than A's 5m, so B goes first (ByDurationAndName)"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn max_loaded_models_is_honoured() {
    let sim = start(SimConfig {
        max_loaded_models: Some(2),
        ..SimConfig::default()
    })
    .await;
    let url = sim.url();
    for model in [A, B, C] {
        load(&url, model).await;
        assert!(ps(&url).await.len() <= 2);
    }
    assert_eq!(loaded_names(&url).await, sorted(&[B, C]));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_busy_model_is_never_evicted_the_request_waits_for_it() {
    let sim = start(SimConfig {
        max_loaded_models: Some(1),
        token_delay: Duration::from_millis(15),
        // B's load starts when A is idle and takes this long: A's done line (sent just before A
        // goes idle) reaches us well before B's answer.
        load_delay: Duration::from_millis(50),
        ..SimConfig::default()
    })
    .await;
    let url = sim.url();
    let mut lines = stream(&url, long_prompt(A)).await;
    assert_eq!(lines.recv().await.expect("a first line")["done"], false);
    let waiting = tokio::spawn({
        let url = url.clone();
        async move {
            load(&url, B).await;
            Instant::now()
        }
    });
    assert_eq!(
        loaded_names(&url).await,
        sorted(&[A]),
        "B waits while A streams"
    );
    until_done(&mut lines).await;
    let a_done = Instant::now();
    let b_loaded = waiting.await.expect("B's request");
    assert!(b_loaded >= a_done, "B was loaded only after A was idle");
    assert_eq!(loaded_names(&url).await, sorted(&[B]));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_full_queue_answers_ollamas_busy_error() {
    let sim = start(SimConfig {
        max_loaded_models: Some(1),
        max_queue: Some(1),
        token_delay: Duration::from_millis(25),
        ..SimConfig::default()
    })
    .await;
    let url = sim.url();
    let mut lines = stream(&url, long_prompt(A)).await;
    lines.recv().await.expect("a first line");
    // B1 is taken by the scheduler (waiting for A), B2 waits in the queue, B3 finds it full.
    let (sender, mut answers) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..3 {
        let (url, sender) = (url.clone(), sender.clone());
        tokio::spawn(async move {
            let answer = client()
                .post(format!("{url}/api/generate"))
                .json(&json!({ "model": B }))
                .send()
                .await
                .expect("answered");
            let status = answer.status().as_u16();
            let content_type = answer
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = answer.text().await.expect("body");
            let _ = sender.send((status, content_type, body));
        });
    }
    let (status, content_type, body) = answers.recv().await.expect("first answer");
    assert_eq!(status, 503);
    assert_eq!(
        content_type, "application/json; charset=utf-8",
        "gin's c.JSON"
    );
    assert_eq!(body, format!(r#"{{"error":"{BUSY}"}}"#));
    // A request for the loaded model skips the queue (GetRunner's fast path).
    let (status, _) = post(&url, "/api/generate", &json!({ "model": A })).await;
    assert_eq!(status, 200);
    until_done(&mut lines).await;
    for _ in 0..2 {
        let (status, _, body) = answers.recv().await.expect("queued answer");
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(loaded_names(&url).await, sorted(&[B]));
    sim.shutdown().await;
}

#[tokio::test]
async fn load_time_grows_with_model_size() {
    let sim = start(SimConfig {
        load_bytes_per_sec: Some(8_000_000_000),
        ..SimConfig::default()
    })
    .await;
    let url = sim.url();
    let mut durations = Vec::new();
    for model in [A, BIG] {
        let (_, body) = post(
            &url,
            "/api/generate",
            &json!({"model": model, "prompt": "hi", "stream": false}),
        )
        .await;
        durations.push(body["load_duration"].as_u64().expect("a cold load"));
        let (_, warm) = post(
            &url,
            "/api/generate",
            &json!({"model": model, "prompt": "hi", "stream": false}),
        )
        .await;
        assert!(warm.get("load_duration").is_none(), "a warm model: {warm}");
    }
    assert!(
        durations[1] > durations[0],
        "{BIG} (4.1 GB) loads slower than {A} (0.5 GB): {durations:?}"
    );
    sim.shutdown().await;

    let fixed = start(SimConfig {
        load_delay: Duration::from_millis(50),
        ..SimConfig::default()
    })
    .await;
    let (_, body) = post(
        &fixed.url(),
        "/api/generate",
        &json!({"model": A, "prompt": "hi", "stream": false}),
    )
    .await;
    assert!(body["load_duration"].as_u64().expect("cold") >= 50_000_000);
    fixed.shutdown().await;
}

#[tokio::test]
async fn num_parallel_slots_limit_requests_per_model() {
    let sim = start(SimConfig {
        num_parallel: Some(1),
        token_delay: Duration::from_millis(15),
        ..SimConfig::default()
    })
    .await;
    let url = sim.url();
    let mut first = stream(&url, long_prompt(A)).await;
    first.recv().await.expect("first line");
    let second = tokio::spawn({
        let url = url.clone();
        async move {
            let mut lines = stream(&url, long_prompt(A)).await;
            lines.recv().await.expect("second's first line");
            Instant::now()
        }
    });
    until_done(&mut first).await;
    let first_done = Instant::now();
    let second_started = second.await.expect("second");
    assert!(
        second_started >= first_done,
        "one slot: the second request starts after the first ends"
    );
    sim.shutdown().await;

    let two = start(SimConfig {
        num_parallel: Some(2),
        token_delay: Duration::from_millis(15),
        ..SimConfig::default()
    })
    .await;
    let url = two.url();
    let mut first = stream(&url, long_prompt(A)).await;
    first.recv().await.expect("first line");
    let mut second = stream(&url, long_prompt(A)).await;
    second.recv().await.expect("second's first line");
    while let Ok(line) = first.try_recv() {
        assert_eq!(
            line["done"], false,
            "two slots: the second started while the first was still running"
        );
    }
    let size_two = ps(&url).await[0].1;
    two.shutdown().await;

    let one = start(SimConfig {
        num_parallel: Some(1),
        ..SimConfig::default()
    })
    .await;
    load(&one.url(), A).await;
    let size_one = ps(&one.url()).await[0].1;
    assert!(
        size_two > size_one,
        "the KV cache holds num_ctx × num_parallel tokens"
    );
    one.shutdown().await;
}

fn chat(messages: Value) -> Value {
    json!({"model": B, "messages": messages, "stream": false})
}

/// Sends the same two-turn conversation with and without the prompt cache; returns the second
/// turn's (prompt_eval_count, prompt_eval_duration) for (cached, uncached).
async fn second_turn(version: &str) -> ((u64, u64), (u64, u64)) {
    let mut out = Vec::new();
    for prompt_cache in [true, false] {
        let sim = start(SimConfig {
            prompt_cache,
            version: version.to_owned(),
            ..SimConfig::default()
        })
        .await;
        let url = sim.url();
        let first =
            json!([{"role": "user", "content": "Tell me about the history of ships and sails"}]);
        let (status, reply) = post(&url, "/api/chat", &chat(first.clone())).await;
        assert_eq!(status, 200, "{reply}");
        let mut messages = first.as_array().cloned().unwrap_or_default();
        messages.push(json!({"role": "assistant", "content": reply["message"]["content"]}));
        messages.push(json!({"role": "user", "content": "And boats?"}));
        let (_, second) = post(&url, "/api/chat", &chat(Value::from(messages))).await;
        out.push((
            second["prompt_eval_count"].as_u64().expect("count"),
            second["prompt_eval_duration"].as_u64().expect("duration"),
        ));
        sim.shutdown().await;
    }
    (out[0], out[1])
}

#[tokio::test]
async fn the_prompt_cache_lowers_prompt_eval() {
    let ((count, duration), (full_count, full_duration)) = second_turn("0.12.6").await;
    assert!(
        duration < full_duration,
        "the cached history is not evaluated again"
    );
    assert_eq!(
        count, full_count,
        "0.4–0.29 count the whole prompt (numPromptInputs)"
    );
    let ((count, duration), (full_count, full_duration)) = second_turn("0.3.14").await;
    assert!(duration < full_duration);
    assert!(
        count < full_count,
        "the C++ server counted only evaluated tokens"
    );

    // The same prompt twice: all but one token cached.
    let sim = start(SimConfig {
        prompt_cache: true,
        version: "0.30.0".to_owned(),
        ..SimConfig::default()
    })
    .await;
    let body = json!({"model": A, "prompt": "Why is the sky blue?", "stream": false});
    let (_, cold) = post(&sim.url(), "/api/generate", &body).await;
    let (_, warm) = post(&sim.url(), "/api/generate", &body).await;
    assert!(cold["prompt_eval_count"].as_u64().expect("count") > 1);
    assert_eq!(warm["prompt_eval_count"], 1, "0.30.0 counted prompt_n only");
    assert!(
        warm["prompt_eval_duration"].as_u64() < cold["prompt_eval_duration"].as_u64(),
        "{warm}"
    );
    sim.shutdown().await;
}

/// Polls `GET /` until it answers (the listener comes back asynchronously).
async fn wait_until_up(url: &str) {
    for _ in 0..200 {
        if let Ok(response) = client().get(format!("{url}/")).send().await
            && response.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{url} did not come back");
}

/// Polls `GET /` until the connection is refused (the listener closes asynchronously).
async fn wait_until_down(url: &str) {
    for _ in 0..200 {
        if client()
            .get(format!("{url}/"))
            .send()
            .await
            .is_err_and(|e| e.is_connect())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{url} is still listening");
}

#[tokio::test]
async fn kill_closes_the_port_and_recover_listens_again() {
    let sim = start(SimConfig {
        token_delay: Duration::from_millis(15),
        ..SimConfig::default()
    })
    .await;
    let url = sim.url();
    let mut lines = stream(&url, long_prompt(A)).await;
    lines.recv().await.expect("first line");
    sim.control().kill();
    let mut cut = true;
    while let Some(line) = lines.recv().await {
        cut &= line["done"] != true;
    }
    assert!(cut, "the stream in flight is cut before its done line");
    let refused = client().get(format!("{url}/")).send().await;
    assert!(
        refused.as_ref().is_err_and(reqwest::Error::is_connect),
        "{refused:?}"
    );
    sim.control().recover();
    wait_until_up(&url).await;
    assert!(
        ps(&url).await.is_empty(),
        "a killed Ollama's models are gone"
    );
    load(&url, A).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn stall_accepts_but_answers_only_after_recover() {
    let sim = start(SimConfig::default()).await;
    let url = sim.url();
    sim.control().stall();
    let timed_out = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client")
        .get(format!("{url}/api/version"))
        .send()
        .await;
    assert!(
        timed_out.as_ref().is_err_and(reqwest::Error::is_timeout),
        "{timed_out:?}"
    );
    let waiting = tokio::spawn({
        let url = url.clone();
        async move {
            let (status, _) = post(&url, "/api/generate", &json!({ "model": A })).await;
            (status, Instant::now())
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let recovered = Instant::now();
    sim.control().recover();
    let (status, answered) = waiting.await.expect("answered");
    assert_eq!(status, 200);
    assert!(answered >= recovered, "the stalled request waited");
    wait_until_up(&url).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn slow_multiplies_token_time_until_recover() {
    let sim = start(SimConfig::default()).await;
    let url = sim.url();
    let body = json!({"model": A, "prompt": "Count to ten", "stream": false, "options": {"num_predict": 20}});
    let eval = |v: &Value| v["eval_duration"].as_u64().expect("eval_duration");
    let (_, normal) = post(&url, "/api/generate", &body).await;
    sim.control().slow(10);
    let (_, slow) = post(&url, "/api/generate", &body).await;
    assert_eq!(slow["eval_count"], normal["eval_count"]);
    assert!(eval(&slow) > eval(&normal), "{slow} vs {normal}");
    sim.control().recover();
    let (_, again) = post(&url, "/api/generate", &body).await;
    assert!(eval(&again) < eval(&slow));
    sim.shutdown().await;
}

#[tokio::test]
async fn ps_reflects_residency_spill_and_expiry() {
    let [big] = sizes(&[BIG]).await[..] else {
        panic!("one size")
    };
    let sim = start(SimConfig {
        vram_bytes: Some(big / 2),
        ..SimConfig::default()
    })
    .await;
    let url = sim.url();
    let (status, _) = post(
        &url,
        "/api/generate",
        &json!({"model": BIG, "keep_alive": "300ms"}),
    )
    .await;
    assert_eq!(status, 200);
    let listed = ps(&url).await;
    assert_eq!(listed.len(), 1);
    let (_, size, size_vram) = &listed[0];
    assert_eq!(*size, big);
    assert!(
        *size_vram < *size && *size_vram <= big / 2,
        "the first model spills into RAM"
    );
    for _ in 0..200 {
        if ps(&url).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(ps(&url).await.is_empty(), "expired after its keep-alive");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_fleet_runs_nodes_with_their_own_vram() {
    let [big] = sizes(&[BIG]).await[..] else {
        panic!("one size")
    };
    let fleet = Fleet::start(vec![
        SimConfig {
            vram_bytes: Some(big / 2),
            ..SimConfig::default()
        },
        SimConfig {
            vram_bytes: Some(big * 4),
            listen: "127.0.0.1:1".parse().expect("addr"),
            ..SimConfig::default()
        },
    ])
    .await
    .expect("fleet starts");
    assert_eq!(fleet.len(), 2);
    let urls = fleet.urls();
    assert_ne!(urls[0], urls[1]);
    for url in &urls {
        load(url, BIG).await;
    }
    let (_, size, small_vram) = ps(&urls[0]).await[0].clone();
    let (_, _, large_vram) = ps(&urls[1]).await[0].clone();
    assert!(small_vram < size, "node 0 spills");
    assert_eq!(large_vram, size, "node 1 holds it all");

    fleet.controls()[0].kill();
    wait_until_down(&urls[0]).await;
    wait_until_up(&urls[1]).await;
    fleet.controls()[0].recover();
    wait_until_up(&urls[0]).await;

    fleet.shutdown().await;
    for url in &urls {
        assert!(client().get(format!("{url}/")).send().await.is_err());
    }
}
