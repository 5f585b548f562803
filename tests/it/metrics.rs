//! `/metrics`: the LLM series a few real chats leave (per model and key), and the whole scrape
//! checked by `promtool check metrics` when promtool is installed (CI installs it).

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{TOKEN, TestHost, sim_with_preload};

const MODEL: &str = "llama3.2:1b";

/// `method path` with `token`; the status and the body as text.
async fn send(
    host: &TestHost,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, String) {
    let mut builder = Request::builder()
        .method(if body.is_some() { "POST" } else { "GET" })
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    let body = match body {
        Some(json) => {
            builder = builder.header("content-type", "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    let mut request = builder.body(body).unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4242))));
    let response = host.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Scrapes until every line of `expected` is in the text: the metrics listener is a task of its
/// own, so the last trace's event may still be on its way. Gives up after 500 tries.
async fn scrape_until(host: &TestHost, expected: &[String]) -> String {
    let mut text = String::new();
    for _ in 0..500 {
        text = send(host, "/metrics", TOKEN, None).await.1;
        if expected.iter().all(|line| text.contains(line.as_str())) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let missing: Vec<&String> = expected
        .iter()
        .filter(|line| !text.contains(line.as_str()))
        .collect();
    panic!("missing {missing:?} in\n{text}");
}

fn chat(stream: bool) -> Value {
    json!({
        "model": MODEL,
        "stream": stream,
        "max_tokens": 8,
        "messages": [{"role": "user", "content": "Tell me about the sea"}],
    })
}

/// Three chats (two streamed, by two keys) and one failure leave the GenAI series, labelled by
/// model and key, with nothing in flight once they ended.
#[tokio::test]
async fn chats_leave_gen_ai_series_per_model_and_key() {
    let sim = sim_with_preload(&[MODEL]).await;
    let host =
        TestHost::with_keys(&sim.url(), &[("team-a", "key-team-a-0123456789", "user")]).await;
    let (status, body) = send(&host, "/v1/chat/completions", TOKEN, Some(chat(false))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(&host, "/v1/chat/completions", TOKEN, Some(chat(true))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("[DONE]"), "{body}");
    let (status, body) = send(
        &host,
        "/v1/chat/completions",
        "key-team-a-0123456789",
        Some(chat(true)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let missing =
        json!({"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]});
    let (status, _) = send(&host, "/v1/chat/completions", TOKEN, Some(missing)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let admin = format!(
        r#"gen_ai_operation_name="chat",gen_ai_provider_name="ollama",gen_ai_request_model="{MODEL}",api_key="admin""#
    );
    let team = admin.replace(r#"api_key="admin""#, r#"api_key="team-a""#);
    let text = scrape_until(
        &host,
        &[
            format!(r#"ollama_dash_gen_ai_requests_total{{{admin},status="ok"}} 2"#),
            format!(r#"ollama_dash_gen_ai_requests_total{{{team},status="ok"}} 1"#),
            r#"gen_ai_request_model="no-such-model",api_key="admin",status="error"} 1"#.to_owned(),
            format!(r#"gen_ai_server_time_to_first_token_seconds_count{{{admin}}} 1"#),
            format!(r#"gen_ai_server_time_to_first_token_seconds_count{{{team}}} 1"#),
            format!(r#"gen_ai_client_operation_duration_seconds_count{{{admin}}} 2"#),
            format!(r#"gen_ai_client_operation_duration_seconds_bucket{{le="600.0",{admin}}} 2"#),
            format!(r#"ollama_dash_gen_ai_requests_in_flight{{{admin}}} 0"#),
            format!(r#"gen_ai_client_token_usage_count{{{admin},gen_ai_token_type="output"}} 2"#),
        ],
    )
    .await;
    // Tokens were counted: the simulator answers every chat with some.
    let output_sum = text
        .lines()
        .find(|l| {
            l.starts_with("gen_ai_client_token_usage_sum")
                && l.contains(&admin)
                && l.contains(r#"gen_ai_token_type="output""#)
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no output token sum in\n{text}"));
    assert!(
        output_sum >= 2.0,
        "{output_sum} output tokens for two chats"
    );
    assert!(
        text.contains(r#"ollama_dash_gen_ai_output_tokens_per_second_count{"#),
        "tokens/s from Ollama's eval time:\n{text}"
    );
    // The HTTP latency histogram now reaches 10 minutes.
    assert!(
        text.contains(r#"ollama_dash_http_request_duration_seconds_bucket{le="600.0","#),
        "{text}"
    );
    // What curl, promtool and older scrapers get (their `Accept` names no OpenMetrics): the
    // classic text format, which promtool checks.
    let mut request = Request::get("/metrics")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("accept", "text/plain, */*")
        .body(Body::empty())
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4242))));
    let response = host.router.clone().oneshot(request).await.unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let classic = String::from_utf8_lossy(&bytes).into_owned();
    assert!(
        classic.contains("# TYPE ollama_dash_gen_ai_requests_total counter\n"),
        "{classic}"
    );
    assert!(!classic.contains("# EOF"), "{classic}");
    check_with_promtool(&classic);
}

/// Runs `promtool check metrics` on a scrape when promtool is on `PATH`; fails on any
/// complaint (errors and lint problems alike).
fn check_with_promtool(text: &str) {
    use std::io::Write;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("promtool not installed: the exposition was not linted");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {said}\n---\n{text}"
    );
}

/// `GET /v1/traces/usage`: a few chats show in the current bucket of their model; a user key
/// sees only its own; nonsense windows and too many buckets are refused.
#[tokio::test]
async fn usage_buckets_the_traces_of_a_window_per_model() {
    let sim = sim_with_preload(&[MODEL]).await;
    let host =
        TestHost::with_keys(&sim.url(), &[("team-a", "key-team-a-0123456789", "user")]).await;
    for token in [TOKEN, TOKEN, "key-team-a-0123456789"] {
        let (status, body) = send(&host, "/v1/chat/completions", token, Some(chat(true))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    host.dashboard.flush_writes().await.unwrap();
    let (status, body) = send(&host, "/v1/traces/usage?window=10m", TOKEN, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let usage: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(usage["bucket_secs"], 10, "{usage}");
    assert_eq!(usage["models"], json!([MODEL]), "{usage}");
    let points = usage["points"].as_array().unwrap();
    let requests: u64 = points.iter().map(|p| p["requests"].as_u64().unwrap()).sum();
    assert_eq!(requests, 3, "{usage}");
    assert!(
        points
            .iter()
            .all(|p| p["p95_ttft_ms"].as_f64().is_some() && p["p50_latency_ms"].as_f64().is_some()),
        "streams have a TTFT and a latency: {usage}"
    );
    let since = usage["since"].as_i64().unwrap();
    assert!(
        points
            .iter()
            .all(|p| (p["start"].as_i64().unwrap() - since) % 10_000 == 0),
        "{usage}"
    );

    let (_, body) = send(
        &host,
        "/v1/traces/usage?window=1h&bucket=5m",
        "key-team-a-0123456789",
        None,
    )
    .await;
    let own: Value = serde_json::from_str(&body).unwrap();
    let requests: u64 = own["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(requests, 1, "a user sees its own: {own}");

    for bad in ["window=soon", "window=7d&bucket=1s", "bucket=0s"] {
        let (status, body) = send(&host, &format!("/v1/traces/usage?{bad}"), TOKEN, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}
