#![allow(clippy::unwrap_used, reason = "tests")]
//! The upload machinery on its own (no Ollama needed): resume, checksums, restart recovery,
//! expiry, refusals, and every validation failure.

use std::io::Write;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::*;
use crate::gguf::{GgufValue, GgufWriter, sample_adapter, sample_model, sample_projector};
use crate::{Dashboard, DashboardConfig};

async fn dashboard(dir: &std::path::Path) -> Dashboard {
    let mut config = DashboardConfig::with_data_path(dir);
    config.ollama_host = "127.0.0.1:9".to_owned(); // nothing listens: no Ollama needed here
    config.connect_timeout_secs = 1;
    config.upload_reserve_bytes = 0;
    Dashboard::new(config).await.unwrap()
}

fn ok(pieces: &[&[u8]]) -> impl Stream<Item = std::result::Result<Bytes, std::io::Error>> + Send {
    let pieces: Vec<_> = pieces
        .iter()
        .map(|p| Ok(Bytes::copy_from_slice(p)))
        .collect();
    futures_util::stream::iter(pieces)
}

/// A body that delivers `pieces` and then breaks, like a dropped connection.
fn dropped(
    pieces: &[&[u8]],
) -> impl Stream<Item = std::result::Result<Bytes, std::io::Error>> + Send {
    let mut items: Vec<_> = pieces
        .iter()
        .map(|p| Ok(Bytes::copy_from_slice(p)))
        .collect();
    items.push(Err(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "connection reset",
    )));
    futures_util::stream::iter(items)
}

async fn start(d: &Dashboard, name: &str, length: u64) -> UploadInfo {
    d.create_upload(NewUpload {
        file_name: name.to_owned(),
        length,
        ..NewUpload::default()
    })
    .await
    .unwrap()
}

async fn upload_bytes(d: &Dashboard, name: &str, bytes: &[u8]) -> UploadInfo {
    let info = start(d, name, bytes.len() as u64).await;
    d.append_upload(&info.id, 0, ok(&[bytes]), None)
        .await
        .unwrap()
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn data_file(dir: &std::path::Path, id: &str) -> std::path::PathBuf {
    dir.join(UPLOADS_DIR).join(id)
}

#[tokio::test]
async fn resumes_after_a_dropped_connection_to_a_byte_exact_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dashboard(dir.path()).await;
    let file = sample_model("llama", 3).to_bytes();
    let info = start(&d, "model.gguf", file.len() as u64).await;
    assert_eq!(info.state, UploadState::Uploading);
    assert_eq!(info.id.len(), 32);

    let (a, rest) = file.split_at(1000);
    let (b, c) = rest.split_at(777);
    let err = d
        .append_upload(&info.id, 0, dropped(&[a, b]), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadRequest(_)), "{err}");
    let now = d.upload(&info.id).await.unwrap();
    assert_eq!(now.offset, 1777, "what arrived before the drop is kept");
    assert_eq!(
        std::fs::metadata(data_file(dir.path(), &info.id))
            .unwrap()
            .len(),
        1777
    );

    let err = d
        .append_upload(&info.id, 1000, ok(&[c]), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "offset mismatch: {err}");
    let done = d
        .append_upload(&info.id, 1777, ok(&[c]), None)
        .await
        .unwrap();
    assert_eq!(done.state, UploadState::Complete);
    assert_eq!(done.offset, file.len() as u64);
    assert_eq!(done.sha256.as_deref(), Some(sha(&file).as_str()));
    assert_eq!(
        std::fs::read(data_file(dir.path(), &info.id)).unwrap(),
        file
    );
    let err = d
        .append_upload(&info.id, done.offset, ok(&[b"x"]), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err}");
}

#[tokio::test]
async fn a_checksum_mismatch_keeps_nothing_and_a_match_keeps_all() {
    let dir = tempfile::tempdir().unwrap();
    let d = dashboard(dir.path()).await;
    let info = start(&d, "x.gguf", 10).await;
    let wrong = Checksum::Sha256(Sha256::digest(b"other").into());
    let err = d
        .append_upload(&info.id, 0, ok(&[b"hello"]), Some(wrong))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ChecksumMismatch(_)), "{err}");
    assert_eq!(err.kind(), crate::ErrorKind::ChecksumMismatch);
    assert_eq!(d.upload(&info.id).await.unwrap().offset, 0);
    assert_eq!(
        std::fs::metadata(data_file(dir.path(), &info.id))
            .unwrap()
            .len(),
        0
    );
    // A body cut short under a checksum cannot be verified, so it is dropped too.
    let right = Checksum::Sha1(sha1::Sha1::digest(b"hello").into());
    assert!(
        d.append_upload(&info.id, 0, dropped(&[b"hel"]), Some(right))
            .await
            .is_err()
    );
    assert_eq!(d.upload(&info.id).await.unwrap().offset, 0);
    let after = d
        .append_upload(&info.id, 0, ok(&[b"hel", b"lo"]), Some(right))
        .await
        .unwrap();
    assert_eq!(after.offset, 5);
}

