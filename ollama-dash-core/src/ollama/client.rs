//! The Ollama HTTP client: a connection pool per node (and per serving thread), a timeout fit
//! for each call.

use std::cell::RefCell;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::stream::NdjsonStream;
use super::types::*;
use crate::config::DashboardConfig;
use crate::error::{Error, Result};

/// A cheap-to-clone client for one Ollama server.
#[derive(Debug, Clone)]
pub struct OllamaClient {
    pools: Arc<Pools>,
    base: Arc<str>,
    /// The URLs of the calls made for requests ([`HOT_PATHS`]), parsed once: parsing one
    /// per request was ~4 % of a proxied request's CPU.
    hot: Arc<[(&'static str, reqwest::Url)]>,
    request_timeout: Duration,
    idle_timeout: Duration,
    pull_timeout: Duration,
}

/// The paths called for requests (not only by the probes): their URLs are parsed once.
const HOT_PATHS: [&str; 6] = [
    "/api/chat",
    "/api/generate",
    "/api/embed",
    "/api/embeddings",
    "/api/show",
    "/api/tags",
];

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
        let pools = Pools::new(config.connect_timeout(), config.upstream_max_idle_per_node)
            .map_err(|e| Error::Config {
                key: "OLLAMA_HOST".to_owned(),
                message: e.to_string(),
            })?;
        let base = super::host::parse_ollama_host(host)?;
        let hot = HOT_PATHS
            .iter()
            .map(|&path| {
                reqwest::Url::parse(&format!("{base}{path}"))
                    .map(|url| (path, url))
                    .map_err(|e| Error::Config {
                        key: "OLLAMA_HOST".to_owned(),
                        message: format!("{base}{path}: {e}"),
                    })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            hot,
            pools: Arc::new(pools),
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

    /// The reqwest client (the pool) of this node for the calling thread, for the host's
    /// byte-for-byte passthrough: see [`serve_from_this_thread`].
    pub fn http(&self) -> reqwest::Client {
        self.pools.for_this_thread()
    }

    /// `HEAD /`: is Ollama up?
    pub async fn heartbeat(&self) -> Result<()> {
        self.send(self.request(Method::HEAD, "/"), "HEAD /", Budget::Quick)
            .await
            .map(drop)
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
        let builder = self.request(Method::POST, "/api/copy").json(request);
        self.send(builder, "POST /api/copy", Budget::Quick)
            .await
            .map(drop)
    }

    /// `DELETE /api/delete`.
    pub async fn delete(&self, request: &DeleteRequest) -> Result<()> {
        let builder = self.request(Method::DELETE, "/api/delete").json(request);
        self.send(builder, "DELETE /api/delete", Budget::Quick)
            .await
            .map(drop)
    }

    /// `HEAD /api/blobs/{digest}`: does Ollama already hold this blob?
    pub async fn blob_exists(&self, digest: &str) -> Result<bool> {
        let path = format!("/api/blobs/{digest}");
        match self
            .send(
                self.request(Method::HEAD, &path),
                "HEAD /api/blobs",
                Budget::Quick,
            )
            .await
        {
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
        let builder = self
            .request(Method::POST, &path)
            .header(reqwest::header::CONTENT_LENGTH, length)
            .body(reqwest::Body::wrap_stream(body));
        self.send(builder, "POST /api/blobs", Budget::Transfer)
            .await
            .map(drop)
    }

    /// The URL of `path` (with `query`) on this node.
    pub fn url(&self, path: &str, query: Option<&str>) -> Result<reqwest::Url> {
        let mut url = match self.hot.iter().find(|(hot, _)| *hot == path) {
            Some((_, url)) => url.clone(),
            None => reqwest::Url::parse(&format!("{}{path}", self.base)).map_err(|e| {
                Error::BadRequest(format!("{path} is no path on {}: {e}", self.base))
            })?,
        };
        if query.is_some() {
            url.set_query(query);
        }
        Ok(url)
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let http = self.http();
        match self.url(path, None) {
            Ok(url) => http.request(method, url),
            // reqwest reports the bad URL when the request is sent.
            Err(_) => http.request(method, format!("{}{path}", self.base)),
        }
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let what = format!("GET {path}");
        let response = self
            .send(self.request(Method::GET, path), &what, Budget::Quick)
            .await?;
        decode(response, &what).await
    }

    async fn post_json<Req: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
        budget: Budget,
    ) -> Result<T> {
        let what = format!("POST {path}");
        let response = self
            .send(self.request(Method::POST, path).json(body), &what, budget)
            .await?;
        decode(response, &what).await
    }

    /// `POST path` with `stream: true`: the answer's lines as they arrive, each given at most
    /// the idle timeout.
    async fn stream<R: Streamable>(
        &self,
        path: &str,
        request: &R,
        budget: Budget,
    ) -> Result<NdjsonStream<R::Line>> {
        let what = format!("POST {path}");
        let body = request.with_stream(true);
        let response = self
            .send(self.request(Method::POST, path).json(&body), &what, budget)
            .await?;
        Ok(NdjsonStream::new(
            response.bytes_stream(),
            self.idle_timeout,
        ))
    }

    /// Sends a request and turns transport failures and error statuses into [`Error`].
    async fn send(&self, builder: RequestBuilder, what: &str, budget: Budget) -> Result<Response> {
        let (builder, wait) = match budget {
            Budget::Quick => (builder.timeout(self.request_timeout), self.request_timeout),
            Budget::Generation => (builder, self.idle_timeout),
            Budget::Transfer => (builder.timeout(self.pull_timeout), self.pull_timeout),
        };
        let timeout = || Error::Timeout {
            what: what.to_owned(),
            seconds: wait.as_secs(),
        };
        let response = tokio::time::timeout(wait, builder.send())
            .await
            .map_err(|_| timeout())?
            .map_err(|e| {
                if e.is_timeout() {
                    timeout()
                } else {
                    self.unreachable(&e)
                }
            })?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(error_from_response(response).await)
    }

    fn unreachable(&self, error: &reqwest::Error) -> Error {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            message = format!("{message}: {inner}");
            source = inner.source();
        }
        Error::Unreachable {
            url: self.base.to_string(),
            message,
        }
    }
}

/// The connection pools of one node: one shared, and one for each serving thread.
#[derive(Debug)]
struct Pools {
    shared: reqwest::Client,
    connect_timeout: Duration,
    max_idle: usize,
}

/// A serving thread's own pools: how many serving threads there are, and this thread's pool of
/// each node it has called, by the node's [`Pools`].
type ThreadPools = (usize, Vec<(Weak<Pools>, reqwest::Client)>);

thread_local! {
    /// Set on a serving thread only (see [`serve_from_this_thread`]).
    static THREAD_POOLS: RefCell<Option<ThreadPools>> = const { RefCell::new(None) };
}

/// Marks the calling thread as one of `threads` that serve connections, each on a
/// single-threaded runtime: from now on its calls to a node go through a pool of its own, holding
/// a share (`upstream_max_idle_per_node` / (`threads` + 1), at least 1) of the node's idle
/// connections; the share left over is the shared pool's, which the probes use.
///
/// A pooled connection is a task on the runtime that opened it: one shared pool let a request on
/// one thread reuse a connection another thread had opened, and every exchange on it woke that
/// thread (benches/RESULTS.md, issue 14). Other threads (background probes, tests) use the
/// shared pool.
pub fn serve_from_this_thread(threads: usize) {
    THREAD_POOLS.with_borrow_mut(|pools| *pools = Some((threads.max(1), Vec::new())));
}

impl Pools {
    /// The pools of a node: the shared one built now, the threads' ones on their first call.
    fn new(connect_timeout: Duration, max_idle: usize) -> reqwest::Result<Self> {
        Ok(Self {
            shared: Self::build(connect_timeout, max_idle)?,
            connect_timeout,
            max_idle,
        })
    }

    /// A pool: a burst of N requests may open N connections, but no more than `max_idle` stay
    /// open once it is over.
    fn build(connect_timeout: Duration, max_idle: usize) -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(max_idle)
            .tcp_nodelay(true)
            .user_agent(concat!("ollama-dash/", env!("CARGO_PKG_VERSION")))
            .build()
    }

    fn for_this_thread(self: &Arc<Self>) -> reqwest::Client {
        THREAD_POOLS.with_borrow_mut(|pools| {
            let Some((threads, pools)) = pools else {
                return self.shared.clone();
            };
            let me = Arc::as_ptr(self);
            if let Some((_, client)) = pools.iter().find(|(p, _)| p.as_ptr() == me) {
                return client.clone();
            }
            // Pools of nodes gone (removed, or a dashboard closed) go with the next new one.
            pools.retain(|(p, _)| p.strong_count() > 0);
            // One share each for the serving threads and one left for the shared pool (the
            // probes'), so all of them together keep at most `max_idle`.
            let share = (self.max_idle / (*threads + 1)).max(1);
            match Self::build(self.connect_timeout, share) {
                Ok(client) => {
                    pools.push((Arc::downgrade(self), client.clone()));
                    client
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no pool of this thread's own; using the shared one");
                    self.shared.clone()
                }
            }
        })
    }
}

async fn decode<T: DeserializeOwned>(response: Response, what: &str) -> Result<T> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Error::Protocol(format!("{what}: body failed: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Protocol(format!("{what}: {e}")))
}

/// Reads Ollama's `{"error": "…"}` body (or whatever it sent) into [`Error::Ollama`].
async fn error_from_response(response: Response) -> Error {
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
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
