//! GGUF header reading and validation (model, projector and adapter files), plus a small writer.
//!
//! [`read_header`] reads only the header (magic, version, metadata, tensor infos) through a bounded buffer,
//! enforcing [`Limits`] and every structural rule of the GGUF spec, llama.cpp's `gguf.cpp` and Ollama's
//! `fs/gguf` (see `/work/shared/ollama-api.md`, Part 2): counts checked against the bytes left before any
//! allocation, capped string and array lengths, key syntax, no duplicate keys, BOOL bytes 0/1, no nested
//! arrays, a power-of-two `general.alignment`, and valid, unique tensor infos whose data lies back to back
//! inside the file. Large arrays (token lists, merges) are skipped, keeping only their length. Tensor data
//! is never read. It never panics on malformed input.
//!
//! [`GgufHeader`] then answers what a dashboard shows: architecture, [`GgufKind`], quantization, parameter
//! size, context length, capabilities inputs, and an Ollama-style `model_info` map.
#![warn(missing_docs)]

mod error;
mod header;
mod names;
mod reader;
mod value;
mod writer;

pub use error::GgufError;
pub use header::{GgufHeader, TensorInfo};
pub use names::{file_type_name, ggml_type_block, ggml_type_name, human_number};
pub use reader::{read_header, read_header_from_path};
pub use value::{GgufValue, KEPT_ARRAY_LEN};
pub use writer::{GgufWriter, sample_adapter, sample_model, sample_projector};

/// Caps applied while reading a header. Exceeding one gives [`GgufError::LimitExceeded`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest string value, in bytes (default 16 MiB, as Ollama).
    pub max_string_len: u64,
    /// Most elements in one array (default 64 Mi, as Ollama).
    pub max_array_len: u64,
    /// Most metadata key-value pairs (default 65,536; real files have a few dozen).
    pub max_kv_count: u64,
    /// Most tensors (default 262,144; large MoE files have a few thousand).
    pub max_tensor_count: u64,
    /// Stop with an error once the header would extend past this many bytes (default 256 MiB).
    pub max_header_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_string_len: 16 << 20,
            max_array_len: 64 << 20,
            max_kv_count: 1 << 16,
            max_tensor_count: 1 << 18,
            max_header_bytes: 256 << 20,
        }
    }
}

/// What a GGUF file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgufKind {
    /// A model (LLM or embedding model); the default.
    Model,
    /// A LoRA adapter (`general.type` = `adapter`).
    Adapter,
    /// A vision/audio projector (mmproj / CLIP), by Ollama's `isProjectorGGUF` rule
    /// (see [`GgufHeader::kind`]).
    Projector,
}

#[cfg(test)]
mod tests;
