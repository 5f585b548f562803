//! Input validation over HTTP: what a security review found accepted that must be refused (or,
//! for trace search, answered): duplicate ZIP entries, non-positive token limits and chunk
//! sizes, model names outside Ollama's grammar, control characters in search text.

use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use std::io::Write;

use crate::support::{TOKEN, TestHost, assert_error_shape, sim};

/// Asserts a 400 in the one error shape that names `param`.
fn assert_refused(status: StatusCode, json: &Value, param: &str, what: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {json}");
    assert_error_shape(json, "invalid_request_error");
    assert_eq!(json["error"]["param"], param, "{what}: {json}");
}

/// A ZIP whose central directory names `model/aaaa.gguf` twice (the `zip` crate's writer refuses
/// to, so a second name is written and then overwritten with the first).
fn zip_with_a_duplicate_name() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (name, bytes) in [
        ("model/aaaa.gguf", &b"first"[..]),
        ("model/bbbb.gguf", b"second"),
    ] {
        zip.start_file(name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    let mut bytes = zip.finish().unwrap().into_inner();
    let (from, to) = (b"model/bbbb.gguf", b"model/aaaa.gguf");
    for i in 0..=bytes.len() - from.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
        }
    }
    bytes
}

#[tokio::test]
async fn a_zip_naming_one_entry_twice_is_refused() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let bytes = zip_with_a_duplicate_name();
    let request = Request::post("/v1/models/upload?file_name=bundle.zip")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-length", bytes.len())
        .body(Body::from(bytes))
        .unwrap();
    let (status, _, json) = host.send(request).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
    assert_error_shape(&json, "invalid_request_error");
    let message = json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("model/aaaa.gguf") && message.contains("twice"),
        "{message}"
    );
}

#[tokio::test]
async fn token_limits_below_one_are_refused_in_openais_shape() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let chat = json!({"model": "llama3.2:1b", "messages": [{"role": "user", "content": "hi"}]});
    let completion = json!({"model": "llama3.2:1b", "prompt": "hi"});
    for (path, base) in [
        ("/v1/chat/completions", &chat),
        ("/v1/completions", &completion),
    ] {
        for field in ["max_tokens", "max_completion_tokens"] {
            for value in [-1, 0] {
                let mut body = base.clone();
                body[field] = json!(value);
                let (status, json) = host.call("POST", path, Some(body)).await;
                assert_refused(status, &json, field, &format!("{path} {field}={value}"));
                assert_eq!(json["error"]["code"], "integer_below_min_value", "{json}");
            }
        }
        let mut body = base.clone();
        body["max_tokens"] = json!(3);
        let (status, json) = host.call("POST", path, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {json}");
    }
}

#[tokio::test]
async fn a_chunked_upload_with_a_zero_chunk_size_is_refused() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let start = |chunk_size: i64| json!({"file_name": "m.gguf", "total_size": 100, "chunk_size": chunk_size});
    let (status, json) = host
        .call("POST", "/v1/chunked-upload/start", Some(start(0)))
        .await;
    assert_refused(status, &json, "chunk_size", "start with chunk_size 0");
    let (status, json) = host.call("GET", "/v1/uploads", None).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["uploads"], json!([]), "nothing was created");

    let (status, json) = host
        .call("POST", "/v1/chunked-upload/start", Some(start(4096)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{json}");
    assert_eq!(json["chunk_size"], 4096);
    let id = json["upload_id"].as_str().unwrap();
    // A chunk addressed by index with a zero size would land at offset 0 whatever its index.
    let request = Request::post(format!(
        "/v1/chunked-upload/chunk?upload_id={id}&chunk_index=3&chunk_size=0"
    ))
    .header("authorization", format!("Bearer {TOKEN}"))
    .body(Body::from(vec![0u8; 10]))
    .unwrap();
    let (status, _, json) = host.send(request).await;
    assert_refused(status, &json, "chunk_size", "chunk with chunk_size 0");
}

#[tokio::test]
async fn model_routes_refuse_names_outside_ollamas_grammar() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    for bad in ["../../etc/passwd", "ns/../m", "a b", "-x", "m:", "a/b/c/d"] {
        for path in [
            "/api/models/pull",
            "/api/models/delete",
            "/api/models/start",
            "/api/models/stop",
        ] {
            let (status, json) = host.call("POST", path, Some(json!({"model": bad}))).await;
            assert_refused(status, &json, "model", &format!("{path} {bad:?}"));
        }
        let encoded: String = bad.bytes().map(|b| format!("%{b:02X}")).collect();
        let (status, json) = host
            .call("DELETE", &format!("/api/models?name={encoded}"), None)
            .await;
        assert_refused(status, &json, "name", &format!("DELETE ?name={bad:?}"));
        let (status, json) = host
            .call("GET", &format!("/api/models/show?name={encoded}"), None)
            .await;
        assert_refused(status, &json, "name", &format!("show ?name={bad:?}"));
        for (field, body) in [
            ("source", json!({"source": bad, "destination": "copy"})),
            (
                "destination",
                json!({"source": "llama3.2:1b", "destination": bad}),
            ),
        ] {
            let (status, json) = host.call("POST", "/api/models/copy", Some(body)).await;
            assert_refused(status, &json, field, &format!("copy {field} {bad:?}"));
        }
    }
    let (status, json) = host.call("GET", "/api/jobs", None).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["jobs"], json!([]), "no job was started: {json}");
}

#[tokio::test]
async fn trace_search_with_control_characters_is_answered() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let chat = json!({
        "model": "llama3.2:1b",
        "messages": [{"role": "user", "content": "zebra quagga"}],
        "max_tokens": 3,
    });
    let (status, json) = host.call("POST", "/v1/chat/completions", Some(chat)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    host.dashboard.flush_writes().await.unwrap();
    for q in ["a%00b", "zebra%00quagga", "%00", "zebra%07%1Bquagga"] {
        let (status, json) = host.call("GET", &format!("/v1/traces?q={q}"), None).await;
        assert_eq!(status, StatusCode::OK, "q={q}: {json}");
        let found = json["data"].as_array().unwrap().len();
        let expected = usize::from(q != "a%00b");
        assert_eq!(found, expected, "q={q}: {json}");
        let (status, json) = host
            .call("GET", &format!("/v1/traces/export?q={q}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "export q={q}: {json}");
    }
}
