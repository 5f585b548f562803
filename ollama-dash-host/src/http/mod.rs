//! The HTTP API: [`app`] builds the whole router from an [`AppState`].

pub mod access_log;
pub mod caller;
mod chat;
mod error;
mod front;
mod imports;
mod json;
mod keys;
mod live;
mod metrics;
mod nodes;
mod openai;
pub mod openapi;
mod passthrough;
mod path_guard;
mod plugins;
pub mod sse;
mod system;
mod traces;
mod uploads;
mod usage;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ollama_dash_core::Dashboard;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use error::{ApiError, ApiResult};
pub use json::JsonBody;

use crate::auth::{Authenticator, Verdict, required_role};

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The library.
    pub dashboard: Dashboard,
    /// Token checks and throttling.
    pub auth: Arc<Authenticator>,
    /// The WASM plugins.
    pub plugins: crate::plugins::PluginHost,
}

/// Builds the router. `cors_origins` lists extra origins allowed to call the API from a browser.
pub fn app(state: AppState, cors_origins: &[String]) -> Router {
    let http_metrics = metrics::Metrics::new(state.dashboard.clone(), state.plugins.clone());
    let scrape_metrics = Arc::clone(&http_metrics);
    let api = Router::new()
        .route("/api/health", get(system::health))
        .route("/api/version", get(system::version))
        .route("/api/auth/verify", post(system::verify))
        .route("/openapi.json", get(openapi::serve))
        .merge(live::routes())
        .merge(nodes::routes())
        .route(
            "/metrics",
            get(move |headers: axum::http::HeaderMap| metrics::scrape(scrape_metrics, headers)),
        )
        .route("/api/keys", get(keys::list).post(keys::create))
        .route("/api/keys/{name}", axum::routing::delete(keys::delete))
        .merge(plugins::routes())
        .merge(openai::router())
        .route("/v1/traces/usage", get(usage::usage))
        .merge(traces::router())
        .merge(passthrough::router())
        .merge(chat::router())
        .merge(uploads::routes())
        .merge(imports::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    let front = front::Front::new(&state);
    let app = Router::new()
        .route("/ping", get(system::ping))
        .merge(web::routes())
        .merge(api)
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            )
        })
        .layer(middleware::from_fn(move |request, next| {
            metrics::track(Arc::clone(&http_metrics), request, next)
        }))
        .layer(cors(cors_origins))
        // A handler that panics answers 500 in the JSON shape instead of dropping the connection.
        .layer(CatchPanicLayer::custom(panicked))
        .with_state(state);
    // Before routing, in one step (see `front`): the access log, the aliases, the checks of the
    // head and the path, tus discovery.
    Router::new().fallback_service(tower::service_fn(move |request: Request| {
        front.serve(app.clone(), request)
    }))
}

/// Same-origin only unless origins are configured.
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::HEAD,
            Method::OPTIONS,
        ])
        .allow_headers(
            [header::AUTHORIZATION, header::CONTENT_TYPE]
                .into_iter()
                .chain(uploads::TUS_REQUEST_HEADERS.map(header::HeaderName::from_static))
                .collect::<Vec<_>>(),
        )
        .expose_headers(uploads::TUS_RESPONSE_HEADERS.map(header::HeaderName::from_static))
}

/// The answer to a request whose handler panicked (a bug): logged, and 500 in the JSON shape.
fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %what, "a request handler panicked");
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal error (a bug; it is in the server log)",
    )
    .into_response()
}

/// Lets a request through only with the right bearer token.
async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let addr = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match state.auth.check(authorization, addr) {
        Verdict::Allowed(principal) => {
            // For the access log, which sees the response only (the request is gone by then).
            let key = access_log::enabled().then(|| access_log::KeyName(principal.name.clone()));
            // The router's own template decides; it runs after routing, so it is always there.
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map(MatchedPath::as_str)
                .unwrap_or_default();
            let needed = required_role(request.method(), route, request.uri().path());
            if !principal.role.allows(needed) {
                let message = format!(
                    "the {} role cannot do this; it needs {needed}",
                    principal.role
                );
                let mut response =
                    ApiError::new(axum::http::StatusCode::FORBIDDEN, message).into_response();
                if let Some(key) = key {
                    response.extensions_mut().insert(key);
                }
                return response;
            }
            let mut request = request;
            request.extensions_mut().insert(principal);
            let mut response = next.run(request).await;
            if let Some(key) = key {
                response.extensions_mut().insert(key);
            }
            response
        }
        Verdict::Denied => ApiError::unauthorized().into_response(),
        Verdict::Throttled(seconds) => ApiError::throttled(seconds).into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_in_the_json_shape() {
        let router: Router = Router::new()
            .route(
                "/boom",
                get(|| async {
                    if true {
                        panic!("a bug");
                    }
                    "never"
                }),
            )
            .layer(CatchPanicLayer::custom(panicked));
        let request = axum::http::Request::get("/boom")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 500);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["type"], "api_error", "{json}");
    }
}
