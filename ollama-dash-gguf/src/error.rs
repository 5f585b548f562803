//! Errors from reading a GGUF header.

/// Why a GGUF header could not be read. Every variant means the file is unusable as a model
/// (or, for [`GgufError::Io`], could not be read at all).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    /// Opening or reading the file failed (missing file, permissions, device error).
    #[error("could not read the GGUF file: {0}")]
    Io(#[from] std::io::Error),
    /// The file ends inside `what`, which started at or before byte `offset`: an incomplete download
    /// or copy.
    #[error(
        "the GGUF file is truncated: it ends inside {what} (byte offset {offset}); re-download it"
    )]
    Truncated {
        /// The field being read.
        what: String,
        /// Byte offset of the read that failed.
        offset: u64,
    },
    /// The file does not start with the bytes `GGUF`.
    #[error("not a GGUF file: it does not start with the magic bytes \"GGUF\"")]
    BadMagic,
    /// The GGUF version is not 2 or 3 (1 is obsolete, newer ones are unknown).
    #[error(
        "unsupported GGUF version {0}: only versions 2 and 3 are supported; re-convert the model"
    )]
    UnsupportedVersion(u32),
    /// The file is big-endian (its version field reads byte-swapped).
    #[error("the GGUF file is big-endian; only little-endian files are supported")]
    WrongEndianness,
    /// A count, length or size is over a [`Limits`](super::Limits) cap or cannot fit in the bytes left
    /// in the file.
    #[error(
        "{what} is {value}, over the limit of {limit}; the file is corrupt or needs higher limits"
    )]
    LimitExceeded {
        /// What was measured.
        what: String,
        /// The value found.
        value: u64,
        /// The largest accepted value.
        limit: u64,
    },
    /// A metadata value (or array element) type id is not 0–12.
    #[error("invalid metadata value type {0} (valid types are 0 to 12); the file is corrupt")]
    InvalidValueType(u32),
    /// A BOOL value is a byte other than 0 or 1.
    #[error("invalid boolean byte {0} (must be 0 or 1); the file is corrupt")]
    InvalidBool(u8),
    /// An array whose elements are arrays (allowed by the spec, rejected by llama.cpp).
    #[error("arrays of arrays are not supported (llama.cpp rejects them too)")]
    NestedArray,
    /// A metadata key is empty, not ASCII `lower_snake_case` segments joined by `.`, or too long.
    #[error("invalid metadata key {0:?}: keys are lower_snake_case segments joined by '.'")]
    InvalidKey(String),
    /// The same metadata key appears twice.
    #[error("duplicate metadata key {0:?}; the file is corrupt")]
    DuplicateKey(String),
    /// `general.alignment` is not a UINT32 power of two that is a multiple of 8.
    #[error("general.alignment must be a UINT32 power of two and a multiple of 8")]
    InvalidAlignment,
    /// A tensor info is invalid (name, dimensions, type, or offset); `name` is the tensor name, or
    /// `#index` when the name itself is unusable.
    #[error("invalid tensor {name}: {reason}")]
    InvalidTensor {
        /// The tensor name (or `#index`).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A tensor's data would extend past the end of the file: an incomplete download or copy.
    #[error("the data of tensor {name} extends past the end of the file; re-download it")]
    TensorDataOutOfBounds {
        /// The tensor name.
        name: String,
    },
    /// A string (key, value, or tensor name) is not valid UTF-8.
    #[error("{what} is not valid UTF-8; the file is corrupt")]
    InvalidUtf8 {
        /// Which string.
        what: String,
    },
}
