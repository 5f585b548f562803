#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;

async fn open_temp() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("db").join("ollama-dash.db"))
        .await
        .unwrap();
    (dir, store)
}

#[tokio::test]
async fn creates_schema_in_wal_with_incremental_vacuum() {
    let (_dir, store) = open_temp().await;
    let (version, mode, vacuum): (i64, String, i64) = store
        .call(|c| {
            let v = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            let m = c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
            let a = c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
            Ok((v, m, a))
        })
        .await
        .unwrap();
    assert_eq!(version, migrations::LATEST);
    assert_eq!(mode, "wal");
    assert_eq!(vacuum, 2, "2 = INCREMENTAL");
}

#[tokio::test]
async fn queued_writes_commit_in_batches_and_survive_reopen() {
    let (dir, store) = open_temp().await;
    for i in 0..500 {
        store
            .write(move |c| {
                c.execute(
                    "INSERT INTO settings (scope, key, value, updated_at) VALUES ('global', ?1, '1', 0)",
                    [format!("k{i}")],
                )
                .map(drop)
            })
            .await
            .unwrap();
    }
    store.flush().await.unwrap();
    let health = store.health();
    assert_eq!(health.written, 500);
    assert!(
        health.batches < 500,
        "writes were batched: {} transactions",
        health.batches
    );
    store.close().await.unwrap();
    store.close().await.unwrap(); // idempotent

    let again = Store::open(dir.path().join("db").join("ollama-dash.db"))
        .await
        .unwrap();
    let n: i64 = again
        .call(|c| c.query_row("SELECT count(*) FROM settings", [], |r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(n, 500);
}

#[tokio::test]
async fn a_failing_write_loses_nothing_else() {
    let (_dir, store) = open_temp().await;
    let insert = |key: &'static str| {
        move |c: &Connection| {
            c.execute(
                "INSERT INTO settings (scope, key, value, updated_at) VALUES ('global', ?1, '1', 0)",
                [key],
            )
            .map(drop)
        }
    };
    store.write(insert("a")).await.unwrap();
    store
        .write(|c| {
            c.execute("INSERT INTO no_such_table VALUES (1)", [])
                .map(drop)
        })
        .await
        .unwrap();
    store.write(insert("b")).await.unwrap();
    store.flush().await.unwrap();
    let keys: Vec<String> = store
        .call(|c| {
            let mut st = c.prepare("SELECT key FROM settings ORDER BY key")?;
            st.query_map([], |r| r.get(0))?.collect()
        })
        .await
        .unwrap();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(store.health().failed, 1);
}

#[tokio::test]
async fn a_schema_from_the_future_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ollama-dash.db");
    {
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 999).unwrap();
    }
    let err = Store::open(path).await.unwrap_err();
    assert!(matches!(err, Error::StoreCorrupt { .. }), "{err}");
    assert!(err.to_string().contains("newer"), "{err}");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ollama-dash.db");
    std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
    let err = Store::open(path.clone()).await.unwrap_err();
    assert!(matches!(err, Error::StoreCorrupt { .. }), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        vec![0x42u8; 8192],
        "the file is left untouched"
    );
}

#[tokio::test]
async fn after_close_calls_fail_cleanly() {
    let (_dir, store) = open_temp().await;
    store.close().await.unwrap();
    let err = store
        .call(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ShuttingDown));
    assert!(!store.health().alive);
}

