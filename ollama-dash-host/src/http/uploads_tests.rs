#![allow(clippy::unwrap_used, reason = "tests")]
//! The upload protocols in-process (no Ollama needed: these routes only touch the disk):
//! tus headers and status codes, the chunked adapter, the single-request upload.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use base64::Engine;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use ollama_dash_core::gguf::sample_model;
use ollama_dash_core::{Dashboard, DashboardConfig};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use crate::auth::Authenticator;
use crate::http::{AppState, app};

const TOKEN: &str = "uploads-test-token-0123";

struct Host {
    router: axum::Router,
    _dir: tempfile::TempDir,
}

async fn host(max: u64) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let mut config = DashboardConfig::with_data_path(dir.path());
    config.ollama_host = "127.0.0.1:9".to_owned();
    config.upload_max_bytes = max;
    config.upload_reserve_bytes = 0;
    let dashboard = Dashboard::new(config).await.unwrap();
    let auth = Arc::new(Authenticator::new(TOKEN.to_owned(), 100));
    Host {
        router: app(
            AppState {
                dashboard,
                auth,
                plugins: crate::plugins::PluginHost::new(crate::plugins::PluginsConfig::under(
                    dir.path(),
                    None,
                ))
                .unwrap(),
            },
            &[],
        ),
        _dir: dir,
    }
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    json: Value,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl Host {
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {TOKEN}"));
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let mut request = builder.body(Body::from(body)).unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1))));
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            json,
        }
    }

    async fn tus(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        let mut all = vec![("tus-resumable", "1.0.0")];
        all.extend_from_slice(headers);
        self.send(method, path, &all, body).await
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn patch_headers(offset: &str) -> Vec<(&str, &str)> {
    vec![
        ("content-type", "application/offset+octet-stream"),
        ("upload-offset", offset),
    ]
}

#[tokio::test]
async fn tus_discovery_version_and_creation_errors() {
    let h = host(1 << 30).await;
    let options = h.send("OPTIONS", "/v1/uploads", &[], vec![]).await;
    assert_eq!(options.status, StatusCode::NO_CONTENT);
    assert_eq!(options.header("tus-version"), "1.0.0");
    assert_eq!(options.header("tus-resumable"), "1.0.0");
    assert_eq!(options.header("tus-max-size"), (1u64 << 30).to_string());
    assert_eq!(options.header("tus-checksum-algorithm"), "sha256,sha1");
    for ext in [
        "creation",
        "creation-with-upload",
        "termination",
        "expiration",
        "checksum",
    ] {
        assert!(
            options.header("tus-extension").split(',').any(|e| e == ext),
            "{ext}"
        );
    }

    let missing = h
        .send("POST", "/v1/uploads", &[("upload-length", "5")], vec![])
        .await;
    assert_eq!(missing.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(missing.header("tus-version"), "1.0.0");
    let old = h
        .send(
            "POST",
            "/v1/uploads",
            &[("tus-resumable", "0.2.2"), ("upload-length", "5")],
            vec![],
        )
        .await;
    assert_eq!(old.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(old.json["error"]["type"], "invalid_request_error");

    assert_eq!(
        h.tus("POST", "/v1/uploads", &[], vec![]).await.status,
        StatusCode::BAD_REQUEST
    );
    let deferred = h
        .tus(
            "POST",
            "/v1/uploads",
            &[("upload-defer-length", "1")],
            vec![],
        )
        .await;
    assert_eq!(deferred.status, StatusCode::BAD_REQUEST);
    let too_big = h
        .tus(
            "POST",
            "/v1/uploads",
            &[("upload-length", &(2u64 << 30).to_string())],
            vec![],
        )
        .await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_big.header("tus-resumable"), "1.0.0");
    let bad_meta = h
        .tus(
            "POST",
            "/v1/uploads",
            &[("upload-length", "5"), ("upload-metadata", "filename %%%")],
            vec![],
        )
        .await;
    assert_eq!(bad_meta.status, StatusCode::BAD_REQUEST);
    let bad_name = format!(
        "filename {},model {}",
        b64("a.gguf"),
        b64("no spaces allowed")
    );
    let refused = h
        .tus(
            "POST",
            "/v1/uploads",
            &[("upload-length", "5"), ("upload-metadata", &bad_name)],
            vec![],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.json);
    assert_eq!(
        h.tus(
            "HEAD",
            "/v1/uploads/ffffffffffffffffffffffffffffffff",
            &[],
            vec![]
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    // A traversal never reaches the upload lookup: the path guard refuses it first.
    assert_eq!(
        h.tus("HEAD", "/v1/uploads/..%2F..%2Fetc", &[], vec![])
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn tus_core_checksum_termination_and_override() {
    let h = host(1 << 30).await;
    let file: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect(); // over axum's 2 MB default
    let len = file.len().to_string();
    let path_named = h
        .tus(
            "POST",
            "/v1/uploads",
            &[
                ("upload-length", &len),
                (
                    "upload-metadata",
                    &format!("filename {}", b64("../../evil.gguf")),
                ),
            ],
            vec![],
        )
        .await;
    assert_eq!(
        path_named.status,
        StatusCode::BAD_REQUEST,
        "a path is no file name"
    );
    assert_eq!(path_named.json["error"]["param"], "file_name");
    let meta = format!("filename {},flag", b64("my evil?.gguf"));
    let created = h
        .tus(
            "POST",
            "/v1/uploads",
            &[("upload-length", &len), ("upload-metadata", &meta)],
            vec![],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let location = created.header("location").to_owned();
    let id = location.strip_prefix("/v1/uploads/").unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert!(!created.header("upload-expires").is_empty());

    let head = h.tus("HEAD", &location, &[], vec![]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("upload-offset"), "0");
    assert_eq!(head.header("upload-length"), len);
    assert_eq!(
        head.header("upload-metadata"),
        meta,
        "metadata comes back as sent"
    );
    assert_eq!(head.header("cache-control"), "no-store");
    let shown = h.send("GET", &location, &[], vec![]).await;
    assert_eq!(
        shown.json["file_name"], "my_evil_.gguf",
        "the client's odd characters never become ours"
    );

    let wrong_type = h
        .tus(
            "PATCH",
            &location,
            &[("upload-offset", "0"), ("content-type", "application/json")],
            vec![1],
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let no_offset = h
        .tus(
            "PATCH",
            &location,
            &[("content-type", "application/offset+octet-stream")],
            vec![1],
        )
        .await;
    assert_eq!(no_offset.status, StatusCode::BAD_REQUEST);
    let no_version = h
        .send("PATCH", &location, &patch_headers("0"), vec![1])
        .await;
    assert_eq!(no_version.status, StatusCode::PRECONDITION_FAILED);

    let (first, rest) = file.split_at(2_500_000);
    let ok = h
        .tus("PATCH", &location, &patch_headers("0"), first.to_vec())
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.json);
    assert_eq!(ok.header("upload-offset"), "2500000");
    let conflict = h
        .tus("PATCH", &location, &patch_headers("0"), rest.to_vec())
        .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);

    let bad_sum = format!(
        "sha256 {}",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"nope"))
    );
    let mut headers = patch_headers("2500000");
    headers.push(("upload-checksum", &bad_sum));
    let mismatch = h.tus("PATCH", &location, &headers, rest.to_vec()).await;
    assert_eq!(mismatch.status.as_u16(), 460);
    assert_eq!(mismatch.json["error"]["type"], "checksum_error");
    assert_eq!(
        h.tus("HEAD", &location, &[], vec![])
            .await
            .header("upload-offset"),
        "2500000"
    );
    let md5 = h
        .tus(
            "PATCH",
            &location,
            &[
                ("content-type", "application/offset+octet-stream"),
                ("upload-offset", "2500000"),
                ("upload-checksum", "md5 xxx"),
            ],
            rest.to_vec(),
        )
        .await;
    assert_eq!(md5.status, StatusCode::BAD_REQUEST);

    let good_sum = format!(
        "sha256 {}",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(rest))
    );
    let mut headers = patch_headers("2500000");
    headers.push(("upload-checksum", &good_sum));
    headers.push(("x-http-method-override", "PATCH"));
    let done = h.tus("POST", &location, &headers, rest.to_vec()).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.json);
    assert_eq!(done.header("upload-offset"), len);
    let shown = h.send("GET", &location, &[], vec![]).await;
    assert_eq!(shown.json["state"], "complete");
    assert_eq!(shown.json["sha256"], hex::encode(Sha256::digest(&file)));

    assert_eq!(
        h.tus("DELETE", &location, &[], vec![]).await.status,
        StatusCode::NO_CONTENT
    );
    let gone = h.tus("HEAD", &location, &[], vec![]).await;
    assert_eq!(gone.status, StatusCode::GONE);
    assert_eq!(
        h.tus("PATCH", &location, &patch_headers("0"), vec![1])
            .await
            .status,
        StatusCode::GONE
    );
}

#[tokio::test]
async fn tus_creation_with_upload() {
    let h = host(1 << 30).await;
    let created = h
        .tus(
            "POST",
            "/v1/uploads",
            &[
                ("upload-length", "10"),
                ("content-type", "application/offset+octet-stream"),
            ],
            b"0123456".to_vec(),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.header("upload-offset"), "7");
    let location = created.header("location").to_owned();
    let rest = h
        .tus("PATCH", &location, &patch_headers("7"), b"789".to_vec())
        .await;
    assert_eq!(rest.header("upload-offset"), "10");
}

#[tokio::test]
async fn chunked_upload_with_a_retried_chunk_and_completion_checks() {
    let h = host(1 << 30).await;
    let file = sample_model("llama", 3).to_bytes();
    let start = serde_json::json!({"file_name": "m.gguf", "total_size": file.len()});
    let started = h
        .send(
            "POST",
            "/v1/chunked-upload/start",
            &[("content-type", "application/json")],
            start.to_string().into_bytes(),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.json);
    let id = started.json["upload_id"].as_str().unwrap().to_owned();
    let (a, b) = file.split_at(5000);
    let chunk = |offset: usize| format!("/v1/chunked-upload/chunk?upload_id={id}&offset={offset}");
    let first = h.send("POST", &chunk(0), &[], a.to_vec()).await;
    assert_eq!(first.json["offset"], 5000);
    let complete = serde_json::json!({"upload_id": id})
        .to_string()
        .into_bytes();
    let early = h
        .send(
            "POST",
            "/v1/chunked-upload/complete",
            &[("content-type", "application/json")],
            complete.clone(),
        )
        .await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    let len = a.len().to_string();
    let retried = h
        .send("POST", &chunk(0), &[("content-length", &len)], a.to_vec())
        .await;
    assert_eq!(
        (retried.status, retried.json["offset"].as_u64()),
        (StatusCode::OK, Some(5000)),
        "a retried chunk is acknowledged"
    );
    let second = h
        .send(
            "POST",
            &format!(
                "/v1/chunked-upload/chunk?upload_id={id}&offset=5000&sha256={}",
                hex::encode(Sha256::digest(b))
            ),
            &[],
            b.to_vec(),
        )
        .await;
    assert_eq!(second.json["complete"], true, "{}", second.json);
    let wrong = serde_json::json!({"upload_id": id, "sha256": "00".repeat(32)})
        .to_string()
        .into_bytes();
    assert_eq!(
        h.send(
            "POST",
            "/v1/chunked-upload/complete",
            &[("content-type", "application/json")],
            wrong
        )
        .await
        .status
        .as_u16(),
        460
    );
    let done = h
        .send(
            "POST",
            "/v1/chunked-upload/complete",
            &[("content-type", "application/json")],
            complete,
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.json);
    assert_eq!(done.json["report"]["architecture"], "llama");
    assert_eq!(done.json["report"]["quantization"], "Q4_K_M");
}

#[tokio::test]
async fn single_request_upload_validates_and_leaves_nothing_when_refused() {
    let h = host(1 << 30).await;
    let no_length = h
        .send("POST", "/v1/models/upload?file_name=m.gguf", &[], vec![])
        .await;
    assert_eq!(no_length.status, StatusCode::LENGTH_REQUIRED);
    let broken = b"GGUF\x01\x00\x00\x00 obsolete version one".to_vec();
    let len = broken.len().to_string();
    let refused = h
        .send(
            "POST",
            "/v1/models/upload?file_name=m.gguf",
            &[("content-length", &len)],
            broken,
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unsupported GGUF version 1"),
        "{}",
        refused.json
    );
    let uploads = h.send("GET", "/v1/uploads", &[], vec![]).await;
    assert_eq!(
        uploads.json["uploads"][0]["state"], "expired",
        "the refused upload is removed: {}",
        uploads.json
    );

    let file = sample_model("gemma3", 2).to_bytes();
    let len = file.len().to_string();
    let sha = hex::encode(Sha256::digest(&file));
    let ok = h
        .send(
            "POST",
            &format!("/v1/models/upload?file_name=g.gguf&sha256={sha}"),
            &[("content-length", &len)],
            file,
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.json);
    assert_eq!(ok.json["upload"]["sha256"], sha);
    assert_eq!(ok.json["report"]["gguf_version"], 2);
}
