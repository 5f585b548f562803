//! Shared helpers: a simulator per test, the host app in-process, JSON requests.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use ollama_dash_core::{Dashboard, DashboardConfig};
use ollama_dash_host::auth::{Authenticator, ConfiguredKey};
use ollama_dash_host::http::{AppState, app};
use ollama_dash_host::plugins::{PluginHost, PluginsConfig};
use ollama_dash_host::sim::{SimConfig, SimHandle, Simulator};
use serde_json::Value;
use tower::ServiceExt;

/// The token every test host uses.
pub const TOKEN: &str = "test-token-0123456789";

/// A simulator with default settings (no delays).
pub async fn sim() -> SimHandle {
    Simulator::start(SimConfig::default())
        .await
        .expect("simulator starts")
}

/// A simulator with models loaded at start.
pub async fn sim_with_preload(models: &[&str]) -> SimHandle {
    let config = SimConfig {
        preload: models.iter().map(|m| (*m).to_owned()).collect(),
        ..SimConfig::default()
    };
    Simulator::start(config).await.expect("simulator starts")
}

/// A dashboard on a temp dir pointed at `ollama_url`.
pub async fn dashboard(ollama_url: &str) -> (tempfile::TempDir, Dashboard) {
    dashboard_with(ollama_url, |_| {}).await
}

/// A dashboard for `ollama_url` with its configuration changed by `configure`.
pub async fn dashboard_with(
    ollama_url: &str,
    configure: impl FnOnce(&mut DashboardConfig),
) -> (tempfile::TempDir, Dashboard) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = DashboardConfig::with_data_path(dir.path());
    config.ollama_host = ollama_url.to_owned();
    config.request_timeout_secs = 5;
    configure(&mut config);
    let dashboard = Dashboard::new(config).await.expect("dashboard opens");
    // Wait for one round of probes, as `serve` does, so reads find data.
    dashboard.refresh_all().await;
    (dir, dashboard)
}

/// The host's router in-process, with its dashboard.
pub struct TestHost {
    /// The router under test.
    pub router: Router,
    /// Its dashboard.
    #[allow(
        dead_code,
        reason = "for area tests that drive the library next to the router"
    )]
    pub dashboard: Dashboard,
    /// Its plugins (directory `<data>/plugins`, empty at start).
    pub plugins: PluginHost,
    _dir: tempfile::TempDir,
}

impl TestHost {
    /// A host talking to `ollama_url`, with extra CORS origins.
    pub async fn new(ollama_url: &str, cors: &[&str]) -> Self {
        Self::with_auth_limit(ollama_url, cors, 1000).await
    }

    /// A host whose throttle allows `limit` failed sign-ins per address per minute.
    pub async fn with_auth_limit(ollama_url: &str, cors: &[&str], limit: u32) -> Self {
        Self::build(ollama_url, cors, limit, &[]).await
    }

    /// A host with extra keys from the config file: `(name, key, role)`.
    pub async fn with_keys(ollama_url: &str, keys: &[(&str, &str, &str)]) -> Self {
        Self::build(ollama_url, &[], 1000, keys).await
    }

    /// A host whose dashboard configuration `configure` changes.
    pub async fn with_config(
        ollama_url: &str,
        configure: impl FnOnce(&mut DashboardConfig),
    ) -> Self {
        Self::build_with(ollama_url, &[], 1000, &[], configure).await
    }

    async fn build(
        ollama_url: &str,
        cors: &[&str],
        limit: u32,
        keys: &[(&str, &str, &str)],
    ) -> Self {
        Self::build_with(ollama_url, cors, limit, keys, |_| {}).await
    }

    async fn build_with(
        ollama_url: &str,
        cors: &[&str],
        limit: u32,
        keys: &[(&str, &str, &str)],
        configure: impl FnOnce(&mut DashboardConfig),
    ) -> Self {
        let (dir, dashboard) = dashboard_with(ollama_url, configure).await;
        let keys: Vec<ConfiguredKey> = keys
            .iter()
            .map(|(name, key, role)| ConfiguredKey {
                name: (*name).to_owned(),
                key: (*key).to_owned(),
                role: (*role).to_owned(),
            })
            .collect();
        let auth = Arc::new(
            Authenticator::new(TOKEN.to_owned(), limit)
                .with_configured_keys(&keys)
                .expect("test keys are valid"),
        );
        let origins: Vec<String> = cors.iter().map(|o| (*o).to_owned()).collect();
        let plugins = PluginHost::new(PluginsConfig::under(dir.path(), None)).expect("plugin host");
        let router = app(
            AppState {
                dashboard: dashboard.clone(),
                auth,
                plugins: plugins.clone(),
            },
            &origins,
        );
        Self {
            router,
            dashboard,
            plugins,
            _dir: dir,
        }
    }

    /// Sends a request as if from `127.0.0.1:4242`; the response as it comes, body unread.
    pub async fn open(&self, mut request: Request<Body>) -> axum::response::Response {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4242))));
        self.router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible")
    }

    /// Sends a request as if from `127.0.0.1:4242`.
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, http::HeaderMap, Value) {
        let response = self.open(request).await;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON body")
        };
        (status, headers, json)
    }

    /// Creates an API key `name` with `role` through `POST /api/keys`; its secret.
    pub async fn new_key(&self, name: &str, role: &str) -> String {
        let body = serde_json::json!({ "name": name, "role": role });
        let (status, created) = self.call("POST", "/api/keys", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created["key"]
            .as_str()
            .expect("the key's secret")
            .to_owned()
    }

    /// `method path` with the test token.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let request = authed(method, path, body, Some(TOKEN));
        let (status, _, json) = self.send(request).await;
        (status, json)
    }
}

/// Builds a request with an optional bearer token and JSON body.
pub fn authed(method: &str, path: &str, body: Option<Value>, token: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    match body {
        Some(json) => builder
            .header("content-type", "application/json")
            .body(Body::from(json.to_string()))
            .expect("request"),
        None => builder.body(Body::empty()).expect("request"),
    }
}

/// Asserts the one error shape: `{"error":{"message":…,"type":…}}`.
pub fn assert_error_shape(json: &Value, kind: &str) {
    let error = json
        .get("error")
        .unwrap_or_else(|| panic!("no error object in {json}"));
    assert!(
        error
            .get("message")
            .and_then(Value::as_str)
            .is_some_and(|m| !m.is_empty()),
        "{json}"
    );
    assert_eq!(
        error.get("type").and_then(Value::as_str),
        Some(kind),
        "{json}"
    );
}
