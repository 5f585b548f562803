//! The wire: Ollama's error bodies, Go-compatible JSON output and time stamps, request decoding
//! with Go's error texts, `options`, and the NDJSON stream plumbing shared by every streaming route.

use std::io;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Offset, TimeZone, Timelike};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::keep_alive::KeepAlive;

/// `application/json; charset=utf-8`, what gin's `c.JSON` sends.
const JSON: &str = "application/json; charset=utf-8";
const NDJSON: &str = "application/x-ndjson";

/// An Ollama error: a status and `{"error":"…"}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: u16, message: impl Into<String>) -> ApiError {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &serde_json::json!({ "error": self.message }))
    }
}

/// What every route handler returns.
pub(crate) type ApiResult = Result<Response, ApiError>;

/// Serialises like Go's `json.Marshal`: `<`, `>`, `&`, U+2028 and U+2029 are escaped.
pub(crate) fn go_json<T: Serialize>(value: &T) -> Vec<u8> {
    let plain = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    let mut out = Vec::with_capacity(plain.len() + 16);
    let mut i = 0;
    while let Some(&b) = plain.get(i) {
        match (b, plain.get(i + 1..i + 3)) {
            (b'<', _) => out.extend_from_slice(b"\\u003c"),
            (b'>', _) => out.extend_from_slice(b"\\u003e"),
            (b'&', _) => out.extend_from_slice(b"\\u0026"),
            (0xE2, Some([0x80, last @ (0xA8 | 0xA9)])) => {
                out.extend_from_slice(if *last == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    out
}

/// A JSON response as gin's `c.JSON` writes it.
pub(crate) fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response {
    json_bytes(status, go_json(value))
}

/// A response with an already serialised JSON body.
pub(crate) fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// `200` with an empty body (copy, delete, blobs).
pub(crate) fn empty(status: StatusCode) -> Response {
    (status, Body::empty()).into_response()
}

/// A time stamp as Go marshals `time.Time`: RFC 3339 with trailing zeros of the fraction dropped.
pub(crate) fn go_time<Tz: TimeZone>(time: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let nanos = time.nanosecond() % 1_000_000_000;
    let fraction = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_owned()
    };
    let offset = time.offset().fix().local_minus_utc();
    let zone = if offset == 0 {
        "Z".to_owned()
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        format!(
            "{sign}{:02}:{:02}",
            offset.abs() / 3600,
            offset.abs() % 3600 / 60
        )
    };
    format!("{}{fraction}{zone}", time.format("%Y-%m-%dT%H:%M:%S"))
}

/// Go's `strconv.Quote`, for error texts that use `%q`.
pub(crate) fn go_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The Go name of a JSON value's kind, as used in `json: cannot unmarshal <kind> into …`.
fn go_kind(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(_) => "bool".to_owned(),
        Value::Number(n) if n.is_f64() => format!("number {n}"),
        Value::Number(_) => "number".to_owned(),
        Value::String(_) => "string".to_owned(),
        Value::Array(_) => "array".to_owned(),
        Value::Object(_) => "object".to_owned(),
    }
}

/// A decoded JSON request body, read field by field with Go's type-error texts.
#[derive(Debug)]
pub(crate) struct Req {
    fields: Map<String, Value>,
    /// The Go struct name used in error texts, e.g. `GenerateRequest` or `ChatRequest.messages`.
    ty: String,
}

impl Req {
    /// Decodes a body like gin's `ShouldBindJSON`: only the first JSON value counts.
    pub(crate) fn parse(body: &[u8], ty: &str) -> Result<Req, ApiError> {
        let mut values = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
        match values.next() {
            None => Err(ApiError::bad_request("missing request body")),
            Some(Err(e)) if e.is_eof() => Err(ApiError::bad_request("unexpected EOF")),
            Some(Err(e)) => Err(ApiError::bad_request(syntax_error(body, &e))),
            Some(Ok(value)) => Req::from_value(value, ty),
        }
    }

    /// Wraps a nested object (a chat message, a tool call).
    pub(crate) fn from_value(value: Value, ty: &str) -> Result<Req, ApiError> {
        match value {
            Value::Object(fields) => Ok(Req {
                fields,
                ty: ty.to_owned(),
            }),
            Value::Null => Ok(Req {
                fields: Map::new(),
                ty: ty.to_owned(),
            }),
            other => Err(ApiError::bad_request(format!(
                "json: cannot unmarshal {} into Go value of type api.{ty}",
                go_kind(&other)
            ))),
        }
    }

    /// A field by exact name, else case-insensitively (Go's rule); `null` counts as absent.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        let value = self.fields.get(key).or_else(|| {
            self.fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        });
        value.filter(|v| !v.is_null())
    }

    /// Go's `json: cannot unmarshal <kind> into Go struct field <Struct>.<key> of type <type>`.
    pub(crate) fn type_error(&self, key: &str, value: &Value, go_type: &str) -> ApiError {
        ApiError::bad_request(format!(
            "json: cannot unmarshal {} into Go struct field {}.{key} of type {go_type}",
            go_kind(value),
            self.ty
        ))
    }

    /// A string field; absent is "".
    pub(crate) fn string(&self, key: &str) -> Result<String, ApiError> {
        match self.get(key) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(self.type_error(key, other, "string")),
        }
    }

    /// `model`, falling back to the deprecated `name`.
    pub(crate) fn model(&self) -> Result<String, ApiError> {
        let model = self.string("model")?;
        if model.is_empty() {
            self.string("name")
        } else {
            Ok(model)
        }
    }

    pub(crate) fn flag(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.type_error(key, other, "bool")),
        }
    }

    pub(crate) fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.type_error(key, v, "int")),
            Some(other) => Err(self.type_error(key, other, "int")),
        }
    }

    pub(crate) fn array(&self, key: &str, go_type: &str) -> Result<Vec<Value>, ApiError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(other) => Err(self.type_error(key, other, go_type)),
        }
    }

    pub(crate) fn strings(&self, key: &str) -> Result<Vec<String>, ApiError> {
        let items = self.array(key, "[]string")?;
        items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                other => Err(self.type_error(key, &other, "string")),
            })
            .collect()
    }

    pub(crate) fn object(&self, key: &str, go_type: &str) -> Result<Map<String, Value>, ApiError> {
        match self.get(key) {
            None => Ok(Map::new()),
            Some(Value::Object(map)) => Ok(map.clone()),
            Some(other) => Err(self.type_error(key, other, go_type)),
        }
    }

    /// `stream`, which defaults to true.
    pub(crate) fn stream(&self) -> Result<bool, ApiError> {
        Ok(self.flag("stream")?.unwrap_or(true))
    }

    /// `keep_alive`; `None` when absent.
    pub(crate) fn keep_alive(&self) -> Result<Option<KeepAlive>, ApiError> {
        self.get("keep_alive")
            .map(KeepAlive::from_json)
            .transpose()
            .map_err(ApiError::bad_request)
    }

    /// `images`: base64 strings decoded as Go decodes `[]byte`.
    pub(crate) fn images(&self) -> Result<Vec<String>, ApiError> {
        let images = self.strings("images")?;
        for image in &images {
            decode_base64(image).map_err(ApiError::bad_request)?;
        }
        Ok(images)
    }
}

