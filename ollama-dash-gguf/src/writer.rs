//! A small GGUF writer for tests and the simulator, plus realistic sample files.

use std::path::Path;

use super::{GgufValue, names};

#[derive(Debug, Clone)]
enum Kv {
    Value(GgufValue),
    /// Type id and encoded payload, written verbatim.
    Raw(u32, Vec<u8>),
}

#[derive(Debug, Clone)]
struct PendingTensor {
    name: String,
    dims: Vec<u64>,
    ggml_type: u32,
    offset: Option<u64>,
}

/// Builds small GGUF files: valid ones by default, broken ones on request (any version, duplicate or
/// invalid keys, raw value bytes, explicit tensor offsets). Nothing is validated.
///
/// Tensor data is zero-filled, each tensor padded to the alignment (`general.alignment` if it is a
/// UINT32 power of two, else 32), with offsets computed cumulatively as llama.cpp writes them.
#[derive(Debug, Clone)]
pub struct GgufWriter {
    version: u32,
    kvs: Vec<(String, Kv)>,
    tensors: Vec<PendingTensor>,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &GgufValue) {
    match v {
        GgufValue::U8(x) => out.push(*x),
        GgufValue::I8(x) => out.extend_from_slice(&x.to_le_bytes()),
        GgufValue::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        GgufValue::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        GgufValue::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        GgufValue::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        GgufValue::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        GgufValue::Bool(x) => out.push(u8::from(*x)),
        GgufValue::String(s) => put_str(out, s),
        GgufValue::Array {
            elem_type,
            len,
            values,
        } => {
            out.extend_from_slice(&elem_type.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            values.iter().for_each(|v| put_value(out, v));
        }
        GgufValue::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        GgufValue::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        GgufValue::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
    }
}

fn pad(out: &mut Vec<u8>, alignment: usize) {
    out.resize(out.len().next_multiple_of(alignment), 0);
}

impl GgufWriter {
    /// An empty file of GGUF `version` (2 or 3 for valid files; any value is written as given).
    pub fn new(version: u32) -> Self {
        Self {
            version,
            kvs: Vec::new(),
            tensors: Vec::new(),
        }
    }

    /// Appends a metadata pair (duplicates are kept, so broken files can be made).
    pub fn kv(mut self, key: impl Into<String>, value: GgufValue) -> Self {
        self.kvs.push((key.into(), Kv::Value(value)));
        self
    }

    /// Appends a metadata pair with an arbitrary type id and raw little-endian payload bytes.
    pub fn raw_kv(mut self, key: impl Into<String>, value_type: u32, payload: Vec<u8>) -> Self {
        self.kvs.push((key.into(), Kv::Raw(value_type, payload)));
        self
    }

    /// Appends a tensor with zero-filled data at the next cumulative aligned offset.
    pub fn tensor(
        mut self,
        name: impl Into<String>,
        dims: impl Into<Vec<u64>>,
        ggml_type: u32,
    ) -> Self {
        let (name, dims) = (name.into(), dims.into());
        self.tensors.push(PendingTensor {
            name,
            dims,
            ggml_type,
            offset: None,
        });
        self
    }

    /// Like [`tensor`](Self::tensor) but records `offset` in the tensor info instead of the computed one.
    pub fn tensor_at(
        mut self,
        name: impl Into<String>,
        dims: impl Into<Vec<u64>>,
        ggml_type: u32,
        offset: u64,
    ) -> Self {
        let (name, dims) = (name.into(), dims.into());
        self.tensors.push(PendingTensor {
            name,
            dims,
            ggml_type,
            offset: Some(offset),
        });
        self
    }

    fn alignment(&self) -> usize {
        let a = self.kvs.iter().rev().find_map(|(k, v)| match v {
            Kv::Value(GgufValue::U32(a)) if k == "general.alignment" && a.is_power_of_two() => {
                Some(*a)
            }
            _ => None,
        });
        a.map_or(32, |a| a as usize)
    }

    /// The encoded file. Tensors whose size cannot be computed (unknown type, bad dims) get no data.
    pub fn to_bytes(&self) -> Vec<u8> {
        let align = self.alignment();
        let mut out = b"GGUF".to_vec();
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.kvs.len() as u64).to_le_bytes());
        for (key, kv) in &self.kvs {
            put_str(&mut out, key);
            match kv {
                Kv::Value(v) => {
                    out.extend_from_slice(&v.type_id().to_le_bytes());
                    put_value(&mut out, v);
                }
                Kv::Raw(t, payload) => {
                    out.extend_from_slice(&t.to_le_bytes());
                    out.extend_from_slice(payload);
                }
            }
        }
        let mut offset = 0u64;
        let mut sizes = Vec::new();
        for t in &self.tensors {
            let size = names::tensor_bytes(&t.dims, t.ggml_type).unwrap_or(0);
            put_str(&mut out, &t.name);
            out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            t.dims
                .iter()
                .for_each(|d| out.extend_from_slice(&d.to_le_bytes()));
            out.extend_from_slice(&t.ggml_type.to_le_bytes());
            out.extend_from_slice(&t.offset.unwrap_or(offset).to_le_bytes());
            offset = offset.saturating_add(size.next_multiple_of(align as u64));
            sizes.push(size as usize);
        }
        pad(&mut out, align);
        for size in sizes {
            out.resize(out.len() + size, 0);
            pad(&mut out, align);
        }
        out
    }

    /// Writes [`to_bytes`](Self::to_bytes) to `path`.
    pub fn write_to(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_bytes())
    }
}

