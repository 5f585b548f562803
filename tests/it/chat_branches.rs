//! Chat branches (#16 item 5): regenerate the last answer and edit an earlier question; both
//! keep what they replace as another branch (`siblings`), and `branch` switches between them.

use http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::support::{TestHost, assert_error_shape, authed, sim_with_preload};

const MODEL: &str = "llama3.2:1b";

async fn send(host: &TestHost, id: &str, body: Value) -> Value {
    let (status, sent) = host
        .call("POST", &format!("/api/sessions/{id}/messages"), Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    host.dashboard.flush_writes().await.expect("flush");
    sent
}

async fn shown(host: &TestHost, id: &str) -> Vec<Value> {
    let (status, body) = host.call("GET", &format!("/api/sessions/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["messages"].as_array().expect("messages").clone()
}

fn ids(messages: &[Value]) -> Vec<i64> {
    messages
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect()
}

fn siblings(m: &Value) -> Vec<i64> {
    m["siblings"]
        .as_array()
        .expect("siblings")
        .iter()
        .map(|v| v.as_i64().expect("id"))
        .collect()
}

#[tokio::test]
async fn regenerate_and_edit_keep_the_replaced_branch_and_branch_switches_back() {
    let sim = sim_with_preload(&[MODEL]).await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let (status, session) = host
        .call("POST", "/api/sessions", Some(json!({ "model": MODEL })))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = session["id"].as_str().expect("id").to_owned();

    let (status, json) = host
        .call(
            "POST",
            &format!("/api/sessions/{id}/regenerate"),
            Some(json!({ "stream": false })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "nothing to regenerate yet");
    assert_error_shape(&json, "invalid_request_error");

    let first = send(
        &host,
        &id,
        json!({ "content": "Name a colour.", "stream": false }),
    )
    .await;
    let second = send(
        &host,
        &id,
        json!({ "content": "And a fruit?", "stream": false }),
    )
    .await;
    let before = shown(&host, &id).await;
    assert_eq!(before.len(), 4);
    let (u1, u2, a2) = (
        before[0]["id"].clone(),
        before[2]["id"].clone(),
        before[3].clone(),
    );
    assert_eq!(before[0]["parent_id"], Value::Null);
    assert_eq!(before[1]["parent_id"], u1);
    assert_eq!(before[2]["id"], second["user_message"]["id"]);
    assert_eq!(siblings(&before[3]), vec![a2["id"].as_i64().unwrap()]);

    // Regenerate: a new answer to the same history, the old one kept as a sibling.
    let (status, again) = host
        .call(
            "POST",
            &format!("/api/sessions/{id}/regenerate"),
            Some(json!({ "stream": false })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        again["user_message"]["id"], u2,
        "the question answered again"
    );
    assert_eq!(
        again["assistant_message"]["prompt_tokens"], a2["prompt_tokens"],
        "the same history was sent (the old answer not included)"
    );
    host.dashboard.flush_writes().await.expect("flush");
    let after = shown(&host, &id).await;
    assert_eq!(after.len(), 4, "replaced, not appended");
    assert_eq!(&after[..3], &before[..3], "the history is untouched");
    let regenerated = after[3]["id"].as_i64().expect("id");
    assert_ne!(after[3]["id"], a2["id"]);
    assert_eq!(after[3]["parent_id"], u2);
    assert_eq!(after[3]["trace_id"], again["assistant_message"]["trace_id"]);
    assert_eq!(
        siblings(&after[3]),
        vec![a2["id"].as_i64().unwrap(), regenerated]
    );

    // Switch back to the first answer, and forward again.
    let (status, switched) = host
        .call(
            "POST",
            &format!("/api/sessions/{id}/branch"),
            Some(json!({ "message_id": a2["id"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{switched}");
    assert_eq!(switched["session"]["id"], id.as_str());
    assert_eq!(switched["messages"][3]["id"], a2["id"]);
    assert_eq!(
        shown(&host, &id).await[3]["id"],
        a2["id"],
        "the choice is kept"
    );

    // Edit the first question: a new branch from the start; the old one stays.
    let edited = send(
        &host,
        &id,
        json!({ "content": "Name a dark colour.", "edit_of": u1, "stream": false }),
    )
    .await;
    assert_eq!(edited["user_message"]["parent_id"], Value::Null);
    assert!(
        edited["assistant_message"]["prompt_tokens"].as_u64()
            < first["assistant_message"]["prompt_tokens"]
                .as_u64()
                .map(|n| n + 3),
        "only the edited question was sent: {edited}"
    );
    let branch = shown(&host, &id).await;
    assert_eq!(branch.len(), 2);
    assert_eq!(branch[0]["content"], "Name a dark colour.");
    assert_eq!(
        siblings(&branch[0]),
        vec![u1.as_i64().unwrap(), branch[0]["id"].as_i64().unwrap()]
    );
    assert_eq!(branch[1]["parent_id"], branch[0]["id"]);

    // Back to the original question: its newest leaf (the regenerated answer) is shown.
    let (status, back) = host
        .call(
            "POST",
            &format!("/api/sessions/{id}/branch"),
            Some(json!({ "message_id": u1 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    let back = back["messages"].as_array().expect("messages").clone();
    assert_eq!(ids(&back)[..3], ids(&before)[..3]);
    assert_eq!(
        back[3]["id"],
        json!(regenerated),
        "the newest leaf below it"
    );
    // A new turn continues the branch shown.
    let third = send(
        &host,
        &id,
        json!({ "content": "A vegetable?", "stream": false }),
    )
    .await;
    assert_eq!(third["user_message"]["parent_id"], json!(regenerated));

    // Wrong ids: an assistant message cannot be edited; a message of another session cannot
    // be shown.
    let (status, json) = host
        .call(
            "POST",
            &format!("/api/sessions/{id}/messages"),
            Some(json!({ "content": "x", "edit_of": a2["id"], "stream": false })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    let (_, other) = host
        .call("POST", "/api/sessions", Some(json!({ "model": MODEL })))
        .await;
    let other = other["id"].as_str().expect("id");
    let (status, json) = host
        .call(
            "POST",
            &format!("/api/sessions/{other}/branch"),
            Some(json!({ "message_id": u1 })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert_error_shape(&json, "invalid_request_error");
}

#[tokio::test]
async fn regenerate_streams_and_branch_belongs_to_the_owner() {
    let sim = sim_with_preload(&[MODEL]).await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let alice = host.new_key("alice", "user").await;
    let bob = host.new_key("bob", "user").await;
    let (alice, bob) = (alice.as_str(), bob.as_str());
    let (status, _, session) = host
        .send(authed(
            "POST",
            "/api/sessions",
            Some(json!({ "model": MODEL })),
            Some(alice),
        ))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = session["id"].as_str().expect("id");
    let (status, _, sent) = host
        .send(authed(
            "POST",
            &format!("/api/sessions/{id}/messages"),
            Some(json!({ "content": "Hello", "stream": false })),
            Some(alice),
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    host.dashboard.flush_writes().await.expect("flush");
    let user = sent["user_message"]["id"].clone();
    for (path, body) in [
        ("regenerate", json!({ "stream": false })),
        ("branch", json!({ "message_id": user })),
    ] {
        let (status, _, json) = host
            .send(authed(
                "POST",
                &format!("/api/sessions/{id}/{path}"),
                Some(body),
                Some(bob),
            ))
            .await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "bob cannot {path} alice's chat: {json}"
        );
    }

    // Streamed: deltas then done, no `user` event; stored under the same question.
    let response = host
        .open(authed(
            "POST",
            &format!("/api/sessions/{id}/regenerate"),
            Some(json!({})),
            Some(alice),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let response = String::from_utf8_lossy(&body);
    assert!(response.contains("\"type\":\"delta\""), "{response}");
    assert!(response.contains("\"type\":\"done\""), "{response}");
    assert!(!response.contains("\"type\":\"user\""), "{response}");
    host.dashboard.flush_writes().await.expect("flush");
    let (_, _, shown) = host
        .send(authed(
            "GET",
            &format!("/api/sessions/{id}"),
            None,
            Some(alice),
        ))
        .await;
    assert_eq!(shown["messages"].as_array().map(Vec::len), Some(2));
    assert_eq!(shown["messages"][1]["parent_id"], user);
    assert_eq!(
        shown["messages"][1]["siblings"].as_array().map(Vec::len),
        Some(2)
    );
}
