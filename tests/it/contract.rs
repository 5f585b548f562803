//! The page ↔ API contract (`ollama-dash-host/web/contract.js`): every endpoint the page reads
//! is fetched from the real router (simulator behind it, data seeded so lists are not empty) and
//! every declared field must be there with the declared type. A field renamed or retyped
//! server-side fails here, not in a user's browser.

use std::time::Duration;

use http::StatusCode;
use serde_json::{Map, Value, json};

use ollama_dash_host::sim::SimHandle;

use ollama_dash_core::ImportState;
use ollama_dash_core::gguf::sample_model;

use crate::support::{TestHost, sim_with_preload};
use crate::uploads::{import_of, settle, tus_upload};

const MODEL: &str = "llama3.2:1b";

/// The JSON literal of `export const CONTRACT = {...};` in contract.js.
fn contract() -> Map<String, Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ollama-dash-host/web/contract.js");
    let source = std::fs::read_to_string(&path).expect("contract.js");
    let start = source
        .find("export const CONTRACT = ")
        .expect("`export const CONTRACT = ` in contract.js")
        + "export const CONTRACT = ".len();
    let end = start + source[start..].find("\n};").expect("`};` closing CONTRACT") + 2;
    match serde_json::from_str(&source[start..end]) {
        Ok(Value::Object(map)) => map,
        other => panic!("CONTRACT in contract.js is not a JSON object: {other:?}"),
    }
}

/// The values at a declared path ("a.b", "list[].x", "map.*.x"), as contract.js reads them:
/// `None` for a missing key, nothing under a null or non-object parent.
fn values_at<'a>(value: &'a Value, path: &str) -> Vec<Option<&'a Value>> {
    let mut values = vec![Some(value)];
    for step in path.split('.') {
        let (key, each) = match step.strip_suffix("[]") {
            Some(key) => (key, true),
            None => (step, false),
        };
        let mut next = Vec::new();
        for object in values.into_iter().flatten().filter_map(Value::as_object) {
            if key == "*" {
                next.extend(object.values().map(Some));
            } else if let Some(v) = object.get(key) {
                if each {
                    next.extend(v.as_array().into_iter().flatten().map(Some));
                } else {
                    next.push(Some(v));
                }
            } else {
                next.push(None);
            }
        }
        values = next;
    }
    values
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Problems of `answer` against the declared `fields`, and the declared paths no value reached
/// (under an empty list or a null parent: the seeded data did not exercise them).
fn check(fields: &Map<String, Value>, answer: &Value) -> (Vec<String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut unreached = Vec::new();
    for (path, declared) in fields {
        let declared = declared.as_str().expect("a field's type is a string");
        let (wanted, nullable) = match declared.strip_suffix('?') {
            Some(t) => (t, true),
            None => (declared, false),
        };
        let wanted: Vec<&str> = wanted.split('|').collect();
        assert!(
            wanted.iter().all(|t| {
                ["string", "number", "boolean", "object", "array", "absent"].contains(t)
            }),
            "{path}: unknown type {declared}"
        );
        let values = values_at(answer, path);
        if values.is_empty() {
            unreached.push(path.clone());
        }
        for value in values {
            let actual = value.map_or("missing", type_of);
            let allowed = wanted.contains(&actual)
                || (nullable && actual == "null")
                || (actual == "missing" && wanted.contains(&"absent"));
            if !allowed {
                problems.push(format!("{path}: {actual}, not {declared}"));
                break;
            }
        }
    }
    (problems, unreached)
}

