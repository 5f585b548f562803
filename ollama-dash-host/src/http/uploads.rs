//! Uploads over HTTP, three ways, all thin over `Dashboard`'s upload calls:
//!
//! - tus 1.0.0 at `/v1/uploads` (core, creation, creation-with-upload, termination,
//!   expiration, checksum with sha256), so tus-js-client, Uppy and tuspy work unchanged.
//!   Metadata keys read: `filename` (or `name`), `model` (or `model_name`), and for the import
//!   `replace`, `base`, `system`, `template`, `parameters` (JSON).
//! - chunked: `POST /v1/chunked-upload/start`, `…/chunk`, `…/complete`.
//! - one request: `POST /v1/models/upload` with the raw file as the body.

use std::collections::BTreeMap;

use super::json::Query;
use crate::http::json::Path;
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use ollama_dash_core::fleet::Targets;
use ollama_dash_core::{
    Checksum, ImportInfo, ImportOptions, ImportRequest, ModelReport, NewUpload, UploadInfo,
};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::json::JsonBody;
use super::openapi::{Binary, JsonObject};

/// The tus version spoken.
pub(super) const TUS_VERSION: &str = "1.0.0";
/// The tus extensions supported.
pub(super) const TUS_EXTENSIONS: &str =
    "creation,creation-with-upload,termination,expiration,checksum";
/// Request headers a browser tus client sends (for CORS).
pub(super) const TUS_REQUEST_HEADERS: [&str; 7] = [
    "tus-resumable",
    "upload-length",
    "upload-offset",
    "upload-metadata",
    "upload-checksum",
    "upload-defer-length",
    "x-http-method-override",
];
/// Response headers a browser tus client must read (for CORS).
pub(super) const TUS_RESPONSE_HEADERS: [&str; 9] = [
    "location",
    "tus-resumable",
    "tus-version",
    "tus-extension",
    "tus-max-size",
    "tus-checksum-algorithm",
    "upload-offset",
    "upload-length",
    "upload-expires",
];
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

/// The upload routes (mounted behind the token check; the role policy makes changes admin-only).
/// Only the routes that stream a file's bytes lift axum's body limit; the JSON ones (`start`,
/// `complete`) keep it, so a huge JSON body is refused with 413 instead of being read.
pub(super) fn routes() -> Router<AppState> {
    let raw = Router::new()
        .route("/v1/uploads", get(list).post(tus_create))
        .route(
            "/v1/uploads/{id}",
            get(show)
                .head(tus_head)
                .patch(tus_patch)
                .delete(tus_delete)
                .post(tus_override),
        )
        .route("/v1/chunked-upload/chunk", post(chunked_chunk))
        .route("/v1/models/upload", post(single))
        .layer(axum::extract::DefaultBodyLimit::disable());
    Router::new()
        .route("/v1/chunked-upload/start", post(chunked_start))
        .route("/v1/chunked-upload/complete", post(chunked_complete))
        .merge(raw)
}

fn set(headers: &mut HeaderMap, name: &'static str, value: impl ToString) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// A tus response: status, `Tus-Resumable`, and whatever else.
fn tus(status: StatusCode) -> Response {
    let mut response = status.into_response();
    set(response.headers_mut(), "tus-resumable", TUS_VERSION);
    response
}

/// An error with `Tus-Resumable` (and `Tus-Version` on 412), in our JSON shape.
fn tus_error(error: ApiError) -> Response {
    let precondition = error.status() == StatusCode::PRECONDITION_FAILED;
    let mut response = error.into_response();
    set(response.headers_mut(), "tus-resumable", TUS_VERSION);
    if precondition {
        set(response.headers_mut(), "tus-version", TUS_VERSION);
    }
    response
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn check_version(headers: &HeaderMap) -> ApiResult<()> {
    match header_str(headers, "tus-resumable") {
        Some(TUS_VERSION) => Ok(()),
        Some(other) => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            format!("Tus-Resumable {other} is not supported; this server speaks {TUS_VERSION}"),
        )),
        None => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            format!("the Tus-Resumable header is missing; this server speaks {TUS_VERSION}"),
        )),
    }
}