fn s(v: impl Into<String>) -> GgufValue {
    GgufValue::String(v.into())
}

/// A small LLM file: architecture `arch` (which must be a valid key segment such as `llama`), file type
/// 15 (Q4_K_M), context length 4096, embedding length 64, one block, a gpt2 tokenizer with 100 tokens
/// (so the token array is skipped when read), a chat template, and three small F16/F32 tensors
/// (6,528 parameters).
pub fn sample_model(arch: &str, version: u32) -> GgufWriter {
    let tokens = (0..100).map(|i| s(format!("tok{i}"))).collect();
    GgufWriter::new(version)
        .kv("general.architecture", s(arch))
        .kv("general.name", s(format!("Sample {arch}")))
        .kv("general.file_type", GgufValue::U32(15))
        .kv("general.quantization_version", GgufValue::U32(2))
        .kv(format!("{arch}.context_length"), GgufValue::U32(4096))
        .kv(format!("{arch}.embedding_length"), GgufValue::U32(64))
        .kv(format!("{arch}.block_count"), GgufValue::U32(1))
        .kv(format!("{arch}.attention.head_count"), GgufValue::U32(4))
        .kv("tokenizer.ggml.model", s("gpt2"))
        .kv(
            "tokenizer.ggml.tokens",
            GgufValue::array(GgufValue::TYPE_STRING, tokens),
        )
        .kv("tokenizer.ggml.bos_token_id", GgufValue::U32(1))
        .kv(
            "tokenizer.chat_template",
            s("{% for m in messages %}{{ m.content }}{% endfor %}"),
        )
        .tensor("token_embd.weight", [64, 100], 1)
        .tensor("blk.0.attn_norm.weight", [64], 0)
        .tensor("output_norm.weight", [64], 0)
}

/// A small CLIP vision projector (mmproj): arch `clip`, `general.type` `mmproj`, a vision encoder with one
/// block, projector type `mlp`, and `v.*` / `mm.*` tensors.
pub fn sample_projector(version: u32) -> GgufWriter {
    let half = GgufValue::F32(0.5);
    GgufWriter::new(version)
        .kv("general.architecture", s("clip"))
        .kv("general.type", s("mmproj"))
        .kv("general.name", s("Sample projector"))
        .kv("general.file_type", GgufValue::U32(1))
        .kv("clip.has_vision_encoder", GgufValue::Bool(true))
        .kv("clip.projector_type", s("mlp"))
        .kv("clip.vision.image_size", GgufValue::U32(224))
        .kv("clip.vision.patch_size", GgufValue::U32(14))
        .kv("clip.vision.embedding_length", GgufValue::U32(32))
        .kv("clip.vision.block_count", GgufValue::U32(1))
        .kv("clip.vision.projection_dim", GgufValue::U32(64))
        .kv(
            "clip.vision.image_mean",
            GgufValue::array(GgufValue::TYPE_F32, vec![half.clone(), half.clone(), half]),
        )
        .tensor("v.patch_embd.weight", [14, 14, 3, 32], 1)
        .tensor("v.blk.0.attn_q.weight", [32, 32], 1)
        .tensor("mm.0.weight", [32, 64], 0)
}

/// A small LoRA adapter for `arch`: `general.type` `adapter`, `adapter.type` `lora`, alpha 16, and one
/// A/B tensor pair of rank 8.
pub fn sample_adapter(arch: &str, version: u32) -> GgufWriter {
    GgufWriter::new(version)
        .kv("general.architecture", s(arch))
        .kv("general.type", s("adapter"))
        .kv("general.name", s(format!("Sample {arch} LoRA")))
        .kv("adapter.type", s("lora"))
        .kv("adapter.lora.alpha", GgufValue::F32(16.0))
        .tensor("blk.0.attn_q.weight.lora_a", [64, 8], 0)
        .tensor("blk.0.attn_q.weight.lora_b", [8, 64], 0)
}
