//! What an uploaded file holds, checked before anything reaches Ollama.
//!
//! A GGUF is read with [`crate::gguf::read_header_from_path`] (bounded, every limit enforced,
//! tensor data never read). A ZIP is checked entry by entry ([`archive`]) and extracted with
//! caps, then classified: one model GGUF plus an optional projector, one LoRA adapter GGUF, a
//! safetensors model directory, or a safetensors LoRA adapter. Anything else is
//! [`Error::InvalidModel`] with a message saying exactly what is wrong.

pub(crate) mod archive;
mod safetensors;

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gguf::{GgufHeader, GgufKind, GgufValue, Limits, read_header_from_path};

/// What validation found in an upload; shown on the import record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelReport {
    /// `gguf` or `safetensors`.
    pub format: String,
    /// `model`, `adapter` or `mmproj` (of the main file).
    pub kind: String,
    /// `general.architecture` (GGUF) or `model_type` / `architectures[0]` (safetensors).
    pub architecture: Option<String>,
    /// `general.name`.
    pub name: Option<String>,
    /// Quantisation (`Q4_K_M`, `F16`, …): Ollama's `quantization_level`.
    pub quantization: Option<String>,
    /// Parameters (from the header, or the sum of tensor sizes).
    pub parameter_count: Option<u64>,
    /// Ollama's human form of it, e.g. `8.0B`.
    pub parameter_size: Option<String>,
    /// Trained context length.
    pub context_length: Option<u64>,
    /// Embedding width.
    pub embedding_length: Option<u64>,
    /// The file carries a chat template.
    pub chat_template: bool,
    /// `<arch>.pooling_type`: present means an embedding model.
    pub pooling_type: Option<u32>,
    /// A vision tower in the main file or a separate projector.
    pub vision: bool,
    /// The capabilities Ollama will derive (`completion` or `embedding`, `vision`, `tools`,
    /// `thinking`).
    pub capabilities: Vec<String>,
    /// GGUF version (2 or 3).
    pub gguf_version: Option<u32>,
    /// Tensors in the main file.
    pub tensor_count: Option<u64>,
    /// The projector, when one came with the model.
    pub projector: Option<ProjectorReport>,
    /// Every file that will be sent to Ollama.
    pub files: Vec<FileReport>,
    /// Non-fatal findings.
    pub warnings: Vec<String>,
}

/// A vision/audio projector (mmproj) that came with a model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectorReport {
    /// Its file name.
    pub file: String,
    /// Usually `clip`.
    pub architecture: Option<String>,
    /// `clip.projector_type`, e.g. `mlp`.
    pub projector_type: Option<String>,
    /// It has a vision encoder.
    pub vision: bool,
    /// It has an audio encoder.
    pub audio: bool,
}

/// One file of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReport {
    /// Name given to Ollama (relative).
    pub name: String,
    /// `model`, `projector`, `adapter`, `weights`, `config` or `tokenizer`.
    pub role: String,
    /// Bytes.
    pub size: u64,
    /// Hex SHA-256.
    pub sha256: String,
}

/// A file ready to become an Ollama blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlobFile {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
    pub(crate) sha256: String,
}

impl BlobFile {
    pub(crate) fn digest(&self) -> String {
        format!("sha256:{}", self.sha256)
    }
}

/// A validated upload: its report and the blobs `/api/create` needs.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) report: ModelReport,
    /// The `files` of `/api/create`.
    pub(crate) files: Vec<BlobFile>,
    /// The `adapters` of `/api/create`.
    pub(crate) adapters: Vec<BlobFile>,
}

impl Prepared {
    pub(crate) fn needs_base(&self) -> bool {
        self.files.is_empty() && !self.adapters.is_empty()
    }
}

/// What the first bytes say a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sniffed {
    Gguf,
    Zip,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidModel(message.into())
}

