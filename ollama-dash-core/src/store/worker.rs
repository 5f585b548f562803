//! The store thread: owns the `rusqlite::Connection`, batches writes into transactions.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::Ordering;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use super::migrations::{self, LATEST, MigrateError};
use super::{Command, Counters, WriteJob};
use crate::error::{Error, Result};

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 1024;

pub(super) fn run(
    path: &Path,
    mut rx: mpsc::Receiver<Command>,
    ready: oneshot::Sender<Result<()>>,
    counters: &Counters,
) {
    let mut conn = match open(path) {
        Ok(conn) => conn,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let mut writes: Vec<WriteJob> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Write(job) => writes.push(job),
                other => {
                    commit(&mut conn, &mut writes, counters);
                    match other {
                        Command::Read(job) => {
                            // A panicking job loses its own answer, never the thread: the
                            // caller gets an error, every later job runs as usual.
                            if catch_unwind(AssertUnwindSafe(|| job(&mut conn))).is_err() {
                                counters.panicked.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Command::Flush(done) => {
                            let _ = done.send(());
                        }
                        Command::Close(done) => {
                            close(conn);
                            let _ = done.send(());
                            return;
                        }
                        Command::Write(_) => {}
                    }
                }
            }
            if writes.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        commit(&mut conn, &mut writes, counters);
    }
    close(conn);
}

/// [`commit_batch`], surviving a panic: the batch's transaction rolls back as the panic
/// unwinds, its writes count as failed, and the thread goes on.
fn commit(conn: &mut Connection, writes: &mut Vec<WriteJob>, counters: &Counters) {
    let count = writes.len() as u64;
    if catch_unwind(AssertUnwindSafe(|| commit_batch(conn, writes, counters))).is_err() {
        writes.clear();
        counters.set_write_error(Some("a store write panicked".to_owned()));
        counters.panicked.fetch_add(1, Ordering::Relaxed);
        counters.failed.fetch_add(count, Ordering::Relaxed);
    }
}

/// Commits the queued writes in one transaction; a failing (or panicking) write rolls back
/// alone, so one bad write never takes the others down with it.
fn commit_batch(conn: &mut Connection, writes: &mut Vec<WriteJob>, counters: &Counters) {
    if writes.is_empty() {
        return;
    }
    let jobs = std::mem::take(writes);
    let count = jobs.len() as u64;
    let batch = (|| {
        let mut tx = conn.transaction()?;
        let mut failed = Vec::new();
        let mut storage_error = None;
        for (index, job) in jobs.into_iter().enumerate() {
            // A savepoint per job lets a failing job roll back alone.
            let sp = tx.savepoint_with_name(format!("w{index}"))?;
            match catch_unwind(AssertUnwindSafe(|| job(&sp))) {
                Ok(Ok(())) => sp.commit()?,
                Ok(Err(e)) => {
                    if is_storage_failure(&e) {
                        storage_error = Some(e.to_string());
                    }
                    failed.push(e.to_string());
                }
                Err(_) => {
                    counters.panicked.fetch_add(1, Ordering::Relaxed);
                    failed.push("the write panicked".to_owned());
                }
            }
        }
        tx.commit()?;
        Ok::<_, rusqlite::Error>((failed, storage_error))
    })();
    match batch {
        Ok((failed, storage_error)) => {
            for e in &failed {
                tracing::error!(error = %e, "store write failed");
            }
            // A bad write (a constraint) is that write's problem; a full disk is everyone's.
            counters.set_write_error(storage_error);
            counters
                .failed
                .fetch_add(failed.len() as u64, Ordering::Relaxed);
            counters
                .written
                .fetch_add(count - failed.len() as u64, Ordering::Relaxed);
            counters.batches.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            tracing::error!(error = %e, writes = count, "store transaction failed");
            counters.set_write_error(Some(e.to_string()));
            counters.failed.fetch_add(count, Ordering::Relaxed);
        }
    }
}

/// The disk is full or failing, as opposed to one write being wrong.
fn is_storage_failure(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode;
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DiskFull | ErrorCode::SystemIoFailure | ErrorCode::CannotOpen)
    )
}

fn close(conn: Connection) {
    let _ = conn.execute_batch("PRAGMA optimize; PRAGMA wal_checkpoint(TRUNCATE);");
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the store");
    }
}

fn open(path: &Path) -> Result<Connection> {
    let corrupt = |message: String| Error::StoreCorrupt {
        path: path.to_path_buf(),
        message,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| corrupt(e.to_string()))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(Error::store)?;
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| corrupt(e.to_string()))?;
    if check != "ok" {
        return Err(corrupt(format!("integrity_check: {check}")));
    }
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .map_err(Error::store)?;
    if pages == 0 {
        // Must be set before the first table exists; lets retention give pages back.
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")
            .map_err(Error::store)?;
    }
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )
    .map_err(Error::store)?;
    migrations::migrate(&mut conn).map_err(|e| match e {
        MigrateError::FromTheFuture(v) => corrupt(format!(
            "schema version {v} was written by a newer ollama-dash (this build knows {LATEST}); \
             upgrade ollama-dash or restore a backup"
        )),
        MigrateError::Sql(e) => corrupt(format!("migration failed: {e}")),
    })?;
    Ok(conn)
}