fn parse_u64(headers: &HeaderMap, name: &str) -> ApiResult<Option<u64>> {
    header_str(headers, name)
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("{name} must be a non-negative integer, not {v:?}"))
            })
        })
        .transpose()
}

/// `Upload-Checksum: sha256 <base64>` (or `sha1 …`) → the digest.
fn parse_checksum(headers: &HeaderMap) -> ApiResult<Option<Checksum>> {
    let Some(value) = header_str(headers, "upload-checksum") else {
        return Ok(None);
    };
    let (algorithm, encoded) = value.split_once(' ').unwrap_or((value, ""));
    let digest = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .unwrap_or_default();
    let checksum = match algorithm.to_ascii_lowercase().as_str() {
        "sha256" => <[u8; 32]>::try_from(digest).ok().map(Checksum::Sha256),
        "sha1" => <[u8; 20]>::try_from(digest).ok().map(Checksum::Sha1),
        _ => {
            return Err(ApiError::bad_request(format!(
                "checksum algorithm {algorithm:?} is not supported; use sha256 or sha1"
            )));
        }
    };
    checksum.map(Some).ok_or_else(|| {
        ApiError::bad_request("Upload-Checksum must be `<algorithm> <base64 digest>`")
    })
}

/// `key base64,key2 base64,flag` → pairs (values kept as sent) and their decoded text.
fn parse_metadata(raw: &str) -> ApiResult<(BTreeMap<String, String>, BTreeMap<String, String>)> {
    let mut sent = BTreeMap::new();
    let mut decoded = BTreeMap::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        if key.is_empty() || sent.contains_key(key) {
            return Err(ApiError::bad_request(format!(
                "Upload-Metadata key {key:?} is empty or repeated"
            )));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| {
                ApiError::bad_request(format!("Upload-Metadata value of {key:?} is not base64"))
            })?;
        decoded.insert(key.to_owned(), String::from_utf8_lossy(&bytes).into_owned());
        sent.insert(key.to_owned(), value.trim().to_owned());
    }
    Ok((sent, decoded))
}

fn encode_metadata(metadata: &BTreeMap<String, String>) -> String {
    metadata
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k} {v}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Import options from metadata or a start request's text fields.
fn import_options(fields: &BTreeMap<String, String>) -> ApiResult<ImportOptions> {
    let text = |k: &str| fields.get(k).filter(|v| !v.is_empty()).cloned();
    let parameters = match text("parameters") {
        Some(p) => Some(serde_json::from_str(&p).map_err(|e| {
            ApiError::bad_request(format!("parameters must be a JSON object: {e}"))
        })?),
        None => None,
    };
    Ok(ImportOptions {
        base: text("base"),
        template: text("template"),
        system: text("system"),
        parameters,
        replace: matches!(text("replace").as_deref(), Some("true" | "1" | "yes")),
        // `nodes`: `all`, or names separated by commas.
        nodes: match text("nodes").as_deref() {
            None => Targets::Default,
            Some("all") => Targets::All,
            Some(list) => Targets::Named(list.split(',').map(|n| n.trim().to_owned()).collect()),
        },
    })
}

