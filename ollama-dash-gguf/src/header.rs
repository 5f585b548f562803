//! The parsed header and what a dashboard derives from it.

use std::collections::BTreeMap;

use super::names::{file_type_for_tensor_type, file_type_name, ggml_type_block, ggml_type_name};
use super::{GgufKind, GgufValue, names};

/// One tensor info from the header (the tensor data itself is never read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Tensor name, e.g. `blk.0.attn_q.weight` (1–63 bytes).
    pub name: String,
    /// Dimensions, innermost (row length, `ne[0]`) first; at most 4.
    pub dims: Vec<u64>,
    /// ggml tensor type id (see [`ggml_type_name`](super::ggml_type_name)).
    pub ggml_type: u32,
    /// Offset of the data relative to [`GgufHeader::data_offset`].
    pub offset: u64,
}

impl TensorInfo {
    /// Number of elements (product of the dimensions; 1 for a scalar).
    pub fn element_count(&self) -> u64 {
        self.dims.iter().fold(1u64, |acc, &d| acc.saturating_mul(d))
    }

    /// Type name as Ollama shows it in `/api/show` `tensors[].type`, e.g. `"Q4_K"`.
    pub fn type_name(&self) -> Option<&'static str> {
        ggml_type_name(self.ggml_type)
    }

    /// Byte size of the tensor data (unpadded).
    pub fn byte_size(&self) -> Option<u64> {
        names::tensor_bytes(&self.dims, self.ggml_type)
    }
}

/// A validated GGUF header: metadata key-value pairs and tensor infos.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufHeader {
    /// GGUF version (2 or 3).
    pub version: u32,
    /// Number of tensor infos.
    pub tensor_count: u64,
    /// Number of metadata key-value pairs.
    pub kv_count: u64,
    /// Data alignment: `general.alignment` or the default 32.
    pub alignment: u64,
    /// All metadata, by key. Arrays longer than [`KEPT_ARRAY_LEN`](super::KEPT_ARRAY_LEN) hold no values.
    pub metadata: BTreeMap<String, GgufValue>,
    /// Tensor infos in file order.
    pub tensors: Vec<TensorInfo>,
    /// Absolute byte offset where tensor data starts (aligned).
    pub data_offset: u64,
    /// Non-fatal problems (missing architecture or context length, missing quantization version,
    /// tokenizer arrays of different lengths).
    pub warnings: Vec<String>,
}

