//! Round trips through [`GgufWriter`] and one test per rejection rule.

use super::*;

fn parse(bytes: &[u8]) -> Result<GgufHeader, GgufError> {
    read_header(bytes, bytes.len() as u64, &Limits::default())
}

fn parse_w(w: &GgufWriter) -> Result<GgufHeader, GgufError> {
    parse(&w.to_bytes())
}

fn err(w: GgufWriter) -> GgufError {
    parse_w(&w).expect_err("file should be rejected")
}

fn s(v: &str) -> GgufValue {
    GgufValue::String(v.to_owned())
}

/// A valid v3 file with one metadata pair before the raw one under test.
fn with_raw(vtype: u32, payload: Vec<u8>) -> GgufWriter {
    GgufWriter::new(3)
        .kv("general.architecture", s("llama"))
        .raw_kv("test.value", vtype, payload)
}

fn tensor_err(w: GgufWriter) -> String {
    match err(w) {
        GgufError::InvalidTensor { reason, .. } => reason,
        e => panic!("expected InvalidTensor, got {e:?}"),
    }
}

#[test]
fn model_round_trip() -> Result<(), GgufError> {
    for version in [2, 3] {
        let h = parse_w(&sample_model("llama", version))?;
        assert_eq!(
            (h.version, h.kind(), h.architecture()),
            (version, GgufKind::Model, Some("llama"))
        );
        assert_eq!(
            (h.name(), h.file_type(), h.quantization()),
            (Some("Sample llama"), Some(15), Some("Q4_K_M"))
        );
        assert_eq!(
            (h.context_length(), h.embedding_length(), h.pooling_type()),
            (Some(4096), Some(64), None)
        );
        assert_eq!(
            (h.parameter_count(), h.parameter_size().as_str()),
            (6528, "7K")
        );
        assert!(h.has_chat_template() && h.chat_template().is_some_and(|t| t.contains("messages")));
        assert_eq!(
            h.get("tokenizer.ggml.tokens"),
            Some(&GgufValue::Array {
                elem_type: 8,
                len: 100,
                values: vec![]
            })
        );
        assert_eq!(
            (h.tensor_count, h.kv_count, h.alignment, h.data_offset % 32),
            (3, 12, 32, 0)
        );
        let offsets: Vec<u64> = h.tensors.iter().map(|t| t.offset).collect();
        assert_eq!(offsets, [0, 12800, 13056]);
        assert_eq!(
            h.tensors.first().map(|t| (t.type_name(), t.byte_size())),
            Some((Some("F16"), Some(12800)))
        );
        assert!(h.warnings.is_empty(), "{:?}", h.warnings);
        let info = h.model_info();
        assert!(
            !info.contains_key("general.name") && !info.contains_key("tokenizer.chat_template")
        );
        assert_eq!(info.get("general.parameter_count"), Some(&6528.into()));
        assert_eq!(
            info.get("tokenizer.ggml.tokens"),
            Some(&serde_json::json!([]))
        );
        assert_eq!(info.get("llama.context_length"), Some(&4096.into()));
    }
    Ok(())
}

#[test]
fn projector_and_adapter_round_trip() -> Result<(), GgufError> {
    for version in [2, 3] {
        let p = parse_w(&sample_projector(version))?;
        assert_eq!(
            (p.kind(), p.architecture(), p.vision_block_count()),
            (GgufKind::Projector, Some("clip"), Some(1))
        );
        assert_eq!(
            (p.context_length(), p.quantization(), p.version),
            (None, Some("F16"), version)
        );
        assert_eq!(
            p.model_info().get("clip.vision.image_mean"),
            Some(&serde_json::json!([0.5, 0.5, 0.5]))
        );
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let a = parse_w(&sample_adapter("llama", version))?;
        assert_eq!(
            (a.kind(), a.get("adapter.lora.alpha")),
            (GgufKind::Adapter, Some(&GgufValue::F32(16.0)))
        );
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    }
    Ok(())
}