fn http_date(unix_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(unix_ms)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

fn upload_headers(response: &mut Response, info: &UploadInfo) {
    let headers = response.headers_mut();
    set(headers, "upload-offset", info.offset);
    set(headers, "upload-length", info.length);
    set(headers, "upload-expires", http_date(info.expires_at));
    set(headers, "cache-control", "no-store");
    if !info.metadata.is_empty() {
        set(headers, "upload-metadata", encode_metadata(&info.metadata));
    }
}

fn location(id: &str) -> String {
    format!("/v1/uploads/{id}")
}

/// Whether `request` is a tus discovery, `OPTIONS /v1/uploads[/{id}]`, whose answer gets
/// [`discovery_headers`]. Checked before routing, outside CORS (which answers every preflight
/// itself), so browser preflights get the tus headers too; no token needed, as for any
/// preflight.
pub(super) fn is_discovery(request: &Request) -> bool {
    request.method() == axum::http::Method::OPTIONS
        && (request.uri().path() == "/v1/uploads"
            || request.uri().path().starts_with("/v1/uploads/"))
}

/// What this server supports, on the answer to a tus discovery: 204 and the tus headers.
pub(super) fn discovery_headers(response: &mut Response, upload_max_bytes: u64) {
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    set(headers, "tus-resumable", TUS_VERSION);
    set(headers, "tus-version", TUS_VERSION);
    set(headers, "tus-extension", TUS_EXTENSIONS);
    set(headers, "tus-max-size", upload_max_bytes);
    set(headers, "tus-checksum-algorithm", "sha256,sha1");
}

/// `POST /v1/uploads`: creation (and creation-with-upload when a body comes along).
#[utoipa::path(post, path = "/v1/uploads", tag = "uploads", params(("Tus-Resumable" = String, Header, description = "`1.0.0`"), ("Upload-Length" = Option<u64>, Header, description = "The file's size in bytes"), ("Upload-Metadata" = Option<String>, Header, description = "tus metadata: `filename`, `name`, import options (base64 values)")), responses((status = 201, description = "Created: `Location` names the upload (tus 1.0 creation).")))]
async fn tus_create(State(state): State<AppState>, request: Request) -> Response {
    tus_create_inner(state, request)
        .await
        .unwrap_or_else(tus_error)
}

async fn tus_create_inner(state: AppState, request: Request) -> ApiResult<Response> {
    let headers = request.headers().clone();
    check_version(&headers)?;
    if headers.contains_key("upload-defer-length") {
        return Err(ApiError::bad_request(
            "Upload-Defer-Length is not supported: send Upload-Length (the file size)",
        ));
    }
    let length = parse_u64(&headers, "upload-length")?
        .ok_or_else(|| ApiError::bad_request("the Upload-Length header is missing"))?;
    let (metadata, fields) = parse_metadata(header_str(&headers, "upload-metadata").unwrap_or(""))?;
    let pick = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| fields.get(*k).filter(|v| !v.is_empty()).cloned())
    };
    let new = NewUpload {
        file_name: pick(&["filename", "name"]).unwrap_or_default(),
        length,
        model_name: pick(&["model", "model_name"]),
        import: import_options(&fields)?,
        metadata,
    };
    let info = state.dashboard.create_upload(new).await?;
    let with_body = header_str(&headers, "content-type") == Some(OFFSET_OCTET_STREAM)
        && parse_u64(&headers, "content-length")?.unwrap_or(1) > 0;
    let info = if with_body && info.length > 0 {
        let checksum = parse_checksum(&headers)?;
        let body = request.into_body().into_data_stream();
        match state
            .dashboard
            .append_upload(&info.id, 0, body, checksum)
            .await
        {
            Ok(info) => info,
            Err(e) => {
                let mut response = tus_error(e.into());
                set(response.headers_mut(), "location", location(&info.id));
                return Ok(response);
            }
        }
    } else {
        info
    };
    let mut response = tus(StatusCode::CREATED);
    upload_headers(&mut response, &info);
    set(response.headers_mut(), "location", location(&info.id));
    Ok(response)
}

/// `HEAD /v1/uploads/{id}`: the durable offset.
#[utoipa::path(head, path = "/v1/uploads/{id}", tag = "uploads", params(("id" = String, Path, description = "The upload's id"), ("Tus-Resumable" = String, Header, description = "`1.0.0`")), responses((status = 200, description = "`Upload-Offset` and `Upload-Length` in the headers (tus 1.0).")))]
async fn tus_head(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        check_version(&headers)?;
        let info = state.dashboard.upload(&id).await?;
        let mut response = tus(StatusCode::OK);
        upload_headers(&mut response, &info);
        Ok::<_, ApiError>(response)
    };
    answer.await.unwrap_or_else(tus_error)
}

