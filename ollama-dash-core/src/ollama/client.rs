//! The Ollama HTTP client: a connection pool per node (and per serving thread), a timeout fit
//! for each call.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, USER_AGENT};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::stream::NdjsonStream;
use super::transport::{self, Body, Pools, SendError};
use super::types::*;
use crate::config::DashboardConfig;
use crate::error::{Error, Result};

/// An answer from Ollama, its body still to be read.
pub type Upstream = http::Response<Incoming>;

/// A cheap-to-clone client for one Ollama server.
#[derive(Debug, Clone)]
pub struct OllamaClient {
    pools: Arc<Pools>,
    base: Arc<str>,
    /// The URIs of the calls made for requests ([`HOT_PATHS`]), parsed once: parsing one
    /// per request was ~4 % of a proxied request's CPU.
    hot: Arc<[(&'static str, Uri)]>,
    request_timeout: Duration,
    idle_timeout: Duration,
    pull_timeout: Duration,
}

/// The paths called for requests (not only by the probes): their URIs are parsed once.
const HOT_PATHS: [&str; 6] = [
    "/api/chat",
    "/api/generate",
    "/api/embed",
    "/api/embeddings",
    "/api/show",
    "/api/tags",
];

/// What every request says it is.
fn agent() -> HeaderValue {
    HeaderValue::from_static(concat!("ollama-dash/", env!("CARGO_PKG_VERSION")))
}

/// How long a call may take in total.
#[derive(Debug, Clone, Copy)]
enum Budget {
    /// Quick metadata calls (`tags`, `ps`, `show`, …).
    Quick,
    /// Generation and embedding: bounded by the idle timeout while waiting for the answer.
    Generation,
    /// Pull, push, create, blob upload: long.
    Transfer,
}

impl OllamaClient {
    /// Builds a client for the dashboard's own Ollama ([`DashboardConfig::primary_host`]).
    pub fn new(config: &DashboardConfig) -> Result<Self> {
        Self::with_host(config, config.primary_host())
    }

    /// Builds a client for the Ollama at `host` (Ollama's `[scheme://]host[:port][/path]`
    /// form), with the timeouts of `config`.
    pub fn with_host(config: &DashboardConfig, host: &str) -> Result<Self> {
        let base = super::host::parse_ollama_host(host)?;
        let hot = HOT_PATHS
            .iter()
            .map(|&path| {
                format!("{base}{path}")
                    .parse::<Uri>()
                    .map(|uri| (path, uri))
                    .map_err(|e| Error::Config {
                        key: "OLLAMA_HOST".to_owned(),
                        message: format!("{base}{path}: {e}"),
                    })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            hot,
            pools: Arc::new(Pools::new(
                config.connect_timeout(),
                config.upstream_max_idle_per_node,
            )),
            base: base.into(),
            request_timeout: Duration::from_secs(config.request_timeout_secs),
            idle_timeout: Duration::from_secs(config.stream_idle_timeout_secs),
            pull_timeout: Duration::from_secs(config.pull_timeout_secs),
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:11434`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends `request` (its URI from [`uri`](Self::uri)) through this node's pool for the
    /// calling thread (see [`serve_from_this_thread`](super::serve_from_this_thread)), as it
    /// is, for the host's byte-for-byte passthrough: any status is an answer; only a transport
    /// failure is an error. Adds a `User-Agent` if it has none.
    pub async fn exchange(
        &self,
        mut request: Request<Body>,
    ) -> std::result::Result<Upstream, SendError> {
        request
            .headers_mut()
            .entry(USER_AGENT)
            .or_insert_with(agent);
        self.pools.send(request).await
    }

    /// `HEAD /`: is Ollama up?
    pub async fn heartbeat(&self) -> Result<()> {
        let request = self.request(Method::HEAD, "/", transport::empty())?;
        self.call(request, "HEAD /", Budget::Quick).await.map(drop)
    }

    /// `GET /api/version`.
    pub async fn version(&self) -> Result<VersionResponse> {
        self.get_json("/api/version").await
    }

    /// `GET /api/tags`: local models.
    pub async fn tags(&self) -> Result<TagsResponse> {
        self.get_json("/api/tags").await
    }

    /// `GET /api/ps`: loaded models.
    pub async fn ps(&self) -> Result<PsResponse> {
        self.get_json("/api/ps").await
    }

    /// `POST /api/show`.
    pub async fn show(&self, request: &ShowRequest) -> Result<ShowResponse> {
        self.post_json("/api/show", request, Budget::Quick).await
    }

    /// `POST /api/generate` with `stream: false`.
    pub async fn generate(&self, request: &GenerateRequest) -> Result<GenerateResponse> {
        let request = request.with_stream(false);
        self.post_json("/api/generate", &request, Budget::Generation)
            .await
    }

    /// `POST /api/generate`, streamed.
    pub async fn generate_stream(
        &self,
        request: &GenerateRequest,
    ) -> Result<NdjsonStream<GenerateResponse>> {
        self.stream("/api/generate", request, Budget::Generation)
            .await
    }

    /// `POST /api/chat` with `stream: false`.
    pub async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let request = request.with_stream(false);
        self.post_json("/api/chat", &request, Budget::Generation)
            .await
    }

    /// `POST /api/chat`, streamed.
    pub async fn chat_stream(&self, request: &ChatRequest) -> Result<NdjsonStream<ChatResponse>> {
        self.stream("/api/chat", request, Budget::Generation).await
    }

    /// `POST /api/embed`.
    pub async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse> {
        self.post_json("/api/embed", request, Budget::Generation)
            .await
    }

    /// Legacy `POST /api/embeddings`.
    pub async fn embeddings(&self, request: &EmbeddingsRequest) -> Result<EmbeddingsResponse> {
        self.post_json("/api/embeddings", request, Budget::Generation)
            .await
    }

    /// `POST /api/pull`, streamed progress.
    pub async fn pull_stream(
        &self,
        request: &PullRequest,
    ) -> Result<NdjsonStream<ProgressResponse>> {
        self.stream("/api/pull", request, Budget::Transfer).await
    }

    /// `POST /api/push`, streamed progress.
    pub async fn push_stream(
        &self,
        request: &PullRequest,
    ) -> Result<NdjsonStream<ProgressResponse>> {
        self.stream("/api/push", request, Budget::Transfer).await
    }

    /// `POST /api/create`, streamed status.
    pub async fn create_stream(
        &self,
        request: &CreateRequest,
    ) -> Result<NdjsonStream<ProgressResponse>> {
        self.stream("/api/create", request, Budget::Transfer).await
    }

    /// `POST /api/copy`.
    pub async fn copy(&self, request: &CopyRequest) -> Result<()> {
        let request = self.json_request(Method::POST, "/api/copy", request)?;
        self.call(request, "POST /api/copy", Budget::Quick)
            .await
            .map(drop)
    }

    /// `DELETE /api/delete`.
    pub async fn delete(&self, request: &DeleteRequest) -> Result<()> {
        let request = self.json_request(Method::DELETE, "/api/delete", request)?;
        self.call(request, "DELETE /api/delete", Budget::Quick)
            .await
            .map(drop)
    }

    /// `HEAD /api/blobs/{digest}`: does Ollama already hold this blob?
    pub async fn blob_exists(&self, digest: &str) -> Result<bool> {
        let path = format!("/api/blobs/{digest}");
        let request = self.request(Method::HEAD, &path, transport::empty())?;
        match self.call(request, "HEAD /api/blobs", Budget::Quick).await {
            Ok(_) => Ok(true),
            Err(Error::Ollama { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `POST /api/blobs/{digest}` with a streamed body; Ollama verifies the digest.
    pub async fn upload_blob<S>(&self, digest: &str, length: u64, body: S) -> Result<()>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static,
    {
        let path = format!("/api/blobs/{digest}");
        let mut request = self.request(Method::POST, &path, transport::streamed(body))?;
        request
            .headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(length));
        // Ollama answers once it has the whole blob: read that answer (a `201`, no body).
        self.call(request, "POST /api/blobs", Budget::Transfer)
            .await
            .map(drop)
    }

    /// The URI of `path` (with `query`) on this node.
    pub fn uri(&self, path: &str, query: Option<&str>) -> Result<Uri> {
        let hot = self.hot.iter().find(|(hot, _)| *hot == path);
        let parsed = match (hot, query) {
            (Some((_, uri)), None) => return Ok(uri.clone()),
            (_, None) => format!("{}{path}", self.base).parse::<Uri>(),
            (_, Some(query)) => format!("{}{path}?{query}", self.base).parse::<Uri>(),
        };
        parsed.map_err(|e| Error::BadRequest(format!("{path} is no path on {}: {e}", self.base)))
    }

    fn request(&self, method: Method, path: &str, body: Body) -> Result<Request<Body>> {
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = self.uri(path, None)?;
        Ok(request)
    }

    fn json_request<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<Request<Body>> {
        let json = serde_json::to_vec(body)
            .map_err(|e| Error::Protocol(format!("{method} {path}: encoding the body: {e}")))?;
        let mut request = self.request(method, path, transport::full(json))?;
        request
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(request)
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let what = format!("GET {path}");
        let request = self.request(Method::GET, path, transport::empty())?;
        let body = self.call(request, &what, Budget::Quick).await?;
        decode(&body, &what)
    }

    async fn post_json<Req: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
        budget: Budget,
    ) -> Result<T> {
        let what = format!("POST {path}");
        let request = self.json_request(Method::POST, path, body)?;
        let body = self.call(request, &what, budget).await?;
        decode(&body, &what)
    }

    /// `POST path` with `stream: true`: the answer's lines as they arrive, each given at most
    /// the idle timeout (and a transfer all of it at most the pull timeout).
    async fn stream<R: Streamable>(
        &self,
        path: &str,
        request: &R,
        budget: Budget,
    ) -> Result<NdjsonStream<R::Line>> {
        let what = format!("POST {path}");
        let request = self.json_request(Method::POST, path, &request.with_stream(true))?;
        let started = tokio::time::Instant::now();
        let wait = self.wait(budget);
        let response = tokio::time::timeout(wait, self.send(request))
            .await
            .map_err(|_| timed_out(&what, wait))??;
        let body = response.into_body().into_data_stream();
        Ok(match budget {
            Budget::Transfer => {
                // The whole transfer: a body cut off at the deadline is a truncated stream.
                let deadline = tokio::time::sleep_until(started + wait);
                NdjsonStream::new(body.take_until(deadline), self.idle_timeout)
            }
            Budget::Quick | Budget::Generation => NdjsonStream::new(body, self.idle_timeout),
        })
    }

    /// How long a call of `budget` may wait.
    fn wait(&self, budget: Budget) -> Duration {
        match budget {
            Budget::Quick => self.request_timeout,
            Budget::Generation => self.idle_timeout,
            Budget::Transfer => self.pull_timeout,
        }
    }

    /// Sends `request` and reads its answer's whole body, all within the budget's time (read
    /// to the end, so the connection goes back to the pool).
    async fn call(&self, request: Request<Body>, what: &str, budget: Budget) -> Result<Bytes> {
        let wait = self.wait(budget);
        let call = async {
            let response = self.send(request).await?;
            read_body(response)
                .await
                .map_err(|e| Error::Protocol(format!("{what}: body failed: {e}")))
        };
        tokio::time::timeout(wait, call)
            .await
            .map_err(|_| timed_out(what, wait))?
    }

    /// Sends a request and turns transport failures and error statuses into [`Error`].
    async fn send(&self, request: Request<Body>) -> Result<Upstream> {
        let response = self
            .exchange(request)
            .await
            .map_err(|e| Error::Unreachable {
                url: self.base.to_string(),
                message: transport::describe(&e),
            })?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(error_from_response(response).await)
    }
}

fn timed_out(what: &str, wait: Duration) -> Error {
    Error::Timeout {
        what: what.to_owned(),
        seconds: wait.as_secs(),
    }
}

/// An answer's whole body.
async fn read_body(response: Upstream) -> std::result::Result<Bytes, hyper::Error> {
    response
        .into_body()
        .collect()
        .await
        .map(|body| body.to_bytes())
}

fn decode<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::Protocol(format!("{what}: {e}")))
}

/// Reads Ollama's `{"error": "…"}` body (or whatever it sent) into [`Error::Ollama`].
async fn error_from_response(response: Upstream) -> Error {
    let status = response.status();
    let body = read_body(response).await.unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&body)
                .trim()
                .chars()
                .take(500)
                .collect::<String>();
            if text.is_empty() {
                reason(status)
            } else {
                text
            }
        });
    Error::Ollama {
        status: status.as_u16(),
        message,
    }
}

fn reason(status: StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests;