#[tokio::test]
async fn a_body_longer_than_the_upload_is_refused_past_its_length() {
    let dir = tempfile::tempdir().unwrap();
    let d = dashboard(dir.path()).await;
    let info = start(&d, "x.bin", 4).await;
    let err = d
        .append_upload(&info.id, 0, ok(&[b"abcdef"]), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::TooLarge, "{err}");
    let now = d.upload(&info.id).await.unwrap();
    assert_eq!(
        (now.offset, now.state),
        (4, UploadState::Uploading),
        "completion waits for a clean request"
    );
}

#[tokio::test]
async fn a_restart_cuts_unacknowledged_bytes_and_resumes_the_hash() {
    let dir = tempfile::tempdir().unwrap();
    let file: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let id = {
        let d = dashboard(dir.path()).await;
        let info = start(&d, "big.gguf", file.len() as u64).await;
        d.append_upload(&info.id, 0, dropped(&[&file[..100_003]]), None)
            .await
            .unwrap_err();
        d.shutdown().await.unwrap();
        info.id
    };
    // Bytes written after the last checkpoint (as after a kill -9 mid-write) are not trusted.
    let mut raw = std::fs::OpenOptions::new()
        .append(true)
        .open(data_file(dir.path(), &id))
        .unwrap();
    raw.write_all(b"garbage past the checkpoint").unwrap();
    drop(raw);
    std::fs::write(
        dir.path()
            .join(UPLOADS_DIR)
            .join("0123456789abcdef0123456789abcdef"),
        b"orphan",
    )
    .unwrap();

    let d = dashboard(dir.path()).await;
    let info = d.upload(&id).await.unwrap();
    assert_eq!(info.offset, 100_003);
    assert_eq!(
        std::fs::metadata(data_file(dir.path(), &id)).unwrap().len(),
        100_003
    );
    assert!(
        !dir.path()
            .join(UPLOADS_DIR)
            .join("0123456789abcdef0123456789abcdef")
            .exists(),
        "files no upload owns are removed"
    );
    let done = d
        .append_upload(&id, 100_003, ok(&[&file[100_003..]]), None)
        .await
        .unwrap();
    assert_eq!(done.sha256.unwrap(), sha(&file));
}

#[tokio::test]
async fn the_janitor_removes_expired_uploads_and_they_answer_gone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dashboard(dir.path()).await;
    let old = start(&d, "a.gguf", 10).await;
    let fresh = start(&d, "b.gguf", 10).await;
    let mut events = d.subscribe();
    assert!(d.expire_uploads(now_ms()).await.unwrap().is_empty());
    let removed = d.expire_uploads(fresh.expires_at + 1).await.unwrap();
    assert_eq!(removed.len(), 2);
    assert!(removed.contains(&fresh.id));
    assert_eq!(
        events.recv().await.unwrap(),
        Event::UploadExpired {
            id: removed[0].clone()
        }
    );
    assert!(!data_file(dir.path(), &old.id).exists());
    let err = d.upload(&old.id).await.unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Gone, "{err}");
    let err = d
        .append_upload(&old.id, 0, ok(&[b"x"]), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Gone);
    assert_eq!(
        d.upload("ffffffffffffffffffffffffffffffff")
            .await
            .unwrap_err()
            .kind(),
        crate::ErrorKind::NotFound
    );
    assert_eq!(
        d.upload("../../etc/passwd").await.unwrap_err().kind(),
        crate::ErrorKind::NotFound
    );
}

#[tokio::test]
async fn termination_removes_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dashboard(dir.path()).await;
    let info = start(&d, "a.gguf", 10).await;
    d.delete_upload(&info.id).await.unwrap();
    assert!(!data_file(dir.path(), &info.id).exists());
    assert_eq!(
        d.upload(&info.id).await.unwrap_err().kind(),
        crate::ErrorKind::Gone
    );
}

