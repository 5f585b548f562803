//! The OpenAPI document (issue #15 item 2): it lists exactly the routes of the access suite's
//! table (so neither can drift from the router), it is served at `/openapi.json` to a viewer,
//! and every operation shares the bearer scheme and the one error shape.

use std::collections::BTreeSet;

use http::StatusCode;
use serde_json::Value;

use crate::access::{Need, PASSTHROUGH, ROUTES};
use crate::support::{TestHost, authed, sim};

const VIEWER_KEY: &str = "viewer-key-0123456789abcdef";
const METHODS: [&str; 6] = ["get", "put", "post", "delete", "patch", "head"];
/// The passthrough serves any method; the document lists these.
const PASSTHROUGH_METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn document() -> Value {
    serde_json::to_value(ollama_dash_host::http::openapi::document()).unwrap()
}

/// `(method, path)` of every operation; `HEAD` is left out (the table's `GET` implies it).
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if method != "head" && item.get(method).is_some() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// A router template in OpenAPI's form: a catch-all `{*path}` is `{path}`.
fn openapi_template(template: &str) -> String {
    template.replace("{*", "{")
}

#[test]
fn the_document_lists_exactly_the_routes_of_the_access_table() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, template, _, _)| ((*method).to_owned(), openapi_template(template)))
        .collect();
    for template in PASSTHROUGH {
        for method in PASSTHROUGH_METHODS {
            expected.insert((method.to_uppercase(), openapi_template(template)));
        }
    }
    let documented = operations(&doc);
    let missing: Vec<_> = expected.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "not documented: {missing:?}; documented but not in the table: {extra:?}"
    );
}

#[test]
fn every_operation_has_the_error_shape_a_unique_id_and_the_right_security() {
    let doc = document();
    let public: BTreeSet<String> = ROUTES
        .iter()
        .filter(|r| r.3 == Need::Public)
        .map(|r| openapi_template(r.1))
        .collect();
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer",
        "{doc}"
    );
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], serde_json::json!(["error"]), "{error}");
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let at = format!("{method} {path}");
            // The passthrough also answers Ollama's own `{"error": "…"}`.
            let error = if path.starts_with("/ollama") {
                "#/components/schemas/PassthroughError"
            } else {
                "#/components/schemas/ErrorBody"
            };
            assert_eq!(
                op["responses"]["default"]["content"]["application/json"]["schema"]["$ref"], error,
                "{at}"
            );
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(!id.is_empty() && ids.insert(id.clone()), "{at}: id {id:?}");
            let security = op["security"].to_string();
            if public.contains(path) {
                assert_eq!(security, "[{}]", "{at}");
            } else {
                assert_eq!(security, r#"[{"bearer":[]}]"#, "{at}");
            }
        }
    }
}

#[tokio::test]
async fn a_viewer_reads_the_document_and_no_token_reads_nothing() {
    let sim = sim().await;
    let host = TestHost::with_keys(&sim.url(), &[("val", VIEWER_KEY, "viewer")]).await;
    let (status, headers, json) = host
        .send(authed("GET", "/openapi.json", None, Some(VIEWER_KEY)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(json, document());
    let (status, _, json) = host.send(authed("GET", "/openapi.json", None, None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json["error"]["type"], "authentication_error", "{json}");
}
