//! The node admin API over HTTP: `POST /api/nodes` adds a node at run time, `DELETE
//! /api/nodes/{name}` removes one; their status codes, and that only the admin may.

use http::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestHost, assert_error_shape, authed, sim, sim_with_preload};

const USER_KEY: &str = "nodes-user-key-0123456789";
const VIEWER_KEY: &str = "nodes-viewer-key-0123456789";

async fn as_key(
    host: &TestHost,
    method: &str,
    path: &str,
    body: Option<Value>,
    key: &str,
) -> (StatusCode, Value) {
    let (status, _, json) = host.send(authed(method, path, body, Some(key))).await;
    (status, json)
}

fn names(list: &Value) -> Vec<&str> {
    list["nodes"]
        .as_array()
        .expect("a node list")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect()
}

#[tokio::test]
async fn nodes_are_added_and_removed_by_the_admin_only() {
    let configured = sim().await;
    let added = sim_with_preload(&["llama3.2:1b"]).await;
    // One node from OLLAMA_HOST (named `default`), and keys of the lower roles.
    let host = TestHost::with_keys(
        &configured.url(),
        &[("u", USER_KEY, "user"), ("v", VIEWER_KEY, "viewer")],
    )
    .await;
    let node = json!({
        "name": "gpu-b",
        "url": added.url(),
        "max_parallel": 2,
        "weight": 2.0,
        "labels": {"rack": "r2"},
    });

    // Below admin: refused, nothing added.
    for key in [USER_KEY, VIEWER_KEY] {
        let (status, body) = as_key(&host, "POST", "/api/nodes", Some(node.clone()), key).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let (_, list) = host.call("GET", "/api/nodes", None).await;
    assert_eq!(names(&list), ["default"]);

    // Added: 201 with its state.
    let (status, body) = host.call("POST", "/api/nodes", Some(node.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (&body["name"], &body["source"], &body["labels"]["rack"]),
        (&json!("gpu-b"), &json!("api"), &json!("r2"))
    );
    let (_, list) = host.call("GET", "/api/nodes", None).await;
    assert_eq!(names(&list), ["default", "gpu-b"]);
    assert_eq!(list["nodes"][0]["source"], "config");

    // Taken names: 409, the configured one named as such.
    let (status, body) = host.call("POST", "/api/nodes", Some(node)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error_shape(&body, "conflict_error");
    let taken = json!({"name": "default", "url": added.url()});
    let (status, body) = host.call("POST", "/api/nodes", Some(taken)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("OLLAMA_HOST")),
        "{body}"
    );

    // Bad fields: 400 naming the field.
    for (bad, field) in [
        (json!({"name": "c", "url": "ftp://nowhere"}), "url"),
        (json!({"name": "no spaces", "url": added.url()}), "name"),
        (
            json!({"name": "c", "url": added.url(), "max_parallel": 0}),
            "max_parallel",
        ),
    ] {
        let (status, body) = host.call("POST", "/api/nodes", Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["param"], field, "{body}");
    }

    // Drain still works on an added node.
    let (status, body) = host.call("POST", "/api/nodes/gpu-b/drain", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["nodes"][1]["state"], "draining");

    // Removing: below admin refused; a configured node 409; then 204, then 404.
    for key in [USER_KEY, VIEWER_KEY] {
        let (status, _) = as_key(&host, "DELETE", "/api/nodes/gpu-b", None, key).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, body) = host.call("DELETE", "/api/nodes/default", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("remove it there")),
        "{body}"
    );
    let (status, body) = host.call("DELETE", "/api/nodes/gpu-b", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = host.call("DELETE", "/api/nodes/gpu-b", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error_shape(&body, "not_found_error");
    let (_, list) = host.call("GET", "/api/nodes", None).await;
    assert_eq!(names(&list), ["default"]);
}
