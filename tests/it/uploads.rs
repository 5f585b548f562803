//! Uploads and imports against the simulator: a tus upload that names a model ends as that model
//! in Ollama with details from its header; refusals, a blob Ollama already has, failures.

use axum::body::Body;
use base64::Engine;
use http::{Request, StatusCode};
use ollama_dash_core::gguf::{GgufWriter, sample_adapter, sample_model, sample_projector};
use ollama_dash_core::{Dashboard, Event, ImportInfo, ImportState};
use serde_json::{Value, json};
use std::io::Write;
use tokio::sync::broadcast::Receiver;

use crate::support::{TOKEN, TestHost, sim};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Creates a tus upload with `metadata` and sends `bytes` in two PATCHes; returns its id.
pub(crate) async fn tus_upload(host: &TestHost, bytes: &[u8], metadata: &[(&str, &str)]) -> String {
    let meta: Vec<String> = metadata
        .iter()
        .map(|(k, v)| format!("{k} {}", b64(v)))
        .collect();
    let create = Request::post("/v1/uploads")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("tus-resumable", "1.0.0")
        .header("upload-length", bytes.len())
        .header("upload-metadata", meta.join(","))
        .body(Body::empty())
        .unwrap();
    let (status, headers, json) = host.send(create).await;
    assert_eq!(status, StatusCode::CREATED, "{json}");
    let location = headers["location"].to_str().unwrap().to_owned();
    let (a, b) = bytes.split_at(bytes.len() / 2);
    let mut offset = 0;
    for part in [a, b] {
        let patch = Request::patch(&location)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("tus-resumable", "1.0.0")
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset)
            .body(Body::from(part.to_vec()))
            .unwrap();
        let (status, _, json) = host.send(patch).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{json}");
        offset += part.len();
    }
    location.trim_start_matches("/v1/uploads/").to_owned()
}

/// The import of `upload_id` (made when the upload named a model).
pub(crate) async fn import_of(d: &Dashboard, upload_id: &str) -> ImportInfo {
    let imports = d.list_imports().await.unwrap();
    imports
        .into_iter()
        .find(|i| i.upload_id == upload_id)
        .expect("an import for the upload")
}

/// Waits (on the event stream, no sleeping) until import `id` is ready or failed; returns it and
/// the states it went through.
pub(crate) async fn settle(
    d: &Dashboard,
    events: &mut Receiver<Event>,
    id: &str,
) -> (ImportInfo, Vec<ImportState>) {
    let mut seen = Vec::new();
    loop {
        let info = d.import(id).await.unwrap();
        if info.state.is_final() {
            seen.push(info.state);
            seen.dedup();
            return (info, seen);
        }
        match events.recv().await {
            Ok(Event::Import(i)) if i.id == id => seen.push(i.state),
            Ok(_) => {}
            Err(e) => panic!("event stream: {e}"),
        }
    }
}

fn model<'a>(available: &'a Value, name: &str) -> Option<&'a Value> {
    available["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
}

