//! The findings of the adversarial review (issue #17) that live in routing and auth: each test
//! fails on the code the review ran against.

use http::StatusCode;
use serde_json::{Value, json};

use crate::support::{TOKEN, TestHost, assert_error_shape, authed, sim};

const USER_KEY: &str = "user-key-0123456789abcdef";
const VIEWER_KEY: &str = "viewer-key-0123456789abcdef";
const MODEL: &str = "llama3.2:1b";

async fn host() -> (ollama_dash_host::sim::SimHandle, TestHost) {
    let sim = sim().await;
    let host = TestHost::with_keys(
        &sim.url(),
        &[("alice", USER_KEY, "user"), ("val", VIEWER_KEY, "viewer")],
    )
    .await;
    (sim, host)
}

async fn as_key(
    host: &TestHost,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, _, json) = host.send(authed(method, path, body, Some(key))).await;
    (status, json)
}

async fn installed(host: &TestHost) -> Vec<String> {
    let (status, tags) = host.call("GET", "/ollama/api/tags", None).await;
    assert_eq!(status, StatusCode::OK);
    tags["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(|m| m["name"].as_str().map(str::to_owned))
        .collect()
}

/// Every way of writing "up one level" or "an empty level" a client or proxy may resolve.
fn disguises(user_route: &str, parent: &str, target: &str) -> Vec<String> {
    vec![
        format!("{user_route}/../{target}"),
        format!("{user_route}/./../{target}"),
        format!("{user_route}/%2e%2e/{target}"),
        format!("{user_route}/%2E%2E/{target}"),
        format!("{user_route}/.%2e/{target}"),
        format!("{user_route}%2f..%2f{target}"),
        format!("{user_route}%2F%2E%2E%2F{target}"),
        format!("{user_route}//../{target}"),
        format!("{parent}/./{target}"),
        format!("{parent}//{target}"),
        format!("{parent}/%2f{target}"),
    ]
}

/// F1: a `user` key reaches no admin route, whatever the path's disguise; what it may do, it
/// still can. Every admin call is one that succeeds for the admin with the plain path, so a
/// bypass would show as a changed model list.
#[tokio::test]
async fn a_user_key_reaches_no_admin_route_through_dot_segments_or_escapes() {
    let (_sim, host) = host().await;
    let before = installed(&host).await;
    assert!(before.iter().any(|m| m == MODEL), "{before:?}");

    let ollama_admin: [(&str, &str, Value); 5] = [
        ("DELETE", "delete", json!({"model": MODEL})),
        (
            "POST",
            "copy",
            json!({"source": MODEL, "destination": "pwned:latest"}),
        ),
        (
            "POST",
            "create",
            json!({"model": "pwned-create", "from": MODEL, "stream": false}),
        ),
        (
            "POST",
            "pull",
            json!({"model": "qwen2.5:0.5b", "stream": false}),
        ),
        ("POST", "push", json!({"model": MODEL, "stream": false})),
    ];
    let mut tried = 0;
    for (method, target, body) in &ollama_admin {
        for user_route in [
            "/ollama/api/chat",
            "/ollama/api/generate",
            "/ollama/api/show",
        ] {
            for path in disguises(user_route, "/ollama/api", target) {
                let (status, json) =
                    as_key(&host, USER_KEY, method, &path, Some(body.clone())).await;
                assert!(
                    status == StatusCode::BAD_REQUEST || status == StatusCode::FORBIDDEN,
                    "{method} {path} answered {status}: {json}"
                );
                tried += 1;
            }
        }
    }
    // The dashboard's own admin routes, reached from its user routes.
    let dashboard_admin: [(&str, &str, Value); 4] = [
        ("POST", "api/models/delete", json!({"name": MODEL})),
        (
            "POST",
            "api/models/copy",
            json!({"source": MODEL, "destination": "pwned2:latest"}),
        ),
        (
            "POST",
            "api/keys",
            json!({"name": "mallory", "role": "admin"}),
        ),
        ("PUT", "api/settings/global", json!({"temperature": 1.5})),
    ];
    for (method, target, body) in &dashboard_admin {
        for user_route in ["/v1/chat/completions", "/api/sessions/x/messages"] {
            let up = format!("{user_route}/../../..");
            for path in [
                format!("{up}/{target}"),
                format!("{user_route}/%2e%2e/%2e%2e/%2e%2e/{target}"),
                format!("{user_route}%2f..%2f..%2f..%2f{target}"),
                format!("/{target}").replacen('/', "//", 1),
            ] {
                let (status, json) =
                    as_key(&host, USER_KEY, method, &path, Some(body.clone())).await;
                assert!(
                    matches!(
                        status,
                        StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
                    ),
                    "{method} {path} answered {status}: {json}"
                );
                assert!(json["error"]["message"].is_string(), "{path}: {json}");
                tried += 1;
            }
        }
    }
    assert!(tried > 150, "{tried}");

    let after = installed(&host).await;
    assert_eq!(after, before, "a user key changed the installed models");
    let (_, keys) = host.call("GET", "/api/keys", None).await;
    assert_eq!(keys["keys"], json!([]), "a user key created a key");

    // Refused paths say why, in the one error shape.
    let (status, json) = as_key(
        &host,
        USER_KEY,
        "DELETE",
        "/ollama/api/chat/../delete",
        Some(json!({"model": MODEL})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_shape(&json, "invalid_request_error");
    assert_eq!(json["error"]["code"], "non_canonical_path");

    // What a user may do still works, and the plain admin path is refused with 403.
    let (status, json) = as_key(
        &host,
        USER_KEY,
        "POST",
        "/ollama/api/chat",
        Some(json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let (status, _) = as_key(
        &host,
        USER_KEY,
        "DELETE",
        "/ollama/api/delete",
        Some(json!({"model": MODEL})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The admin's plain call does what the disguised ones would have done.
    let (status, _) = host
        .call(
            "POST",
            "/ollama/api/copy",
            Some(json!({"source": MODEL, "destination": "pwned:latest"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(installed(&host).await.iter().any(|m| m == "pwned:latest"));
}

/// F1: even the admin's own requests must be canonical, so the passthrough forwards exactly the
/// path the role was decided on; escapes Ollama would decode are refused too.
#[tokio::test]
async fn the_passthrough_forwards_only_canonical_unescaped_paths() {
    let (_sim, host) = host().await;
    for path in [
        "/ollama/api/tags/../version",
        "/ollama/api/%74ags",
        "/ollama//api/tags",
    ] {
        let (status, json) = host.call("GET", path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {json}");
        assert!(
            json["error"].is_string() || json["error"].is_object(),
            "{json}"
        );
    }
    let (status, _) = host.call("GET", "/ollama/api/version", None).await;
    assert_eq!(status, StatusCode::OK);
}

/// F8: the key list is admin-only, as `keys.rs` says; a viewer and a user get 403.
#[tokio::test]
async fn only_an_admin_lists_api_keys() {
    let (_sim, host) = host().await;
    for key in [VIEWER_KEY, USER_KEY] {
        let (status, json) = as_key(&host, key, "GET", "/api/keys", None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{json}");
        assert_error_shape(&json, "permission_error");
    }
    let (status, _) = host.call("GET", "/api/keys", None).await;
    assert_eq!(status, StatusCode::OK);
    // A viewer still reads what viewers read.
    let (status, _) = as_key(&host, VIEWER_KEY, "GET", "/api/models/available", None).await;
    assert_eq!(status, StatusCode::OK);
}

/// F12: the scheme of `Authorization` is case-insensitive (RFC 9110 §11.1).
#[tokio::test]
async fn the_bearer_scheme_matches_in_any_case() {
    let (_sim, host) = host().await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let request = http::Request::builder()
            .method("GET")
            .uri("/api/health")
            .header("authorization", format!("{scheme} {TOKEN}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let (status, _, json) = host.send(request).await;
        assert_eq!(status, StatusCode::OK, "{scheme}: {json}");
    }
}

/// F7: a bad query string answers the JSON error shape (axum's own rejection is plain text).
#[tokio::test]
async fn bad_query_strings_answer_json_errors() {
    let (_sim, host) = host().await;
    for path in [
        "/v1/traces?limit=abc",
        "/v1/traces?limit=-1",
        "/v1/traces?page=-1",
        "/v1/traces/export?limit=-1",
        "/api/stats/history?window=forever&step=-3",
        "/v1/chunked-upload/chunk?upload_id=x&offset=-1",
    ] {
        let method = if path.contains("chunk?") {
            "POST"
        } else {
            "GET"
        };
        let request = authed(method, path, None, Some(TOKEN));
        let (status, headers, json) = host.send(request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {json}");
        assert_eq!(
            headers.get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/json"[..]),
            "{path}"
        );
        assert_error_shape(&json, "invalid_request_error");
    }
}

/// F7: too many or too large headers answer 431 with the JSON error shape, not an empty body.
#[tokio::test]
async fn oversized_headers_answer_431_with_a_json_body() {
    let (_sim, host) = host().await;
    let mut many = authed("GET", "/api/health", None, Some(TOKEN));
    for i in 0..150 {
        many.headers_mut().insert(
            http::HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(),
            http::HeaderValue::from_static("1"),
        );
    }
    let mut large = authed("GET", "/api/health", None, Some(TOKEN));
    large.headers_mut().insert(
        "cookie",
        http::HeaderValue::from_str(&"a".repeat(100 * 1024)).unwrap(),
    );
    for request in [many, large] {
        let (status, _, json) = host.send(request).await;
        assert_eq!(
            status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{json}"
        );
        assert_error_shape(&json, "invalid_request_error");
    }
}