#[test]
fn derived_values() -> Result<(), GgufError> {
    // Quantization guessed from the most common tensor type; parameter count given; warnings.
    let h = parse_w(
        &GgufWriter::new(3)
            .kv("general.architecture", s("qwen2"))
            .kv("general.parameter_count", GgufValue::U64(8_030_261_248))
            .kv("general.alignment", GgufValue::U32(64))
            .kv("qwen2.pooling_type", GgufValue::I32(1))
            .kv(
                "tokenizer.ggml.tokens",
                GgufValue::Array {
                    elem_type: 8,
                    len: 0,
                    values: vec![],
                },
            )
            .kv(
                "tokenizer.ggml.scores",
                GgufValue::array(6, vec![GgufValue::F32(0.0)]),
            )
            .tensor("a", [256, 2], 12)
            .tensor("b", [256], 12)
            .tensor("c", [256], 14)
            .tensor("d", [256], 0),
    )?;
    assert_eq!(
        (
            h.quantization(),
            h.parameter_size().as_str(),
            h.pooling_type()
        ),
        (Some("Q4_K_M"), "8.0B", Some(1))
    );
    assert_eq!(
        (
            h.alignment,
            h.data_offset % 64,
            h.tensors.get(1).map(|t| t.offset)
        ),
        (64, 0, Some(320))
    );
    assert_eq!(h.warnings.len(), 3, "{:?}", h.warnings); // context_length, quantization_version, tokenizer
    // Projector by the block-count rule and by the clip audio rule; a model with vision blocks stays a model.
    let vision = |blocks: u32| {
        GgufWriter::new(3)
            .kv("general.architecture", s("gemma3"))
            .kv("gemma3.block_count", GgufValue::U32(blocks))
            .kv("gemma3.vision.block_count", GgufValue::U16(4))
    };
    assert_eq!(parse_w(&vision(0))?.kind(), GgufKind::Projector);
    assert_eq!(parse_w(&vision(26))?.kind(), GgufKind::Model);
    assert_eq!(parse_w(&vision(26))?.vision_block_count(), Some(4));
    let audio = GgufWriter::new(3)
        .kv("general.architecture", s("clip"))
        .kv("clip.has_audio_encoder", GgufValue::Bool(true));
    assert_eq!(parse_w(&audio)?.kind(), GgufKind::Projector);
    Ok(())
}

#[test]
fn big_token_array_is_skipped() -> Result<(), GgufError> {
    let tokens: Vec<GgufValue> = (0..150_000)
        .map(|i| GgufValue::String(format!("token-{i}")))
        .collect();
    let w = sample_model("llama", 3)
        .kv("tokenizer.ggml.merges", GgufValue::array(8, tokens))
        .kv(
            "tokenizer.ggml.token_type",
            GgufValue::array(5, vec![GgufValue::I32(1); 150_000]),
        )
        .kv(
            "test.flags",
            GgufValue::array(7, vec![GgufValue::Bool(true); 1000]),
        );
    let h = parse_w(&w)?;
    for (key, elem_type) in [
        ("tokenizer.ggml.merges", 8),
        ("tokenizer.ggml.token_type", 5),
    ] {
        assert_eq!(
            h.get(key),
            Some(&GgufValue::Array {
                elem_type,
                len: 150_000,
                values: vec![]
            })
        );
    }
    assert_eq!(h.warnings.len(), 1, "{:?}", h.warnings); // tokens (100) vs token_type (150000)
    Ok(())
}

#[test]
fn truncation_at_every_offset_is_an_error() {
    for w in [
        sample_model("llama", 3),
        sample_projector(2),
        sample_adapter("qwen2", 3),
    ] {
        let bytes = w.to_bytes();
        assert!(parse(&bytes).is_ok());
        for cut in 0..bytes.len() {
            let part = bytes.get(..cut).unwrap_or_default();
            assert!(parse(part).is_err(), "cut at {cut} parsed");
        }
    }
}

#[test]
fn corrupting_any_header_byte_never_panics() -> Result<(), GgufError> {
    for w in [sample_model("llama", 3), sample_projector(3)] {
        let bytes = w.to_bytes();
        let header_len = usize::try_from(parse(&bytes)?.data_offset).unwrap_or_default();
        for i in 0..header_len {
            for b in [0x00, 0x01, 0x09, 0x41, 0x80, 0xff] {
                let mut bad = bytes.clone();
                bad.splice(i..=i, [b]);
                let _ = parse(&bad); // Ok or Err, never a panic
            }
        }
    }
    Ok(())
}

#[test]
fn reader_shorter_than_file_len_is_truncated() {
    let bytes = sample_model("llama", 3).to_bytes();
    let r = read_header(
        bytes.get(..100).unwrap_or_default(),
        bytes.len() as u64,
        &Limits::default(),
    );
    assert!(matches!(r, Err(GgufError::Truncated { .. })), "{r:?}");
}

#[test]
fn read_from_path() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("m.gguf");
    sample_model("llama", 3).write_to(&path)?;
    assert_eq!(
        read_header_from_path(&path, &Limits::default())?.architecture(),
        Some("llama")
    );
    let missing = read_header_from_path(&dir.path().join("none.gguf"), &Limits::default());
    assert!(matches!(missing, Err(GgufError::Io(_))));
    Ok(())
}

