//! The SQLite store: one dedicated thread owns the connection; everyone else sends it work.
//!
//! No async task ever blocks on SQLite. Reads ([`Store::call`]) wait for their answer; writes
//! ([`Store::write`]) are queued and the thread commits every write waiting in the queue in one
//! transaction, so a burst of traces costs one fsync, not hundreds.

mod migrations;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

/// Capacity of the queue between async callers and the store thread.
const QUEUE_CAPACITY: usize = 8192;

type ReadJob = Box<dyn FnOnce(&mut Connection) + Send>;
type WriteJob = Box<dyn FnOnce(&Connection) -> rusqlite::Result<()> + Send>;
/// Told on the store thread how a write ended, after its transaction (see [`Store::write_then`]).
type Notify = Box<dyn FnOnce(WriteOutcome) + Send>;

/// How a write ended: `Ok` once the transaction holding it is committed.
pub(crate) type WriteOutcome = std::result::Result<(), WriteFailure>;

/// Why a write is not in the file.
#[derive(Debug, Clone)]
pub(crate) struct WriteFailure {
    /// SQLite's message.
    pub(crate) message: String,
    /// The disk is full or failing (the write itself was fine: worth trying again later).
    pub(crate) storage: bool,
}

impl WriteFailure {
    pub(crate) fn of(e: &rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        let storage = matches!(
            e.sqlite_error_code(),
            Some(ErrorCode::DiskFull | ErrorCode::SystemIoFailure | ErrorCode::CannotOpen)
        );
        Self {
            message: e.to_string(),
            storage,
        }
    }
}

/// A queued write and whoever wants to know how it ended.
struct Write {
    job: WriteJob,
    notify: Option<Notify>,
    /// Its transaction may wait up to the store's linger for more writes (see
    /// [`Store::write_then`]).
    linger: bool,
}

/// How long a lingering write waits for company before its transaction commits.
pub(crate) const LINGER: std::time::Duration = std::time::Duration::from_millis(2);

enum Command {
    Read(ReadJob),
    Write(Write),
    Flush(oneshot::Sender<()>),
    Close(oneshot::Sender<()>),
}

/// Counters of the write path, shown in `/api/health`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) written: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) queue_full: AtomicU64,
    pub(crate) panicked: AtomicU64,
    /// Why the most recent commit failed; `None` once one succeeds again.
    pub(crate) write_error: std::sync::Mutex<Option<String>>,
}

impl Counters {
    fn set_write_error(&self, error: Option<String>) {
        *self.write_error.lock().unwrap_or_else(|p| p.into_inner()) = error;
    }
}

/// A snapshot of the store's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreHealth {
    /// Path of the database file.
    pub path: PathBuf,
    /// Size of the database file plus its WAL, in bytes.
    pub size_bytes: u64,
    /// Writes waiting for the store thread.
    pub queued: u64,
    /// Writes committed since start.
    pub written: u64,
    /// Transactions committed since start.
    pub batches: u64,
    /// Writes that failed (logged with their error).
    pub failed: u64,
    /// Times a writer had to wait because the queue was full.
    pub queue_full: u64,
    /// Jobs that panicked on the store thread (each lost its own work; the thread went on).
    pub panicked: u64,
    /// Why the most recent write failed (a full disk, say), while writes keep failing; `None`
    /// once a write commits again. Health is degraded while this is set.
    pub write_error: Option<String>,
    /// The store thread is running.
    pub alive: bool,
}

