//! Model management: `GET /api/tags`, `GET /api/ps`, `POST /api/show`, `POST /api/copy` and
//! `DELETE /api/delete` (digest §4, §5, §6, §10, §11).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use chrono::Local;
use serde::Serialize;
use serde_json::{Map, Value};

use super::Shared;
use crate::model::{Details, Model, Preset, Tensor};
use crate::names::Name;
use crate::wire::{ApiError, ApiResult, Req, empty, go_quote, go_time, json_response};

/// `details` in `/api/tags` (no `parent_model`, as in Ollama's list), with the fields very new
/// builds add.
#[derive(Serialize)]
struct DetailsOut {
    #[serde(flatten)]
    base: Details,
    #[serde(skip_serializing_if = "Option::is_none")]
    context_length: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    embedding_length: Option<usize>,
}

/// `{"models": […]}` with the entries' field order kept.
#[derive(Serialize)]
struct Models<T> {
    models: Vec<T>,
}

#[derive(Serialize)]
struct ListModel<'a> {
    name: String,
    model: String,
    modified_at: String,
    size: u64,
    digest: &'a str,
    details: DetailsOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    capabilities: Option<&'a [&'static str]>,
}

#[derive(Serialize)]
struct Running<'a> {
    name: String,
    model: String,
    size: u64,
    digest: &'a str,
    details: Details,
    expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_vram: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context_length: Option<u64>,
}

#[derive(Serialize)]
struct ShowResponse<'a> {
    #[serde(skip_serializing_if = "String::is_empty")]
    license: String,
    modelfile: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    parameters: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    template: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    system: &'a str,
    details: &'a Details,
    #[serde(skip_serializing_if = "<[Preset]>::is_empty")]
    messages: &'a [Preset],
    model_info: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    projector_info: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "<[Tensor]>::is_empty")]
    tensors: &'a [Tensor],
    #[serde(skip_serializing_if = "<[&str]>::is_empty")]
    capabilities: &'a [&'static str],
    modified_at: String,
}

pub(super) async fn tags(State(sim): Shared) -> Response {
    let newest = sim.knobs.features().tags_capabilities;
    let models = sim.list();
    let list: Vec<ListModel<'_>> = models
        .iter()
        .map(|m| ListModel {
            name: m.name.display(),
            model: m.name.display(),
            modified_at: go_time(&m.modified_at),
            size: m.size(),
            digest: &m.digest,
            details: DetailsOut {
                base: Details {
                    parent_model: String::new(),
                    ..m.details.clone()
                },
                context_length: newest.then(|| m.trained_context()),
                embedding_length: newest.then(|| m.embedding_length()),
            },
            capabilities: newest.then_some(m.capabilities.as_slice()),
        })
        .collect();
    json_response(StatusCode::OK, &Models { models: list })
}

pub(super) async fn ps(State(sim): Shared) -> Response {
    let features = sim.knobs.features();
    let loaded = sim.running();
    let list: Vec<Running<'_>> = loaded
        .iter()
        .map(|l| Running {
            name: l.model.name.display(),
            model: l.model.name.display(),
            size: l.size,
            digest: &l.model.digest,
            details: Details {
                parent_model: String::new(),
                ..l.model.details.clone()
            },
            expires_at: go_time(&l.expires_at),
            size_vram: features.size_vram.then_some(l.size_vram),
            context_length: features.ps_context_length.then_some(l.context_length),
        })
        .collect();
    json_response(StatusCode::OK, &Models { models: list })
}

pub(super) async fn show(State(sim): Shared, body: Bytes) -> ApiResult {
    let req = Req::parse(&body, "ShowRequest")?;
    let requested_as = req.model()?;
    let system = req.string("system")?;
    let options = req.object("options", "map[string]interface {}")?;
    let verbose = req.flag("verbose")?.unwrap_or(false);
    if requested_as.is_empty() {
        return Err(ApiError::bad_request("model is required"));
    }
    let name =
        Name::parse(&requested_as).ok_or_else(|| ApiError::bad_request("invalid model name"))?;
    let model = sim
        .find(&name)
        .ok_or_else(|| ApiError::not_found(format!("model '{requested_as}' not found")))?;
    let system = if system.is_empty() {
        model.parts.system.as_str()
    } else {
        system.as_str()
    };
    let mut modelfile_params = model.parts.params.clone();
    modelfile_params.extend(options);
    let capabilities: &[&str] = if sim.knobs.features().show_capabilities {
        &model.capabilities
    } else {
        &[]
    };
    let response = ShowResponse {
        license: model.parts.license.join("\n"),
        modelfile: modelfile(&model, system, &modelfile_params, sim.blobs_dir()),
        parameters: parameters(&model.parts.params),
        template: &model.parts.template,
        system,
        details: &model.details,
        messages: &model.parts.messages,
        model_info: model.model_info(verbose),
        projector_info: model.projector_info(verbose),
        tensors: &model.parts.weights.tensors,
        capabilities,
        modified_at: go_time(&model.modified_at),
    };
    Ok(json_response(StatusCode::OK, &response))
}

