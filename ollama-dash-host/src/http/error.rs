//! One JSON error shape for every route: `{"error":{"message":…,"type":…,"param":…,"code":…}}`,
//! OpenAI's shape, so the official SDKs raise the right exception on every route.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ollama_dash_core::ErrorKind;
use serde_json::json;

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
    param: Option<String>,
    code: Option<&'static str>,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
            param: None,
            code: None,
        }
    }

    /// Names the request field at fault (OpenAI's `param`).
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// Adds a machine-readable code (OpenAI's `code`, e.g. `model_not_found`).
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The body as JSON, for errors sent inside a stream.
    pub fn body(&self) -> serde_json::Value {
        json!({ "error": {
            "message": self.message,
            "type": self.kind(),
            "param": self.param,
            "code": self.code,
        } })
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "missing or invalid bearer token")
            .with_code("invalid_api_key")
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 429 with `Retry-After`.
    pub fn throttled(seconds: u64) -> Self {
        let message = format!("too many failed sign-ins from this address; retry in {seconds} s");
        Self {
            retry_after: Some(seconds),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, message)
        }
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `type` field, following OpenAI's names where they exist.
    fn kind(&self) -> &'static str {
        match self.status.as_u16() {
            400 | 405 | 411 | 413 | 415 | 422 | 431 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            409 | 423 => "conflict_error",
            410 => "not_found_error",
            412 => "invalid_request_error",
            460 => "checksum_error",
            429 => "rate_limit_error",
            502 | 504 => "upstream_error",
            503 => "unavailable_error",
            507 => "insufficient_storage_error",
            _ => "api_error",
        }
    }
}

/// How each kind of library error is answered: its status and OpenAI's `code`. The one table
/// from core's error kinds to the wire (the `type` follows from the status, as for the host's
/// own errors).
fn answer(kind: ErrorKind) -> (u16, Option<&'static str>) {
    const UPSTREAM: Option<&str> = Some("upstream_unavailable");
    match kind {
        ErrorKind::Invalid => (400, None),
        ErrorKind::NotFound => (404, Some("not_found")),
        ErrorKind::Forbidden => (403, None),
        ErrorKind::Conflict => (409, None),
        ErrorKind::Gone => (410, None),
        ErrorKind::TooLarge => (413, None),
        ErrorKind::InvalidModel => (422, None),
        ErrorKind::Locked => (423, None),
        // tus's own status for a checksum that does not match.
        ErrorKind::ChecksumMismatch => (460, None),
        ErrorKind::StorageFull | ErrorKind::DoesNotFit => (507, None),
        ErrorKind::Unreachable | ErrorKind::UpstreamFailed => (502, UPSTREAM),
        ErrorKind::Timeout => (504, UPSTREAM),
        ErrorKind::Unavailable => (503, None),
        ErrorKind::Busy => (429, Some("busy")),
        ErrorKind::Upstream(status) => (
            status,
            matches!(status, 502 | 504).then_some("upstream_unavailable"),
        ),
        _ => (500, None),
    }
}

/// The status an error of the library is answered with.
pub(crate) fn status_of(e: &ollama_dash_core::Error) -> u16 {
    status_of_kind(e.kind())
}

/// The status an error of this kind is answered with.
pub(crate) fn status_of_kind(kind: ErrorKind) -> u16 {
    answer(kind).0
}

impl From<ollama_dash_core::Error> for ApiError {
    fn from(e: ollama_dash_core::Error) -> Self {
        let (status, code) = answer(e.kind());
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error = %e, "request failed");
        }
        // One field at fault is OpenAI's `param`.
        let param = match &e {
            ollama_dash_core::Error::InvalidFields(fields) if fields.len() == 1 => {
                fields.first().map(|(field, _)| field.clone())
            }
            ollama_dash_core::Error::InvalidField { field, .. } => Some(field.clone()),
            _ => None,
        };
        Self {
            code,
            param,
            retry_after: e.retry_after_secs(),
            ..Self::new(status, e.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
