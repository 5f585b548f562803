//! The front door: what every request goes through before routing, in one step rather than
//! one middleware layer each (a layer clones the service below it and boxes a future per
//! request; benches/RESULTS.md, issue 14, has what the five layers cost).
//!
//! In order: the access log starts its clock; an alias (the Prem SDK's `/api/v1/…` paths, one
//! trailing slash) becomes the served path, so the role table and the handlers see one path;
//! a head with too many or too large headers gets 431; a path that is not canonical gets 400
//! (see [`super::path_guard`]); then the router answers, an `OPTIONS` on the uploads gets the
//! tus discovery headers, and the access log writes its line with the final status.

use std::convert::Infallible;
use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

use super::{ApiError, AppState, access_log, openai, path_guard, uploads};

/// Most header lines a request may carry.
const MAX_HEADERS: usize = 100;
/// Most bytes of header names and values a request may carry.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// What the front door needs to know, taken once from the state.
#[derive(Debug, Clone, Copy)]
pub(super) struct Front {
    /// Largest upload accepted, for `Tus-Max-Size`.
    upload_max_bytes: u64,
}

impl Front {
    /// The front door of `state`'s server.
    pub(super) fn new(state: &AppState) -> Self {
        Self {
            upload_max_bytes: state.dashboard.config().upload_max_bytes,
        }
    }

    /// Serves `request` through `app`.
    pub(super) async fn serve(
        self,
        app: Router,
        mut request: Request,
    ) -> Result<Response, Infallible> {
        // Only the path is logged (the query may carry secrets), as the client sent it.
        let logged = access_log::enabled().then(|| {
            (
                Instant::now(),
                request.method().clone(),
                request.uri().clone(),
            )
        });
        if let Some(uri) = openai::alias(request.uri()) {
            *request.uri_mut() = uri;
        }
        let response = match refusal(&request) {
            Some(refused) => refused,
            None => {
                let discovery = uploads::is_discovery(&request);
                let mut response = app.oneshot(request).await?;
                if discovery {
                    uploads::discovery_headers(&mut response, self.upload_max_bytes);
                }
                response
            }
        };
        Ok(match logged {
            Some((started, method, uri)) => access_log::line(started, &method, &uri, response),
            None => response,
        })
    }
}

/// The answer to a request refused before routing: a head too large, or a path not canonical.
fn refusal(request: &Request) -> Option<Response> {
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        // hyper itself reads up to `connections::MAX_HEAD_BYTES`, answering only past that,
        // with no body; this answers within it, in the JSON error shape.
        let message = format!(
            "request headers too large: {} lines, {bytes} bytes (at most {MAX_HEADERS} lines, \
             {MAX_HEADER_BYTES} bytes)",
            headers.len()
        );
        return Some(
            ApiError::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, message).into_response(),
        );
    }
    path_guard::check(request.uri().path()).err().map(|why| {
        ApiError::bad_request(format!("{why}; send the path in its plain form"))
            .with_code("non_canonical_path")
            .into_response()
    })
}