/// Tells GGUF from ZIP by the magic bytes, holding the file to what its name claims.
pub(crate) fn sniff(path: &Path, file_name: &str) -> Result<Sniffed> {
    let mut magic = [0u8; 4];
    let mut file = std::fs::File::open(path).map_err(|e| Error::io("opening the upload", e))?;
    let got = file
        .read(&mut magic)
        .map_err(|e| Error::io("reading the upload", e))?;
    let lower = file_name.to_ascii_lowercase();
    let sniffed = match &magic[..got] {
        b"GGUF" => Some(Sniffed::Gguf),
        b"PK\x03\x04" | b"PK\x05\x06" => Some(Sniffed::Zip),
        _ => None,
    };
    match (sniffed, lower.rsplit('.').next()) {
        (Some(Sniffed::Zip), Some("gguf")) => Err(invalid(format!(
            "{file_name} claims to be a GGUF file but is a ZIP archive; name it .zip"
        ))),
        (Some(Sniffed::Gguf), Some("zip")) => Err(invalid(format!(
            "{file_name} claims to be a ZIP archive but is a GGUF file; name it .gguf"
        ))),
        (Some(s), _) => Ok(s),
        (None, Some("zip")) => Err(invalid(format!(
            "{file_name} is not a ZIP archive: it does not start with \"PK\\x03\\x04\""
        ))),
        (None, Some("safetensors")) => Err(invalid(format!(
            "{file_name} is a lone safetensors file; upload a ZIP of the model directory \
             (config.json, tokenizer files and *.safetensors) instead"
        ))),
        (None, _) if got < 4 => Err(invalid(format!(
            "{file_name} is not a GGUF file: it is only {got} bytes long"
        ))),
        (None, _) => Err(invalid(format!(
            "{file_name} is not a GGUF file: it does not start with the magic bytes \"GGUF\" \
             (it starts with {}), and it is not a ZIP archive either",
            hex::encode(magic)
        ))),
    }
}

/// Reads and checks a GGUF header, naming the file in the error.
pub(crate) fn read_gguf(path: &Path, name: &str) -> Result<GgufHeader> {
    read_header_from_path(path, &Limits::default()).map_err(|e| match e {
        crate::gguf::GgufError::Io(io) => Error::io(format!("reading {name}"), io),
        other => invalid(format!("{name}: {other}")),
    })
}

fn kind_name(kind: GgufKind) -> &'static str {
    match kind {
        GgufKind::Model => "model",
        GgufKind::Adapter => "adapter",
        GgufKind::Projector => "mmproj",
    }
}

/// The report of one model or adapter GGUF (and its projector, when there is one).
pub(crate) fn gguf_report(
    header: &GgufHeader,
    projector: Option<(&GgufHeader, &str)>,
) -> ModelReport {
    let kind = header.kind();
    let template = header.chat_template().unwrap_or_default();
    let vision = header.vision_block_count().is_some() || projector.is_some();
    let mut capabilities = Vec::new();
    if kind == GgufKind::Model {
        capabilities.push(if header.pooling_type().is_some() {
            "embedding"
        } else {
            "completion"
        });
        if vision {
            capabilities.push("vision");
        }
        if template.contains("tools") || template.contains("tool_call") {
            capabilities.push("tools");
        }
        if template.contains("<think>") && template.contains("</think>") {
            capabilities.push("thinking");
        }
    }
    let flag = |h: &GgufHeader, k: &str| matches!(h.get(k), Some(GgufValue::Bool(true)));
    ModelReport {
        format: "gguf".to_owned(),
        kind: kind_name(kind).to_owned(),
        architecture: header.architecture().map(str::to_owned),
        name: header.name().map(str::to_owned),
        quantization: header.quantization().map(str::to_owned),
        parameter_count: Some(header.parameter_count()),
        parameter_size: Some(header.parameter_size()),
        context_length: header.context_length(),
        embedding_length: header.embedding_length(),
        chat_template: header.has_chat_template(),
        pooling_type: header.pooling_type(),
        vision,
        capabilities: capabilities.into_iter().map(str::to_owned).collect(),
        gguf_version: Some(header.version),
        tensor_count: Some(header.tensor_count),
        projector: projector.map(|(p, file)| ProjectorReport {
            file: file.to_owned(),
            architecture: p.architecture().map(str::to_owned),
            projector_type: p
                .get("clip.projector_type")
                .and_then(GgufValue::as_str)
                .map(str::to_owned),
            vision: flag(p, "clip.has_vision_encoder")
                || p.get("clip.vision.block_count").is_some(),
            audio: flag(p, "clip.has_audio_encoder"),
        }),
        files: Vec::new(),
        warnings: header.warnings.clone(),
    }
}

fn file_report(file: &BlobFile, role: &str) -> FileReport {
    FileReport {
        name: file.name.clone(),
        role: role.to_owned(),
        size: file.size,
        sha256: file.sha256.clone(),
    }
}