/// The parameter pairs of a parameter map, one per `stop` entry, sorted by key.
fn parameter_pairs(params: &Map<String, Value>) -> Vec<(&str, &Value)> {
    params
        .iter()
        .flat_map(|(key, value)| match value {
            Value::Array(items) => items
                .iter()
                .map(|item| (key.as_str(), item))
                .collect::<Vec<_>>(),
            other => vec![(key.as_str(), other)],
        })
        .collect()
}

/// `parameters`: `key` left-aligned to 30 columns, then the value as Go's `%#v` prints it.
fn parameters(params: &Map<String, Value>) -> String {
    let lines: Vec<String> = parameter_pairs(params)
        .into_iter()
        .map(|(key, value)| match value {
            Value::String(s) => format!("{key:<30} {}", go_quote(s)),
            other => format!("{key:<30} {other}"),
        })
        .collect();
    lines.join("\n")
}

/// The generated Modelfile, as `ollama show --modelfile` prints it.
fn modelfile(
    model: &Model,
    system: &str,
    params: &Map<String, Value>,
    blobs: &std::path::Path,
) -> String {
    let blob = |digest: &str| {
        blobs
            .join(digest.replacen(':', "-", 1))
            .display()
            .to_string()
    };
    let mut lines = vec![
        "# Modelfile generated by \"ollama show\"".to_owned(),
        "# To build a new Modelfile based on this, replace FROM with:".to_owned(),
        format!("# FROM {}", model.name.display()),
        String::new(),
    ];
    lines.extend(
        model
            .parts
            .weights_layer
            .iter()
            .map(|l| format!("FROM {}", blob(&l.digest))),
    );
    lines.extend(
        model
            .parts
            .adapter
            .iter()
            .map(|l| format!("ADAPTER {}", blob(&l.digest))),
    );
    lines.extend(
        model
            .parts
            .projector
            .iter()
            .map(|(_, l)| format!("FROM {}", blob(&l.digest))),
    );
    if !model.parts.template.is_empty() {
        lines.push(format!("TEMPLATE {}", quote(&model.parts.template)));
    }
    if !system.is_empty() {
        lines.push(format!("SYSTEM {}", quote(system)));
    }
    for (key, value) in parameter_pairs(params) {
        let text = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        lines.push(format!("PARAMETER {key} {}", quote(&text)));
    }
    lines.extend(
        model
            .parts
            .license
            .iter()
            .map(|l| format!("LICENSE {}", quote(l))),
    );
    for message in &model.parts.messages {
        lines.push(format!(
            "MESSAGE {} {}",
            message.role,
            quote(&message.content)
        ));
    }
    lines.join("\n") + "\n"
}

/// The Modelfile parser's quoting: multi-line or space-padded values get `"""`.
fn quote(text: &str) -> String {
    if text.contains('\n') || text.starts_with(' ') || text.ends_with(' ') {
        format!("\"\"\"{text}\"\"\"")
    } else {
        text.to_owned()
    }
}

pub(super) async fn copy(State(sim): Shared, body: Bytes) -> ApiResult {
    let req = Req::parse(&body, "CopyRequest")?;
    let (source, destination) = (req.string("source")?, req.string("destination")?);
    let from = Name::parse(&source)
        .ok_or_else(|| ApiError::bad_request(format!("source {} is invalid", go_quote(&source))))?;
    let to = Name::parse(&destination).ok_or_else(|| {
        ApiError::bad_request(format!("destination {} is invalid", go_quote(&destination)))
    })?;
    let model = sim
        .find(&from)
        .ok_or_else(|| ApiError::not_found(format!("model {} not found", go_quote(&source))))?;
    sim.install(model.renamed(to, Local::now()));
    Ok(empty(StatusCode::OK))
}

pub(super) async fn delete(State(sim): Shared, body: Bytes) -> ApiResult {
    let req = Req::parse(&body, "DeleteRequest")?;
    let requested_as = req.model()?;
    let name = Name::parse(&requested_as).ok_or_else(|| {
        ApiError::bad_request(format!("name {} is invalid", go_quote(&requested_as)))
    })?;
    match sim.remove(&name) {
        Some(_) => Ok(empty(StatusCode::OK)),
        None => Err(ApiError::not_found(format!(
            "model '{requested_as}' not found"
        ))),
    }
}
