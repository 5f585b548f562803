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
    // The `zip` crate keeps one entry per name (the last one wins), so a name written twice is
    // invisible to the loop below; it counts the central directory's headers, though.
    if archive.has_duplicate_names() {
        let first = archive.central_directory_start();
        return Err(invalid(match duplicate_in_directory(path, first) {
            Some(name) => format!(
                "ZIP entry {name:?} appears twice in the central directory; refusing the archive"
            ),
            None => {
                "the ZIP's central directory names one entry twice; refusing the archive".to_owned()
            }
        }));
    }
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

/// Signature of a central directory file header.
const CENTRAL_HEADER: [u8; 4] = *b"PK\x01\x02";
/// Bytes of a central directory file header before its name.
const CENTRAL_HEADER_LEN: usize = 46;

/// Walks the central directory from `start` (the offset the `zip` crate found) and returns the
/// first name that appears twice, for the error message; `None` if the walk fails first.
fn duplicate_in_directory(path: &Path, start: u64) -> Option<String> {
    use std::io::{BufReader, Seek, SeekFrom};
    let mut reader = BufReader::new(File::open(path).ok()?);
    reader.seek(SeekFrom::Start(start)).ok()?;
    let mut seen = HashSet::new();
    let mut header = [0u8; CENTRAL_HEADER_LEN];
    // One more header than any archive that passes the entry cap may hold.
    for _ in 0..=MAX_ENTRIES {
        reader.read_exact(&mut header).ok()?;
        if header.get(..4)? != CENTRAL_HEADER {
            return None;
        }
        let field = |at: usize| {
            let bytes = header.get(at..at + 2)?;
            Some(i64::from(u16::from_le_bytes([
                *bytes.first()?,
                *bytes.get(1)?,
            ])))
        };
        let (name_len, extra_len, comment_len) = (field(28)?, field(30)?, field(32)?);
        let mut name = vec![0u8; usize::try_from(name_len).ok()?];
        reader.read_exact(&mut name).ok()?;
        if !seen.insert(name.clone()) {
            return Some(String::from_utf8_lossy(&name).into_owned());
        }
        reader.seek_relative(extra_len + comment_len).ok()?;
    }
    None
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    /// A ZIP of `entries`, written by the `zip` crate.
    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    /// Replaces every `from` in `bytes` with `to` (same length), as a hand-edited archive would.
    fn rename(bytes: &mut [u8], from: &[u8], to: &[u8]) {
        assert_eq!(from.len(), to.len());
        let mut i = 0;
        while i + from.len() <= bytes.len() {
            if &bytes[i..i + from.len()] == from {
                bytes[i..i + from.len()].copy_from_slice(to);
            }
            i += 1;
        }
    }

    fn check_bytes(bytes: &[u8]) -> Result<Vec<Entry>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bundle.zip");
        std::fs::write(&path, bytes).unwrap();
        check(&path, "bundle.zip", u64::MAX)
    }

    #[test]
    fn two_entries_with_the_same_name_are_refused() {
        // `ZipWriter` refuses a second entry of one name, so write two names and make them one
        // in both the local headers and the central directory.
        let mut bytes = zip_of(&[
            ("model/aaaa.gguf", b"first"),
            ("model/bbbb.gguf", b"second"),
        ]);
        rename(&mut bytes, b"model/bbbb.gguf", b"model/aaaa.gguf");
        // The `zip` crate keeps one entry per name, so its entry list alone shows no duplicate.
        let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.clone())).unwrap();
        assert_eq!(archive.len(), 1);
        let err = check_bytes(&bytes).unwrap_err();
        assert!(matches!(err, Error::InvalidModel(_)), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("\"model/aaaa.gguf\"") && message.contains("twice"),
            "{message}"
        );
    }

    #[test]
    fn names_differing_only_in_case_or_a_trailing_slash_are_refused() {
        let err = check_bytes(&zip_of(&[("a.gguf", b"1"), ("A.GGUF", b"2")])).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
        let fine = check_bytes(&zip_of(&[("a.gguf", b"1"), ("b.gguf", b"2")])).unwrap();
        assert_eq!(fine.len(), 2);
    }
}
