//! Extractors whose rejections use our error shape: a JSON body, and path parameters.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Like `axum::Json`, but a bad body answers `{"error":{…}}` with 400/415/413.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(rejection_error(&rejection)),
        }
    }
}

fn rejection_error(rejection: &JsonRejection) -> ApiError {
    ApiError::new(rejection.status(), rejection.body_text())
}

/// Like `axum::extract::Path`, but a bad parameter (e.g. invalid percent-encoding) answers
/// `{"error":{…}}` with 400 instead of plain text.
#[derive(Debug)]
pub(crate) struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::new(rejection.status(), rejection.body_text())),
        }
    }
}

/// Like `axum::extract::Query`, but a bad query string (`limit=abc`, `page=-1`) answers
/// `{"error":{…}}` with 400 instead of plain text.
#[derive(Debug)]
pub(crate) struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        check_query_utf8(parts.uri.query().unwrap_or_default())?;
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::new(rejection.status(), rejection.body_text())),
        }
    }
}

/// Refuses a query string with a name or value that is not UTF-8 once percent-decoded
/// (`model=%FF`): the form decoder would quietly make it U+FFFD, a different value from the one
/// sent (a filter that finds nothing, a file name nobody chose). Broken escapes stay literal, as
/// the decoder keeps them.
fn check_query_utf8(query: &str) -> Result<(), ApiError> {
    for pair in query.split('&') {
        let decoded = percent_decode_lenient(pair);
        if std::str::from_utf8(&decoded).is_err() {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            let name = String::from_utf8_lossy(&percent_decode_lenient(name)).into_owned();
            return Err(ApiError::bad_request(format!(
                "the query parameter {name:?} is not valid UTF-8 once percent-decoded"
            ))
            .with_param(name));
        }
    }
    Ok(())
}

/// `%XX` escapes decoded; anything else (a broken escape too) kept as it is.
fn percent_decode_lenient(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = (b == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::check_query_utf8;

    #[test]
    fn queries_must_decode_to_utf8() {
        for ok in [
            "",
            "a=b",
            "model=llama3.2%3A1b&q=caf%C3%A9",
            "q=100%25",
            "q=%zz",
            "q=%",
            "flag",
        ] {
            assert!(check_query_utf8(ok).is_ok(), "{ok}");
        }
        for bad in ["model=%FF", "q=%C3%28", "a=b&c=%FE%FF", "%FF=x"] {
            assert!(check_query_utf8(bad).is_err(), "{bad}");
        }
    }
}
