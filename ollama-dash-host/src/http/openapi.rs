//! `GET /openapi.json`: the OpenAPI 3.1 document of every route, derived by utoipa from the
//! handlers' own request and response types (each handler carries its `#[utoipa::path]`).
//!
//! What every operation shares is added here once: the bearer scheme (all but the public
//! routes), and the one JSON error shape as the `default` response. A handler that answers
//! `Json<Value>` is described as an object whose known fields its description names; no more
//! is claimed than the handler guarantees.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, ObjectBuilder, RefOr, ResponseBuilder, Schema, Type,
    schema::AdditionalProperties,
};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use super::{chat, imports, keys, live, openai, plugins, system, traces, uploads, usage};

/// The document, built once.
static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| document().to_json().unwrap_or_else(|_| "{}".to_owned()));

/// The OpenAPI document of every route the router serves.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(<openai::Doc as OpenApi>::openapi());
    // The shared parts again, for the merged paths.
    Shared.modify(&mut doc);
    doc
}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "system",
    responses((status = 200, description = "This document (OpenAPI 3.1).", body = JsonObject)))]
pub(super) async fn serve() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT.as_str(),
    )
        .into_response()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ollama-dash",
        description = "A dashboard and gateway in front of Ollama: the OpenAI-compatible API, \
                       the Ollama passthrough, traces, models, jobs, uploads and the dashboard's \
                       own API. Every route but /ping and the page's files needs \
                       `Authorization: Bearer <token>`; a key's role (viewer, user, admin) \
                       limits what it may call. Every error is `{\"error\":{\"message\",\"type\",\"code\",\"param\"}}`."
    ),
    paths(
        serve,
        system::ping,
        system::health,
        system::version,
        system::verify,
        metrics_scrape,
        web_index,
        web_asset,
        live::events,
        live::stats,
        live::history,
        live::available,
        live::running,
        live::snapshots,
        live::downloadable,
        live::show_query,
        live::show_path,
        live::start,
        live::stop,
        live::pull,
        live::delete_body,
        live::delete_query,
        live::copy,
        live::jobs,
        live::job,
        live::cancel_job,
        live::resume_job,
        live::service_status,
        live::service_start,
        live::service_stop,
        live::service_restart,
        live::settings,
        live::put_global,
        live::put_model,
        live::delete_model_settings,
        nodes_list,
        nodes_add,
        nodes_remove,
        nodes_drain,
        nodes_undrain,
        keys::list,
        keys::create,
        keys::delete,
        plugins::list,
        plugins::reload,
        plugins::metrics,
        plugins::collect,
        plugins::detect,
        chat::chat,
        chat::list,
        chat::create,
        chat::show,
        chat::update,
        chat::delete,
        chat::messages,
        chat::send,
        chat::regenerate,
        chat::branch,
        traces::list,
        traces::export,
        traces::stats,
        traces::one,
        usage::usage,
        uploads::list,
        uploads::tus_create,
        uploads::show,
        uploads::tus_head,
        uploads::tus_patch,
        uploads::tus_delete,
        uploads::tus_override,
        uploads::chunked_start,
        uploads::chunked_chunk,
        uploads::chunked_complete,
        uploads::single,
        imports::start,
        imports::list,
        imports::show,
        passthrough_root,
        passthrough_slash,
        passthrough_path,
    ),
    components(schemas(ErrorBody, ErrorDetail))
)]
struct ApiDoc;

/// What every operation shares: the bearer scheme, the error shape as `default`, an id made
/// of its method and path.
struct Shared;

/// Routes anyone may call (no token).
const PUBLIC: &[&str] = &["/ping", "/", "/assets/{build}/{path}"];

impl Modify for Shared {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The admin token, or a named key made at /api/keys (viewer, user, admin)",
                    ))
                    .build(),
            ),
        );
        let error = ResponseBuilder::new()
            .description("An error, in the one JSON shape every route answers with.")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        "ErrorBody",
                    ))))
                    .build(),
            )
            .build();
        let bearer =
            utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new());
        for (path, item) in openapi.paths.paths.iter_mut() {
            let public = PUBLIC.contains(&path.as_str());
            for (method, operation) in [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("head", &mut item.head),
                ("patch", &mut item.patch),
            ] {
                let Some(operation) = operation.as_mut() else {
                    continue;
                };
                shared(operation, method, path, public, &error, &bearer);
            }
        }
    }
}