#[tokio::test]
async fn creation_refuses_what_cannot_fit() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = DashboardConfig::with_data_path(dir.path());
    config.ollama_host = "127.0.0.1:9".to_owned();
    config.upload_max_bytes = 1000;
    let d = Dashboard::new(config.clone()).await.unwrap();
    let err = d
        .create_upload(NewUpload {
            length: 1001,
            ..NewUpload::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::TooLarge);
    assert!(err.to_string().contains("upload_max_bytes"), "{err}");
    d.shutdown().await.unwrap();

    config.upload_max_bytes = u64::MAX;
    config.upload_reserve_bytes = 0;
    let d = Dashboard::new(config).await.unwrap();
    let free = disk::free_space(dir.path()).unwrap();
    let err = d
        .create_upload(NewUpload {
            length: free + (1 << 30),
            ..NewUpload::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::TooLarge);
    assert!(err.to_string().contains("disk space"), "{err}");
    // Space promised to an unfinished upload counts as used.
    d.create_upload(NewUpload {
        length: free / 4 * 3,
        ..NewUpload::default()
    })
    .await
    .unwrap();
    let err = d
        .create_upload(NewUpload {
            length: free / 2,
            ..NewUpload::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::TooLarge);
    assert!(list_ids(&d).await.len() == 1);
    let err = d
        .create_upload(NewUpload {
            length: 1,
            model_name: Some("bad name!".into()),
            ..NewUpload::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Invalid);
}

async fn list_ids(d: &Dashboard) -> Vec<String> {
    d.list_uploads()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect()
}

/// Uploads `bytes` as `name` and returns what inspection says (422 errors as text).
async fn inspect(
    d: &Dashboard,
    name: &str,
    bytes: &[u8],
) -> std::result::Result<Option<crate::ModelReport>, String> {
    let info = upload_bytes(d, name, bytes).await;
    d.inspect_upload(&info.id).await.map_err(|e| {
        assert_eq!(e.kind(), crate::ErrorKind::InvalidModel, "{e}");
        e.to_string()
    })
}

#[tokio::test]
async fn gguf_files_are_reported_from_their_headers_v2_and_v3() {
    let dir = tempfile::tempdir().unwrap();
    let d = dashboard(dir.path()).await;
    for version in [2, 3] {
        let report = inspect(&d, "m.gguf", &sample_model("qwen2", version).to_bytes())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.format, "gguf");
        assert_eq!(report.kind, "model");
        assert_eq!(report.architecture.as_deref(), Some("qwen2"));
        assert_eq!(report.name.as_deref(), Some("Sample qwen2"));
        assert_eq!(report.quantization.as_deref(), Some("Q4_K_M"));
        assert_eq!(report.parameter_count, Some(6528));
        assert_eq!(report.context_length, Some(4096));
        assert!(report.chat_template);
        assert_eq!(report.capabilities, ["completion"]);
        assert_eq!(report.gguf_version, Some(version));
        let adapter = inspect(
            &d,
            "lora.gguf",
            &sample_adapter("llama", version).to_bytes(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(adapter.kind, "adapter");
    }
    let embed = sample_model("bert", 3).kv("bert.pooling_type", GgufValue::U32(1));
    let report = inspect(&d, "e.gguf", &embed.to_bytes())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (report.pooling_type, report.capabilities),
        (Some(1), vec!["embedding".to_owned()])
    );
}

#[tokio::test]
async fn every_broken_gguf_is_refused_saying_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let d = dashboard(dir.path()).await;
    let good = sample_model("llama", 3).to_bytes();
    let mut big_endian = good.clone();
    big_endian[4..8].copy_from_slice(&3u32.to_be_bytes());
    let mut too_many_kvs = good.clone();
    too_many_kvs[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "bad magic",
            b"GGUX and then some bytes to read".to_vec(),
            "not a GGUF file",
        ),
        (
            "version 1",
            GgufWriter::new(1).to_bytes(),
            "unsupported GGUF version 1",
        ),
        (
            "version 4",
            GgufWriter::new(4).to_bytes(),
            "unsupported GGUF version 4",
        ),
        ("big endian", big_endian, "big-endian"),
        ("truncated", good[..400].to_vec(), "truncated"),
        (
            "truncated data",
            good[..good.len() - 100].to_vec(),
            "past the end of the file",
        ),
        ("count over limits", too_many_kvs, "over the limit"),
        (
            "duplicate key",
            GgufWriter::new(3)
                .kv("general.architecture", GgufValue::String("a".into()))
                .kv("general.architecture", GgufValue::String("b".into()))
                .to_bytes(),
            "duplicate metadata key",
        ),
        (
            "bad bool",
            GgufWriter::new(3).raw_kv("x.flag", 7, vec![2]).to_bytes(),
            "invalid boolean",
        ),
        (
            "bad type",
            GgufWriter::new(3).raw_kv("x.y", 99, vec![0; 8]).to_bytes(),
            "invalid metadata value type",
        ),
        (
            "projector alone",
            sample_projector(3).to_bytes(),
            "vision projector",
        ),
        ("tiny", b"GG".to_vec(), "only 2 bytes"),
        (
            "zip named gguf",
            zip_of(&[("a.gguf", &good)]),
            "claims to be a GGUF file but is a ZIP",
        ),
    ];
    for (what, bytes, expected) in cases {
        let err = inspect(&d, "model.gguf", &bytes).await.unwrap_err();
        assert!(err.contains(expected), "{what}: {err}");
    }
    let err = inspect(&d, "weights.safetensors", b"not really")
        .await
        .unwrap_err();
    assert!(err.contains("lone safetensors"), "{err}");
    let err = inspect(&d, "archive.zip", b"not a zip at all")
        .await
        .unwrap_err();
    assert!(err.contains("not a ZIP archive"), "{err}");
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (name, bytes) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn safetensors(tensors: &[(&str, &[u64])]) -> Vec<u8> {
    let mut offset = 0u64;
    let mut header = serde_json::Map::new();
    for (name, shape) in tensors {
        let bytes = shape.iter().product::<u64>() * 2;
        header.insert((*name).to_owned(), serde_json::json!({"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + bytes]}));
        offset += bytes;
    }
    let header = serde_json::to_vec(&header).unwrap();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out.resize(out.len() + offset as usize, 0);
    out
}

#[tokio::test]
async fn zips_are_checked_before_extraction_and_classified() {
    let dir = tempfile::tempdir().unwrap();
    let d = dashboard(dir.path()).await;
    let model = sample_model("llama", 3).to_bytes();
    let proj = sample_projector(2).to_bytes();

    let cut_st = {
        let st = safetensors(&[("w", &[4, 4])]);
        st[..st.len() - 10].to_vec()
    };
    // Unsafe archives are refused before anything is written.
    let unsafe_cases: Vec<(Vec<u8>, &str)> = vec![
        (zip_of(&[("../evil.gguf", &model)]), "unsafe path"),
        (zip_of(&[("/abs/evil.gguf", &model)]), "unsafe path"),
        (zip_of(&[("ok/../../evil.gguf", &model)]), "unsafe path"),
        (zip_of(&[("C:/evil.gguf", &model)]), "unsafe path"),
        (zip_of(&[("dir\\evil.gguf", &model)]), "unsafe path"),
        (
            {
                let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
                let options = zip::write::SimpleFileOptions::default();
                zip.add_symlink("model.gguf", "/etc/passwd", options)
                    .unwrap();
                zip.finish().unwrap().into_inner()
            },
            "symbolic link",
        ),
        (
            {
                let names: Vec<String> = (0..=crate::validate::archive::MAX_ENTRIES)
                    .map(|i| format!("f{i}.txt"))
                    .collect();
                let entries: Vec<(&str, &[u8])> =
                    names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
                zip_of(&entries)
            },
            "entries, over the limit",
        ),
        (zip_of(&[("readme.md", b"hi")]), "holds no model"),
        (zip_of(&[("proj.gguf", &proj)]), "no model GGUF"),
        (
            zip_of(&[("a.gguf", &model), ("b.gguf", &model)]),
            "2 model GGUFs",
        ),
        (
            zip_of(&[("w.safetensors", &safetensors(&[("w", &[4, 4])]))]),
            "no config.json",
        ),
        (
            zip_of(&[("config.json", b"{}"), ("w.safetensors", &cut_st)]),
            "outside the file",
        ),
        (
            zip_of(&[("m.gguf", &model[..model.len() / 2])]),
            "past the end of the file",
        ),
    ];
    for (bytes, expected) in unsafe_cases {
        let info = upload_bytes(&d, "bundle.zip", &bytes).await;
        // The directory check is quick; what needs extraction is checked by `prepare`.
        let err = match d.inspect_upload(&info.id).await {
            Err(e) => e,
            Ok(_) => d
                .imports()
                .prepare(&d.upload(&info.id).await.unwrap())
                .await
                .unwrap_err(),
        };
        assert_eq!(err.kind(), crate::ErrorKind::InvalidModel, "{err}");
        assert!(err.to_string().contains(expected), "{expected}: {err}");
        assert!(
            !dir.path().join("evil.gguf").exists()
                && !std::path::Path::new("/abs/evil.gguf").exists()
        );
    }

    // A model with its projector, in a top directory that is stripped.
    let info = upload_bytes(
        &d,
        "llava.zip",
        &zip_of(&[
            ("llava/model.gguf", &model),
            ("llava/mmproj.gguf", &proj),
            ("llava/README.md", b"x"),
        ]),
    )
    .await;
    let prepared = d.imports().prepare(&info).await.unwrap();
    assert_eq!(
        prepared
            .files
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["model.gguf", "mmproj.gguf"]
    );
    assert_eq!(prepared.files[0].sha256, sha(&model));
    let report = prepared.report;
    assert!(report.vision && report.capabilities.contains(&"vision".to_owned()));
    assert_eq!(
        report.projector.unwrap().projector_type.as_deref(),
        Some("mlp")
    );

    // A safetensors model directory, and a LoRA adapter.
    let st = safetensors(&[("a", &[8, 8]), ("b", &[8])]);
    let info = upload_bytes(
        &d,
        "hf.zip",
        &zip_of(&[
            (
                "config.json",
                br#"{"architectures":["LlamaForCausalLM"],"max_position_embeddings":2048}"#,
            ),
            ("tokenizer.json", b"{}"),
            ("model.safetensors", &st),
        ]),
    )
    .await;
    let prepared = d.imports().prepare(&info).await.unwrap();
    assert_eq!(prepared.report.format, "safetensors");
    assert_eq!(
        prepared.report.architecture.as_deref(),
        Some("LlamaForCausalLM")
    );
    assert_eq!(
        (
            prepared.report.parameter_count,
            prepared.report.context_length
        ),
        (Some(72), Some(2048))
    );
    assert_eq!(prepared.files.len(), 3);
    let info = upload_bytes(
        &d,
        "lora.zip",
        &zip_of(&[
            (
                "adapter_config.json",
                br#"{"base_model_name_or_path":"llama"}"#,
            ),
            ("adapter_model.safetensors", &st),
        ]),
    )
    .await;
    let prepared = d.imports().prepare(&info).await.unwrap();
    assert!(prepared.needs_base());
    assert_eq!(prepared.report.kind, "adapter");
}

#[test]
fn file_names_never_become_paths() {
    assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
    assert_eq!(clean_file_name("C:\\models\\a b.gguf"), "a_b.gguf");
    assert_eq!(clean_file_name("..."), "upload.bin");
    assert_eq!(clean_file_name(".hidden.gguf"), "hidden.gguf");
    assert_eq!(clean_file_name(""), "upload.bin");
}

#[test]
fn file_names_that_are_paths_are_refused() {
    for bad in [
        "../x.gguf",
        "/etc/passwd",
        "C:\\models\\x.gguf",
        "a\0.gguf",
        "a\nb.gguf",
        "..",
    ] {
        let e = check_file_name(bad).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Invalid, "{bad}");
    }
    for ok in [
        "model.gguf",
        "a b.gguf",
        "",
        "...",
        ".hidden.gguf",
        "모델.gguf",
    ] {
        assert!(check_file_name(ok).is_ok(), "{ok}");
    }
}

#[tokio::test]
async fn an_upload_named_by_a_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dashboard(dir.path()).await;
    let e = d
        .create_upload(NewUpload {
            file_name: "../../evil.gguf".into(),
            length: 10,
            ..NewUpload::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), crate::ErrorKind::Invalid);
    assert!(
        d.list_uploads().await.unwrap().is_empty(),
        "nothing recorded"
    );
}

#[test]
fn only_server_made_ids_are_accepted() {
    assert!(check_id("0123456789abcdef0123456789abcdef").is_ok());
    for bad in [
        "../x",
        "0123456789ABCDEF0123456789ABCDEF",
        "",
        "0123456789abcdef0123456789abcde/",
    ] {
        assert!(check_id(bad).is_err(), "{bad}");
    }
}
