//! An installed model as Ollama stores it: manifest layers and digest, config details, the GGUF
//! metadata behind `/api/show`, template, parameters, and the capabilities derived from them.

use chrono::{DateTime, Local};
use ollama_dash_gguf as gguf;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::names::Name;

pub(crate) const MEDIA_MODEL: &str = "application/vnd.ollama.image.model";
pub(crate) const MEDIA_PROJECTOR: &str = "application/vnd.ollama.image.projector";
pub(crate) const MEDIA_ADAPTER: &str = "application/vnd.ollama.image.adapter";

/// One manifest layer (or the config blob).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Layer {
    #[serde(rename = "mediaType")]
    pub(crate) media_type: String,
    pub(crate) digest: String,
    pub(crate) size: u64,
}

impl Layer {
    /// A layer holding `content` itself (template, params, …).
    fn of_content(media_type: &str, content: &[u8]) -> Layer {
        Layer {
            media_type: media_type.to_owned(),
            digest: sha256_digest(content),
            size: content.len() as u64,
        }
    }
}

/// `sha256:<hex>` of some bytes.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// One tensor as `/api/show` lists it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Tensor {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) shape: Vec<u64>,
}

/// The parts of a GGUF file the simulator uses: metadata (skipped arrays are empty), tensors, and
/// what Ollama derives from them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Gguf {
    pub(crate) kv: Map<String, Value>,
    pub(crate) tensors: Vec<Tensor>,
    /// `general.parameter_count`, or the sum of tensor sizes as Ollama computes it.
    pub(crate) parameter_count: u64,
    /// The `quantization_level`, e.g. `Q4_K_M`.
    pub(crate) quantization: String,
}

/// Reads an uploaded GGUF blob's header with the core crate's validating reader; the kind says
/// whether it is a model, a projector or an adapter (Ollama's rules).
pub(crate) fn read_gguf(path: &std::path::Path) -> Result<(Gguf, gguf::GgufKind), gguf::GgufError> {
    let header = gguf::read_header_from_path(path, &gguf::Limits::default())?;
    let tensors = header
        .tensors
        .iter()
        .map(|t| Tensor {
            name: t.name.clone(),
            kind: t.type_name().unwrap_or("unknown").to_owned(),
            shape: t.dims.clone(),
        })
        .collect();
    let gguf = Gguf {
        kv: header
            .metadata
            .iter()
            .map(|(key, value)| (key.clone(), value.to_json(u64::MAX)))
            .collect(),
        tensors,
        parameter_count: header.parameter_count(),
        quantization: header.quantization().unwrap_or("unknown").to_owned(),
    };
    Ok((gguf, header.kind()))
}

impl Gguf {
    pub(crate) fn architecture(&self) -> &str {
        self.kv
            .get("general.architecture")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// An unsigned key; arch-relative names like `context_length` get the architecture prefix.
    pub(crate) fn uint(&self, key: &str) -> Option<u64> {
        let full = if key.starts_with("general.") || key.starts_with("tokenizer.") {
            key.to_owned()
        } else {
            format!("{}.{key}", self.architecture())
        };
        self.kv
            .get(&full)
            .and_then(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f.max(0.0) as u64)))
    }
}

/// What a model is made of, before the manifest is written.
#[derive(Clone, Debug, Default)]
pub(crate) struct Parts {
    pub(crate) weights: Gguf,
    pub(crate) weights_layer: Option<Layer>,
    pub(crate) projector: Option<(Gguf, Layer)>,
    pub(crate) adapter: Option<Layer>,
    pub(crate) template: String,
    pub(crate) system: String,
    /// Model parameters (`stop` is an array), the defaults before request options.
    pub(crate) params: Map<String, Value>,
    pub(crate) license: Vec<String>,
    /// Preset messages.
    pub(crate) messages: Vec<Preset>,
    pub(crate) parent: String,
}

/// A preset message of a model (`/api/create` `messages`, `/api/show` `messages`).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Preset {
    pub(crate) role: String,
    pub(crate) content: String,
}

/// `details` as tags, ps and show report it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Details {
    pub(crate) parent_model: String,
    pub(crate) format: String,
    pub(crate) family: String,
    pub(crate) families: Vec<String>,
    pub(crate) parameter_size: String,
    pub(crate) quantization_level: String,
}