/// `PATCH /v1/uploads/{id}`: append the body at `Upload-Offset`.
#[utoipa::path(patch, path = "/v1/uploads/{id}", tag = "uploads", params(("id" = String, Path, description = "The upload's id"), ("Tus-Resumable" = String, Header, description = "`1.0.0`"), ("Upload-Offset" = u64, Header, description = "Where these bytes go"), ("Upload-Checksum" = Option<String>, Header, description = "`sha1 <base64>` of this chunk")), request_body(content = Binary, content_type = "application/offset+octet-stream"), responses((status = 204, description = "Stored: the new `Upload-Offset` in the headers.")))]
async fn tus_patch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    tus_patch_inner(state, id, request)
        .await
        .unwrap_or_else(tus_error)
}

async fn tus_patch_inner(state: AppState, id: String, request: Request) -> ApiResult<Response> {
    let headers = request.headers();
    check_version(headers)?;
    if header_str(headers, "content-type") != Some(OFFSET_OCTET_STREAM) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("PATCH needs Content-Type: {OFFSET_OCTET_STREAM}"),
        ));
    }
    let offset = parse_u64(headers, "upload-offset")?
        .ok_or_else(|| ApiError::bad_request("the Upload-Offset header is missing"))?;
    let checksum = parse_checksum(headers)?;
    let body = request.into_body().into_data_stream();
    let info = state
        .dashboard
        .append_upload(&id, offset, body, checksum)
        .await?;
    let mut response = tus(StatusCode::NO_CONTENT);
    upload_headers(&mut response, &info);
    Ok(response)
}

/// `DELETE /v1/uploads/{id}`: termination.
#[utoipa::path(delete, path = "/v1/uploads/{id}", tag = "uploads", params(("id" = String, Path, description = "The upload's id"), ("Tus-Resumable" = String, Header, description = "`1.0.0`")), responses((status = 204, description = "Terminated (tus 1.0 termination).")))]
async fn tus_delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        check_version(&headers)?;
        state.dashboard.delete_upload(&id).await?;
        Ok::<_, ApiError>(tus(StatusCode::NO_CONTENT))
    };
    answer.await.unwrap_or_else(tus_error)
}

/// `POST /v1/uploads/{id}` with `X-HTTP-Method-Override` (for clients behind proxies that only
/// pass GET and POST).
#[utoipa::path(post, path = "/v1/uploads/{id}", tag = "uploads", params(("id" = String, Path, description = "The upload's id"), ("X-HTTP-Method-Override" = String, Header, description = "`PATCH`, `DELETE` or `HEAD`: answered as that method")), request_body(content = Option<Binary>, content_type = "application/offset+octet-stream"), responses((status = 204, description = "As the overridden method."), (status = 200, description = "As `HEAD`.")))]
async fn tus_override(state: State<AppState>, id: Path<String>, request: Request) -> Response {
    let method =
        header_str(request.headers(), "x-http-method-override").map(str::to_ascii_uppercase);
    match method.as_deref() {
        Some("PATCH") => tus_patch(state, id, request).await,
        Some("DELETE") => tus_delete(state, id, request.headers().clone()).await,
        Some("HEAD") => tus_head(state, id, request.headers().clone()).await,
        _ => tus_error(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST to an upload needs X-HTTP-Method-Override: PATCH, DELETE or HEAD",
        )),
    }
}

/// The answer of `GET /v1/uploads`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct UploadList {
    /// Every upload.
    #[schema(value_type = Vec<Object>)]
    uploads: Vec<UploadInfo>,
}

