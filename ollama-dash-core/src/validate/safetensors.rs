//! A bounded check of safetensors files: 8-byte header length, a JSON header of tensors whose
//! data offsets lie inside the file. Tensor data is never read.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Largest JSON header accepted (the format's own reference reader caps it at 100 MB).
const MAX_HEADER: u64 = 100 << 20;
/// Largest config JSON read.
const MAX_CONFIG: u64 = 16 << 20;

/// What the safetensors files of a model hold, added up.
#[derive(Debug, Default)]
pub(super) struct Summary {
    pub(super) tensors: u64,
    pub(super) parameters: u64,
    dtypes: BTreeMap<String, u64>,
}

impl Summary {
    /// The dtype holding the most parameters, e.g. `BF16`.
    pub(super) fn dominant_dtype(&self) -> Option<String> {
        self.dtypes
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(d, _)| d.clone())
    }
}

fn invalid(name: &str, what: impl std::fmt::Display) -> Error {
    Error::InvalidModel(format!("{name} is not a valid safetensors file: {what}"))
}

/// Checks one safetensors file and adds its tensors to `summary`.
pub(super) fn check(path: &Path, name: &str, summary: &mut Summary) -> Result<()> {
    let mut file =
        std::fs::File::open(path).map_err(|e| Error::io(format!("opening {name}"), e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io(format!("reading {name}"), e))?
        .len();
    let mut size = [0u8; 8];
    file.read_exact(&mut size)
        .map_err(|_| invalid(name, format!("it is only {len} bytes long")))?;
    let header_len = u64::from_le_bytes(size);
    if header_len > MAX_HEADER || header_len > len - 8 {
        return Err(invalid(
            name,
            format!(
                "its header length {header_len} is larger than the file or the {MAX_HEADER}-byte cap"
            ),
        ));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .map_err(|e| Error::io(format!("reading {name}"), e))?;
    let header: Map<String, Value> = serde_json::from_slice(&header)
        .map_err(|e| invalid(name, format!("its header is not a JSON object: {e}")))?;
    let data_len = len - 8 - header_len;
    for (tensor, info) in header.iter().filter(|(k, _)| *k != "__metadata__") {
        let dtype = info.get("dtype").and_then(Value::as_str);
        let shape: Option<Vec<u64>> = info
            .get("shape")
            .and_then(Value::as_array)
            .and_then(|s| s.iter().map(Value::as_u64).collect());
        let offsets: Option<Vec<u64>> = info
            .get("data_offsets")
            .and_then(Value::as_array)
            .and_then(|s| s.iter().map(Value::as_u64).collect());
        let (Some(dtype), Some(shape), Some(offsets)) = (dtype, shape, offsets) else {
            return Err(invalid(
                name,
                format!("tensor {tensor:?} lacks dtype, shape or data_offsets"),
            ));
        };
        let [start, end] = offsets[..] else {
            return Err(invalid(
                name,
                format!(
                    "tensor {tensor:?} has {} data offsets, not 2",
                    offsets.len()
                ),
            ));
        };
        if start > end || end > data_len {
            return Err(invalid(
                name,
                format!(
                    "the data of tensor {tensor:?} ({start}..{end}) lies outside the file's {data_len} data bytes; the file is truncated or corrupt"
                ),
            ));
        }
        let count = shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .unwrap_or(u64::MAX);
        summary.tensors += 1;
        summary.parameters = summary.parameters.saturating_add(count);
        *summary.dtypes.entry(dtype.to_owned()).or_default() += count;
    }
    Ok(())
}

/// Reads a small JSON object (config.json, adapter_config.json, tokenizer_config.json).
pub(super) fn read_config(path: &Path, name: &str) -> Result<Map<String, Value>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(format!("opening {name}"), e))?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(format!("reading {name}"), e))?;
    if bytes.len() as u64 > MAX_CONFIG {
        return Err(Error::InvalidModel(format!(
            "{name} is larger than {MAX_CONFIG} bytes"
        )));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::InvalidModel(format!("{name} is not a JSON object: {e}")))
}