impl GgufHeader {
    /// The metadata value for `key`.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.get(key)
    }

    fn str(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }

    fn u64(&self, key: &str) -> Option<u64> {
        self.get(key)?.as_u64()
    }

    /// An integer `<architecture>.<suffix>` value of any integer type.
    fn arch_u64(&self, suffix: &str) -> Option<u64> {
        self.u64(&format!("{}.{suffix}", self.architecture()?))
    }

    /// `general.architecture`, e.g. `llama` or `clip`.
    pub fn architecture(&self) -> Option<&str> {
        self.str("general.architecture")
    }

    /// Model, LoRA adapter, or vision/audio projector. Projector follows Ollama's `isProjectorGGUF`:
    /// `general.type` is `projector` or `mmproj`; or `<arch>.block_count` is 0 or absent while
    /// `<arch>.vision.block_count` > 0; or the arch is `clip` without `block_count` and with
    /// `clip.has_vision_encoder` or `clip.has_audio_encoder` true. Adapter: `general.type` is `adapter`.
    pub fn kind(&self) -> GgufKind {
        match self.str("general.type") {
            Some("adapter") => return GgufKind::Adapter,
            Some("projector" | "mmproj") => return GgufKind::Projector,
            _ => {}
        }
        let blocks = self.arch_u64("block_count");
        let flag = |k: &str| matches!(self.get(k), Some(GgufValue::Bool(true)));
        let clip = self.architecture() == Some("clip")
            && blocks.is_none()
            && (flag("clip.has_vision_encoder") || flag("clip.has_audio_encoder"));
        if clip || (blocks.unwrap_or(0) == 0 && self.vision_block_count().unwrap_or(0) > 0) {
            GgufKind::Projector
        } else {
            GgufKind::Model
        }
    }

    /// `general.name`.
    pub fn name(&self) -> Option<&str> {
        self.str("general.name")
    }

    /// `general.file_type` (any integer type).
    pub fn file_type(&self) -> Option<u32> {
        self.u64("general.file_type")
            .and_then(|v| u32::try_from(v).ok())
    }

    /// Ollama's `quantization_level`: the name of `general.file_type`, e.g. `"Q4_K_M"`. If that is absent or
    /// unknown, it is guessed like llama.cpp does from the most common tensor type (Q4_K → `Q4_K_M`).
    pub fn quantization(&self) -> Option<&'static str> {
        if let Some(name) = self.file_type().and_then(file_type_name) {
            return Some(name);
        }
        let mut counts = BTreeMap::<u32, usize>::new();
        let (mut best, mut best_count) = (None, 0);
        for t in &self.tensors {
            let c = counts.entry(t.ggml_type).or_default();
            *c += 1;
            if *c > best_count {
                (best, best_count) = (Some(t.ggml_type), *c);
            }
        }
        file_type_name(file_type_for_tensor_type(best?)?)
    }

    /// `general.parameter_count` if present, else the sum of all tensors' element counts (as Ollama does).
    pub fn parameter_count(&self) -> u64 {
        self.u64("general.parameter_count").unwrap_or_else(|| {
            self.tensors
                .iter()
                .fold(0u64, |acc, t| acc.saturating_add(t.element_count()))
        })
    }

    /// Ollama's `details.parameter_size`, e.g. `"8.0B"`, `"567.75M"` (see [`human_number`](super::human_number)).
    pub fn parameter_size(&self) -> String {
        names::human_number(self.parameter_count())
    }

    /// `<arch>.context_length` (trained context), accepting any integer type.
    pub fn context_length(&self) -> Option<u64> {
        self.arch_u64("context_length")
    }

    /// `<arch>.embedding_length`.
    pub fn embedding_length(&self) -> Option<u64> {
        self.arch_u64("embedding_length")
    }

    /// `<arch>.pooling_type`; its presence makes Ollama treat the model as an embedding model.
    pub fn pooling_type(&self) -> Option<u32> {
        self.arch_u64("pooling_type")
            .and_then(|v| u32::try_from(v).ok())
    }

    /// `<arch>.vision.block_count`; its presence gives a model Ollama's `vision` capability.
    pub fn vision_block_count(&self) -> Option<u64> {
        self.arch_u64("vision.block_count")
    }

    /// Whether `tokenizer.chat_template` is present.
    pub fn has_chat_template(&self) -> bool {
        self.chat_template().is_some()
    }

    /// `tokenizer.chat_template` (Jinja).
    pub fn chat_template(&self) -> Option<&str> {
        self.str("tokenizer.chat_template")
    }

    /// Like Ollama's `/api/show` `model_info`: every KV except `general.name` and
    /// `tokenizer.chat_template`, arrays longer than 5 elements as `[]`, and `general.parameter_count`
    /// always present (from [`parameter_count`](Self::parameter_count)).
    pub fn model_info(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut info: serde_json::Map<_, _> = self
            .metadata
            .iter()
            .filter(|(k, _)| *k != "general.name" && *k != "tokenizer.chat_template")
            .map(|(k, v)| (k.clone(), v.to_json(5)))
            .collect();
        info.insert(
            "general.parameter_count".to_owned(),
            self.parameter_count().into(),
        );
        info
    }

    /// The digest's semantic checks (point 9), as warnings.
    pub(crate) fn semantic_warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        match (self.get("general.architecture"), self.architecture()) {
            (None, _) => w.push("general.architecture is missing".to_owned()),
            (Some(_), None) => w.push("general.architecture is not a string".to_owned()),
            (_, Some(arch))
                if self.kind() == GgufKind::Model && self.context_length().is_none() =>
            {
                w.push(format!("{arch}.context_length is missing"));
            }
            _ => {}
        }
        let quantized = self
            .tensors
            .iter()
            .any(|t| ggml_type_block(t.ggml_type).is_some_and(|b| b.0 > 1));
        if quantized && self.get("general.quantization_version").is_none() {
            w.push("general.quantization_version is missing but tensors are quantized".to_owned());
        }
        let lens: Vec<(&str, u64)> = ["tokens", "scores", "token_type"]
            .into_iter()
            .filter_map(|k| match self.get(&format!("tokenizer.ggml.{k}")) {
                Some(GgufValue::Array { len, .. }) => Some((k, *len)),
                _ => None,
            })
            .collect();
        if lens
            .windows(2)
            .any(|p| p.first().map(|a| a.1) != p.last().map(|b| b.1))
        {
            w.push(format!("tokenizer arrays have different lengths: {lens:?}"));
        }
        w
    }
}