#[test]
fn rejects_short_file() {
    let bytes = sample_model("llama", 3).to_bytes();
    for n in [0, 3, 10, 23] {
        let r = parse(bytes.get(..n).unwrap_or_default());
        assert!(matches!(r, Err(GgufError::Truncated { .. })), "{n}: {r:?}");
    }
}

#[test]
fn rejects_bad_magic() {
    let mut bytes = sample_model("llama", 3).to_bytes();
    bytes.splice(0..4, *b"GGML");
    assert!(matches!(parse(&bytes), Err(GgufError::BadMagic)));
}

#[test]
fn rejects_versions_0_1_and_4() {
    for v in [0, 1, 4] {
        assert!(
            matches!(err(sample_model("llama", v)), GgufError::UnsupportedVersion(x) if x == v)
        );
    }
}

#[test]
fn rejects_big_endian() {
    assert!(matches!(
        err(GgufWriter::new(3u32.swap_bytes())),
        GgufError::WrongEndianness
    ));
}

#[test]
fn rejects_truncated_string() {
    let mut payload = 1000u64.to_le_bytes().to_vec();
    payload.extend_from_slice(b"only a few bytes");
    assert!(matches!(
        err(with_raw(8, payload)),
        GgufError::Truncated { .. }
    ));
}

#[test]
fn rejects_huge_string_length() {
    let e = err(with_raw(8, (1u64 << 40).to_le_bytes().to_vec()));
    assert!(
        matches!(e, GgufError::LimitExceeded { limit, .. } if limit == 16 << 20),
        "{e:?}"
    );
    let key = GgufWriter::new(3).raw_kv("x".repeat(70_000), 8, vec![0; 8]);
    assert!(matches!(
        err(key),
        GgufError::LimitExceeded { limit: 65_535, .. }
    ));
}

#[test]
fn rejects_bad_bool() {
    assert!(matches!(
        err(with_raw(7, vec![2])),
        GgufError::InvalidBool(2)
    ));
    let mut arr = 7u32.to_le_bytes().to_vec();
    arr.extend_from_slice(&100u64.to_le_bytes());
    arr.extend_from_slice(&[1; 99]);
    arr.push(7);
    assert!(matches!(err(with_raw(9, arr)), GgufError::InvalidBool(7)));
}

#[test]
fn rejects_invalid_value_type() {
    assert!(matches!(
        err(with_raw(13, vec![0; 8])),
        GgufError::InvalidValueType(13)
    ));
    let arr = GgufValue::Array {
        elem_type: 99,
        len: 0,
        values: vec![],
    };
    assert!(matches!(
        err(GgufWriter::new(3).kv("a.b", arr)),
        GgufError::InvalidValueType(99)
    ));
}

#[test]
fn rejects_nested_array() {
    let inner = GgufValue::array(4, vec![GgufValue::U32(1)]);
    let w = GgufWriter::new(3).kv("a.b", GgufValue::array(9, vec![inner]));
    assert!(matches!(err(w), GgufError::NestedArray));
}

#[test]
fn rejects_huge_array_count() {
    let arr = |len: u64| GgufValue::Array {
        elem_type: 4,
        len,
        values: vec![],
    };
    let e = err(GgufWriter::new(3).kv("a.b", arr(1 << 40)));
    assert!(
        matches!(e, GgufError::LimitExceeded { limit, .. } if limit == 64 << 20),
        "{e:?}"
    );
    // Under the cap but more than the bytes left could hold.
    let e = err(GgufWriter::new(3).kv("a.b", arr(1000)));
    assert!(
        matches!(e, GgufError::LimitExceeded { value: 1000, .. }),
        "{e:?}"
    );
}

#[test]
fn rejects_huge_counts() {
    let mut bytes = GgufWriter::new(3).to_bytes();
    bytes.splice(16..24, u64::MAX.to_le_bytes());
    assert!(matches!(
        parse(&bytes),
        Err(GgufError::LimitExceeded { .. })
    ));
    let mut bytes = GgufWriter::new(3).to_bytes();
    bytes.splice(8..16, 2u64.to_le_bytes()); // 2 tensors need >= 50 bytes; 8 are left
    assert!(matches!(
        parse(&bytes),
        Err(GgufError::LimitExceeded {
            value: 2,
            limit: 0,
            ..
        })
    ));
}

#[test]
fn rejects_duplicate_key() {
    let w = sample_model("llama", 3).kv("general.name", s("again"));
    assert!(matches!(err(w), GgufError::DuplicateKey(k) if k == "general.name"));
}

