//! Numbered schema migrations, embedded in the binary; `PRAGMA user_version` holds the number.

use rusqlite::Connection;

/// The migrations in order; migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_imports.sql"),
    include_str!("../../migrations/0003_traces_search.sql"),
    include_str!("../../migrations/0004_traces_route.sql"),
    include_str!("../../migrations/0005_nodes.sql"),
    include_str!("../../migrations/0006_chat_branches.sql"),
    include_str!("../../migrations/0007_chat_session_generation.sql"),
    include_str!("../../migrations/0008_jobs_node.sql"),
    include_str!("../../migrations/0009_traces_fts_deferred.sql"),
];

/// The schema version this build writes.
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

/// What went wrong while migrating.
#[derive(Debug)]
pub(crate) enum MigrateError {
    /// The file was written by a newer build.
    FromTheFuture(i64),
    /// SQLite failed.
    Sql(rusqlite::Error),
}

/// Brings the schema up to [`LATEST`], each step in its own transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(MigrateError::Sql)?;
    if current > LATEST {
        return Err(MigrateError::FromTheFuture(current));
    }
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        let tx = conn.transaction().map_err(MigrateError::Sql)?;
        tx.execute_batch(sql).map_err(MigrateError::Sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)
            .map_err(MigrateError::Sql)?;
        tx.commit().map_err(MigrateError::Sql)?;
        tracing::info!(version = index + 1, "store migrated");
    }
    Ok(())
}