/// One operation's shared parts.
fn shared(
    operation: &mut Operation,
    method: &str,
    path: &str,
    public: bool,
    error: &utoipa::openapi::Response,
    bearer: &utoipa::openapi::security::SecurityRequirement,
) {
    operation
        .responses
        .responses
        .entry("default".to_owned())
        .or_insert_with(|| RefOr::T(error.clone()));
    operation.security = Some(if public {
        vec![utoipa::openapi::security::SecurityRequirement::default()]
    } else {
        vec![bearer.clone()]
    });
    // Handlers of different modules share names (`list`, `show`): the id is the method and path.
    let id: String = format!("{method}{path}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    operation.operation_id = Some(id);
}

/// The body of every error: `{"error": {…}}`.
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes the JSON that `ApiError` writes")]
pub(super) struct ErrorBody {
    error: ErrorDetail,
}

/// The fields of an error (OpenAI's shape).
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes the JSON that `ApiError` writes")]
pub(super) struct ErrorDetail {
    /// What went wrong, for a person.
    message: String,
    /// The kind, following OpenAI's names (`invalid_request_error`, `not_found_error`, …).
    #[schema(rename = "type")]
    kind: String,
    /// A machine-readable code where there is one (`model_not_found`, `invalid_api_key`).
    #[schema(required = true)]
    code: Option<String>,
    /// The request field at fault, where there is one.
    #[schema(required = true)]
    param: Option<String>,
}

/// An error of the passthrough: the gateway's own (no token, wrong role) in the one shape, or
/// Ollama's (and the passthrough's own refusals, which Ollama's clients read) as
/// `{"error": "…"}`.
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes the JSON the passthrough writes")]
#[serde(untagged)]
pub(super) enum PassthroughError {
    /// The gateway's error shape.
    Gateway(ErrorBody),
    /// Ollama's error shape.
    Ollama(OllamaError),
}

/// Ollama's error shape.
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes the JSON Ollama writes")]
pub(super) struct OllamaError {
    /// What went wrong.
    error: String,
}

/// A JSON object; the operation's description names its fields (handlers that build their
/// answer as JSON, `Json<Value>`, guarantee no more than that).
#[derive(Debug)]
pub(super) struct JsonObject;

impl PartialSchema for JsonObject {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .into()
    }
}

impl ToSchema for JsonObject {}

/// Bytes of a file or a stream (not JSON).
#[derive(Debug)]
pub(super) struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Binary,
            )))
            .into()
    }
}

impl ToSchema for Binary {}

/// Text (Prometheus exposition, an event stream, HTML).
pub(super) type Text = String;

// ---- routes whose handlers live where they are not annotated -----------------------------

/// `GET /metrics` (a closure in the router).
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text exposition (OpenMetrics when asked \
        for it in Accept).", body = Text, content_type = "text/plain")))]
#[expect(dead_code, reason = "documents a route; never called")]
fn metrics_scrape() {}

/// `GET /`: the web page.
#[utoipa::path(get, path = "/", tag = "web",
    responses((status = 200, description = "The dashboard's page.", body = Text,
        content_type = "text/html")))]
#[expect(dead_code, reason = "documents a route; never called")]
fn web_index() {}

/// `GET /assets/{build}/{path}`: the page's files (the path may hold `/`).
#[utoipa::path(get, path = "/assets/{build}/{path}", tag = "web",
    params(("build" = String, Path, description = "The build id the page names"),
           ("path" = String, Path, description = "The file, which may hold `/`")),
    responses((status = 200, description = "The file, with its own media type.", body = Binary,
        content_type = "application/octet-stream")))]
#[expect(dead_code, reason = "documents a route; never called")]
fn web_asset() {}