#[tokio::test]
async fn a_tus_upload_naming_a_model_becomes_that_model_with_details_from_its_header() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let d = &host.dashboard;
    let mut events = d.subscribe();
    let file = sample_model("qwen2", 3).to_bytes();
    let id = tus_upload(
        &host,
        &file,
        &[
            ("filename", "qwen.gguf"),
            ("model", "my-qwen:q4"),
            ("system", "Be brief."),
        ],
    )
    .await;
    let import = import_of(d, &id).await;
    let (done, states) = settle(d, &mut events, &import.id).await;
    assert_eq!(done.state, ImportState::Ready, "{:?}", done.error);
    assert_eq!(
        states,
        [
            ImportState::Uploading,
            ImportState::Uploaded,
            ImportState::Validating,
            ImportState::Importing,
            ImportState::Ready
        ],
        "the whole state machine, on the event stream"
    );
    assert_eq!(
        done.progress.unwrap().status,
        "success",
        "create's status lines are forwarded"
    );
    let report = done.report.unwrap();
    assert_eq!(
        (report.architecture.as_deref(), report.kind.as_str()),
        (Some("qwen2"), "model")
    );

    let (status, available) = host.call("GET", "/api/models/available", None).await;
    assert_eq!(status, StatusCode::OK);
    let m = model(&available, "my-qwen:q4").unwrap_or_else(|| panic!("{available}"));
    assert_eq!(m["family"], "qwen2");
    assert_eq!(m["quantization"], "Q4_K_M");
    assert_eq!(m["parameter_size"], report.parameter_size.unwrap());

    let (status, json) = host
        .call("GET", &format!("/v1/models/imports/{}", import.id), None)
        .await;
    assert_eq!(
        (status, json["state"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
    let (status, _) = host.call("GET", &format!("/v1/uploads/{id}"), None).await;
    assert_eq!(
        status,
        StatusCode::GONE,
        "the upload file is removed after a successful import"
    );
    assert!(
        !host
            .dashboard
            .config()
            .data_path
            .join("uploads")
            .join(&id)
            .exists()
    );
}

#[tokio::test]
async fn an_existing_name_is_refused_unless_replace_and_a_known_blob_is_not_sent_again() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let d = &host.dashboard;
    let mut events = d.subscribe();
    let file = sample_model("llama", 2).to_bytes();
    let digest = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&file))
    );
    let blob_path = format!("/api/blobs/{digest}");

    let id = tus_upload(&host, &file, &[("filename", "a.gguf")]).await;
    let (status, json) = host
        .call(
            "POST",
            "/v1/models/import",
            Some(json!({"upload_id": id, "name": "llama3.2:1b"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{json}");
    let (status, json) = host
        .call(
            "POST",
            "/v1/models/import",
            Some(json!({"upload_id": id, "name": "bad name"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert!(
        d.list_imports().await.unwrap().is_empty(),
        "refusals record nothing"
    );

    let (status, json) = host
        .call(
            "POST",
            "/v1/models/import",
            Some(json!({"upload_id": id, "name": "first"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{json}");
    let (done, _) = settle(d, &mut events, json["id"].as_str().unwrap()).await;
    assert_eq!(done.state, ImportState::Ready, "{:?}", done.error);
    assert_eq!(sim.control().request_count(&blob_path), 2, "HEAD then POST");

    // The same bytes again, under a taken name with replace: Ollama has the blob already.
    let id = tus_upload(&host, &file, &[("filename", "a.gguf")]).await;
    let (status, json) = host
        .call(
            "POST",
            "/v1/models/import",
            Some(json!({"upload_id": id, "name": "first", "replace": true})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{json}");
    let mut statuses = Vec::new();
    let import_id = json["id"].as_str().unwrap().to_owned();
    loop {
        match events.recv().await.unwrap() {
            Event::Import(i) if i.id == import_id => {
                statuses.extend(i.progress.map(|p| p.status));
                if i.state.is_final() {
                    assert_eq!(i.state, ImportState::Ready, "{:?}", i.error);
                    break;
                }
            }
            _ => {}
        }
    }
    assert_eq!(
        sim.control().request_count(&blob_path),
        3,
        "only a HEAD this time"
    );
    assert!(
        statuses
            .iter()
            .any(|s| s.starts_with("using existing blob")),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn failures_surface_as_failed_with_the_reason() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let d = &host.dashboard;
    let mut events = d.subscribe();

    // Not what it claims: validation fails, nothing reaches Ollama.
    let broken = GgufWriter::new(1).to_bytes();
    let id = tus_upload(
        &host,
        &broken,
        &[("filename", "x.gguf"), ("model", "broken")],
    )
    .await;
    let (done, _) = settle(d, &mut events, &import_of(d, &id).await.id).await;
    assert_eq!(done.state, ImportState::Failed);
    assert!(done.error.unwrap().contains("unsupported GGUF version 1"));
    // Nothing half-registered: the import request route refuses it up front.
    let (status, json) = host
        .call(
            "POST",
            "/v1/models/import",
            Some(json!({"upload_id": id, "name": "broken2"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");

    // A LoRA adapter needs a base model.
    let id = tus_upload(
        &host,
        &sample_adapter("llama", 3).to_bytes(),
        &[("filename", "l.gguf"), ("model", "lora")],
    )
    .await;
    let (done, _) = settle(d, &mut events, &import_of(d, &id).await.id).await;
    assert_eq!(done.state, ImportState::Failed);
    assert!(done.error.unwrap().contains("base model"));

    // Ollama fails: the error is recorded, not "importing" forever.
    let id = tus_upload(
        &host,
        &sample_model("llama", 3).to_bytes(),
        &[("filename", "m.gguf")],
    )
    .await;
    sim.control().fail_next(1, 500, "no space left on device");
    let (status, json) = host
        .call(
            "POST",
            "/v1/models/import",
            Some(json!({"upload_id": id, "name": "doomed", "replace": true})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{json}");
    let (done, _) = settle(d, &mut events, json["id"].as_str().unwrap()).await;
    assert_eq!(done.state, ImportState::Failed);
    let error = done.error.unwrap();
    assert!(error.contains("Ollama answered 500"), "{error}");
    let (_, available) = host.call("GET", "/api/models/available", None).await;
    assert!(model(&available, "doomed:latest").is_none());
    let (status, _) = host.call("GET", &format!("/v1/uploads/{id}"), None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a failed import keeps the upload for another try"
    );
}

#[tokio::test]
async fn a_zip_with_a_model_and_its_projector_imports_as_a_vision_model() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let d = &host.dashboard;
    let mut events = d.subscribe();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (name, bytes) in [
        ("llava/model.gguf", sample_model("llama", 3).to_bytes()),
        ("llava/mmproj.gguf", sample_projector(3).to_bytes()),
    ] {
        zip.start_file(name, options).unwrap();
        zip.write_all(&bytes).unwrap();
    }
    let bytes = zip.finish().unwrap().into_inner();
    let id = tus_upload(
        &host,
        &bytes,
        &[("filename", "llava.zip"), ("model", "my-llava")],
    )
    .await;
    let (done, _) = settle(d, &mut events, &import_of(d, &id).await.id).await;
    assert_eq!(done.state, ImportState::Ready, "{:?}", done.error);
    let report = done.report.unwrap();
    assert!(report.capabilities.contains(&"vision".to_owned()));
    assert_eq!(report.files.len(), 2);
    let show = d
        .ollama()
        .show(&ollama_dash_core::ollama::types::ShowRequest {
            model: "my-llava".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        show.capabilities
            .unwrap_or_default()
            .iter()
            .any(|c| c == "vision")
    );
    assert!(
        !d.config()
            .data_path
            .join("uploads")
            .join(format!("{id}.d"))
            .exists(),
        "extracted files are removed"
    );
}

#[tokio::test]
async fn uploads_and_imports_are_admin_only() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let (status, created) = host
        .call(
            "POST",
            "/api/keys",
            Some(json!({"name": "dev", "role": "user"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["key"].as_str().unwrap().to_owned();
    for (method, path) in [
        ("POST", "/v1/uploads"),
        ("PATCH", "/v1/uploads/0123456789abcdef0123456789abcdef"),
        ("DELETE", "/v1/uploads/0123456789abcdef0123456789abcdef"),
        ("POST", "/v1/chunked-upload/start"),
        ("POST", "/v1/models/upload"),
        ("POST", "/v1/models/import"),
    ] {
        let (status, _, json) = host
            .send(crate::support::authed(method, path, None, Some(&secret)))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {json}");
        crate::support::assert_error_shape(&json, "permission_error");
    }
}
