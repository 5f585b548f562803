//! `POST /api/create` (digest §7): a model from uploaded GGUF blobs (`files`, `adapters`) or from
//! another model (`from`, pulled first if need be), with template, system, parameters, messages,
//! license and quantize. Request errors are 400s before the stream starts.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use bytes::Bytes;
use chrono::Local;
use ollama_dash_gguf::GgufKind;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::Shared;
use super::blobs::valid_digest;
use super::pull::{Progress, run_pull, send, status, tick};
use crate::model::{
    self, Gguf, Layer, MEDIA_ADAPTER, MEDIA_MODEL, MEDIA_PROJECTOR, Model, Parts, Preset,
};
use crate::names::Name;
use crate::state::Sim;
use crate::wire::{
    ApiError, ApiResult, Item, Options, Req, go_quote, line, stream_response, wait_for_stream,
};

/// The quantizations `quantize` accepts, and the source types it works on.
const QUANTIZE_TO: &[&str] = &["Q4_K_M", "Q4_K_S", "Q8_0", "F16", "F32"];
const QUANTIZE_FROM: &[&str] = &["F16", "BF16", "F32"];

/// The validated request.
#[derive(Debug)]
struct Request {
    name: Name,
    from: String,
    uploads: Uploads,
    template: String,
    system: String,
    parameters: Map<String, Value>,
    messages: Vec<Preset>,
    license: Vec<String>,
    quantize: Option<(u64, &'static str)>,
}

/// The GGUF files named in `files` and `adapters`, read before streaming.
#[derive(Debug, Default)]
struct Uploads {
    /// One entry per file, in path order, for the `parsing GGUF` lines.
    count: usize,
    weights: Option<(Gguf, Layer)>,
    projector: Option<(Gguf, Layer)>,
    adapter: Option<Layer>,
}

pub(super) async fn create(State(sim): Shared, body: Bytes) -> ApiResult {
    let req = Req::parse(&body, "CreateRequest")?;
    let requested_as = req.model()?;
    let from = req.string("from")?;
    let files = string_map(&req, "files")?;
    let adapters = string_map(&req, "adapters")?;
    let template = req.string("template")?;
    let system = req.string("system")?;
    let parameters = req.object("parameters", "map[string]interface {}")?;
    let messages = messages(&req)?;
    let license = match req.get("license") {
        None => Vec::new(),
        Some(Value::String(text)) => vec![text.clone()],
        Some(_) => req.strings("license")?,
    };
    let quantize = match req.string("quantize")? {
        q if q.is_empty() => req.string("quantization")?,
        q => q,
    };
    let stream = req.stream()?;

    for (path, digest) in files.iter().chain(&adapters) {
        if !relative(path) {
            return Err(ApiError::bad_request("file path must be relative"));
        }
        if !valid_digest(digest) {
            return Err(ApiError::bad_request("invalid digest format"));
        }
    }
    let name =
        Name::parse(&requested_as).ok_or_else(|| ApiError::bad_request("invalid model name"))?;
    if from.is_empty() && files.is_empty() {
        return Err(ApiError::bad_request(
            "neither 'from' or 'files' was specified",
        ));
    }
    Options::default().apply(&parameters)?;
    let reader = sim.clone();
    let uploads = tokio::task::spawn_blocking(move || read_uploads(&reader, &files, &adapters))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    let source = match (
        &uploads.weights,
        Name::parse(&from).and_then(|n| sim.find(&n)),
    ) {
        (Some((weights, _)), _) if from.is_empty() => Some(weights.quantization.clone()),
        (_, Some(base)) => Some(base.details.quantization_level.clone()),
        _ => None,
    };
    let quantize = quantization(&quantize, source.as_deref())?;
    let request = Request {
        name,
        from,
        uploads,
        template,
        system,
        parameters,
        messages,
        license,
        quantize,
    };
    let (sender, items) = mpsc::channel(16);
    tokio::spawn(async move { build(&sim, request, &sender).await });
    Ok(if stream {
        stream_response(items).await
    } else {
        wait_for_stream(items).await
    })
}

/// `files`/`adapters`: file name → digest.
fn string_map(req: &Req, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
    req.object(key, "map[string]string")?
        .into_iter()
        .map(|(path, digest)| match digest {
            Value::String(digest) => Ok((path, digest)),
            other => Err(req.type_error(key, &other, "string")),
        })
        .collect()
}

/// Preset messages.
fn messages(req: &Req) -> Result<Vec<Preset>, ApiError> {
    req.array("messages", "[]api.Message")?
        .into_iter()
        .map(|value| {
            let message = Req::from_value(value, "CreateRequest.messages")?;
            Ok(Preset {
                role: message.string("role")?,
                content: message.string("content")?,
            })
        })
        .collect()
}

/// Go's `fs.ValidPath`, without `\` or `:`.
fn relative(path: &str) -> bool {
    path == "."
        || !(path.is_empty()
            || path.contains(['\\', ':'])
            || path.split('/').any(|part| matches!(part, "" | "." | "..")))
}

/// Checks `quantize` against the source's file type.
fn quantization(
    target: &str,
    source: Option<&str>,
) -> Result<Option<(u64, &'static str)>, ApiError> {
    if target.is_empty() {
        return Ok(None);
    }
    let Some(name) = QUANTIZE_TO.iter().find(|q| q.eq_ignore_ascii_case(target)) else {
        return Err(ApiError::bad_request(format!(
            "unsupported quantization type {target}"
        )));
    };
    if source.is_some_and(|s| !QUANTIZE_FROM.contains(&s)) {
        return Err(ApiError::bad_request(
            "quantization is only supported for F16 and F32 models",
        ));
    }
    Ok(model::file_type_id(name).map(|id| (id, *name)))
}

/// Reads every referenced blob's GGUF header: a missing blob or a non-GGUF file is a 400.
fn read_uploads(
    sim: &Sim,
    files: &BTreeMap<String, String>,
    adapters: &BTreeMap<String, String>,
) -> Result<Uploads, ApiError> {
    let mut uploads = Uploads::default();
    for (digest, is_adapter) in files
        .values()
        .map(|d| (d, false))
        .chain(adapters.values().map(|d| (d, true)))
    {
        let path = sim.blob_path(digest);
        let size = std::fs::metadata(&path)
            .map_err(|_| ApiError::bad_request(format!("blob {} not found", go_quote(digest))))?
            .len();
        let (gguf, kind) = model::read_gguf(&path)
            .map_err(|_| ApiError::bad_request("supplied file was not in GGUF format"))?;
        let layer = |media_type: &str| Layer {
            media_type: media_type.to_owned(),
            digest: digest.replacen('-', ":", 1),
            size,
        };
        match (kind, is_adapter) {
            (GgufKind::Adapter, _) | (_, true) => uploads.adapter = Some(layer(MEDIA_ADAPTER)),
            (GgufKind::Projector, _) => uploads.projector = Some((gguf, layer(MEDIA_PROJECTOR))),
            (GgufKind::Model, _) => uploads.weights = Some((gguf, layer(MEDIA_MODEL))),
        }
        uploads.count += usize::from(!is_adapter);
    }
    Ok(uploads)
}

/// Streams the create: base parts, quantization, new layers, manifest.
async fn build(sim: &Arc<Sim>, request: Request, out: &mpsc::Sender<Item>) {
    let Some(mut parts) = base_parts(sim, &request, out).await else {
        return;
    };
    if let Some(adapter) = request.uploads.adapter.clone() {
        parts.adapter = Some(adapter);
    }
    if let Some((file_type, target)) = request.quantize
        && !quantize(sim, &mut parts, file_type, target, out).await
    {
        return;
    }
    if !request.template.is_empty() {
        parts.template = request.template.clone();
    }
    if !request.system.is_empty() {
        parts.system = request.system.clone();
    }
    parts.params.extend(request.parameters.clone());
    if !request.messages.is_empty() {
        parts.messages = request.messages.clone();
    }
    if !request.license.is_empty() {
        parts.license = request.license.clone();
    }
    let model = Model::build(request.name.clone(), parts, Local::now());
    for layer in &model.layers {
        let verb = if sim.blob_exists(&layer.digest) {
            "using existing layer"
        } else {
            "creating new layer"
        };
        if !send(out, status(&format!("{verb} {}", layer.digest))).await {
            return;
        }
        tick(sim).await;
    }
    if send(out, status("writing manifest")).await {
        sim.install(model);
        send(out, status("success")).await;
    }
}

/// The starting point: the `from` model (pulled if it is not local) or the uploaded files.
async fn base_parts(sim: &Arc<Sim>, request: &Request, out: &mpsc::Sender<Item>) -> Option<Parts> {
    if !request.from.is_empty() {
        let Some(name) = Name::parse(&request.from) else {
            send(out, Item::Fail(400, "invalid model name".to_owned())).await;
            return None;
        };
        let base = match sim.find(&name) {
            Some(base) => base,
            None => run_pull(sim, &name, out).await?,
        };
        return Some(Parts {
            parent: base.name.display(),
            ..base.parts.clone()
        });
    }
    for _ in 0..request.uploads.count {
        if !send(out, status("parsing GGUF")).await {
            return None;
        }
        tick(sim).await;
    }
    let Some((weights, weights_layer)) = request.uploads.weights.clone() else {
        send(
            out,
            Item::Fail(400, "no files provided to convert".to_owned()),
        )
        .await;
        return None;
    };
    Some(Parts {
        weights,
        weights_layer: Some(weights_layer),
        projector: request.uploads.projector.clone(),
        template: "{{ .Prompt }}".to_owned(),
        ..Parts::default()
    })
}

/// `quantizing F16 model to Q4_K_M` with progress, then a smaller weights layer.
async fn quantize(
    sim: &Sim,
    parts: &mut Parts,
    file_type: u64,
    target: &'static str,
    out: &mpsc::Sender<Item>,
) -> bool {
    let Some(layer) = parts.weights_layer.clone() else {
        return true;
    };
    let label = format!(
        "quantizing {} model to {target}",
        parts.weights.quantization
    );
    for step in 0..=4u64 {
        let progress = Progress {
            status: &label,
            digest: "0000000000000000000",
            total: layer.size,
            completed: layer.size * step / 4,
        };
        if !send(out, line(&progress)).await {
            return false;
        }
        tick(sim).await;
    }
    let bits = model::bits_per_weight(file_type);
    let size = (parts.weights.parameter_count as f64 * bits / 8.0) as u64;
    let digest = model::sha256_digest(format!("{}:{target}", layer.digest).as_bytes());
    parts.weights_layer = Some(Layer {
        digest,
        size: size.max(1),
        ..layer
    });
    parts.weights.quantization = target.to_owned();
    parts
        .weights
        .kv
        .insert("general.file_type".to_owned(), json!(file_type));
    for tensor in parts
        .weights
        .tensors
        .iter_mut()
        .filter(|t| t.shape.len() > 1)
    {
        tensor.kind = model::tensor_type(file_type).to_owned();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_relative_paths() {
        for ok in ["model.gguf", "sub/dir/model.gguf", "."] {
            assert!(relative(ok), "{ok}");
        }
        for bad in [
            "/etc/passwd",
            "../x.gguf",
            "a//b",
            "a/./b",
            "C:\\x",
            "",
            "dir/",
        ] {
            assert!(!relative(bad), "{bad}");
        }
    }
}