/// Handle to the store thread; cheap to clone.
#[derive(Clone)]
pub(crate) struct Store {
    tx: mpsc::Sender<Command>,
    counters: Arc<Counters>,
    path: Arc<Path>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path`: integrity check, WAL, migrations.
    pub(crate) async fn open(path: PathBuf) -> Result<Self> {
        Self::open_lingering(path, LINGER).await
    }

    /// [`Store::open`] with another linger (tests).
    pub(crate) async fn open_lingering(path: PathBuf, linger: std::time::Duration) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let (ready_tx, ready_rx) = oneshot::channel();
        let counters = Arc::new(Counters::default());
        let thread_counters = Arc::clone(&counters);
        let thread_path = path.clone();
        std::thread::Builder::new()
            .name("ollama-dash-store".to_owned())
            .spawn(move || worker::run(&thread_path, rx, ready_tx, &thread_counters, linger))
            .map_err(|e| Error::io("starting the store thread", e))?;
        ready_rx.await.map_err(|_| Error::ShuttingDown)??;
        Ok(Self {
            tx,
            counters,
            path: path.into(),
        })
    }

    /// Runs `f` on the store thread and returns its answer.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = tx.send(f(conn));
        });
        self.send(Command::Read(job)).await?;
        match rx.await {
            Ok(answer) => answer.map_err(Error::store),
            // The job was dropped unanswered: the thread is gone, or the job panicked.
            Err(_) if self.tx.is_closed() => Err(Error::ShuttingDown),
            Err(_) => Err(Error::Store(
                "the store failed this request (its job panicked; see the log)".to_owned(),
            )),
        }
    }

    /// Queues a write; it is committed with the other queued writes in one transaction.
    ///
    /// Waits only when the queue is full (and counts that); never drops the write.
    pub(crate) async fn write<F>(&self, f: F) -> Result<()>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<()> + Send + 'static,
    {
        let command = Command::Write(Write {
            job: Box::new(f),
            notify: None,
            linger: false,
        });
        match self.tx.try_send(command) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(command)) => {
                self.counters.queue_full.fetch_add(1, Ordering::Relaxed);
                self.send(command).await
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Error::ShuttingDown),
        }
    }

    /// Queues a write without waiting, for callers that cannot await (a `Drop`).
    ///
    /// When the queue is full it counts that and hands the write to a task that waits for room
    /// (or, outside a runtime, blocks), so the write is never dropped.
    pub(crate) fn write_detached<F>(&self, f: F) -> Result<()>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<()> + Send + 'static,
    {
        self.queue_detached(Write {
            job: Box::new(f),
            notify: None,
            linger: false,
        })
    }

    /// Like [`Store::write_detached`], and `then` is told on the store thread how the write
    /// ended once its transaction is over: `Ok` only when it is committed to the file. (If the
    /// store closes first, `then` is dropped uncalled.)
    ///
    /// The write lingers: when it would commit alone, its transaction waits up to [`LINGER`]
    /// for more writes, so traces arriving one by one at low load share a commit (and its WAL
    /// frames) instead of paying one each. A read, a flush or a close ends the wait at once, so
    /// a read still sees every write queued before it.
    pub(crate) fn write_then<F, T>(&self, f: F, then: T) -> Result<()>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<()> + Send + 'static,
        T: FnOnce(WriteOutcome) + Send + 'static,
    {
        self.queue_detached(Write {
            job: Box::new(f),
            notify: Some(Box::new(then)),
            linger: true,
        })
    }

    fn queue_detached(&self, write: Write) -> Result<()> {
        match self.tx.try_send(Command::Write(write)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(command)) => {
                self.counters.queue_full.fetch_add(1, Ordering::Relaxed);
                let tx = self.tx.clone();
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => {
                        runtime.spawn(async move { tx.send(command).await });
                        Ok(())
                    }
                    Err(_) => tx.blocking_send(command).map_err(|_| Error::ShuttingDown),
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Error::ShuttingDown),
        }
    }

    /// Waits until every write queued before this call is committed.
    pub(crate) async fn flush(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Flush(tx)).await?;
        rx.await.map_err(|_| Error::ShuttingDown)
    }

    /// Commits queued writes, checkpoints the WAL and stops the thread. Idempotent.
    pub(crate) async fn close(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        if self.send(Command::Close(tx)).await.is_err() {
            return Ok(()); // already closed
        }
        let _ = rx.await;
        Ok(())
    }

    /// Counters and file size.
    pub(crate) fn health(&self) -> StoreHealth {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let wal = self.path.with_extension("db-wal");
        let c = &self.counters;
        StoreHealth {
            path: self.path.to_path_buf(),
            size_bytes: size(&self.path) + size(&wal),
            queued: (QUEUE_CAPACITY - self.tx.capacity()) as u64,
            written: c.written.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            queue_full: c.queue_full.load(Ordering::Relaxed),
            panicked: c.panicked.load(Ordering::Relaxed),
            write_error: c
                .write_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            alive: !self.tx.is_closed(),
        }
    }

    async fn send(&self, command: Command) -> Result<()> {
        self.tx.send(command).await.map_err(|_| Error::ShuttingDown)
    }
}

#[cfg(test)]
mod tests;
