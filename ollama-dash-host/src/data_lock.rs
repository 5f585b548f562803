//! One server per `DATA_PATH`: an exclusive lock on `DATA_PATH/ollama-dash.lock`, held for the
//! server's life and released by the kernel when the process ends, however it ends.
//!
//! Two servers on one directory would each replay and truncate the trace spool, checkpoint the
//! same uploads and rotate the same token; SQLite alone would survive it, the rest would not.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use anyhow::Context;

/// File inside `DATA_PATH` that one running server holds locked.
pub const LOCK_FILE_NAME: &str = "ollama-dash.lock";

/// The held lock; dropping it (or exiting) releases it.
#[derive(Debug)]
pub struct DataLock(#[allow(dead_code, reason = "held for its lock")] File);

/// Takes the lock on `data_path` (creating the directory), or says which process holds it.
pub fn acquire(data_path: &Path) -> anyhow::Result<DataLock> {
    std::fs::create_dir_all(data_path)
        .with_context(|| format!("creating DATA_PATH {}", data_path.display()))?;
    let path = data_path.join(LOCK_FILE_NAME);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => String::new(),
                pid => format!(" (pid {pid})"),
            };
            anyhow::bail!(
                "DATA_PATH {} is in use by another ollama-dash server{holder}: stop that one, \
                 or give this one its own DATA_PATH",
                data_path.display()
            );
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    // Who holds it, for the next one's message; best effort (a full disk must not stop us here:
    // the store says so more clearly a moment later).
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()));
    Ok(DataLock(file))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = acquire(&data).unwrap();
        let err = acquire(&data).unwrap_err().to_string();
        assert!(err.contains("in use by another ollama-dash"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains(&data.display().to_string()), "{err}");
        drop(first);
        acquire(&data).unwrap();
    }
}