/// `GET /v1/uploads`: every upload.
#[utoipa::path(get, path = "/v1/uploads", tag = "uploads", responses((status = 200, description = "`{\"uploads\": [...]}`.", body = UploadList)))]
async fn list(State(state): State<AppState>) -> ApiResult<Json<UploadList>> {
    let uploads = state.dashboard.list_uploads().await?;
    Ok(Json(UploadList { uploads }))
}

/// `GET /v1/uploads/{id}`: one upload as JSON.
#[utoipa::path(get, path = "/v1/uploads/{id}", tag = "uploads", params(("id" = String, Path, description = "The upload's id")), responses((status = 200, description = "The upload: `id`, `file_name`, `length`, `offset`, `sha256` once complete, `expires_at`, …", body = JsonObject)))]
async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<UploadInfo>> {
    Ok(Json(state.dashboard.upload(&id).await?))
}

/// `POST /v1/chunked-upload/start` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct StartRequest {
    #[serde(alias = "filename", alias = "fileName")]
    file_name: String,
    #[serde(
        alias = "file_size",
        alias = "fileSize",
        alias = "size",
        alias = "total"
    )]
    total_size: u64,
    #[serde(default, alias = "model", alias = "model_name", alias = "modelName")]
    name: Option<String>,
    #[serde(default)]
    chunk_size: Option<u64>,
    #[serde(flatten)]
    #[schema(ignore)]
    options: ImportOptions,
}

/// Chunk size suggested to chunked clients.
const CHUNK_SIZE: u64 = 16 << 20;

/// Refuses a `chunk_size` of 0: a client stepping by it would never advance.
fn check_chunk_size(chunk_size: Option<u64>) -> ApiResult<()> {
    match chunk_size {
        Some(0) => {
            Err(ApiError::bad_request("chunk_size must be at least 1 byte")
                .with_param("chunk_size"))
        }
        _ => Ok(()),
    }
}

/// The answer of `POST /v1/chunked-upload/start`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ChunkedStarted {
    /// The upload's id, to send with each chunk.
    upload_id: String,
    /// The chunk size to step by (the client's, or ours).
    chunk_size: u64,
    /// Bytes received so far (0).
    offset: u64,
    /// The file's length.
    total_size: u64,
    /// When an unfinished upload is dropped, Unix milliseconds.
    expires_at: i64,
    /// The upload record.
    #[schema(value_type = Object)]
    upload: UploadInfo,
}