/// F2 of issue #17: a job that panics on the store thread (as a failing log write once made
/// tracing do) loses only its own work; the thread, and every store route, go on.
#[tokio::test]
async fn a_panicking_job_never_takes_the_store_thread_down() {
    let (_dir, store) = open_temp().await;
    let insert = |key: &'static str| {
        move |c: &Connection| {
            c.execute(
                "INSERT INTO settings (scope, key, value, updated_at) VALUES ('global', ?1, '1', 0)",
                [key],
            )
            .map(drop)
        }
    };
    let panicking_read = store
        .call(|_| -> rusqlite::Result<()> { panic!("a read job panics") })
        .await;
    assert!(
        matches!(&panicking_read, Err(Error::Store(m)) if m.contains("panicked")),
        "{panicking_read:?}"
    );
    // One write of a batch panics: the writes around it still commit.
    store.write(insert("before")).await.unwrap();
    store
        .write(|_| -> rusqlite::Result<()> { panic!("a write job panics") })
        .await
        .unwrap();
    store.write(insert("after")).await.unwrap();
    store.flush().await.unwrap();
    let keys: Vec<String> = store
        .call(|c| {
            let mut stmt = c.prepare("SELECT key FROM settings ORDER BY key")?;
            stmt.query_map([], |r| r.get(0))?.collect()
        })
        .await
        .unwrap();
    assert_eq!(keys, ["after", "before"]);
    let health = store.health();
    assert!(health.alive);
    assert_eq!((health.panicked, health.failed), (2, 1));
}

/// `write_then` tells each write how it ended, after its transaction: `Ok` only for one that is
/// in the file, the failure (not marked as a storage failure) for one that was wrong.
#[tokio::test]
async fn write_then_tells_each_write_how_its_transaction_ended() {
    let (_dir, store) = open_temp().await;
    let (ok_tx, ok_rx) = oneshot::channel();
    let (bad_tx, bad_rx) = oneshot::channel();
    store
        .write_then(
            |c| {
                c.execute(
                    "INSERT INTO settings (scope, key, value, updated_at) VALUES ('global', 'told', '1', 0)",
                    [],
                )
                .map(drop)
            },
            move |outcome| {
                let _ = ok_tx.send(outcome);
            },
        )
        .unwrap();
    store
        .write_then(
            |c| {
                c.execute("INSERT INTO no_such_table VALUES (1)", [])
                    .map(drop)
            },
            move |outcome| {
                let _ = bad_tx.send(outcome);
            },
        )
        .unwrap();
    assert!(ok_rx.await.unwrap().is_ok());
    let failure = bad_rx.await.unwrap().unwrap_err();
    assert!(failure.message.contains("no_such_table"), "{failure:?}");
    assert!(!failure.storage);
    // Told `Ok` means committed: a fresh connection to the file sees it.
    let other = rusqlite::Connection::open(&*store.path).unwrap();
    let n: i64 = other
        .query_row(
            "SELECT count(*) FROM settings WHERE key = 'told'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
    assert!(
        store.health().write_error.is_none(),
        "a bad write is not a storage failure"
    );
}

/// Inserts setting `key` as a lingering write that counts its outcome in `committed`.
fn linger_write(store: &Store, key: &str, committed: &Arc<AtomicU64>) {
    let key = key.to_owned();
    let committed = Arc::clone(committed);
    store
        .write_then(
            move |c| {
                c.execute(
                    "INSERT INTO settings (scope, key, value, updated_at) VALUES ('global', ?1, '1', 0)",
                    [key],
                )
                .map(drop)
            },
            move |outcome| {
                if outcome.is_ok() {
                    committed.fetch_add(1, Ordering::Relaxed);
                }
            },
        )
        .unwrap();
}

#[tokio::test]
async fn lingering_writes_arriving_apart_share_a_commit_and_a_read_ends_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    // A long linger, so writes 20 ms apart fall in one window however slow the machine.
    let linger = std::time::Duration::from_secs(2);
    let store = Store::open_lingering(dir.path().join("ollama-dash.db"), linger)
        .await
        .unwrap();
    let committed = Arc::new(AtomicU64::new(0));
    let before = store.health().batches;
    for i in 0..3 {
        linger_write(&store, &format!("k{i}"), &committed);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Nothing else arrives: the three commit together once the window closes.
    while committed.load(Ordering::Relaxed) < 3 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(store.health().batches - before, 1, "one transaction");

    // A read behind a lingering write ends the wait: the write commits first and the read sees it.
    linger_write(&store, "k3", &committed);
    let n: i64 = store
        .call(|c| c.query_row("SELECT count(*) FROM settings", [], |r| r.get(0)))
        .await
        .unwrap();
    assert_eq!(n, 4);
    assert_eq!(
        committed.load(Ordering::Relaxed),
        4,
        "committed before the read ran"
    );
    store.close().await.unwrap();
}

/// Inserts a bare trace row (only the columns without defaults that matter here).
fn trace_row(c: &rusqlite::Connection, id: &str, input: &str) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO traces (id, created_at, endpoint, model, stream, status, input, output) \
         VALUES (?1, 0, '/api/chat', 'm', 0, 'ok', ?2, 'out')",
        [id, input],
    )
    .map(drop)
}

