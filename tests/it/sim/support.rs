//! Helpers: start a simulator, send requests, read NDJSON, and check shapes field by field.

use std::collections::BTreeSet;

use ollama_dash_host::sim::{SimConfig, SimControl, SimHandle, Simulator};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

/// A running simulator and a client for it.
pub(crate) struct Sim {
    pub(crate) handle: SimHandle,
    pub(crate) client: reqwest::Client,
}

pub(crate) async fn start() -> Sim {
    start_with(SimConfig::default()).await
}

pub(crate) async fn start_with(config: SimConfig) -> Sim {
    let handle = Simulator::start(config).await.expect("simulator starts");
    Sim {
        handle,
        client: reqwest::Client::new(),
    }
}

impl Sim {
    pub(crate) fn control(&self) -> SimControl {
        self.handle.control()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.url())
    }

    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request is answered")
    }

    pub(crate) async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path, Some(body)).await
    }

    pub(crate) async fn post_raw(&self, path: &str, body: &'static str) -> Response {
        self.client
            .post(self.url(path))
            .body(body)
            .send()
            .await
            .expect("request is answered")
    }

    /// POSTs and expects a 200 JSON object.
    pub(crate) async fn ok_json(&self, path: &str, body: &Value) -> Value {
        json_ok(self.post(path, body).await).await
    }

    /// POSTs and returns the NDJSON lines of a 200 stream.
    pub(crate) async fn stream(&self, path: &str, body: &Value) -> Vec<Value> {
        ndjson(self.post(path, body).await).await
    }

    /// POSTs and expects `{"error": message}` with `status`.
    pub(crate) async fn error(&self, path: &str, body: &Value, status: u16, message: &str) {
        expect_error(self.post(path, body).await, status, message).await;
    }

    pub(crate) async fn ps(&self) -> Vec<Value> {
        json_ok(self.get("/api/ps").await).await["models"]
            .as_array()
            .cloned()
            .expect("models array")
    }

    pub(crate) async fn tags(&self) -> Vec<Value> {
        json_ok(self.get("/api/tags").await).await["models"]
            .as_array()
            .cloned()
            .expect("models array")
    }
}

pub(crate) fn content_type(response: &Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// A 200 `application/json` response, parsed.
pub(crate) async fn json_ok(response: Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK, "status");
    assert!(
        content_type(&response).starts_with("application/json"),
        "content type {}",
        content_type(&response)
    );
    response.json().await.expect("JSON body")
}

/// A 200 NDJSON stream: every line ends with `\n` and parses as a JSON object.
pub(crate) async fn ndjson(response: Response) -> Vec<Value> {
    assert_eq!(response.status(), StatusCode::OK, "status");
    assert_eq!(content_type(&response), "application/x-ndjson");
    let body = response.text().await.expect("body");
    assert!(body.ends_with('\n'), "stream ends with a newline: {body:?}");
    body.lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("each line is JSON"))
        .inspect(|v| assert!(v.is_object()))
        .collect()
}

/// The response is exactly `{"error": message}` with `status`, as JSON.
pub(crate) async fn expect_error(response: Response, status: u16, message: &str) {
    assert_eq!(response.status().as_u16(), status, "status for {message:?}");
    assert!(
        content_type(&response).starts_with("application/json"),
        "content type {}",
        content_type(&response)
    );
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(body, serde_json::json!({ "error": message }));
}

/// The keys of an object.
pub(crate) fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// `value` has every `required` key and nothing outside `required` + `optional`.
pub(crate) fn assert_keys(value: &Value, required: &[&str], optional: &[&str]) {
    let have = keys(value);
    for key in required {
        assert!(have.contains(key), "missing {key:?} in {value}");
    }
    for key in &have {
        assert!(
            required.contains(key) || optional.contains(key),
            "unexpected {key:?} in {value}"
        );
    }
}

/// The final-chunk metrics: present, positive integers.
pub(crate) const METRICS: &[&str] = &[
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
];

pub(crate) fn assert_metrics(done: &Value, with_load: bool) {
    for key in METRICS {
        if *key == "load_duration" && !with_load {
            assert!(
                done.get(*key).is_none(),
                "load_duration is omitted when the model was loaded: {done}"
            );
            continue;
        }
        assert!(
            done[*key].as_u64().is_some_and(|n| n > 0),
            "{key} is a positive integer in {done}"
        );
    }
}

/// Parses Go's RFC 3339 (nano) time stamps to Unix seconds (fraction dropped).
pub(crate) fn unix_seconds(stamp: &str) -> i64 {
    let bytes = stamp.as_bytes();
    let num = |range: std::ops::Range<usize>| {
        stamp
            .get(range)
            .and_then(|s| s.parse::<i64>().ok())
            .expect("digits")
    };
    assert!(
        bytes.len() >= 20 && bytes[4] == b'-' && bytes[10] == b'T',
        "RFC 3339: {stamp}"
    );
    let (year, month, day) = (num(0..4), num(5..7), num(8..10));
    let seconds = num(11..13) * 3600 + num(14..16) * 60 + num(17..19);
    let mut rest = &stamp[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        assert!(
            (1..=9).contains(&digits) && !fraction[..digits].ends_with('0'),
            "Go trims the fraction: {stamp}"
        );
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" => 0,
        zone => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let part = |r: std::ops::Range<usize>| {
                zone.get(r)
                    .and_then(|s| s.parse::<i64>().ok())
                    .expect("zone")
            };
            sign * (part(1..3) * 3600 + part(4..6) * 60)
        }
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) * 86_400 + seconds - offset
}

/// `created_at`: RFC 3339 with nanoseconds, in UTC.
pub(crate) fn assert_created_at(value: &Value) {
    let stamp = value["created_at"].as_str().expect("created_at string");
    assert!(stamp.ends_with('Z'), "UTC: {stamp}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert!(
        (unix_seconds(stamp) - now).abs() < 60,
        "created_at is now: {stamp}"
    );
}

pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// The text of a generate stream.
pub(crate) fn generated(lines: &[Value], field: &str) -> String {
    lines.iter().filter_map(|l| l[field].as_str()).collect()
}

/// The content of a chat stream.
pub(crate) fn chat_text(lines: &[Value], field: &str) -> String {
    lines
        .iter()
        .filter_map(|l| l["message"][field].as_str())
        .collect()
}
