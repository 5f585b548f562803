//! The web page: files from `ollama-dash-host/web/` embedded in the binary at build time.
//!
//! `index.html` is served at `/` with `no-cache`; every other file lives under
//! `/assets/<build>/…`, where `<build>` is a hash of all embedded files, so those answers are
//! cached forever (`immutable`) and a new build changes every URL at once. Relative ES-module
//! imports keep working because they all sit under the same prefix. A strict CSP keeps the page
//! from reaching anything but its own origin.

use std::sync::LazyLock;

use crate::http::json::Path;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};
use tower_http::compression::CompressionLayer;

use super::AppState;
use super::error::ApiError;

#[derive(RustEmbed)]
#[folder = "web/"]
struct Assets;

/// Content security policy: our own origin only.
const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; \
                   script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
                   frame-ancestors 'none'";

/// Hash of every embedded file: the asset URL prefix.
static BUILD: LazyLock<String> = LazyLock::new(|| {
    let mut hasher = Sha256::new();
    let mut names: Vec<_> = Assets::iter().collect();
    names.sort();
    for name in names {
        if let Some(file) = Assets::get(&name) {
            hasher.update(name.as_bytes());
            hasher.update(file.metadata.sha256_hash());
        }
    }
    hex::encode(&hasher.finalize()[..6])
});

/// `GET /` and `GET /assets/<build>/*`; no auth (the page signs in itself).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{build}/{*path}", get(asset))
        .layer(CompressionLayer::new().gzip(true).br(true))
}

async fn index() -> Response {
    let Some(file) = Assets::get("index.html") else {
        return ApiError::not_found("the web page is not built into this binary").into_response();
    };
    let html =
        String::from_utf8_lossy(&file.data).replace("{{ASSETS}}", &format!("/assets/{}", *BUILD));
    let mut response = html.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn asset(Path((build, path)): Path<(String, String)>) -> Response {
    let Some(file) = Assets::get(&path).filter(|_| path != "index.html") else {
        return ApiError::not_found(format!("no asset {path}")).into_response();
    };
    let cache = if build == *BUILD {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache" // an old page asking for a file of this build: serve, but don't pin it
    };
    let mime = file.metadata.mimetype();
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..8]));
    let mut response = (StatusCode::OK, file.data.into_owned()).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(mime) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