/// Trace ids whose text matches `query`, and the index's own check against the rows.
async fn search(store: &Store, query: &'static str) -> (Vec<String>, bool) {
    store
        .call(move |c| {
            let ids = c
                .prepare(
                    "SELECT t.id FROM traces_fts JOIN traces t ON t.seq = traces_fts.rowid \
                     WHERE traces_fts MATCH ?1 ORDER BY t.id",
                )?
                .query_map([query], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            let sound = c
                .execute(
                    "INSERT INTO traces_fts (traces_fts, rank) VALUES ('integrity-check', 1)",
                    [],
                )
                .is_ok();
            let waiting: i64 =
                c.query_row("SELECT count(*) FROM traces_fts_pending", [], |r| r.get(0))?;
            assert_eq!(waiting, 0, "nothing waits once a transaction is committed");
            Ok((ids, sound))
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn traces_are_indexed_for_search_when_their_transaction_commits() {
    let (_dir, store) = open_temp().await;
    // Written one by one, each its own write: all searchable once committed.
    for (id, input) in [
        ("a", "alpha words"),
        ("b", "beta words"),
        ("c", "gamma words"),
    ] {
        store.write(move |c| trace_row(c, id, input)).await.unwrap();
    }
    assert_eq!(
        search(&store, "words").await,
        (vec!["a".into(), "b".into(), "c".into()], true)
    );
    // Changed and deleted after being indexed: the index follows.
    store
        .write(|c| {
            c.execute("UPDATE traces SET input = 'delta words' WHERE id = 'b'", [])?;
            c.execute("DELETE FROM traces WHERE id = 'c'", []).map(drop)
        })
        .await
        .unwrap();
    assert_eq!(search(&store, "beta OR gamma").await, (vec![], true));
    assert_eq!(search(&store, "delta").await, (vec!["b".into()], true));
    // Inserted, changed and deleted in one transaction, while waiting to be indexed: the index
    // holds only what is left, as it was at the commit.
    store
        .write(|c| {
            trace_row(c, "d", "epsilon words")?;
            trace_row(c, "e", "zeta words")?;
            c.execute("UPDATE traces SET input = 'eta words' WHERE id = 'd'", [])?;
            c.execute("DELETE FROM traces WHERE id = 'e'", []).map(drop)
        })
        .await
        .unwrap();
    assert_eq!(search(&store, "epsilon OR zeta").await, (vec![], true));
    assert_eq!(search(&store, "eta").await, (vec!["d".into()], true));
    // A write that fails rolls back alone, its trace with it, and is not indexed; the next
    // one of the same transaction is.
    store
        .write(|c| {
            trace_row(c, "f", "theta words")?;
            Err(rusqlite::Error::InvalidQuery)
        })
        .await
        .unwrap();
    store
        .write(|c| trace_row(c, "g", "iota words"))
        .await
        .unwrap();
    assert_eq!(search(&store, "theta").await, (vec![], true));
    assert_eq!(search(&store, "iota").await, (vec!["g".into()], true));
}
