//! Where `upload` keeps the tus URL of each unfinished upload, so running the same command again
//! after an interrupt resumes at the server's offset instead of starting over.
//!
//! One small JSON file, `$XDG_CACHE_HOME/ollama-dash/uploads.json` (else
//! `~/.cache/ollama-dash/uploads.json`), keyed by server, file path, size, modification time and
//! model name: a file that changed since gets a new upload.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::output::note;

/// What one unfinished upload needs to resume.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// The tus upload URL.
    location: String,
}

/// The state file, loaded.
#[derive(Debug)]
pub(crate) struct UploadState {
    path: PathBuf,
    entries: BTreeMap<String, Entry>,
}

/// The key of an upload: the same file, unchanged, to the same server under the same name.
pub(crate) fn key(server: &str, file: &Path, size: u64, mtime_ns: u128, name: &str) -> String {
    format!("{server}|{}|{size}|{mtime_ns}|{name}", file.display())
}

/// The state file's default place.
fn default_path() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let dir = match (var("XDG_CACHE_HOME"), var("HOME")) {
        (Some(cache), _) => PathBuf::from(cache),
        (None, Some(home)) => PathBuf::from(home).join(".cache"),
        (None, None) => PathBuf::from("."),
    };
    dir.join("ollama-dash").join("uploads.json")
}

impl UploadState {
    /// Reads the state file (none yet, or one that cannot be read, is an empty state).
    pub(crate) fn load() -> Self {
        let path = default_path();
        let entries = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                note(&format!(
                    "ignoring {} ({e}); uploads start over",
                    path.display()
                ));
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        };
        Self { path, entries }
    }

    /// The upload URL saved for `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|e| e.location.as_str())
    }

    /// Saves `location` for `key`.
    pub(crate) fn set(&mut self, key: &str, location: &str) -> Result<()> {
        self.entries.insert(
            key.to_owned(),
            Entry {
                location: location.to_owned(),
            },
        );
        self.save()
    }

    /// Forgets `key` (the upload finished or is gone).
    pub(crate) fn remove(&mut self, key: &str) -> Result<()> {
        if self.entries.remove(key).is_some() {
            self.save()?;
        }
        Ok(())
    }

    /// Writes the file atomically (a temporary file renamed over it).
    fn save(&self) -> Result<()> {
        let what = || format!("saving the upload state to {}", self.path.display());
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(what(), e))?;
        }
        let text = serde_json::to_vec_pretty(&self.entries)
            .map_err(|e| Error::Protocol(format!("encoding the upload state: {e}")))?;
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(|e| Error::io(what(), e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| Error::io(what(), e))
    }
}
