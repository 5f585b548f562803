//! Lookup tables: ggml tensor types (name, block size, block bytes), `general.file_type` names, and
//! Ollama's human-readable parameter size.

/// ggml tensor types as `(id, name, elements per block, bytes per block)`.
///
/// Sizes follow the `block_*` structs in ggml's `ggml-common.h` (`QK_K` = 256): e.g. Q4_0 = f16 scale + 16
/// bytes = 18 bytes per 32 weights, Q4_K = 2×f16 + 12 scale bytes + 128 = 144 bytes per 256 weights.
/// Removed ids (4, 5, 31–33, 36–38) are absent, so files using them are rejected, as in llama.cpp.
/// 40–42 (NVFP4, Q1_0, Q2_0) are the newest additions and the least certain.
const GGML_TYPES: &[(u32, &str, u64, u64)] = &[
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 36),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
    (40, "NVFP4", 64, 36),
    (41, "Q1_0", 128, 18),
    (42, "Q2_0", 64, 18),
];

/// `general.file_type` (llama_ftype) names as Ollama prints them in `quantization_level`.
/// 38 is llama.cpp's `MXFP4_MOE`; Ollama shows it as `MXFP4`.
const FILE_TYPES: &[(u32, &str)] = &[
    (0, "F32"),
    (1, "F16"),
    (2, "Q4_0"),
    (3, "Q4_1"),
    (7, "Q8_0"),
    (8, "Q5_0"),
    (9, "Q5_1"),
    (10, "Q2_K"),
    (11, "Q3_K_S"),
    (12, "Q3_K_M"),
    (13, "Q3_K_L"),
    (14, "Q4_K_S"),
    (15, "Q4_K_M"),
    (16, "Q5_K_S"),
    (17, "Q5_K_M"),
    (18, "Q6_K"),
    (19, "IQ2_XXS"),
    (20, "IQ2_XS"),
    (21, "Q2_K_S"),
    (22, "IQ3_XS"),
    (23, "IQ3_XXS"),
    (24, "IQ1_S"),
    (25, "IQ4_NL"),
    (26, "IQ3_S"),
    (27, "IQ3_M"),
    (28, "IQ2_S"),
    (29, "IQ2_M"),
    (30, "IQ4_XS"),
    (31, "IQ1_M"),
    (32, "BF16"),
    (36, "TQ1_0"),
    (37, "TQ2_0"),
    (38, "MXFP4"),
    (39, "NVFP4"),
    (40, "Q1_0"),
];

/// The name of a ggml tensor type (e.g. 12 → `"Q4_K"`), or `None` for unknown or removed ids.
pub fn ggml_type_name(ggml_type: u32) -> Option<&'static str> {
    GGML_TYPES.iter().find(|t| t.0 == ggml_type).map(|t| t.1)
}

/// `(elements per block, bytes per block)` of a ggml tensor type, or `None` for unknown or removed ids.
pub fn ggml_type_block(ggml_type: u32) -> Option<(u64, u64)> {
    GGML_TYPES
        .iter()
        .find(|t| t.0 == ggml_type)
        .map(|t| (t.2, t.3))
}

/// Byte size of a tensor's data, or `None` if the type is unknown, `dims[0]` is not a whole number of
/// blocks, or the size overflows.
pub(crate) fn tensor_bytes(dims: &[u64], ggml_type: u32) -> Option<u64> {
    let (block, bytes) = ggml_type_block(ggml_type)?;
    let elements = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))?;
    (dims.first().copied().unwrap_or(1) % block == 0).then_some(())?;
    (elements / block).checked_mul(bytes)
}

/// The name of a `general.file_type` value (e.g. 15 → `"Q4_K_M"`), or `None` if unknown.
pub fn file_type_name(file_type: u32) -> Option<&'static str> {
    FILE_TYPES.iter().find(|t| t.0 == file_type).map(|t| t.1)
}

/// The file type llama.cpp guesses from the most common tensor type (its `LLAMA_FTYPE_GUESSED` logic).
pub(crate) fn file_type_for_tensor_type(ggml_type: u32) -> Option<u32> {
    Some(match ggml_type {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => 3,
        6 => 8,
        7 => 9,
        8 => 7,
        10 => 10,
        11 => 12,
        12 => 15,
        13 => 17,
        14 => 18,
        16 => 19,
        17 => 20,
        18 => 23,
        19 => 24,
        20 => 25,
        21 => 26,
        22 => 28,
        23 => 30,
        29 => 31,
        30 => 32,
        34 => 36,
        35 => 37,
        39 => 38,
        _ => return None,
    })
}

/// Ollama's `format.HumanNumber`, used for `details.parameter_size`: billions with one decimal, millions
/// with two, no decimals when the scaled value is whole, thousands rounded (`8030261248` → `"8.0B"`,
/// `567750000` → `"567.75M"`, `1000000000` → `"1B"`, `6528` → `"7K"`, `999` → `"999"`).
pub fn human_number(n: u64) -> String {
    let x = n as f64;
    let scaled = |div: f64, decimals: usize, suffix: &str| {
        let v = x / div;
        let decimals = if v == v.floor() { 0 } else { decimals };
        format!("{v:.decimals$}{suffix}")
    };
    match n {
        1_000_000_000.. => scaled(1e9, 1, "B"),
        1_000_000.. => scaled(1e6, 2, "M"),
        1_000.. => scaled(1e3, 0, "K"),
        _ => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_numbers_match_ollama() {
        for (n, s) in [
            (8_030_261_248, "8.0B"),
            (7_615_616_512, "7.6B"),
            (1_000_000_000, "1B"),
            (70_000_000_000, "70B"),
            (567_750_000, "567.75M"),
            (125_000_000, "125M"),
            (6_528, "7K"),
            (2_500, "2K"),
            (999, "999"),
            (0, "0"),
        ] {
            assert_eq!(human_number(n), s, "{n}");
        }
    }

    #[test]
    fn tables() {
        assert_eq!(ggml_type_name(12), Some("Q4_K"));
        assert_eq!(ggml_type_block(12), Some((256, 144)));
        assert_eq!(ggml_type_block(4), None);
        assert_eq!(ggml_type_block(43), None);
        assert_eq!(file_type_name(15), Some("Q4_K_M"));
        assert_eq!(file_type_name(1024), None);
        assert_eq!(tensor_bytes(&[256, 2], 12), Some(288));
        assert_eq!(tensor_bytes(&[100], 12), None);
        assert_eq!(tensor_bytes(&[], 0), Some(4));
        assert_eq!(tensor_bytes(&[u64::MAX, 2], 0), None);
    }
}