/// An installed model.
#[derive(Clone, Debug)]
pub(crate) struct Model {
    pub(crate) name: Name,
    pub(crate) parts: Parts,
    pub(crate) layers: Vec<Layer>,
    pub(crate) config: Layer,
    /// sha256 hex of the manifest, no prefix.
    pub(crate) digest: String,
    pub(crate) modified_at: DateTime<Local>,
    pub(crate) details: Details,
    pub(crate) capabilities: Vec<&'static str>,
}

impl Model {
    /// Writes the manifest for `parts` and derives everything Ollama shows about it.
    pub(crate) fn build(name: Name, parts: Parts, modified_at: DateTime<Local>) -> Model {
        let weights = &parts.weights;
        let arch = weights.architecture().to_owned();
        let mut families = vec![arch.clone()];
        if let Some((projector, _)) = &parts.projector {
            families.push(projector.architecture().to_owned());
        }
        families.dedup();
        let details = Details {
            parent_model: parts.parent.clone(),
            format: "gguf".to_owned(),
            family: arch.clone(),
            families: families.clone(),
            parameter_size: gguf::human_number(weights.parameter_count),
            quantization_level: weights.quantization.clone(),
        };
        let mut layers: Vec<Layer> = parts.weights_layer.iter().cloned().collect();
        layers.extend(parts.projector.iter().map(|(_, layer)| layer.clone()));
        layers.extend(parts.adapter.iter().cloned());
        let text_layers = [
            ("template", parts.template.clone()),
            ("system", parts.system.clone()),
            (
                "params",
                if parts.params.is_empty() {
                    String::new()
                } else {
                    Value::Object(parts.params.clone()).to_string()
                },
            ),
            (
                "messages",
                if parts.messages.is_empty() {
                    String::new()
                } else {
                    serde_json::to_string(&parts.messages).unwrap_or_default()
                },
            ),
        ];
        for (kind, content) in text_layers
            .iter()
            .filter(|(_, content)| !content.is_empty())
        {
            layers.push(Layer::of_content(
                &format!("application/vnd.ollama.image.{kind}"),
                content.as_bytes(),
            ));
        }
        for license in &parts.license {
            layers.push(Layer::of_content(
                "application/vnd.ollama.image.license",
                license.as_bytes(),
            ));
        }
        let config = json!({
            "model_format": "gguf", "model_family": arch, "model_families": families,
            "model_type": details.parameter_size, "file_type": details.quantization_level,
            "architecture": "amd64", "os": "linux",
            "rootfs": { "type": "layers", "diff_ids": layers.iter().map(|l| l.digest.clone()).collect::<Vec<_>>() },
        });
        let config = Layer::of_content(
            "application/vnd.docker.container.image.v1+json",
            config.to_string().as_bytes(),
        );
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": config,
            "layers": layers,
        });
        let digest = hex::encode(Sha256::digest(manifest.to_string().as_bytes()));
        let capabilities = capabilities(&parts);
        Model {
            name,
            parts,
            layers,
            config,
            digest,
            modified_at,
            details,
            capabilities,
        }
    }

    /// The same manifest under another name (copy, re-pull).
    pub(crate) fn renamed(&self, name: Name, modified_at: DateTime<Local>) -> Model {
        Model {
            name,
            modified_at,
            ..self.clone()
        }
    }

    pub(crate) fn has(&self, capability: &str) -> bool {
        self.capabilities.contains(&capability)
    }

    /// Total bytes of all layers, as `/api/tags` reports `size`.
    pub(crate) fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum::<u64>() + self.config.size
    }

    /// Every blob digest the manifest references, the config included.
    pub(crate) fn blob_digests(&self) -> impl Iterator<Item = &str> {
        self.layers
            .iter()
            .chain([&self.config])
            .map(|l| l.digest.as_str())
    }

    /// `model_info`: all metadata but `general.name` and the chat template; arrays longer than 5
    /// are emptied unless `verbose`.
    pub(crate) fn model_info(&self, verbose: bool) -> Map<String, Value> {
        let mut info = metadata_view(&self.parts.weights.kv, verbose);
        info.remove("tokenizer.chat_template");
        info.entry("general.parameter_count")
            .or_insert_with(|| json!(self.parts.weights.parameter_count));
        info
    }

    /// `projector_info`, when the model has a projector layer.
    pub(crate) fn projector_info(&self, verbose: bool) -> Option<Map<String, Value>> {
        self.parts
            .projector
            .as_ref()
            .map(|(projector, _)| metadata_view(&projector.kv, verbose))
    }

    /// The trained context length, `<arch>.context_length`.
    pub(crate) fn trained_context(&self) -> u64 {
        self.parts.weights.uint("context_length").unwrap_or(2048)
    }

    pub(crate) fn embedding_length(&self) -> usize {
        self.parts.weights.uint("embedding_length").unwrap_or(768) as usize
    }

    /// Bytes of weights that must be in memory (model and projector layers).
    pub(crate) fn weights_size(&self) -> u64 {
        self.parts.weights_layer.as_ref().map_or(0, |l| l.size)
            + self.parts.projector.as_ref().map_or(0, |(_, l)| l.size)
    }

    /// Memory in use when loaded with `context` tokens: weights, an f16 KV cache and a compute graph.
    pub(crate) fn memory(&self, context: u64) -> u64 {
        let weights = &self.parts.weights;
        let blocks = weights.uint("block_count").unwrap_or(16);
        let embd = weights.uint("embedding_length").unwrap_or(2048);
        let heads = weights.uint("attention.head_count").unwrap_or(1).max(1);
        let heads_kv = weights.uint("attention.head_count_kv").unwrap_or(heads);
        let kv_cache = 2 * blocks * context * (embd * heads_kv / heads) * 2;
        self.weights_size() + kv_cache + (128 << 20) + self.weights_size() / 50
    }

    /// The vocabulary size used for `context` token ids.
    pub(crate) fn vocab_size(&self) -> u64 {
        self.parts.weights.uint("vocab_size").unwrap_or(32000)
    }
}

