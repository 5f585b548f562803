//! The HTTP surface: routes, the middleware Ollama runs in front of them (Host-header guard), the
//! test knobs that act on every request, and gin's plain-text 404/405.

mod blobs;
mod chat;
mod completion;
mod create;
mod embed;
mod generate;
mod models;
mod pull;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::json;

use super::fault;
use super::state::Sim;
use super::wire::{ApiError, json_response};

/// Shared state of every handler.
type Shared = State<Arc<Sim>>;

/// All of Ollama's native routes (digest §0–12).
pub(crate) fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/api/version", get(version))
        .route("/api/status", get(status).head(method_not_allowed))
        .route("/api/tags", get(models::tags))
        .route("/api/ps", get(models::ps).head(method_not_allowed))
        .route("/api/show", post(models::show))
        .route("/api/copy", post(models::copy))
        .route("/api/delete", delete(models::delete))
        .route("/api/pull", post(pull::pull))
        .route("/api/push", post(pull::push))
        .route("/api/create", post(create::create))
        .route("/api/blobs/{digest}", post(blobs::upload).head(blobs::head))
        .route("/api/generate", post(generate::generate))
        .route("/api/chat", post(chat::chat))
        .route("/api/embed", post(embed::embed))
        .route("/api/embeddings", post(embed::embeddings))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(sim.clone(), fail_next))
        .layer(middleware::from_fn_with_state(sim.clone(), host_guard))
        .layer(middleware::from_fn_with_state(sim.clone(), count))
        .layer(middleware::from_fn_with_state(sim.clone(), stall))
        .with_state(sim)
}

/// gin's plain-text error pages.
fn plain(status: StatusCode, body: &'static str) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

pub(crate) async fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "404 page not found")
}

async fn method_not_allowed() -> Response {
    plain(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed")
}

async fn root() -> Response {
    (StatusCode::OK, "Ollama is running").into_response()
}

async fn version(State(sim): Shared) -> Response {
    json_response(StatusCode::OK, &json!({ "version": sim.knobs.version() }))
}

async fn status() -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "cloud": { "disabled": false, "source": "none" } }),
    )
}

/// `SimControl::stall`: a stalled simulator reads the request and answers only once it recovers.
async fn stall(State(sim): Shared, request: Request, next: Next) -> Response {
    fault::wait_while_stalled(&sim.knobs.fault).await;
    next.run(request).await
}

/// Counts every request by path, for `SimControl::request_count`.
async fn count(State(sim): Shared, request: Request, next: Next) -> Response {
    sim.knobs.count(request.uri().path());
    next.run(request).await
}

/// Ollama's `allowedHostsMiddleware`: bound to loopback, only local Host headers get through.
async fn host_guard(State(sim): Shared, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !sim.guard_hosts.load(Ordering::Relaxed) || allowed_host(host, &sim.hostname) {
        if request.method() == axum::http::Method::OPTIONS
            && sim.guard_hosts.load(Ordering::Relaxed)
        {
            return StatusCode::NO_CONTENT.into_response();
        }
        return next.run(request).await;
    }
    StatusCode::FORBIDDEN.into_response()
}

fn allowed_host(host_header: &str, hostname: &str) -> bool {
    let host = split_host(host_header).to_lowercase();
    if let Ok(ip) = host.parse::<IpAddr>() {
        let private = match ip {
            IpAddr::V4(v4) => v4.is_private(),
            IpAddr::V6(v6) => v6.segments()[0] & 0xfe00 == 0xfc00,
        };
        return ip.is_loopback() || ip.is_unspecified() || private;
    }
    host.is_empty()
        || host == "localhost"
        || (!hostname.is_empty() && host == hostname)
        || [".localhost", ".local", ".internal"]
            .iter()
            .any(|tld| host.ends_with(tld))
}

/// Go's `net.SplitHostPort`, falling back to the whole value when it has no valid port part.
fn split_host(value: &str) -> &str {
    if let Some(rest) = value.strip_prefix('[') {
        return match rest.split_once("]:") {
            Some((host, _)) => host,
            None => value,
        };
    }
    match value.rsplit_once(':') {
        Some((host, _)) if !host.contains(':') => host,
        _ => value,
    }
}

/// `SimControl::fail_next`: the next N `/api/` requests fail with the planned error.
/// `SimControl::set_response_delay`: every `/api/` request waits first.
async fn fail_next(State(sim): Shared, request: Request, next: Next) -> Response {
    let delay = sim.knobs.response_delay();
    if !delay.is_zero() && request.uri().path().starts_with("/api/") {
        tokio::time::sleep(delay).await;
    }
    if request.uri().path().starts_with("/api/")
        && let Some((status, message)) = sim.knobs.take_failure()
    {
        return ApiError::new(status, message).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_hosts_like_ollama() {
        for ok in [
            "localhost:11434",
            "127.0.0.1:1",
            "[::1]:80",
            "10.0.0.5",
            "0.0.0.0:1",
            "app.localhost",
            "nas.local",
            "x.internal",
            "",
        ] {
            assert!(allowed_host(ok, "myhost"), "{ok}");
        }
        assert!(allowed_host("MyHost:11434", "myhost"));
        for bad in [
            "evil.example.com",
            "8.8.8.8:80",
            "localhost.evil.com",
            "[::1]",
        ] {
            assert!(!allowed_host(bad, "myhost"), "{bad}");
        }
    }
}
