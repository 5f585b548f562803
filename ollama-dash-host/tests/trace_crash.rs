//! A kill -9 of the real `ollama-dash` process right after a client read the end of a traced
//! answer (`data: [DONE]`, the last NDJSON line), then a restart on the same `DATA_PATH`: every
//! answer the client saw end has its trace. Here (not in `tests/`) because only here does cargo
//! give the binary's path.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};
use support::Served;

const TOKEN: &str = "trace-crash-token-0123456789";
/// Rounds of start, concurrent answers, kill -9.
const ROUNDS: usize = 20;
/// Answers streamed at once in each round.
const CONCURRENT: usize = 6;
/// The routes, one per round in turn.
const ROUTES: [&str; 4] = [
    "/v1/chat/completions",
    "/ollama/api/chat",
    "/api/chat",
    "/api/sessions/{id}/messages",
];

fn serve(data: &Path) -> (Served, String) {
    let bin = Command::new(env!("CARGO_BIN_EXE_ollama-dash"));
    let served = support::serve_simulated(bin, data, TOKEN, |_| {});
    let url = served.base.clone();
    (served, url)
}

/// `chatcmpl-<32 hex>` back to the trace's UUID.
fn trace_id(completion_id: &str) -> String {
    let hex = completion_id.rsplit('-').next().unwrap();
    assert_eq!(hex.len(), 32, "{completion_id}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// What the readers share: the process (until one of them kills it) and the traces of the
/// answers whose end a reader saw while the process was alive.
struct Round {
    child: Option<Served>,
    seen_end: Vec<String>,
}

/// Called by a reader the moment it has the end of an answer: the first one kills the process
/// at once (the lock is held while killing, so every end recorded was seen before the kill).
fn saw_end(round: &Mutex<Round>, trace: String) {
    let mut round = round.lock().unwrap();
    if let Some(child) = round.child.take() {
        round.seen_end.push(trace);
        child.kill(); // SIGKILL: no shutdown, no flush
    }
}

/// An OpenAI chat stream, read until `[DONE]`.
async fn openai_stream(client: reqwest::Client, url: String, n: usize, round: Arc<Mutex<Round>>) {
    let body = json!({
        "model": "llama3.2:1b", "stream": true, "max_tokens": 4,
        "messages": [{"role": "user", "content": format!("crash test {n}")}],
    });
    let Ok(mut response) = client
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
    else {
        return; // killed before it answered
    };
    let mut text = String::new();
    let mut id = None;
    while let Ok(Some(chunk)) = response.chunk().await {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        if id.is_none()
            && let Some(start) = text.find("\"id\":\"chatcmpl-")
        {
            let rest = &text[start + 6..];
            id = rest.find('"').map(|end| trace_id(&rest[..end]));
        }
        if text.contains("data: [DONE]") {
            saw_end(&round, id.take().unwrap());
            return;
        }
    }
}

/// Ollama's native chat through `/ollama`, read until the line with `"done":true`; the trace
/// id is looked up afterwards by the prompt.
async fn native_stream(client: reqwest::Client, url: String, n: usize, round: Arc<Mutex<Round>>) {
    let body = json!({
        "model": "llama3.2:1b", "options": {"num_predict": 4},
        "messages": [{"role": "user", "content": format!("nativecrash{n}")}],
    });
    let Ok(mut response) = client
        .post(format!("{url}/ollama/api/chat"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
    else {
        return;
    };
    let mut text = String::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        if text.contains("\"done\":true") {
            saw_end(&round, format!("nativecrash{n}"));
            return;
        }
    }
}

/// The web page's routes: `/api/chat` (NDJSON, the trace id on the last line) or a chat
/// session's send (SSE, the trace id in the `done` event).
async fn web_stream(client: reqwest::Client, url: String, session: bool, round: Arc<Mutex<Round>>) {
    let request = if session {
        let Ok(created) = client
            .post(format!("{url}/api/sessions"))
            .bearer_auth(TOKEN)
            .json(&json!({"model": "llama3.2:1b"}))
            .send()
            .await
        else {
            return;
        };
        let Ok(created) = created.json::<Value>().await else {
            return;
        };
        let id = created["id"].as_str().unwrap().to_owned();
        client
            .post(format!("{url}/api/sessions/{id}/messages"))
            .json(&json!({"content": "crash test", "options": {"num_predict": 4}}))
    } else {
        client.post(format!("{url}/api/chat")).json(&json!({
            "model": "llama3.2:1b", "prompt": "crash test", "stream": true,
            "options": {"num_predict": 4},
        }))
    };
    let Ok(mut response) = request.bearer_auth(TOKEN).send().await else {
        return;
    };
    let mut text = String::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = text.find('\n') {
            let line: String = text.drain(..=end).collect();
            let json = line.trim().trim_start_matches("data: ");
            let Ok(event) = serde_json::from_str::<Value>(json) else {
                continue; // a blank line between events, a keep-alive
            };
            let done = if session {
                event["type"] == "done"
            } else {
                event["done"] == true
            };
            if done {
                let trace = event["trace_id"].as_str().unwrap().to_owned();
                saw_end(&round, trace);
                return;
            }
        }
    }
}

/// Whether the restarted process has the trace: by id, or (native) by its prompt.
async fn has_trace(client: &reqwest::Client, url: &str, trace: &str) -> bool {
    if trace.starts_with("nativecrash") {
        let page: Value = client
            .get(format!("{url}/v1/traces"))
            .bearer_auth(TOKEN)
            .query(&[("q", trace), ("limit", "10")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        return page["data"].as_array().is_some_and(|d| !d.is_empty());
    }
    let response = client
        .get(format!("{url}/v1/traces/{trace}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    match response.status().as_u16() {
        200 => true,
        404 => false,
        other => panic!("GET trace {trace}: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_right_after_the_end_of_an_answer_never_loses_its_trace() {
    let data = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let (child, mut url) = serve(data.path());
    let mut child = Some(child);
    let mut seen_end = Vec::new();
    let started = Instant::now();
    for r in 0..ROUNDS {
        let round = Arc::new(Mutex::new(Round {
            child: child.take(),
            seen_end: Vec::new(),
        }));
        let readers: Vec<_> = (0..CONCURRENT)
            .map(|i| {
                let n = r * CONCURRENT + i;
                let (client, url, round) = (client.clone(), url.clone(), Arc::clone(&round));
                // Each round one route: every reader races to the end on it.
                match r % 4 {
                    0 => tokio::spawn(openai_stream(client, url, n, round)),
                    1 => tokio::spawn(native_stream(client, url, n, round)),
                    2 => tokio::spawn(web_stream(client, url, false, round)),
                    _ => tokio::spawn(web_stream(client, url, true, round)),
                }
            })
            .collect();
        for reader in readers {
            reader.await.unwrap();
        }
        let mut round = round.lock().unwrap();
        if let Some(alive) = round.child.take() {
            alive.kill(); // no reader saw an end: nothing to check this round
        }
        seen_end.extend(round.seen_end.drain(..).map(|t| (r % 4, t)));
        drop(round);
        let (next, next_url) = serve(data.path());
        child = Some(next);
        url = next_url;
    }
    let mut missing = Vec::new();
    for (route, trace) in &seen_end {
        if !has_trace(&client, &url, trace).await {
            missing.push((ROUTES[*route], trace.clone()));
        }
    }
    child.take().unwrap().kill();
    eprintln!(
        "{} answers seen to end, each followed by kill -9; {} traces missing ({:.1} s)",
        seen_end.len(),
        missing.len(),
        started.elapsed().as_secs_f64()
    );
    for (i, route) in ROUTES.iter().enumerate() {
        let ends = seen_end.iter().filter(|(r, _)| *r == i).count();
        assert!(ends >= ROUNDS / 8, "{route}: only {ends} ends seen");
    }
    assert!(missing.is_empty(), "traces lost after kill -9: {missing:?}");
}