#[utoipa::path(post, path = "/v1/chunked-upload/start", tag = "uploads", request_body = StartRequest, responses((status = 201, description = "`upload_id`, `chunk_size`, `offset`, `total_size`, `expires_at`, `upload`.", body = ChunkedStarted)))]
async fn chunked_start(
    State(state): State<AppState>,
    JsonBody(start): JsonBody<StartRequest>,
) -> ApiResult<(StatusCode, Json<ChunkedStarted>)> {
    check_chunk_size(start.chunk_size)?;
    let info = state
        .dashboard
        .create_upload(NewUpload {
            file_name: start.file_name,
            length: start.total_size,
            model_name: start.name,
            import: start.options,
            metadata: BTreeMap::new(),
        })
        .await?;
    let body = ChunkedStarted {
        upload_id: info.id.clone(),
        chunk_size: start.chunk_size.unwrap_or(CHUNK_SIZE),
        offset: info.offset,
        total_size: info.length,
        expires_at: info.expires_at,
        upload: info,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// Where a chunk goes: `upload_id` and `offset` (or `chunk_index` × `chunk_size`), in the query
/// or as `X-Upload-Id` / `Upload-Offset` headers; `sha256` (hex) checks the chunk.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ChunkQuery {
    #[serde(default, alias = "uploadId")]
    upload_id: Option<String>,
    #[serde(default)]
    offset: Option<u64>,
    #[serde(default, alias = "chunkIndex")]
    chunk_index: Option<u64>,
    #[serde(default, alias = "chunkSize")]
    chunk_size: Option<u64>,
    #[serde(default)]
    sha256: Option<String>,
}

fn hex_digest(text: &str) -> ApiResult<[u8; 32]> {
    hex::decode(text.trim())
        .ok()
        .and_then(|d| <[u8; 32]>::try_from(d).ok())
        .ok_or_else(|| ApiError::bad_request("sha256 must be 64 hex digits"))
}

#[utoipa::path(post, path = "/v1/chunked-upload/chunk", tag = "uploads", params(ChunkQuery), request_body(content = Binary, content_type = "application/octet-stream"), responses((status = 200, description = "`upload_id`, `offset`, `total_size`, `complete`.", body = ChunkAck)))]
async fn chunked_chunk(
    State(state): State<AppState>,
    Query(query): Query<ChunkQuery>,
    request: Request,
) -> ApiResult<Json<ChunkAck>> {
    let headers = request.headers();
    let id = query
        .upload_id
        .clone()
        .or_else(|| header_str(headers, "x-upload-id").map(str::to_owned))
        .ok_or_else(|| ApiError::bad_request("upload_id is missing"))?;
    check_chunk_size(query.chunk_size)?;
    let offset = match (query.offset, query.chunk_index, query.chunk_size) {
        (Some(offset), _, _) => offset,
        (None, Some(index), size) => index.saturating_mul(size.unwrap_or(CHUNK_SIZE)),
        (None, None, _) => parse_u64(headers, "upload-offset")?.ok_or_else(|| {
            ApiError::bad_request("offset (or chunk_index and chunk_size) is missing")
        })?,
    };
    let checksum = query
        .sha256
        .as_deref()
        .map(hex_digest)
        .transpose()?
        .map(Checksum::Sha256);
    let declared = parse_u64(headers, "content-length")?;
    let current = state.dashboard.upload(&id).await?;
    // A retried chunk that was already stored is acknowledged, not refused. (The sum is
    // checked: offset and length are the client's, and may add up past u64.)
    if let Some(len) = declared
        && offset < current.offset
        && offset
            .checked_add(len)
            .is_some_and(|end| end <= current.offset)
    {
        return Ok(Json(current.into()));
    }
    let body = request.into_body().into_data_stream();
    let info = state
        .dashboard
        .append_upload(&id, offset, body, checksum)
        .await?;
    Ok(Json(info.into()))
}

/// The answer of `POST /v1/chunked-upload/chunk`: where the upload stands.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ChunkAck {
    /// The upload's id.
    upload_id: String,
    /// Bytes received so far: where the next chunk starts.
    offset: u64,
    /// The file's length.
    total_size: u64,
    /// Every byte is in (and the checksum known).
    complete: bool,
}

impl From<UploadInfo> for ChunkAck {
    fn from(info: UploadInfo) -> Self {
        Self {
            complete: info.sha256.is_some(),
            upload_id: info.id,
            offset: info.offset,
            total_size: info.length,
        }
    }
}

/// The answer of `POST /v1/chunked-upload/complete` and `POST /v1/models/upload`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Uploaded {
    /// The upload record.
    #[schema(value_type = Object)]
    upload: UploadInfo,
    /// What the file holds; null where an import validates it and reports there.
    #[schema(value_type = Option<Object>)]
    report: Option<ModelReport>,
    /// The import of the upload, if one was started (else null).
    #[schema(value_type = Option<Object>)]
    import: Option<ImportInfo>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct CompleteRequest {
    #[serde(alias = "uploadId")]
    upload_id: String,
    #[serde(default)]
    sha256: Option<String>,
}