/// Metadata as `/api/show` prints it: without `general.name`, arrays longer than 5 emptied
/// unless `verbose`.
fn metadata_view(kv: &Map<String, Value>, verbose: bool) -> Map<String, Value> {
    kv.iter()
        .filter(|(key, _)| key.as_str() != "general.name")
        .map(|(key, value)| match value {
            Value::Array(items) if items.len() > 5 && !verbose => {
                (key.clone(), Value::Array(Vec::new()))
            }
            _ => (key.clone(), value.clone()),
        })
        .collect()
}

/// Ollama's `Model.Capabilities()` (digest §6).
pub(crate) fn capabilities(parts: &Parts) -> Vec<&'static str> {
    let weights = &parts.weights;
    let jinja = weights
        .kv
        .get("tokenizer.chat_template")
        .and_then(Value::as_str)
        .unwrap_or("");
    let template = &parts.template;
    let mut caps = vec![if weights.uint("pooling_type").is_some() {
        "embedding"
    } else {
        "completion"
    }];
    if template.contains(".Tools") || jinja.contains("tools") || jinja.contains("tool_call") {
        caps.push("tools");
    }
    if template.contains(".Suffix") {
        caps.push("insert");
    }
    if weights.uint("vision.block_count").is_some() || parts.projector.is_some() {
        caps.push("vision");
    }
    let think_tags = |t: &str| t.contains("<think>") && t.contains("</think>");
    if template.contains(".Thinking")
        || think_tags(jinja)
        || ["gptoss", "gpt-oss"].contains(&weights.architecture())
    {
        caps.push("thinking");
    }
    caps
}

/// The `general.file_type` id for a name such as `q4_K_M` (case-insensitive).
pub(crate) fn file_type_id(name: &str) -> Option<u64> {
    (0..64)
        .find(|id| gguf::file_type_name(*id).is_some_and(|n| n.eq_ignore_ascii_case(name)))
        .map(u64::from)
}

/// Approximate bits per weight of a file type, for sizes.
pub(crate) fn bits_per_weight(file_type: u64) -> f64 {
    match file_type {
        0 => 32.0,
        1 | 32 => 16.0,
        7 => 8.5,
        2 | 3 | 8 | 9 => 5.0,
        10 | 21 => 3.35,
        11..=13 => 3.9,
        14 | 15 => 4.85,
        16 | 17 => 5.7,
        18 => 6.56,
        _ => 4.5,
    }
}

/// The main tensor type of a file type (`Q4_K_M` stores most weights as `Q4_K`).
pub(crate) fn tensor_type(file_type: u64) -> &'static str {
    match file_type {
        10 | 21 => "Q2_K",
        11..=13 => "Q3_K",
        14 | 15 => "Q4_K",
        16 | 17 => "Q5_K",
        other => u32::try_from(other)
            .ok()
            .and_then(gguf::file_type_name)
            .unwrap_or("F16"),
    }
}