/// Go's `illegal base64 data at input byte N` check for `[]byte` fields.
fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let cleaned: String = text.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .map_err(|e| {
            let at = match e {
                base64::DecodeError::InvalidByte(at, _)
                | base64::DecodeError::InvalidLastSymbol(at, _) => at,
                _ => cleaned.len(),
            };
            format!("illegal base64 data at input byte {at}")
        })
}

/// Go's `invalid character 'x' looking for beginning of value` for a JSON syntax error.
fn syntax_error(body: &[u8], error: &serde_json::Error) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text
        .lines()
        .nth(error.line().saturating_sub(1))
        .unwrap_or_default();
    let found = line
        .chars()
        .nth(error.column().saturating_sub(1))
        .or_else(|| line.chars().last());
    match found {
        Some(c) => format!(
            "invalid character {} looking for beginning of value",
            go_char(c)
        ),
        None => "unexpected EOF".to_owned(),
    }
}

fn go_char(c: char) -> String {
    match c {
        '\'' => "'\\''".to_owned(),
        '"' => "'\"'".to_owned(),
        c if c.is_control() => format!("'\\x{:02x}'", c as u32),
        c => format!("'{c}'"),
    }
}

/// The `think` field: a bool or a level string.
pub(crate) fn think_value(req: &Req, levels: bool) -> Result<Option<bool>, ApiError> {
    match req.get("think") {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(level)) if levels => match level.as_str() {
            "high" | "medium" | "low" | "max" => Ok(Some(true)),
            _ => Err(ApiError::bad_request(format!(
                "invalid think value: {} (must be \"high\", \"medium\", \"low\", true, or false)",
                go_quote(level)
            ))),
        },
        Some(_) if levels => Err(ApiError::bad_request(
            "think must be a boolean or string (\"high\", \"medium\", \"low\", true, or false)",
        )),
        Some(other) => Err(req.type_error("think", other, "bool")),
    }
}

