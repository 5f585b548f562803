//! The host's HTTP API in-process (no socket): auth, error shape, first routes.

use http::StatusCode;

use crate::support::{TestHost, assert_error_shape, authed, sim, sim_with_preload};

#[tokio::test]
async fn ping_needs_no_token_but_everything_else_does() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let (status, _, json) = host.send(authed("GET", "/ping", None, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["status"], "ok");

    for (method, path) in [
        ("GET", "/api/health"),
        ("GET", "/api/version"),
        ("POST", "/api/auth/verify"),
        ("GET", "/api/models/available"),
        ("GET", "/api/models/running"),
    ] {
        for token in [None, Some("wrong-token-0123456789")] {
            let (status, headers, json) = host.send(authed(method, path, None, token)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(
                headers.get("www-authenticate").map(|v| v.as_bytes()),
                Some(&b"Bearer"[..])
            );
            assert_error_shape(&json, "authentication_error");
        }
    }
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_throttled() {
    let sim = sim().await;
    let host = TestHost::with_auth_limit(&sim.url(), &[], 5).await;
    for _ in 0..5 {
        let (status, _, _) = host
            .send(authed(
                "GET",
                "/api/health",
                None,
                Some("nope-nope-nope-nope"),
            ))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // More wrong tokens wait now: failures from this address are throttled…
    let (status, headers, json) = host
        .send(authed(
            "GET",
            "/api/health",
            None,
            Some("nope-nope-nope-nope"),
        ))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.get("retry-after").is_some());
    assert_error_shape(&json, "rate_limit_error");
    // …but never the right credential: a stale token elsewhere on this address (one proxy, one
    // Prometheus job) must not lock out the callers that hold a good one.
    for _ in 0..3 {
        let (status, _, json) = host
            .send(authed(
                "GET",
                "/api/health",
                None,
                Some(crate::support::TOKEN),
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{json}");
    }
}

#[tokio::test]
async fn health_reports_store_and_ollama() {
    let sim = sim().await;
    sim.control().set_version("0.12.6");
    let host = TestHost::new(&sim.url(), &[]).await;
    let (status, json) = host.call("GET", "/api/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["status"], "ok");
    assert_eq!(json["ollama"]["ok"], true);
    assert_eq!(json["ollama"]["version"], "0.12.6");
    assert_eq!(json["store"]["ok"], true);
    assert!(
        json["store"]["size_bytes"].as_u64().is_some_and(|n| n > 0),
        "{json}"
    );
    assert!(json["uptime_secs"].is_u64());

    let (status, json) = host.call("GET", "/api/version", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["ollama_version"], "0.12.6");
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));

    let (status, json) = host.call("POST", "/api/auth/verify", None).await;
    assert_eq!(
        (status, json["valid"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    assert_eq!(
        (json["name"].as_str(), json["role"].as_str()),
        (Some("admin"), Some("admin"))
    );
}

#[tokio::test]
async fn models_available_and_running_come_from_ollama() {
    let sim = sim_with_preload(&["llama3.2:1b"]).await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let (status, json) = host.call("GET", "/api/models/available", None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = json["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    for expected in [
        "llama3.2:1b",
        "llava:7b",
        "qwen3:0.6b",
        "nomic-embed-text:latest",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let (status, json) = host.call("GET", "/api/models/running", None).await;
    assert_eq!(status, StatusCode::OK);
    let running = json["models"].as_array().expect("models");
    assert_eq!(running.len(), 1, "{json}");
    assert_eq!(running[0]["name"], "llama3.2:1b");
    assert!(running[0]["expires"]["utc"].is_string(), "{json}");
    assert!(running[0]["expires"]["relative"].is_string(), "{json}");
    assert!(running[0]["size_vram"].as_u64().is_some_and(|v| v > 0));
    assert!(running[0]["vram_percent"].as_f64().is_some_and(|v| v > 0.0));
    assert_eq!(json["stale"], false);
    assert!(json["age_ms"].is_u64());
}

#[tokio::test]
async fn ollama_down_keeps_the_last_data_with_its_error_and_health_says_degraded() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    sim.control().set_refuse_connections(true);
    host.dashboard.refresh_all().await;
    // The cache keeps the last good list and says why it is not fresh.
    let (status, json) = host.call("GET", "/api/models/available", None).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert!(!json["models"].as_array().expect("models").is_empty());
    assert_eq!(json["error"]["kind"], "unreachable", "{json}");
    let (status, json) = host.call("GET", "/api/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["status"], "degraded");
    assert_eq!(json["ollama"]["ok"], false);
    assert!(
        json["ollama"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );

    assert_eq!(json["collector"]["probes"]["installed"]["failures"], 1);

    sim.control().set_refuse_connections(false);
    host.dashboard.refresh_all().await;
    let (status, json) = host.call("GET", "/api/models/available", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(json["error"].is_null(), "recovered: {json}");
    let (_, json) = host.call("GET", "/api/health", None).await;
    assert_eq!(json["status"], "ok");
}

#[tokio::test]
async fn never_reaching_ollama_is_a_502() {
    let sim = sim().await;
    sim.control().set_refuse_connections(true);
    let host = TestHost::new(&sim.url(), &[]).await;
    for path in [
        "/api/models/available",
        "/api/models/running",
        "/api/version",
    ] {
        let (status, json) = host.call("GET", path, None).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{path}: {json}");
        assert_error_shape(&json, "upstream_error");
    }
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_json() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let (status, json) = host.call("GET", "/api/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&json, "not_found_error");
    let (status, json) = host.call("DELETE", "/api/health", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error_shape(&json, "invalid_request_error");
}

#[tokio::test]
async fn cors_is_same_origin_unless_configured() {
    let sim = sim().await;
    let preflight = |origin: &str| {
        http::Request::builder()
            .method("OPTIONS")
            .uri("/api/health")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .body(axum::body::Body::empty())
            .expect("request")
    };
    let closed = TestHost::new(&sim.url(), &[]).await;
    let (_, headers, _) = closed.send(preflight("https://elsewhere.example")).await;
    assert!(headers.get("access-control-allow-origin").is_none());

    let open = TestHost::new(&sim.url(), &["https://grafana.example"]).await;
    let (_, headers, _) = open.send(preflight("https://grafana.example")).await;
    assert_eq!(
        headers
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(&b"https://grafana.example"[..])
    );
    let (_, headers, _) = open.send(preflight("https://elsewhere.example")).await;
    assert!(headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn admin_creates_keys_roles_are_enforced_and_deleted_keys_stop_working() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let (status, created) = host
        .call(
            "POST",
            "/api/keys",
            Some(serde_json::json!({"name": "grafana", "role": "viewer"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["key"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    let (status, json) = host
        .call(
            "POST",
            "/api/keys",
            Some(serde_json::json!({"name": "grafana", "role": "user"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error_shape(&json, "conflict_error");
    let (status, json) = host
        .call(
            "POST",
            "/api/keys",
            Some(serde_json::json!({"name": "x", "role": "root"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_shape(&json, "invalid_request_error");
    let (status, _, json) = host
        .send(authed(
            "POST",
            "/api/keys",
            Some(serde_json::json!({"nom": 1})),
            Some(crate::support::TOKEN),
        ))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
    assert_error_shape(&json, "invalid_request_error");

    let (status, list) = host.call("GET", "/api/keys", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["keys"][0]["name"], "grafana");
    assert!(
        list["keys"][0].get("key").is_none() && !list.to_string().contains(&secret),
        "secrets never listed"
    );

    let (status, _, _) = host
        .send(authed("GET", "/api/models/available", None, Some(&secret)))
        .await;
    assert_eq!(status, StatusCode::OK, "a viewer can read");
    let (status, _, json) = host
        .send(authed("POST", "/api/auth/verify", None, Some(&secret)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (json["name"].as_str(), json["role"].as_str()),
        (Some("grafana"), Some("viewer")),
        "verify names the key and its role"
    );
    let (status, _, json) = host
        .send(authed(
            "POST",
            "/api/keys",
            Some(serde_json::json!({"name": "y", "role": "admin"})),
            Some(&secret),
        ))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error_shape(&json, "permission_error");

    let (status, _) = host.call("DELETE", "/api/keys/grafana", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = host
        .send(authed("GET", "/api/models/available", None, Some(&secret)))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, json) = host.call("DELETE", "/api/keys/grafana", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&json, "not_found_error");
}
