//! The trace spool: how "the client saw the end of its answer" implies "its trace survives a
//! `kill -9`" without the answer waiting for a SQLite commit.
//!
//! An answer that ends appends its trace as one JSON line to `DATA_PATH/traces.spool` — one
//! `write(2)` of an `O_APPEND` file, in the kernel's page cache when it returns, so a killed
//! process loses nothing (the same promise as SQLite's `synchronous = NORMAL`) — and is answered
//! at once; the batched store write follows as before. When a batch commits and no spooled trace
//! is left uncommitted, the spool is emptied. At start, every line is inserted (`OR IGNORE`: most
//! are in the table already) before anything else can write. Past [`MAX_SPOOL_BYTES`] with traces
//! still uncommitted (a store far behind, a full disk), appends stop and answers wait for the
//! commit instead until the spool is emptied: the file stays bounded and nothing is promised that
//! is not kept.
//!
//! Measured (benches/RESULTS.md): waiting for the commit cost +0.23 ms p50 and +3 ms p99 per
//! non-streamed chat at concurrency 1; the append costs a few microseconds.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::TraceRecord;

/// File name of the spool inside `DATA_PATH`.
pub(crate) const SPOOL_FILE_NAME: &str = "traces.spool";

/// Largest spool kept while traces in it are still uncommitted.
pub(crate) const MAX_SPOOL_BYTES: u64 = 64 * 1024 * 1024;

/// The spool file and what is in it.
#[derive(Debug)]
pub(crate) struct Spool {
    path: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    file: File,
    /// Bytes in the file.
    bytes: u64,
    /// Spooled traces not yet committed to the store.
    outstanding: u64,
}

impl Spool {
    /// Opens (creating) the spool for appends. Call [`read_spool`] first: it does not replay.
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let bytes = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            inner: Mutex::new(Inner {
                file,
                bytes,
                outstanding: 0,
            }),
        })
    }

    /// Appends `trace`; `Ok(true)` when it is spooled (the answer may end now), `Ok(false)` when
    /// the spool is full of uncommitted traces (wait for the commit instead).
    pub(crate) fn append(&self, trace: &TraceRecord) -> std::io::Result<bool> {
        // A newline before as well as after: a line torn by a failed write is closed by the
        // next append instead of swallowing it (empty lines are skipped on replay).
        let mut line = vec![b'\n'];
        serde_json::to_writer(&mut line, trace).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.bytes + line.len() as u64 > MAX_SPOOL_BYTES {
            return Ok(false);
        }
        // On error (a full disk) the trace is answered only after its commit; a torn line is
        // skipped by the replay.
        inner.file.write_all(&line)?;
        inner.bytes += line.len() as u64;
        inner.outstanding += 1;
        Ok(true)
    }

    /// `n` spooled traces are in the store now (or will never be); empties the spool when none
    /// is left outstanding.
    pub(crate) fn settled(&self, n: u64) {
        if n == 0 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.outstanding = inner.outstanding.saturating_sub(n);
        if inner.outstanding == 0 && inner.bytes > 0 {
            match inner.file.set_len(0) {
                Ok(()) => inner.bytes = 0,
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "emptying the trace spool")
                }
            }
        }
    }
}

/// The traces in the spool at `path` (none when it does not exist); a torn or unreadable line
/// (the last write of a killed process) is skipped.
pub(crate) fn read_spool(path: &Path) -> std::io::Result<Vec<TraceRecord>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut traces = Vec::new();
    for line in BufReader::new(file).split(b'\n') {
        let line = line?;
        match serde_json::from_slice::<TraceRecord>(&line) {
            Ok(trace) => traces.push(trace),
            Err(e) if !line.is_empty() => {
                tracing::warn!(error = %e, "skipping a torn line of the trace spool");
            }
            Err(_) => {}
        }
    }
    Ok(traces)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn trace(id: &str) -> TraceRecord {
        let mut t = super::super::handle::empty_record();
        t.id = id.to_owned();
        t.output = Some("line one\nline \"two\"".to_owned());
        t
    }

    #[test]
    fn appended_traces_read_back_until_settled_then_the_spool_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SPOOL_FILE_NAME);
        let spool = Spool::open(&path).unwrap();
        assert!(spool.append(&trace("a")).unwrap());
        assert!(spool.append(&trace("b")).unwrap());
        // A torn last line (a process killed mid-write) is skipped.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"id\":\"c\",\"crea")
            .unwrap();
        // …even when more lines follow it (a full disk that freed up again).
        assert!(spool.append(&trace("b2")).unwrap());
        let back = read_spool(&path).unwrap();
        assert_eq!(
            back.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["a", "b", "b2"]
        );
        assert_eq!(back[0], trace("a"));
        spool.settled(2);
        assert!(
            std::fs::metadata(&path).unwrap().len() > 0,
            "b2 is still outstanding"
        );
        spool.settled(1);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        assert!(spool.append(&trace("d")).unwrap());
        assert_eq!(
            read_spool(&path).unwrap().len(),
            1,
            "appends start over at 0"
        );
    }
}