/// Data for every list the page reads: a chat (session, messages, a trace) whose session sets
/// `think` and `keep_alive`, a failed pull (a job with its error), an API key, an import.
async fn seeded() -> (SimHandle, TestHost, Value) {
    let sim = sim_with_preload(&[MODEL]).await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let (status, session) = host
        .call(
            "POST",
            "/api/sessions",
            Some(json!({ "model": MODEL, "title": "t" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let id = session["id"].as_str().expect("id").to_owned();
    let (status, answer) = host
        .call(
            "POST",
            &format!("/api/sessions/{id}/messages"),
            Some(json!({ "content": "hi", "stream": false })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // Set after the turn (the simulated model refuses `think`): a level and a duration, so the
    // declared session.think and session.keep_alive are checked against values, not nulls.
    let (status, patched) = host
        .call(
            "PATCH",
            &format!("/api/sessions/{id}"),
            Some(json!({ "think": "high", "keep_alive": "10m" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        (&patched["think"], &patched["keep_alive"]),
        (&json!("high"), &json!("10m"))
    );
    let (status, job) = host
        .call(
            "POST",
            "/api/models/pull",
            Some(json!({ "model": "no-such-model" })),
        )
        .await;
    assert!(status.is_success(), "{job}");
    let (status, key) = host
        .call(
            "POST",
            "/api/keys",
            Some(json!({ "name": "k1", "role": "user" })),
        )
        .await;
    assert!(status.is_success(), "{key}");
    // A file in the plugin directory that is no plugin: the reload report lists a failure.
    let (_, plugins) = host.call("GET", "/api/plugins", None).await;
    let dir = std::path::PathBuf::from(plugins["dir"].as_str().expect("the plugin directory"));
    std::fs::create_dir_all(&dir).expect("plugin directory");
    std::fs::write(dir.join("broken.wasm"), b"not a component").expect("a broken plugin");
    // A GGUF uploaded under a model name: its import runs to `ready` with create's last line.
    let mut events = host.dashboard.subscribe();
    let file = sample_model("qwen2", 3).to_bytes();
    let upload = tus_upload(
        &host,
        &file,
        &[("filename", "q.gguf"), ("model", "contract-qwen:q4")],
    )
    .await;
    let import = import_of(&host.dashboard, &upload).await;
    let (import, _) = settle(&host.dashboard, &mut events, &import.id).await;
    assert_eq!(import.state, ImportState::Ready, "{:?}", import.error);
    // The trace is written behind the answer, the job fails behind the 202.
    let mut trace = Value::Null;
    for _ in 0..100 {
        let (_, traces) = host.call("GET", "/v1/traces?limit=1", None).await;
        let (_, jobs) = host.call("GET", "/api/jobs", None).await;
        let failed = jobs["jobs"][0]["state"] == "failed";
        if let (Some(id), true) = (traces["data"][0]["id"].as_str(), failed) {
            trace = json!(id);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(trace.is_string(), "a trace and a failed job within 5 s");
    let params = json!({ "session": id, "trace": trace, "model": MODEL, "import": import.id });
    (sim, host, params)
}

/// Fills `{name}` placeholders from `params`.
fn fill(template: &str, params: &Value) -> String {
    let mut out = template.to_owned();
    for (name, value) in params.as_object().expect("params") {
        let value = value.as_str().expect("string param");
        out = out.replace(&format!("{{{name}}}"), value);
    }
    assert!(!out.contains('{'), "unfilled placeholder in {out}");
    out
}

#[tokio::test]
async fn every_field_the_page_reads_is_served_with_its_declared_type() {
    let contract = contract();
    assert!(contract.len() >= 15, "{} endpoints", contract.len());
    let (_sim, host, params) = seeded().await;
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, endpoint) in &contract {
        let path = fill(endpoint["path"].as_str().expect("path"), &params);
        let uri = match endpoint.get("query").and_then(Value::as_str) {
            Some(query) => format!("{path}?{}", fill(query, &params)),
            None => path,
        };
        let method = endpoint
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("GET");
        let fields = endpoint["fields"].as_object().expect("fields");
        let (status, answer) = host.call(method, &uri, None).await;
        assert_eq!(status, StatusCode::OK, "{name}: {method} {uri}: {answer}");
        let (problems, unreached) = check(fields, &answer);
        failures.extend(problems.iter().map(|p| format!("{name} ({uri}) {p}")));
        failures.extend(
            unreached
                .iter()
                .map(|p| format!("{name} ({uri}) {p}: no value to check (seed more data)")),
        );
        checked += fields.len();
    }
    assert!(
        failures.is_empty(),
        "the API breaks web/contract.js:\n{}",
        failures.join("\n")
    );
    assert!(checked >= 150, "{checked} fields checked");
}

/// The check itself: a renamed or retyped field is reported, an allowed null is not.
#[test]
fn a_renamed_or_retyped_field_is_a_violation() {
    let fields: Map<String, Value> = serde_json::from_value(json!({
        "models": "array", "models[].name": "string", "models[].size": "number?",
        "probes.*.stale": "boolean"
    }))
    .expect("fields");
    let good =
        json!({ "models": [{ "name": "a", "size": null }], "probes": { "x": { "stale": false } } });
    assert_eq!(check(&fields, &good), (vec![], vec![]));
    let renamed =
        json!({ "models": [{ "model": "a", "size": 1 }], "probes": { "x": { "stale": 0 } } });
    let (problems, _) = check(&fields, &renamed);
    assert_eq!(
        problems,
        [
            "models[].name: missing, not string",
            "probes.*.stale: number, not boolean"
        ]
    );
    let unions: Map<String, Value> = serde_json::from_value(json!({
        "think": "boolean|string?", "progress.total": "number|absent"
    }))
    .expect("fields");
    for good in [
        json!({ "think": true, "progress": { "total": 3 } }),
        json!({ "think": "high", "progress": {} }),
        json!({ "think": null, "progress": { "total": 0 } }),
    ] {
        assert_eq!(check(&unions, &good), (vec![], vec![]), "{good}");
    }
    let (mut problems, _) = check(
        &unions,
        &json!({ "think": 1, "progress": { "total": null } }),
    );
    problems.sort();
    assert_eq!(
        problems,
        [
            "progress.total: null, not number|absent",
            "think: number, not boolean|string?"
        ]
    );
    let (problems, unreached) = check(&fields, &json!({ "items": [], "probes": {} }));
    assert_eq!(problems, ["models: missing, not array"]);
    assert_eq!(
        unreached,
        ["models[].name", "models[].size", "probes.*.stale"],
        "nothing under a missing list or an empty map to check"
    );
}
