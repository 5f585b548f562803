//! Safe ZIP handling: the central directory is checked before one byte is extracted (no `..`,
//! no absolute or drive paths, no backslashes, no links or special files, no encryption, no
//! duplicates, entry-count and total-size caps), then entries are streamed to disk one at a
//! time, each hashed as it is written and held to its declared size.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::BlobFile;
use crate::error::{Error, Result};

/// Most entries a ZIP may have.
pub(crate) const MAX_ENTRIES: usize = 4096;

/// Extensions extracted and sent to Ollama; other files (README, licences, …) are skipped.
const KEPT: &[&str] = &[
    "gguf",
    "safetensors",
    "json",
    "model",
    "txt",
    "tiktoken",
    "jinja",
];

/// An entry that will be extracted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    index: usize,
    /// Relative `/`-separated name, the common top directory removed.
    pub(crate) name: String,
    /// Declared uncompressed size.
    pub(crate) size: u64,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidModel(message.into())
}

const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

fn open(path: &Path, file_name: &str) -> Result<zip::ZipArchive<File>> {
    let file = File::open(path).map_err(|e| Error::io("opening the upload", e))?;
    zip::ZipArchive::new(file)
        .map_err(|e| invalid(format!("{file_name} is not a readable ZIP archive: {e}")))
}

/// Checks every entry of the central directory; returns the entries to extract. `max_total`
/// caps the sum of their declared sizes.
pub(crate) fn check(path: &Path, file_name: &str, max_total: u64) -> Result<Vec<Entry>> {
    let mut archive = open(path, file_name)?;
    if archive.len() > MAX_ENTRIES {
        return Err(invalid(format!(
            "the ZIP has {} entries, over the limit of {MAX_ENTRIES}",
            archive.len()
        )));
    }
    let mut entries = Vec::new();
    let mut seen = HashSet::new();
    let mut total = 0u64;
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| invalid(format!("ZIP entry #{index} is unreadable: {e}")))?;
        let raw = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let name = raw.trim_end_matches('/');
        let unsafe_name = name.is_empty()
            || raw.starts_with('/')
            || raw.contains('\\')
            || raw.contains('\0')
            || name
                .split('/')
                .next()
                .is_some_and(|first| first.contains(':'))
            || name
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
            || entry.enclosed_name().is_none();
        if unsafe_name {
            return Err(invalid(format!(
                "ZIP entry {raw:?} has an unsafe path (absolute, a drive, '..', '.', a backslash or an empty part); refusing the archive"
            )));
        }
        let mode = entry.unix_mode().unwrap_or(0) & S_IFMT;
        if entry.is_symlink() || mode == S_IFLNK {
            return Err(invalid(format!(
                "ZIP entry {raw:?} is a symbolic link; links are not allowed"
            )));
        }
        if mode != 0 && mode != S_IFREG && mode != S_IFDIR {
            return Err(invalid(format!(
                "ZIP entry {raw:?} is a special file (mode {mode:o}); only files and directories are allowed"
            )));
        }
        if entry.encrypted() {
            return Err(invalid(format!("ZIP entry {raw:?} is encrypted")));
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(invalid(format!("ZIP entry {raw:?} appears twice")));
        }
        if entry.is_dir() || mode == S_IFDIR {
            continue;
        }
        let base = name.rsplit('/').next().unwrap_or_default();
        let junk = name.starts_with("__MACOSX/") || base.starts_with('.');
        let ext = base
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if junk || !base.contains('.') || !KEPT.contains(&ext.as_str()) {
            continue;
        }
        total = total.saturating_add(entry.size());
        if total > max_total {
            return Err(invalid(format!(
                "the ZIP's files add up to more than {max_total} bytes uncompressed (the size cap, or the free disk space)"
            )));
        }
        entries.push(Entry {
            index,
            name: name.to_owned(),
            size: entry.size(),
        });
    }
    strip_common_dir(&mut entries);
    Ok(entries)
}

/// `model/config.json`, `model/x.safetensors` → `config.json`, `x.safetensors`.
fn strip_common_dir(entries: &mut [Entry]) {
    let first = |e: &Entry| e.name.split_once('/').map(|(d, _)| d.to_owned());
    let Some(Some(dir)) = entries.first().map(first) else {
        return;
    };
    if entries
        .iter()
        .all(|e| first(e).as_deref() == Some(dir.as_str()))
    {
        for e in entries.iter_mut() {
            e.name = e.name[dir.len() + 1..].to_owned();
        }
    }
}

/// Extracts `entries` under `dest` (created fresh), hashing each file as it is written.
pub(crate) fn extract(
    path: &Path,
    file_name: &str,
    entries: &[Entry],
    dest: &Path,
) -> Result<Vec<BlobFile>> {
    let io = |what: &str, e: std::io::Error| Error::io(format!("extracting the ZIP: {what}"), e);
    let _ = std::fs::remove_dir_all(dest);
    std::fs::create_dir_all(dest).map_err(|e| io("creating the directory", e))?;
    let mut archive = open(path, file_name)?;
    let mut files = Vec::with_capacity(entries.len());
    for entry in entries {
        let target = dest.join(&entry.name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(&entry.name, e))?;
        }
        let mut reader = archive
            .by_index(entry.index)
            .map_err(|e| invalid(format!("ZIP entry {:?} cannot be read: {e}", entry.name)))?;
        let mut out = File::create_new(&target).map_err(|e| io(&entry.name, e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut written = 0u64;
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| invalid(format!("ZIP entry {:?} is corrupt: {e}", entry.name)))?;
            if n == 0 {
                break;
            }
            written += n as u64;
            if written > entry.size {
                return Err(invalid(format!(
                    "ZIP entry {:?} holds more than its declared {} bytes",
                    entry.name, entry.size
                )));
            }
            let chunk = buf.get(..n).unwrap_or_default();
            hasher.update(chunk);
            out.write_all(chunk).map_err(|e| io(&entry.name, e))?;
        }
        out.sync_all().map_err(|e| io(&entry.name, e))?;
        files.push(BlobFile {
            name: entry.name.clone(),
            path: target,
            size: written,
            sha256: hex::encode(hasher.finalize()),
        });
    }
    Ok(files)
}
