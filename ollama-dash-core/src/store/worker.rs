//! The store thread: owns the `rusqlite::Connection`, batches writes into transactions.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use super::migrations::{self, LATEST, MigrateError};
use super::{Command, Counters, Write, WriteFailure, WriteOutcome};
use crate::error::{Error, Result};

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 1024;

pub(super) fn run(
    path: &Path,
    mut rx: mpsc::Receiver<Command>,
    ready: oneshot::Sender<Result<()>>,
    counters: &Counters,
    linger: Duration,
) {
    let mut conn = match open(path) {
        Ok(conn) => conn,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    // A timer for the linger's wait; without one, writes commit at once.
    let timer = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .inspect_err(|e| tracing::warn!(error = %e, "store: no timer, writes will not linger"))
        .ok();
    let _ = ready.send(Ok(()));
    let mut writes: Vec<Write> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        let mut until: Option<Instant> = None;
        loop {
            if let Some(done) = drain(&mut conn, &mut rx, next.take(), &mut writes, counters) {
                close(conn);
                let _ = done.send(());
                return;
            }
            // The queue is empty: a lingering batch waits a little for company.
            let lingers = writes.len() < MAX_BATCH && writes.iter().any(|w| w.linger);
            let Some(timer) = timer.as_ref().filter(|_| lingers) else {
                break;
            };
            let left = until
                .get_or_insert_with(|| Instant::now() + linger)
                .saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // The timeout is made inside the runtime: its timer needs it.
            match timer.block_on(async { tokio::time::timeout(left, rx.recv()).await }) {
                Ok(Some(command)) => next = Some(command),
                Ok(None) | Err(_) => break,
            }
        }
        commit(&mut conn, &mut writes, counters);
    }
    close(conn);
}

/// Runs `next` and every command already queued behind it (up to a full batch of writes),
/// committing the writes before anything else; a close ends it, answered by the caller once
/// the connection is closed.
fn drain(
    conn: &mut Connection,
    rx: &mut mpsc::Receiver<Command>,
    mut next: Option<Command>,
    writes: &mut Vec<Write>,
    counters: &Counters,
) -> Option<oneshot::Sender<()>> {
    while let Some(command) = next.take() {
        match command {
            Command::Write(write) => writes.push(write),
            Command::Read(job) => {
                commit(conn, writes, counters);
                // A panicking job loses its own answer, never the thread: the caller gets an
                // error, every later job runs as usual.
                if catch_unwind(AssertUnwindSafe(|| job(conn))).is_err() {
                    counters.panicked.fetch_add(1, Ordering::Relaxed);
                }
            }
            Command::Flush(done) => {
                commit(conn, writes, counters);
                let _ = done.send(());
            }
            Command::Close(done) => {
                commit(conn, writes, counters);
                return Some(done);
            }
        }
        if writes.len() < MAX_BATCH {
            next = rx.try_recv().ok();
        }
    }
    None
}

/// [`commit_batch`], surviving a panic: the batch's transaction rolls back as the panic
/// unwinds, its writes count as failed, and the thread goes on.
fn commit(conn: &mut Connection, writes: &mut Vec<Write>, counters: &Counters) {
    let count = writes.len() as u64;
    if catch_unwind(AssertUnwindSafe(|| commit_batch(conn, writes, counters))).is_err() {
        writes.clear();
        counters.set_write_error(Some("a store write panicked".to_owned()));
        counters.panicked.fetch_add(1, Ordering::Relaxed);
        counters.failed.fetch_add(count, Ordering::Relaxed);
    }
}

/// Commits the queued writes in one transaction; a failing (or panicking) write rolls back
/// alone, so one bad write never takes the others down with it. Then each write that asked is
/// told how it ended: `Ok` only once the transaction is committed.
fn commit_batch(conn: &mut Connection, writes: &mut Vec<Write>, counters: &Counters) {
    if writes.is_empty() {
        return;
    }
    let (jobs, notifies): (Vec<_>, Vec<_>) = std::mem::take(writes)
        .into_iter()
        .map(|Write { job, notify, .. }| (job, notify))
        .unzip();
    let count = jobs.len() as u64;
    let mut outcomes: Vec<WriteOutcome> = Vec::with_capacity(jobs.len());
    let committed = (|| {
        let mut tx = conn.transaction()?;
        for (index, job) in jobs.into_iter().enumerate() {
            // A savepoint per job lets a failing job roll back alone.
            let sp = tx.savepoint_with_name(format!("w{index}"))?;
            let outcome = match catch_unwind(AssertUnwindSafe(|| job(&sp))) {
                Ok(Ok(())) => {
                    sp.commit()?;
                    Ok(())
                }
                Ok(Err(e)) => Err(WriteFailure::of(&e)),
                Err(_) => {
                    counters.panicked.fetch_add(1, Ordering::Relaxed);
                    Err(WriteFailure {
                        message: "the write panicked".to_owned(),
                        storage: false,
                    })
                }
            };
            outcomes.push(outcome);
        }
        index_pending(&mut tx);
        tx.commit()
    })();
    match committed {
        Ok(()) => {
            let failed: Vec<&WriteFailure> =
                outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
            for f in &failed {
                tracing::error!(error = %f.message, "store write failed");
            }
            // A bad write (a constraint) is that write's problem; a full disk is everyone's.
            let storage = failed.iter().find(|f| f.storage).map(|f| f.message.clone());
            counters.set_write_error(storage);
            counters
                .failed
                .fetch_add(failed.len() as u64, Ordering::Relaxed);
            counters
                .written
                .fetch_add(count - failed.len() as u64, Ordering::Relaxed);
            counters.batches.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            // Nothing of the batch is in the file, whatever each job said.
            let failure = WriteFailure::of(&e);
            tracing::error!(error = %e, writes = count, "store transaction failed");
            counters.set_write_error(Some(failure.message.clone()));
            counters.failed.fetch_add(count, Ordering::Relaxed);
            outcomes = vec![Err(failure); notifies.len()];
        }
    }
    for (notify, outcome) in notifies.into_iter().zip(outcomes) {
        if let Some(notify) = notify {
            notify(outcome);
        }
    }
}

/// Indexes the traces waiting for full-text search (migration 0009), in one statement, in the
/// transaction that added them. Should it fail, they stay waiting for the next transaction.
fn index_pending(tx: &mut rusqlite::Transaction<'_>) {
    let indexed = (|| -> rusqlite::Result<()> {
        let waiting: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM traces_fts_pending)")?
            .query_row([], |r| r.get(0))?;
        if !waiting {
            return Ok(());
        }
        let sp = tx.savepoint_with_name("fts")?;
        sp.prepare_cached(
            "INSERT INTO traces_fts (rowid, input, output) \
             SELECT t.seq, t.input, t.output FROM traces_fts_pending p JOIN traces t ON t.seq = p.seq",
        )?
        .execute([])?;
        sp.prepare_cached("DELETE FROM traces_fts_pending")?
            .execute([])?;
        sp.commit()
    })();
    if let Err(e) = indexed {
        tracing::warn!(error = %e, "store: indexing new traces for search failed; trying again with the next write");
    }
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
        // Statement journals in memory: a savepoint's copies of the pages it changes spilled to
        // a temporary file past 64 KiB, a write system call each.
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA temp_store = MEMORY;",
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
