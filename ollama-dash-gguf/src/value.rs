//! GGUF metadata values.

/// Arrays with at most this many elements keep their values; longer ones (token lists, merges, scores)
/// are skipped while reading and only their length is recorded.
pub const KEPT_ARRAY_LEN: u64 = 64;

/// One GGUF metadata value. The variant order matches the GGUF value type ids 0–12.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    /// Type 0.
    U8(u8),
    /// Type 1.
    I8(i8),
    /// Type 2.
    U16(u16),
    /// Type 3.
    I16(i16),
    /// Type 4.
    U32(u32),
    /// Type 5.
    I32(i32),
    /// Type 6.
    F32(f32),
    /// Type 7 (stored as one byte, 0 or 1).
    Bool(bool),
    /// Type 8 (uint64 length + UTF-8 bytes).
    String(String),
    /// Type 9: element type id, element count, and the elements. `values` is empty when the array has
    /// more than [`KEPT_ARRAY_LEN`] elements (it was skipped, not loaded); `len` is always the real count.
    Array {
        /// Element value type id (0–12, never 9 in files this crate accepts).
        elem_type: u32,
        /// Element count as stored in the file.
        len: u64,
        /// The elements, or empty if the array was skipped.
        values: Vec<GgufValue>,
    },
    /// Type 10.
    U64(u64),
    /// Type 11.
    I64(i64),
    /// Type 12.
    F64(f64),
}

impl GgufValue {
    /// Type id of UINT8.
    pub const TYPE_U8: u32 = 0;
    /// Type id of INT8.
    pub const TYPE_I8: u32 = 1;
    /// Type id of UINT16.
    pub const TYPE_U16: u32 = 2;
    /// Type id of INT16.
    pub const TYPE_I16: u32 = 3;
    /// Type id of UINT32.
    pub const TYPE_U32: u32 = 4;
    /// Type id of INT32.
    pub const TYPE_I32: u32 = 5;
    /// Type id of FLOAT32.
    pub const TYPE_F32: u32 = 6;
    /// Type id of BOOL.
    pub const TYPE_BOOL: u32 = 7;
    /// Type id of STRING.
    pub const TYPE_STRING: u32 = 8;
    /// Type id of ARRAY.
    pub const TYPE_ARRAY: u32 = 9;
    /// Type id of UINT64.
    pub const TYPE_U64: u32 = 10;
    /// Type id of INT64.
    pub const TYPE_I64: u32 = 11;
    /// Type id of FLOAT64.
    pub const TYPE_F64: u32 = 12;

    /// An array holding `values` (all of type `elem_type`), with `len` set to their count.
    pub fn array(elem_type: u32, values: Vec<GgufValue>) -> Self {
        let len = values.len() as u64;
        Self::Array {
            elem_type,
            len,
            values,
        }
    }

    /// The GGUF value type id of this value (0–12).
    pub fn type_id(&self) -> u32 {
        match self {
            Self::U8(_) => 0,
            Self::I8(_) => 1,
            Self::U16(_) => 2,
            Self::I16(_) => 3,
            Self::U32(_) => 4,
            Self::I32(_) => 5,
            Self::F32(_) => 6,
            Self::Bool(_) => 7,
            Self::String(_) => 8,
            Self::Array { .. } => 9,
            Self::U64(_) => 10,
            Self::I64(_) => 11,
            Self::F64(_) => 12,
        }
    }

    /// The value as `u64` if it is an integer of any width and not negative.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as `&str` if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// JSON form, as in Ollama's `model_info`: arrays with more than `max_array_len` elements (or that
    /// were skipped) become `[]`; non-finite floats become `null`.
    pub fn to_json(&self, max_array_len: u64) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Self::U8(v) => (*v).into(),
            Self::I8(v) => (*v).into(),
            Self::U16(v) => (*v).into(),
            Self::I16(v) => (*v).into(),
            Self::U32(v) => (*v).into(),
            Self::I32(v) => (*v).into(),
            Self::F32(v) => serde_json::Number::from_f64(f64::from(*v)).map_or(J::Null, J::Number),
            Self::Bool(v) => (*v).into(),
            Self::String(v) => v.as_str().into(),
            Self::Array { len, values, .. }
                if *len <= max_array_len && values.len() as u64 == *len =>
            {
                J::Array(values.iter().map(|v| v.to_json(max_array_len)).collect())
            }
            Self::Array { .. } => J::Array(Vec::new()),
            Self::U64(v) => (*v).into(),
            Self::I64(v) => (*v).into(),
            Self::F64(v) => serde_json::Number::from_f64(*v).map_or(J::Null, J::Number),
        }
    }
}

/// Encoded byte size of a fixed-size value type; `None` for strings, arrays and invalid ids.
pub(crate) fn fixed_size(type_id: u32) -> Option<u64> {
    match type_id {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}
