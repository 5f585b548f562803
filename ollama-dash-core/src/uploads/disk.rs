//! Blocking filesystem work for uploads: data files, checkpoints, free space. Call these from
//! `spawn_blocking`, never from an async task directly.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::sha::ResumableSha256;

/// Where an upload's bytes and its checkpoint live.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    /// `DATA_PATH/uploads/<id>`: the bytes.
    pub(crate) data: PathBuf,
    /// `DATA_PATH/uploads/<id>.ckpt`: offset and hash state of the durable prefix.
    pub(crate) checkpoint: PathBuf,
    /// `DATA_PATH/uploads/<id>.d`: a ZIP's extracted contents.
    pub(crate) extracted: PathBuf,
}

impl Paths {
    pub(crate) fn new(dir: &Path, id: &str) -> Self {
        Self {
            data: dir.join(id),
            checkpoint: dir.join(format!("{id}.ckpt")),
            extracted: dir.join(format!("{id}.d")),
        }
    }
}

/// What is durably on disk: the first `offset` bytes of the data file, and their hash state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Checkpoint {
    pub(crate) offset: u64,
    pub(crate) sha: ResumableSha256,
}

impl Checkpoint {
    pub(crate) fn empty() -> Self {
        Self {
            offset: 0,
            sha: ResumableSha256::default(),
        }
    }
}

/// Writes the checkpoint atomically: temp file, fsync, rename, fsync of the directory. The data
/// it describes must already be fsynced.
pub(crate) fn save_checkpoint(path: &Path, checkpoint: &Checkpoint) -> std::io::Result<()> {
    let tmp = path.with_extension("ckpt.tmp");
    let json = serde_json::to_vec(checkpoint).map_err(std::io::Error::other)?;
    let written = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(&json)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        // A full disk fails the write: leave no half-written temp file behind.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(path)
}

/// Reads a checkpoint; a missing or unreadable one means "nothing durable yet".
pub(crate) fn load_checkpoint(path: &Path) -> Checkpoint {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Checkpoint>(&bytes).ok())
        .filter(|c| c.sha.is_consistent() && c.sha.len() == c.offset)
        .unwrap_or_else(Checkpoint::empty)
}

/// Brings the data file back to the checkpoint: bytes past it were never acknowledged, so they
/// are cut. A file shorter than its checkpoint (lost by the OS) restarts from zero.
pub(crate) fn restore(paths: &Paths) -> std::io::Result<Checkpoint> {
    let mut checkpoint = load_checkpoint(&paths.checkpoint);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&paths.data)?;
    let len = file.metadata()?.len();
    if len < checkpoint.offset {
        tracing::warn!(path = %paths.data.display(), len, checkpoint = checkpoint.offset,
            "upload data shorter than its checkpoint; restarting it from zero");
        checkpoint = Checkpoint::empty();
    }
    if len != checkpoint.offset {
        file.set_len(checkpoint.offset)?;
        file.sync_all()?;
    }
    save_checkpoint(&paths.checkpoint, &checkpoint)?;
    Ok(checkpoint)
}

/// Creates an empty data file and its zero checkpoint.
pub(crate) fn create(paths: &Paths) -> std::io::Result<()> {
    if let Some(dir) = paths.data.parent() {
        std::fs::create_dir_all(dir)?;
    }
    File::create(&paths.data)?.sync_all()?;
    save_checkpoint(&paths.checkpoint, &Checkpoint::empty())
}

/// Removes everything an upload has on disk; missing pieces are fine.
pub(crate) fn remove(paths: &Paths) {
    for file in [&paths.data, &paths.checkpoint] {
        match std::fs::remove_file(file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(path = %file.display(), error = %e, "removing upload file");
            }
            _ => {}
        }
    }
    remove_extracted(paths);
}

/// Removes a ZIP's extracted directory.
pub(crate) fn remove_extracted(paths: &Paths) {
    match std::fs::remove_dir_all(&paths.extracted) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %paths.extracted.display(), error = %e, "removing extracted files");
        }
        _ => {}
    }
}

/// Bytes available to an unprivileged writer on the filesystem holding `dir`.
pub(crate) fn free_space(dir: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(dir).map_err(std::io::Error::from)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}