/// `GET /api/nodes` (its handler's module is `nodes`).
#[utoipa::path(get, path = "/api/nodes", tag = "nodes",
    responses((status = 200, description = "`{\"nodes\": [...]}`: every node's name, url, \
        state (`up`, `down`, `draining`), version, loaded models, in flight and queued, and its \
        VRAM: `vram_total`, `vram_used`, `vram_free` (bytes) and `vram_source` (`metrics`: \
        scraped from its `metrics_url`; `config`: its `vram_bytes` less what `/api/ps` reports; \
        `ps`: only what `/api/ps` reports), with `metrics_error` when a scrape failed. The same \
        status is the `node_changed` event of `/api/events`.", body = JsonObject)))]
#[expect(dead_code, reason = "documents a route; never called")]
fn nodes_list() {}

/// `POST /api/nodes`.
#[utoipa::path(post, path = "/api/nodes", tag = "nodes",
    request_body(content = JsonObject, description = "A node as in `[[nodes]]`: `name`, `url`, \
        and the optional fields of a node's configuration"),
    responses((status = 201, description = "The node's state (kept in the store).",
        body = JsonObject)))]
#[expect(dead_code, reason = "documents a route; never called")]
fn nodes_add() {}

/// `DELETE /api/nodes/{name}`.
#[utoipa::path(delete, path = "/api/nodes/{name}", tag = "nodes",
    params(("name" = String, Path, description = "The node's name")),
    responses((status = 204, description = "Removed; calls running there finish.")))]
#[expect(dead_code, reason = "documents a route; never called")]
fn nodes_remove() {}

/// `POST /api/nodes/{name}/drain`.
#[utoipa::path(post, path = "/api/nodes/{name}/drain", tag = "nodes",
    params(("name" = String, Path, description = "The node's name")),
    responses((status = 200, description = "The nodes after the change, as `GET /api/nodes`.",
        body = JsonObject)))]
#[expect(dead_code, reason = "documents a route; never called")]
fn nodes_drain() {}

/// `POST /api/nodes/{name}/undrain`.
#[utoipa::path(post, path = "/api/nodes/{name}/undrain", tag = "nodes",
    params(("name" = String, Path, description = "The node's name")),
    responses((status = 200, description = "The nodes after the change, as `GET /api/nodes`.",
        body = JsonObject)))]
#[expect(dead_code, reason = "documents a route; never called")]
fn nodes_undrain() {}

/// `/ollama`: Ollama's own API, passed through (any method).
#[utoipa::path(method(get, post, put, patch, delete), path = "/ollama", tag = "ollama",
    request_body(content = Option<JsonObject>, description = "Whatever Ollama's call takes"),
    responses((status = 200, description = "Ollama's answer, as Ollama sends it.",
        body = Binary, content_type = "application/octet-stream"),
        (status = "default", description = "An error: the gateway's, or Ollama's `{\"error\": \"…\"}`.",
        body = PassthroughError)))]
#[expect(dead_code, reason = "documents a route; never called")]
fn passthrough_root() {}

/// `/ollama/`.
#[utoipa::path(method(get, post, put, patch, delete), path = "/ollama/", tag = "ollama",
    request_body(content = Option<JsonObject>, description = "Whatever Ollama's call takes"),
    responses((status = 200, description = "Ollama's answer, as Ollama sends it.",
        body = Binary, content_type = "application/octet-stream"),
        (status = "default", description = "An error: the gateway's, or Ollama's `{\"error\": \"…\"}`.",
        body = PassthroughError)))]
#[expect(dead_code, reason = "documents a route; never called")]
fn passthrough_slash() {}

/// `/ollama/{path}`: `/ollama/api/tags` is Ollama's `/api/tags`. The role a call needs
/// follows Ollama's call: reads a viewer's, generation a user's, the rest an admin's.
#[utoipa::path(method(get, post, put, patch, delete), path = "/ollama/{path}", tag = "ollama",
    params(("path" = String, Path, description = "Ollama's path (may hold `/`)")),
    request_body(content = Option<JsonObject>, description = "Whatever Ollama's call takes"),
    responses((status = 200, description = "Ollama's answer, as Ollama sends it.",
        body = Binary, content_type = "application/octet-stream"),
        (status = "default", description = "An error: the gateway's, or Ollama's `{\"error\": \"…\"}`.",
        body = PassthroughError)))]
#[expect(dead_code, reason = "documents a route; never called")]
fn passthrough_path() {}
