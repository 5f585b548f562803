//! §0: health check, version, Host-header guard, gin's 404/405, body decoding errors.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::support::{content_type, expect_error, json_ok, start};

#[tokio::test]
async fn root_says_ollama_is_running() {
    let sim = start().await;
    let response = sim.get("/").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(content_type(&response).starts_with("text/plain"));
    assert_eq!(response.text().await.expect("body"), "Ollama is running");
    let head = sim.request(Method::HEAD, "/", None).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.text().await.expect("body"), "");
}

#[tokio::test]
async fn version_follows_the_config_and_the_knob() {
    let sim = start().await;
    assert_eq!(
        json_ok(sim.get("/api/version").await).await,
        json!({"version": "0.12.6"})
    );
    assert_eq!(
        sim.request(Method::HEAD, "/api/version", None)
            .await
            .status(),
        StatusCode::OK
    );
    sim.control().set_version("0.5.7");
    assert_eq!(
        json_ok(sim.get("/api/version").await).await,
        json!({"version": "0.5.7"})
    );
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_get_gins_plain_text() {
    let sim = start().await;
    for path in ["/nope", "/api/nope", "/v2/tags"] {
        let response = sim.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(content_type(&response), "text/plain");
        assert_eq!(response.text().await.expect("body"), "404 page not found");
    }
    let wrong = [
        (Method::GET, "/api/chat"),
        (Method::POST, "/api/tags"),
        (Method::GET, "/api/delete"),
        (Method::HEAD, "/api/ps"),
        (Method::GET, "/api/blobs/sha256-00"),
        (Method::PUT, "/api/generate"),
    ];
    for (method, path) in wrong {
        let response = sim.request(method.clone(), path, None).await;
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
    }
    let response = sim.get("/api/generate").await;
    assert_eq!(
        response.text().await.expect("body"),
        "405 method not allowed"
    );
}

#[tokio::test]
async fn host_header_guard_rejects_foreign_hosts_with_an_empty_403() {
    let sim = start().await;
    let with_host = |host: &'static str| {
        sim.client
            .get(sim.url("/api/version"))
            .header("host", host)
            .send()
    };
    let rejected = with_host("evil.example.com").await.expect("answered");
    assert_eq!(rejected.status(), StatusCode::FORBIDDEN);
    assert_eq!(rejected.text().await.expect("body"), "");
    let unknown_route = sim
        .client
        .get(sim.url("/nope"))
        .header("host", "evil.example.com:80")
        .send()
        .await
        .expect("answered");
    assert_eq!(unknown_route.status(), StatusCode::FORBIDDEN);
    for allowed in [
        "localhost:11434",
        "127.0.0.1",
        "box.local",
        "api.internal",
        "dash.localhost",
        "192.168.1.10:11434",
    ] {
        assert_eq!(
            with_host(allowed).await.expect("answered").status(),
            StatusCode::OK,
            "{allowed}"
        );
    }
}

#[tokio::test]
async fn every_post_route_needs_a_body_and_valid_json() {
    let sim = start().await;
    let routes = [
        "/api/generate",
        "/api/chat",
        "/api/embed",
        "/api/embeddings",
        "/api/show",
        "/api/pull",
        "/api/push",
        "/api/create",
        "/api/copy",
    ];
    for path in routes {
        expect_error(sim.post_raw(path, "").await, 400, "missing request body").await;
        expect_error(
            sim.post_raw(path, "{\"model\":").await,
            400,
            "unexpected EOF",
        )
        .await;
        expect_error(
            sim.post_raw(path, "xyz").await,
            400,
            "invalid character 'x' looking for beginning of value",
        )
        .await;
    }
    let delete = sim
        .client
        .delete(sim.url("/api/delete"))
        .send()
        .await
        .expect("answered");
    expect_error(delete, 400, "missing request body").await;
    let wrong_type = sim
        .post(
            "/api/generate",
            &json!({"model": "llama3.2:1b", "stream": "yes"}),
        )
        .await;
    expect_error(
        wrong_type,
        400,
        "json: cannot unmarshal string into Go struct field GenerateRequest.stream of type bool",
    )
    .await;
    let not_object = sim.post("/api/chat", &json!(["x"])).await;
    expect_error(
        not_object,
        400,
        "json: cannot unmarshal array into Go value of type api.ChatRequest",
    )
    .await;
}

#[tokio::test]
async fn status_reports_the_cloud() {
    let sim = start().await;
    let status = json_ok(sim.get("/api/status").await).await;
    assert_eq!(status["cloud"]["disabled"], json!(false));
}

#[tokio::test]
async fn bodies_keep_gos_field_order_and_html_escaping() {
    let sim = start().await;
    let raw = |response: reqwest::Response| async move { response.text().await.expect("body") };
    let generated = raw(sim
        .post(
            "/api/generate",
            &json!({"model": "llama3.2:1b", "prompt": "hi", "stream": false}),
        )
        .await)
    .await;
    assert!(
        generated.starts_with(r#"{"model":"llama3.2:1b","created_at":""#),
        "{generated}"
    );
    assert!(generated.contains(r#","done":true,"done_reason":"stop","context":["#));
    let tags = raw(sim.get("/api/tags").await).await;
    assert!(
        tags.starts_with(
            r#"{"models":[{"name":"llama3.2:1b","model":"llama3.2:1b","modified_at":""#
        ),
        "{tags}"
    );
    assert!(tags.contains(r#""details":{"parent_model":"","format":"gguf","family":"llama","families":["llama"],"parameter_size":"1.2B","quantization_level":"Q8_0"}"#));
    let empty = raw(sim
        .post(
            "/api/embed",
            &json!({"model": "nomic-embed-text", "input": ""}),
        )
        .await)
    .await;
    assert_eq!(empty, r#"{"model":"nomic-embed-text","embeddings":[]}"#);
    let show = raw(sim
        .post("/api/show", &json!({"model": "llama3.2:1b"}))
        .await)
    .await;
    assert!(
        show.starts_with(r#"{"license":"#) && show.contains(r#"\u003c|start_header_id|\u003e"#),
        "Go escapes < and >"
    );
}