/// A single uploaded GGUF: a model, or a LoRA adapter (imported on top of a base model).
pub(crate) fn prepare_gguf(file: BlobFile) -> Result<Prepared> {
    let header = read_gguf(&file.path, &file.name)?;
    let mut report = gguf_report(&header, None);
    match header.kind() {
        GgufKind::Model => {
            report.files.push(file_report(&file, "model"));
            Ok(Prepared {
                report,
                files: vec![file],
                adapters: Vec::new(),
            })
        }
        GgufKind::Adapter => {
            report.files.push(file_report(&file, "adapter"));
            Ok(Prepared {
                report,
                files: Vec::new(),
                adapters: vec![file],
            })
        }
        GgufKind::Projector => Err(invalid(format!(
            "{} is a vision projector (mmproj), not a model; upload a ZIP holding the model GGUF \
             and this projector together",
            file.name
        ))),
    }
}

/// Classifies the files extracted from a ZIP (names relative, `/`-separated): GGUFs when there
/// are any, else a safetensors model directory or LoRA adapter.
pub(crate) fn prepare_extracted(files: Vec<BlobFile>) -> Result<Prepared> {
    let ggufs: Vec<&BlobFile> = files.iter().filter(|f| extension(f) == "gguf").collect();
    match ggufs.is_empty() {
        false => prepare_ggufs(&ggufs),
        true => prepare_safetensors(files),
    }
}

/// A file's extension, lower-cased.
fn extension(f: &BlobFile) -> String {
    f.name
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// A file's name without its directories.
fn base_name(f: &BlobFile) -> &str {
    f.name.rsplit('/').next().unwrap_or_default()
}

/// A GGUF of a ZIP with its header.
type Gguf<'a> = (&'a BlobFile, GgufHeader);

/// One model GGUF, with at most one projector and one adapter; or one adapter alone.
fn prepare_ggufs(ggufs: &[&BlobFile]) -> Result<Prepared> {
    let (mut models, mut projectors, mut adapters) = (Vec::new(), Vec::new(), Vec::new());
    for &f in ggufs {
        let header = read_gguf(&f.path, &f.name)?;
        match header.kind() {
            GgufKind::Model => models.push((f, header)),
            GgufKind::Projector => projectors.push((f, header)),
            GgufKind::Adapter => adapters.push((f, header)),
        }
    }
    let model = at_most_one(models, "model GGUFs", "put one model per upload")?;
    let projector = at_most_one(projectors, "projectors", "at most one is allowed")?;
    let adapter = at_most_one(adapters, "adapters", "Ollama supports one")?;
    match (model, adapter) {
        (Some(model), adapter) => Ok(gguf_model(model, projector, adapter)),
        (None, Some((adapter, header))) if projector.is_none() => {
            let mut report = gguf_report(&header, None);
            report.files.push(file_report(adapter, "adapter"));
            Ok(Prepared {
                report,
                files: Vec::new(),
                adapters: vec![adapter.clone()],
            })
        }
        (None, _) => Err(invalid(
            "the ZIP holds a vision projector (mmproj) GGUF but no model GGUF",
        )),
    }
}

/// The one GGUF of a kind, if any; more than one is refused, naming them.
fn at_most_one<'a>(mut found: Vec<Gguf<'a>>, what: &str, advice: &str) -> Result<Option<Gguf<'a>>> {
    if found.len() > 1 {
        let names: Vec<&str> = found.iter().map(|(f, _)| f.name.as_str()).collect();
        return Err(invalid(format!(
            "the ZIP holds {} {what} ({}); {advice}",
            found.len(),
            names.join(", ")
        )));
    }
    Ok(found.pop())
}

/// A model GGUF with its projector (sent with it) and adapter (applied to it).
fn gguf_model(model: Gguf<'_>, projector: Option<Gguf<'_>>, adapter: Option<Gguf<'_>>) -> Prepared {
    let (model, header) = model;
    let mut report = gguf_report(
        &header,
        projector.as_ref().map(|(f, h)| (h, f.name.as_str())),
    );
    report.files.push(file_report(model, "model"));
    let mut files = vec![model.clone()];
    if let Some((p, _)) = &projector {
        report.files.push(file_report(p, "projector"));
        files.push((*p).clone());
    }
    let adapters = adapter.map(|(a, _)| {
        report.files.push(file_report(a, "adapter"));
        vec![a.clone()]
    });
    Prepared {
        report,
        files,
        adapters: adapters.unwrap_or_default(),
    }
}