/// The `options` Ollama reads here; the rest are validated and ignored.
#[derive(Clone, Debug, Default)]
pub(crate) struct Options {
    pub(crate) num_ctx: Option<i64>,
    pub(crate) num_predict: Option<i64>,
    pub(crate) seed: Option<i64>,
    pub(crate) stop: Option<Vec<String>>,
}

#[derive(Clone, Copy)]
enum Kind {
    Int,
    Float,
    Bool,
    Strings,
}

/// The options table (digest §0); unknown keys are ignored, as Ollama only logs them.
const OPTION_KINDS: &[(&str, Kind)] = &[
    ("num_ctx", Kind::Int),
    ("num_predict", Kind::Int),
    ("num_keep", Kind::Int),
    ("seed", Kind::Int),
    ("temperature", Kind::Float),
    ("top_k", Kind::Int),
    ("top_p", Kind::Float),
    ("min_p", Kind::Float),
    ("typical_p", Kind::Float),
    ("repeat_last_n", Kind::Int),
    ("repeat_penalty", Kind::Float),
    ("presence_penalty", Kind::Float),
    ("frequency_penalty", Kind::Float),
    ("stop", Kind::Strings),
    ("num_batch", Kind::Int),
    ("num_gpu", Kind::Int),
    ("main_gpu", Kind::Int),
    ("use_mmap", Kind::Bool),
    ("num_thread", Kind::Int),
];