#[utoipa::path(post, path = "/v1/chunked-upload/complete", tag = "uploads", request_body = CompleteRequest, responses((status = 200, description = "`upload`, `report` (what the file holds) and `import`.", body = Uploaded)))]
async fn chunked_complete(
    State(state): State<AppState>,
    JsonBody(done): JsonBody<CompleteRequest>,
) -> ApiResult<Json<Uploaded>> {
    let info = state.dashboard.upload(&done.upload_id).await?;
    let Some(sha) = info.sha256.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "the upload is incomplete: {} of {} bytes received",
                info.offset, info.length
            ),
        ));
    };
    if let Some(expected) = &done.sha256
        && !expected.trim().eq_ignore_ascii_case(&sha)
    {
        return Err(ApiError::new(
            StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
            format!("checksum mismatch: the file's sha256 is {sha}, the client said {expected}"),
        ));
    }
    let import = state
        .dashboard
        .list_imports()
        .await?
        .into_iter()
        .find(|i| i.upload_id == info.id);
    let report = match import {
        Some(_) => None, // its import validates it and reports there
        None => state.dashboard.inspect_upload(&info.id).await?,
    };
    Ok(Json(Uploaded {
        upload: info,
        report,
        import,
    }))
}

/// `POST /v1/models/upload?file_name=…&name=…`: the whole file as the body.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SingleQuery {
    #[serde(default, alias = "filename")]
    file_name: Option<String>,
    #[serde(default, alias = "model")]
    name: Option<String>,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    options: BTreeMap<String, String>,
}

#[utoipa::path(post, path = "/v1/models/upload", tag = "uploads", params(SingleQuery), request_body(content = Binary, content_type = "application/octet-stream"), responses((status = 201, description = "`upload` and `report`.", body = Uploaded), (status = 202, description = "`upload`, `report` and the `import` started (with `name`).", body = Uploaded)))]
async fn single(
    State(state): State<AppState>,
    Query(query): Query<SingleQuery>,
    request: Request,
) -> ApiResult<Response> {
    let headers = request.headers();
    let length = parse_u64(headers, "content-length")?.ok_or_else(|| {
        ApiError::new(
            StatusCode::LENGTH_REQUIRED,
            "send the file with a Content-Length",
        )
    })?;
    let expected = query.sha256.as_deref().map(hex_digest).transpose()?;
    let options = import_options(&query.options)?;
    let dashboard = &state.dashboard;
    if let Some(name) = &query.name {
        // Refuse a taken or invalid name before reading gigabytes.
        dashboard.check_import_name(name, &options).await?;
    }
    let info = dashboard
        .create_upload(NewUpload {
            file_name: query.file_name.clone().unwrap_or_default(),
            length,
            ..NewUpload::default()
        })
        .await?;
    let id = info.id.clone();
    let outcome = async {
        let body: Body = request.into_body();
        // An empty file is complete as created: nothing to append, and validation says why it
        // is not a model.
        let info = if info.length == 0 {
            info
        } else {
            dashboard
                .append_upload(&id, 0, body.into_data_stream(), None)
                .await?
        };
        let sha = info.sha256.clone().unwrap_or_default();
        if let Some(expected) = expected
            && hex::encode(expected) != sha
        {
            return Err(ApiError::new(
                StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
                format!(
                    "checksum mismatch: the body's sha256 is {sha}, the client said {}",
                    hex::encode(expected)
                ),
            ));
        }
        let report = dashboard.inspect_upload(&id).await?;
        let import = match query.name.clone() {
            Some(name) => Some(
                dashboard
                    .import_model(ImportRequest {
                        upload_id: id.clone(),
                        name,
                        options,
                    })
                    .await?,
            ),
            None => None,
        };
        Ok::<_, ApiError>((info, report, import))
    }
    .await;
    match outcome {
        Ok((info, report, import)) => {
            let status = if import.is_some() {
                StatusCode::ACCEPTED
            } else {
                StatusCode::CREATED
            };
            let body = Uploaded {
                upload: info,
                report,
                import,
            };
            Ok((status, Json(body)).into_response())
        }
        Err(e) => {
            // Nothing half-registered: the upload goes with the error.
            if let Err(cleanup) = dashboard.delete_upload(&id).await {
                tracing::warn!(id, error = %cleanup, "removing a refused upload");
            }
            Err(e)
        }
    }
}

#[cfg(test)]
#[path = "uploads_tests.rs"]
mod tests;