/// A safetensors model directory (`config.json`) or LoRA adapter (`adapter_config.json`).
fn prepare_safetensors(files: Vec<BlobFile>) -> Result<Prepared> {
    let tensors: Vec<&BlobFile> = files
        .iter()
        .filter(|f| extension(f) == "safetensors")
        .collect();
    if tensors.is_empty() {
        return Err(no_model(&files));
    }
    let mut summary = safetensors::Summary::default();
    for t in &tensors {
        safetensors::check(&t.path, &t.name, &mut summary)?;
    }
    let has = |name: &str| files.iter().any(|f| base_name(f) == name);
    let adapter = has("adapter_config.json");
    if !adapter && !has("config.json") {
        return Err(invalid(
            "the ZIP holds safetensors weights but no config.json (a model directory) or \
             adapter_config.json (a LoRA adapter)",
        ));
    }
    let config_name = if adapter {
        "adapter_config.json"
    } else {
        "config.json"
    };
    let config = files
        .iter()
        .find(|f| base_name(f) == config_name)
        .map(|f| safetensors::read_config(&f.path, &f.name))
        .transpose()?
        .unwrap_or_default();
    let report = safetensors_report(&files, &summary, &config, adapter);
    Ok(match adapter {
        true => Prepared {
            report,
            files: Vec::new(),
            adapters: files,
        },
        false => Prepared {
            report,
            files,
            adapters: Vec::new(),
        },
    })
}

/// The refusal of a ZIP with neither GGUF nor safetensors, listing what it holds.
fn no_model(files: &[BlobFile]) -> Error {
    let listed: Vec<&str> = files.iter().map(|f| f.name.as_str()).take(10).collect();
    invalid(format!(
        "the ZIP holds no model: expected a .gguf file, a safetensors model directory \
         (config.json + *.safetensors) or a LoRA adapter (adapter_config.json + \
         adapter_model.safetensors); found: {}",
        if listed.is_empty() {
            "nothing".to_owned()
        } else {
            listed.join(", ")
        }
    ))
}

/// The chat template `tokenizer_config.json` gives, if any.
fn chat_template(files: &[BlobFile]) -> Option<String> {
    files
        .iter()
        .find(|f| base_name(f) == "tokenizer_config.json")
        .and_then(|f| safetensors::read_config(&f.path, &f.name).ok())
        .and_then(|c| {
            c.get("chat_template")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
        })
}

/// What a file of a safetensors directory is for.
fn safetensors_role(f: &BlobFile) -> &'static str {
    match extension(f).as_str() {
        "safetensors" => "weights",
        "json" if base_name(f).starts_with("tokenizer") => "tokenizer",
        "json" => "config",
        _ => "tokenizer",
    }
}

/// The report of a safetensors model or adapter from its weights and its config.
fn safetensors_report(
    files: &[BlobFile],
    summary: &safetensors::Summary,
    config: &serde_json::Map<String, serde_json::Value>,
    adapter: bool,
) -> ModelReport {
    let chat_template = chat_template(files);
    let template = chat_template.clone().unwrap_or_default();
    let mut capabilities = Vec::new();
    if !adapter {
        capabilities.push("completion".to_owned());
        if template.contains("tools") || template.contains("tool_call") {
            capabilities.push("tools".to_owned());
        }
    }
    ModelReport {
        format: "safetensors".to_owned(),
        kind: if adapter { "adapter" } else { "model" }.to_owned(),
        architecture: config
            .get("architectures")
            .and_then(|a| a.get(0))
            .or_else(|| config.get("model_type"))
            .or_else(|| config.get("base_model_name_or_path"))
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        name: None,
        quantization: summary.dominant_dtype(),
        parameter_count: Some(summary.parameters),
        parameter_size: Some(crate::gguf::human_number(summary.parameters)),
        context_length: config
            .get("max_position_embeddings")
            .and_then(|v| v.as_u64()),
        embedding_length: config.get("hidden_size").and_then(|v| v.as_u64()),
        chat_template: chat_template.is_some(),
        pooling_type: None,
        vision: config.get("vision_config").is_some(),
        capabilities,
        gguf_version: None,
        tensor_count: Some(summary.tensors),
        projector: None,
        files: files
            .iter()
            .map(|f| file_report(f, safetensors_role(f)))
            .collect(),
        warnings: Vec::new(),
    }
}