impl Options {
    /// Applies an option map over `self` (model parameters first, then the request), like `FromMap`.
    pub(crate) fn apply(mut self, map: &Map<String, Value>) -> Result<Options, ApiError> {
        for (key, value) in map {
            let Some((_, kind)) = OPTION_KINDS.iter().find(|(name, _)| name == key) else {
                continue;
            };
            if value.is_null() {
                continue;
            }
            let wrong = |what: &str| {
                ApiError::bad_request(format!("option {} must be of {what}", go_quote(key)))
            };
            match kind {
                Kind::Int => {
                    let n = value.as_f64().ok_or_else(|| wrong("type integer"))? as i64;
                    match key.as_str() {
                        "num_ctx" => self.num_ctx = Some(n),
                        "num_predict" => self.num_predict = Some(n),
                        "seed" => self.seed = Some(n),
                        _ => {}
                    }
                }
                Kind::Float if !value.is_number() => return Err(wrong("type float32")),
                Kind::Bool if !value.is_boolean() => return Err(wrong("type boolean")),
                Kind::Strings => {
                    let items = value.as_array().ok_or_else(|| wrong("type array"))?;
                    let stop = items
                        .iter()
                        .map(|i| i.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>();
                    self.stop = Some(stop.ok_or_else(|| wrong("an array of strings"))?);
                }
                Kind::Float | Kind::Bool => {}
            }
        }
        Ok(self)
    }
}

/// One item of a streamed response, produced by a route's background task.
#[derive(Debug)]
pub(crate) enum Item {
    /// A JSON object, written as one NDJSON line.
    Line(Vec<u8>),
    /// An error: a JSON error response if nothing was written yet, else a final `{"error"}` line.
    Fail(u16, String),
    /// Abort the connection without another byte.
    Drop,
}

/// Serialises one line of a stream.
pub(crate) fn line<T: Serialize>(value: &T) -> Item {
    Item::Line(go_json(value))
}

/// Ollama's `streamResponse`: the status and headers wait for the first item, so an error that
/// comes first is a plain JSON error with its own status; later errors end the stream.
pub(crate) async fn stream_response(mut items: mpsc::Receiver<Item>) -> Response {
    let first = match items.recv().await {
        Some(Item::Fail(status, message)) => return ApiError::new(status, message).into_response(),
        Some(Item::Drop) => return aborted(),
        Some(Item::Line(bytes)) => Some(bytes),
        None => None,
    };
    let first = futures_util::stream::iter(first.map(Item::Line));
    let body = first
        .chain(ReceiverStream::new(items))
        .map(|item| match item {
            Item::Line(mut bytes) => {
                bytes.push(b'\n');
                Ok(Bytes::from(bytes))
            }
            Item::Fail(_, message) => {
                let mut bytes = go_json(&serde_json::json!({ "error": message }));
                bytes.push(b'\n');
                Ok(Bytes::from(bytes))
            }
            Item::Drop => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "simulated connection drop",
            )),
        });
    let mut response = Response::new(Body::from_stream(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    response
}

/// Ollama's `waitForStream` (`stream:false` on pull, push and create): the last status, or the error.
pub(crate) async fn wait_for_stream(mut items: mpsc::Receiver<Item>) -> Response {
    let mut latest = go_json(&serde_json::json!({ "status": "" }));
    while let Some(item) = items.recv().await {
        match item {
            Item::Line(bytes) => latest = bytes,
            Item::Fail(status, message) => return ApiError::new(status, message).into_response(),
            Item::Drop => return aborted(),
        }
    }
    json_bytes(StatusCode::OK, latest)
}

/// A response whose body fails at once, so the connection closes before a complete reply.
pub(crate) fn aborted() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<Bytes, io::Error>(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "simulated connection drop",
        ))
    });
    Response::new(Body::from_stream(failing))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_like_go() {
        assert_eq!(
            go_json(&json!({"t": "<a&b>\u{2028}"})),
            br#"{"t":"\u003ca\u0026b\u003e\u2028"}"#.to_vec()
        );
    }

    #[test]
    fn formats_times_like_go() {
        let t = chrono::DateTime::parse_from_rfc3339("2024-05-01T10:00:00.120000+02:00")
            .expect("valid");
        assert_eq!(go_time(&t), "2024-05-01T10:00:00.12+02:00");
        assert_eq!(
            go_time(&t.with_timezone(&chrono::Utc)),
            "2024-05-01T08:00:00.12Z"
        );
    }

    #[test]
    fn decodes_with_go_errors() {
        assert_eq!(
            Req::parse(b"  ", "GenerateRequest")
                .expect_err("should fail")
                .message,
            "missing request body"
        );
        assert_eq!(
            Req::parse(b"{\"model\":", "GenerateRequest")
                .expect_err("should fail")
                .message,
            "unexpected EOF"
        );
        assert_eq!(
            Req::parse(b"xyz", "GenerateRequest")
                .expect_err("should fail")
                .message,
            "invalid character 'x' looking for beginning of value"
        );
        assert_eq!(
            Req::parse(b"[]", "GenerateRequest")
                .expect_err("should fail")
                .message,
            "json: cannot unmarshal array into Go value of type api.GenerateRequest"
        );
        let req =
            Req::parse(br#"{"Model":"m","prompt":5} trailing"#, "GenerateRequest").expect("valid");
        assert_eq!(req.string("model").expect("valid"), "m");
        assert_eq!(
            req.string("prompt").expect_err("should fail").message,
            "json: cannot unmarshal number into Go struct field GenerateRequest.prompt of type string"
        );
        assert_eq!(
            Req::parse(br#"{"images":["%%%"]}"#, "GenerateRequest")
                .expect("valid")
                .images()
                .expect_err("should fail")
                .message,
            "illegal base64 data at input byte 0"
        );
    }

    #[test]
    fn validates_options() {
        let opts = |v: Value| Options::default().apply(v.as_object().expect("valid"));
        assert_eq!(
            opts(json!({"num_predict": 5.0, "bogus": 1}))
                .expect("valid")
                .num_predict,
            Some(5)
        );
        assert_eq!(
            opts(json!({"num_predict": "5"}))
                .expect_err("should fail")
                .message,
            r#"option "num_predict" must be of type integer"#
        );
        assert_eq!(
            opts(json!({"temperature": "hot"}))
                .expect_err("should fail")
                .message,
            r#"option "temperature" must be of type float32"#
        );
        assert_eq!(
            opts(json!({"stop": [1]})).expect_err("should fail").message,
            r#"option "stop" must be of an array of strings"#
        );
    }
}