#[test]
fn rejects_bad_keys() {
    for key in [
        "",
        "General.name",
        "a..b",
        "a.",
        ".a",
        "a.b-c",
        "a b",
        "tokenizer.ggml.tökens",
    ] {
        let w = GgufWriter::new(3).kv(key, GgufValue::U8(1));
        assert!(
            matches!(err(w), GgufError::InvalidKey(k) if k == key),
            "{key:?}"
        );
    }
}

#[test]
fn rejects_bad_alignment() {
    for a in [
        GgufValue::U32(0),
        GgufValue::U32(4),
        GgufValue::U32(48),
        GgufValue::U64(32),
        s("32"),
    ] {
        let w = sample_model("llama", 3).kv("general.alignment", a.clone());
        assert!(matches!(err(w), GgufError::InvalidAlignment), "{a:?}");
    }
}

#[test]
fn rejects_bad_tensor_names() {
    assert!(tensor_err(GgufWriter::new(3).tensor("x".repeat(64), [4], 0)).contains("1 to 63"));
    assert!(tensor_err(GgufWriter::new(3).tensor("", [4], 0)).contains("1 to 63"));
    assert!(parse_w(&GgufWriter::new(3).tensor("x".repeat(63), [4], 0)).is_ok());
    let bad_utf8 = GgufWriter::new(3).tensor("\u{e9}", [4], 0).to_bytes();
    let mut bytes = bad_utf8.clone();
    if let Some(i) = bad_utf8.windows(2).position(|w| w == "\u{e9}".as_bytes()) {
        bytes.splice(i..i + 2, [0xff, 0xfe]);
    }
    assert!(matches!(parse(&bytes), Err(GgufError::InvalidUtf8 { .. })));
}

#[test]
fn rejects_duplicate_tensor() {
    let w = GgufWriter::new(3).tensor("w", [8], 0).tensor("w", [8], 0);
    assert!(tensor_err(w).contains("duplicate"));
}

#[test]
fn rejects_five_dims() {
    assert!(
        tensor_err(GgufWriter::new(3).tensor("w", [1, 1, 1, 1, 1], 0)).contains("5 dimensions")
    );
}

#[test]
fn rejects_dims_overflow() {
    assert!(tensor_err(GgufWriter::new(3).tensor("w", [1 << 62, 4], 0)).contains("overflow"));
    assert!(tensor_err(GgufWriter::new(3).tensor("w", [0, 1 << 63], 0)).contains("overflow"));
}

#[test]
fn rejects_bad_ggml_type() {
    for t in [4, 31, 43, 1000] {
        assert!(
            tensor_err(GgufWriter::new(3).tensor("w", [256], t)).contains("ggml type"),
            "{t}"
        );
    }
    assert!(tensor_err(GgufWriter::new(3).tensor("w", [100], 12)).contains("block size 256"));
}

#[test]
fn rejects_misaligned_offset() {
    assert!(
        tensor_err(GgufWriter::new(3).tensor_at("w", [8], 0, 4))
            .contains("multiple of the alignment")
    );
}

#[test]
fn rejects_non_cumulative_offset() {
    let gap = GgufWriter::new(3)
        .tensor("a", [8], 0)
        .tensor_at("b", [8], 0, 64);
    assert!(tensor_err(gap).contains("should be 32"));
    let overlap = GgufWriter::new(3)
        .tensor("a", [64], 0)
        .tensor_at("b", [8], 0, 0);
    assert!(tensor_err(overlap).contains("should be 256"));
}

#[test]
fn rejects_data_past_end() {
    let bytes = sample_model("llama", 3).to_bytes();
    let cut = bytes.get(..bytes.len() - 1).unwrap_or_default();
    assert!(
        matches!(parse(cut), Err(GgufError::TensorDataOutOfBounds { name }) if name == "output_norm.weight")
    );
}

#[test]
fn rejects_header_over_limit() {
    let limits = Limits {
        max_header_bytes: 512,
        ..Limits::default()
    };
    let bytes = sample_model("llama", 3).to_bytes();
    let r = read_header(bytes.as_slice(), bytes.len() as u64, &limits);
    assert!(
        matches!(r, Err(GgufError::LimitExceeded { limit: 512, .. })),
        "{r:?}"
    );
}

#[test]
fn error_messages_are_actionable() {
    let e = GgufError::TensorDataOutOfBounds {
        name: "output.weight".to_owned(),
    };
    assert_eq!(
        e.to_string(),
        "the data of tensor output.weight extends past the end of the file; re-download it"
    );
    assert!(
        GgufError::UnsupportedVersion(1)
            .to_string()
            .contains("versions 2 and 3")
    );
}
