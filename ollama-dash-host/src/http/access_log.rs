//! The access log: one line per request at `info` under the target [`TARGET`], with the
//! method, the path (never the query string: it may carry secrets), the final status, the time
//! to the response's head in milliseconds (a stream goes on after it), and the caller's key
//! name (`-` when the request was not signed in). Never the token.
//!
//! The front door ([`super::front`]) writes it around everything else, so it sees the status
//! every layer settled on (401, 404, 431, a panic's 500). The key name comes from the auth layer ([`require_token`]), which
//! puts a [`KeyName`] on the response, because the request (and the `Principal` in it) is gone
//! by the time the answer comes back. With the target filtered out (`RUST_LOG=…,
//! ollama_dash::access=off`) neither does anything more than one cached check.
//!
//! [`require_token`]: super::require_token

use std::time::Instant;

use axum::response::Response;

/// The tracing target of access-log lines.
pub const TARGET: &str = "ollama_dash::access";

/// The caller's key name, for the access log (set on the response by the auth layer).
#[derive(Debug, Clone)]
pub(crate) struct KeyName(pub(crate) String);

/// Whether access-log lines are wanted (a check tracing caches per call site).
pub(crate) fn enabled() -> bool {
    tracing::enabled!(target: TARGET, tracing::Level::INFO)
}

/// Logs the line of a request that `started` then, once its response's head is ready.
pub(crate) fn line(
    started: Instant,
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    mut response: Response,
) -> Response {
    let key = response.extensions_mut().remove::<KeyName>();
    let micros = started.elapsed().as_micros();
    tracing::info!(
        target: TARGET,
        method = %method,
        path = %uri.path(),
        status = response.status().as_u16(),
        duration_ms = micros as f64 / 1000.0,
        key = %key.as_ref().map_or("-", |k| k.0.as_str()),
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use std::sync::Arc;

    use axum::body::Body;
    use http::Request;
    use ollama_dash_core::{Dashboard, DashboardConfig};
    use tower::ServiceExt;

    use crate::auth::{Authenticator, ConfiguredKey};
    use crate::http::{AppState, app};

    const TOKEN: &str = "access-log-test-token-0123";
    const CI_KEY: &str = "access-log-ci-key-4567-secret";

    async fn router(dir: &std::path::Path) -> axum::Router {
        let mut config = DashboardConfig::with_data_path(dir);
        config.ollama_host = "127.0.0.1:9".to_owned();
        let dashboard = Dashboard::new(config).await.unwrap();
        let key = ConfiguredKey {
            name: "ci-runner".to_owned(),
            key: CI_KEY.to_owned(),
            role: "viewer".to_owned(),
        };
        let auth = Authenticator::new(TOKEN.to_owned(), 100)
            .with_configured_keys(&[key])
            .unwrap();
        let plugins =
            crate::plugins::PluginHost::new(crate::plugins::PluginsConfig::under(dir, None))
                .unwrap();
        app(
            AppState {
                dashboard,
                auth: Arc::new(auth),
                plugins,
            },
            &[],
        )
    }

    async fn send(router: &axum::Router, method: &str, uri: &str, token: Option<&str>) -> u16 {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        response.status().as_u16()
    }

    /// The access lines logged, one per request.
    fn access_lines(logs: &str) -> Vec<&str> {
        logs.lines().filter(|l| l.contains(super::TARGET)).collect()
    }

    #[tokio::test]
    async fn one_line_per_request_with_method_path_status_duration_and_key_never_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let (_guard, logs) = crate::logging::capture_logs();
        let router = router(dir.path()).await;

        let secret_query = format!("/api/auth/verify?token={TOKEN}&x=1");
        assert_eq!(send(&router, "POST", &secret_query, Some(TOKEN)).await, 200);
        assert_eq!(
            send(&router, "POST", "/api/auth/verify", Some(CI_KEY)).await,
            200
        );
        assert_eq!(send(&router, "GET", "/api/health", None).await, 401);
        // A viewer may not create keys: the key is named on a refusal too.
        assert_eq!(send(&router, "POST", "/api/keys", Some(CI_KEY)).await, 403);
        // No route: the auth layer never ran, so no key is known.
        assert_eq!(
            send(&router, "GET", "/no/such/route", Some(TOKEN)).await,
            404
        );
        assert_eq!(send(&router, "GET", "/ping", None).await, 200);

        let logs = logs.text();
        let lines = access_lines(&logs);
        assert_eq!(lines.len(), 6, "one line per request:\n{logs}");
        let expected = [
            ("POST", "/api/auth/verify", 200, "admin"),
            ("POST", "/api/auth/verify", 200, "ci-runner"),
            ("GET", "/api/health", 401, "-"),
            ("POST", "/api/keys", 403, "ci-runner"),
            ("GET", "/no/such/route", 404, "-"),
            ("GET", "/ping", 200, "-"),
        ];
        for (line, (method, path, status, key)) in lines.iter().zip(expected) {
            assert!(line.contains(" INFO "), "{line}");
            for field in [
                format!("method={method}"),
                format!("path={path} "),
                format!("status={status}"),
                format!("key={key}"),
            ] {
                assert!(line.contains(&field), "{field} in {line}");
            }
            let ms = line
                .split("duration_ms=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok());
            assert!(ms.is_some_and(|ms| ms >= 0.0), "duration_ms in {line}");
        }
        assert!(
            !logs.contains(TOKEN) && !logs.contains(CI_KEY) && !logs.contains("x=1"),
            "no token, key or query string in the log:\n{logs}"
        );
    }
}
