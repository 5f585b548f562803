//! [`Client`]: the server's HTTP API, typed, over one reqwest client.

use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::api::{Import, Job, Message, Model, Node, RunningModel, Stopped, TracePage, TraceQuery};
use crate::error::{Error, Result};
use crate::sse::SseStream;

/// The tus version the server speaks.
const TUS_VERSION: &str = "1.0.0";

/// A connection to one ollama-dash server: its base URL and the bearer token to send.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client for the server at `base` (`http://127.0.0.1:8700`), sending `token` if any.
    pub fn new(base: &str, token: Option<String>) -> Result<Self> {
        // No total timeout: pulls, uploads and generations stream for as long as they take.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("ollama-dash-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// The base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The token sent, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// `path` (from `/`, or already absolute) made absolute.
    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.http.request(method, self.url(path));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// Sends; a refused connection and an error status become [`Error`]s.
    async fn send(&self, builder: RequestBuilder) -> Result<Response> {
        let response = builder.send().await.map_err(|e| {
            if e.is_connect() {
                Error::Unreachable {
                    url: self.base.clone(),
                    source: e,
                }
            } else {
                Error::Http(e)
            }
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.error_of(response).await)
    }

    /// The server's error answer as an [`Error::Api`] with its own message.
    async fn error_of(&self, response: Response) -> Error {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| {
                v.pointer("/error/message")
                    .or_else(|| v.get("error"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| {
                let text = body.trim();
                if text.is_empty() {
                    format!("the server answered {status}")
                } else {
                    text.to_owned()
                }
            });
        let message = if status == StatusCode::UNAUTHORIZED {
            let hint = if self.token.is_some() {
                "the token was refused"
            } else {
                "no token: pass --token, set OLLAMA_DASH_TOKEN, or run this on the server's \
                 machine (the token is read from DATA_PATH/auth-token)"
            };
            format!("{message} ({hint})")
        } else {
            message
        };
        Error::Api {
            status: status.as_u16(),
            message,
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        let response = self
            .send(self.request(Method::GET, path).query(query))
            .await?;
        Ok(response.json().await?)
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T> {
        let response = self
            .send(self.request(Method::POST, path).json(body))
            .await?;
        Ok(response.json().await?)
    }

    /// `value[key]` as `T`.
    fn field<T: DeserializeOwned>(mut value: Value, key: &str) -> Result<T> {
        let inner = value
            .get_mut(key)
            .map(Value::take)
            .ok_or_else(|| Error::Protocol(format!("no `{key}` in the answer")))?;
        serde_json::from_value(inner).map_err(|e| Error::Protocol(format!("`{key}`: {e}")))
    }

    /// `POST /api/auth/verify`: the key's name and role when the token is right.
    pub async fn verify(&self) -> Result<Value> {
        self.post("/api/auth/verify", &json!({})).await
    }

    /// `GET /api/models/available`: installed models.
    pub async fn models(&self) -> Result<Vec<Model>> {
        Self::field(self.get("/api/models/available", &[]).await?, "models")
    }

    /// `GET /api/models/running`: loaded models.
    pub async fn running(&self) -> Result<Vec<RunningModel>> {
        Self::field(self.get("/api/models/running", &[]).await?, "models")
    }

    /// `GET /api/nodes`: the fleet's nodes (one, `default`, without a fleet).
    pub async fn nodes(&self) -> Result<Vec<Node>> {
        Self::field(self.get("/api/nodes", &[]).await?, "nodes")
    }

    /// `POST /api/nodes`: adds a node (`node` as a `[[nodes]]` entry); its state.
    pub async fn add_node(&self, node: &Value) -> Result<Node> {
        self.post("/api/nodes", node).await
    }

    /// `DELETE /api/nodes/{name}`: removes a node added at run time.
    pub async fn remove_node(&self, name: &str) -> Result<()> {
        let path = format!("/api/nodes/{}", segment(name));
        self.send(self.request(Method::DELETE, &path)).await?;
        Ok(())
    }

    /// `POST /api/nodes/{name}/drain` (or `/undrain`): the nodes after the change.
    pub async fn drain_node(&self, name: &str, drain: bool) -> Result<Vec<Node>> {
        let action = if drain { "drain" } else { "undrain" };
        let path = format!("/api/nodes/{}/{action}", segment(name));
        Self::field(self.post(&path, &json!({})).await?, "nodes")
    }

    /// `GET /api/models/show?name=`: details, parameters, capabilities, template, `model_info`.
    pub async fn show(&self, name: &str) -> Result<Value> {
        self.get("/api/models/show", &[("name", name.to_owned())])
            .await
    }

    /// `POST /api/models/delete`: one delete job per node.
    pub async fn delete(&self, name: &str, nodes: Option<Value>) -> Result<Vec<Job>> {
        let answer = self
            .post("/api/models/delete", &model_body(name, nodes))
            .await?;
        Self::field(answer, "jobs")
    }

    /// `POST /api/models/stop`: unloads the model (where `nodes` says, else everywhere).
    pub async fn stop(&self, name: &str, nodes: Option<Value>) -> Result<Stopped> {
        self.post("/api/models/stop", &model_body(name, nodes))
            .await
    }

    /// `POST /api/models/copy`: the server's answer (`source`, `destination`).
    pub async fn copy(&self, source: &str, destination: &str) -> Result<Value> {
        let body = json!({ "source": source, "destination": destination });
        self.post("/api/models/copy", &body).await
    }

    /// `POST /api/models/pull`: the pull jobs, started (one per node).
    pub async fn pull(&self, name: &str, nodes: Option<Value>) -> Result<Vec<Job>> {
        let answer = self
            .post("/api/models/pull", &model_body(name, nodes))
            .await?;
        Self::field(answer, "jobs")
    }

    /// `GET /api/jobs/{id}`.
    pub async fn job(&self, id: &str) -> Result<Job> {
        self.get(&format!("/api/jobs/{id}"), &[]).await
    }

    /// `POST /api/jobs/{id}/cancel`.
    pub async fn cancel_job(&self, id: &str) -> Result<Job> {
        self.post(&format!("/api/jobs/{id}/cancel"), &json!({}))
            .await
    }

    /// `GET /api/events`: the event stream, open (subscribed) when this returns.
    pub async fn events(&self) -> Result<SseStream> {
        let builder = self
            .request(Method::GET, "/api/events")
            .header("accept", "text/event-stream");
        Ok(SseStream::new(self.send(builder).await?))
    }

    /// `GET /v1/traces` with filters, newest first.
    pub async fn traces(&self, query: &TraceQuery) -> Result<TracePage> {
        let mut params = Vec::new();
        if let Some(limit) = query.limit {
            params.push(("limit", limit.to_string()));
        }
        if let Some(model) = &query.model {
            params.push(("model", model.clone()));
        }
        if let Some(status) = &query.status {
            params.push(("status", status.clone()));
        }
        if let Some(since) = query.since_ms {
            params.push(("since", since.to_string()));
        }
        self.get("/v1/traces", &params).await
    }

    /// `POST /v1/chat/completions` with `stream: true`: the SSE answer, open.
    /// `node` pins the node that answers (`X-Ollama-Dash-Node`).
    pub async fn chat_stream(
        &self,
        model: &str,
        messages: &[Message],
        node: Option<&str>,
    ) -> Result<SseStream> {
        let body = json!({ "model": model, "messages": messages, "stream": true });
        let mut builder = self
            .request(Method::POST, "/v1/chat/completions")
            .json(&body);
        if let Some(node) = node {
            builder = builder.header("x-ollama-dash-node", node);
        }
        Ok(SseStream::new(self.send(builder).await?))
    }

    /// tus creation (`POST /v1/uploads`): the new upload's absolute URL.
    pub async fn create_upload(&self, length: u64, metadata: &str) -> Result<String> {
        let builder = self
            .request(Method::POST, "/v1/uploads")
            .header("tus-resumable", TUS_VERSION)
            .header("upload-length", length)
            .header("upload-metadata", metadata);
        let response = self.send(builder).await?;
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Protocol("the upload was created without a Location".into()))?;
        Ok(self.url(location))
    }

    /// tus `HEAD`: the server's durable offset, or `None` when the upload is gone (404/410).
    pub async fn upload_offset(&self, location: &str) -> Result<Option<u64>> {
        let builder = self
            .request(Method::HEAD, location)
            .header("tus-resumable", TUS_VERSION);
        match self.send(builder).await {
            Ok(response) => offset_header(response.headers().get("upload-offset")).map(Some),
            Err(Error::Api {
                status: 404 | 410, ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// tus `PATCH`: appends `bytes` at `offset`; the server's new offset.
    pub async fn append_upload(&self, location: &str, offset: u64, bytes: Vec<u8>) -> Result<u64> {
        let builder = self
            .request(Method::PATCH, location)
            .header("tus-resumable", TUS_VERSION)
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset)
            .body(bytes);
        let response = self.send(builder).await?;
        offset_header(response.headers().get("upload-offset"))
    }

    /// `GET /v1/models/imports`: every import, newest first.
    pub async fn imports(&self) -> Result<Vec<Import>> {
        Self::field(self.get("/v1/models/imports", &[]).await?, "imports")
    }

    /// `GET /v1/models/imports/{id}`.
    pub async fn import(&self, id: &str) -> Result<Import> {
        self.get(&format!("/v1/models/imports/{id}"), &[]).await
    }
}

/// `{"model", "nodes"?}`, the body of the model actions.
fn model_body(name: &str, nodes: Option<Value>) -> Value {
    let mut body = json!({ "model": name });
    if let Some(nodes) = nodes {
        body["nodes"] = nodes;
    }
    body
}

/// `raw` as one URL path segment (percent-encoded but for unreserved characters).
fn segment(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn offset_header(value: Option<&HeaderValue>) -> Result<u64> {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::Protocol("no Upload-Offset in the tus answer".into()))
}
