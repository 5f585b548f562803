//! Retention: traces are bounded by count, age and store size; bodies may go sooner.
//!
//! Deletion works in chunks (one store call each, so readers interleave), then
//! `PRAGMA incremental_vacuum` gives the freed pages back to the file system and the WAL is
//! truncated: the file shrinks instead of bloating. Every delete returns the rows it took
//! (`RETURNING`) to the offset pages' seek points ([`super::pages`]).

use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;
use serde::Serialize;

use super::pages::delete_returning;
use crate::config::DashboardConfig;
use crate::dashboard::now_ms;
use crate::error::{Error, Result};

/// Rows deleted or cleared per store call.
const CHUNK: i64 = 5000;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// The limits retention enforces; 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetentionPolicy {
    /// Most traces kept.
    pub max_rows: u64,
    /// Oldest trace kept, days.
    pub max_age_days: u64,
    /// Largest store size (pages in use), bytes.
    pub max_db_bytes: u64,
    /// Oldest trace whose bodies are kept, days.
    pub body_max_age_days: u64,
    /// How often it runs.
    #[serde(skip)]
    pub interval: Duration,
}

impl RetentionPolicy {
    /// The policy a configuration asks for.
    pub fn from_config(config: &DashboardConfig) -> Self {
        Self {
            max_rows: config.trace_max_rows,
            max_age_days: config.trace_max_age_days,
            max_db_bytes: config.trace_max_db_mb.saturating_mul(1024 * 1024),
            body_max_age_days: config.trace_body_max_age_days,
            interval: Duration::from_secs(config.trace_retention_interval_secs),
        }
    }
}

/// What one retention run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    /// When it ran, Unix ms.
    pub ran_at: i64,
    /// Traces deleted for being older than `max_age_days`.
    pub deleted_by_age: u64,
    /// Traces deleted beyond `max_rows`.
    pub deleted_by_rows: u64,
    /// Traces deleted to bring the store under `max_db_bytes`.
    pub deleted_by_size: u64,
    /// Traces whose bodies were cleared.
    pub bodies_cleared: u64,
    /// Bytes given back to the file system by incremental vacuum.
    pub freed_bytes: u64,
}

/// The retention state kept by the dashboard.
#[derive(Debug)]
pub(crate) struct TraceState {
    pub(crate) policy: RetentionPolicy,
    pub(crate) last: Mutex<Option<RetentionReport>>,
    /// Traces waiting for the store thread; one queued write inserts all of them.
    pub(crate) pending: std::sync::Arc<Mutex<Vec<super::Pending>>>,
    /// A write is queued that will take everything in `pending`.
    pub(crate) scheduled: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Traces held back while the disk is full, and those dropped.
    pub(crate) held: std::sync::Arc<super::Held>,
    /// Where ended answers put their traces first (`None` if it could not be opened: then
    /// answers wait for the commit).
    pub(crate) spool: Option<std::sync::Arc<super::spool::Spool>>,
    /// Per-second totals of the last hour, for [`super::Traces::recent_totals`].
    pub(crate) recent: super::RecentTraces,
    /// Seek points of offset pages; every delete of traces tells them (see [`super::pages`]).
    pub(crate) pages: std::sync::Arc<Mutex<super::pages::PageIndex>>,
}

impl TraceState {
    pub(crate) fn new(config: &DashboardConfig) -> Self {
        Self {
            policy: RetentionPolicy::from_config(config),
            last: Mutex::new(None),
            pending: std::sync::Arc::default(),
            scheduled: std::sync::Arc::default(),
            held: std::sync::Arc::default(),
            spool: super::spool::Spool::open(&config.data_path.join(super::spool::SPOOL_FILE_NAME))
                .map_err(
                    |e| tracing::warn!(error = %e, "no trace spool; answers wait for the commit"),
                )
                .ok()
                .map(std::sync::Arc::new),
            recent: super::RecentTraces::default(),
            pages: std::sync::Arc::default(),
        }
    }
}

impl super::Traces {
    /// Applies the retention policy now and returns what it did.
    pub(crate) async fn apply_retention(&self) -> Result<RetentionReport> {
        let p = self.state().policy;
        let now = now_ms();
        let mut report = RetentionReport {
            ran_at: now,
            ..RetentionReport::default()
        };
        if p.max_age_days > 0 {
            let cutoff = now - days_ms(p.max_age_days);
            let pages = std::sync::Arc::clone(&self.state().pages);
            report.deleted_by_age = self
                .chunked(move |c| {
                    delete_returning(
                        c,
                        &pages,
                        "DELETE FROM traces WHERE seq IN \
                         (SELECT seq FROM traces WHERE created_at < ?1 LIMIT ?2) \
                         RETURNING seq, model, status, api_key",
                        (cutoff, CHUNK),
                    )
                })
                .await?;
        }
        if p.max_rows > 0 {
            let keep = i64::try_from(p.max_rows).unwrap_or(i64::MAX);
            let pages = std::sync::Arc::clone(&self.state().pages);
            report.deleted_by_rows = self
                .chunked(move |c| {
                    delete_returning(
                        c,
                        &pages,
                        "DELETE FROM traces WHERE seq IN (SELECT seq FROM traces WHERE seq <= \
                         (SELECT seq FROM traces ORDER BY seq DESC LIMIT 1 OFFSET ?1) \
                         ORDER BY seq LIMIT ?2) RETURNING seq, model, status, api_key",
                        (keep, CHUNK),
                    )
                })
                .await?;
        }
        if p.body_max_age_days > 0 {
            let cutoff = now - days_ms(p.body_max_age_days);
            report.bodies_cleared = self
                .chunked(move |c| {
                    c.execute(
                        "UPDATE traces SET input = NULL, output = NULL, tool_calls = NULL \
                         WHERE seq IN (SELECT seq FROM traces WHERE created_at < ?1 AND \
                         (input IS NOT NULL OR output IS NOT NULL OR tool_calls IS NOT NULL) \
                         LIMIT ?2)",
                        (cutoff, CHUNK),
                    )
                })
                .await?;
        }
        if p.max_db_bytes > 0 {
            let max = i64::try_from(p.max_db_bytes).unwrap_or(i64::MAX);
            loop {
                let pages = std::sync::Arc::clone(&self.state().pages);
                let deleted = self
                    .store()
                    .call(move |c| {
                        let used = used_bytes(c)?;
                        if used <= max {
                            return Ok(0);
                        }
                        // Delete the share of rows that is over the limit, oldest first.
                        let rows: i64 =
                            c.query_row("SELECT count(*) FROM traces", [], |r| r.get(0))?;
                        let over = (rows as f64 * (used - max) as f64 / used as f64).ceil() as i64;
                        delete_returning(
                            c,
                            &pages,
                            "DELETE FROM traces WHERE seq IN \
                             (SELECT seq FROM traces ORDER BY seq LIMIT ?1) \
                             RETURNING seq, model, status, api_key",
                            [over.clamp(1, CHUNK)],
                        )
                    })
                    .await?;
                if deleted == 0 {
                    break;
                }
                report.deleted_by_size += deleted as u64;
            }
        }
        report.freed_bytes = self.store().call(vacuum).await?;
        if report.deleted_by_age + report.deleted_by_rows + report.deleted_by_size > 0 {
            tracing::info!(?report, "trace retention");
        }
        *self.state().last.lock().unwrap_or_else(|p| p.into_inner()) = Some(report.clone());
        Ok(report)
    }

    /// The retention policy and what its last run did.
    pub(crate) fn retention(&self) -> (RetentionPolicy, Option<RetentionReport>) {
        let state = self.state();
        let last = state.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        (state.policy, last)
    }

    /// Runs a chunked statement until it touches no more rows; returns the rows touched.
    async fn chunked<F>(&self, f: F) -> Result<u64>
    where
        F: Fn(&Connection) -> rusqlite::Result<usize> + Send + Sync + Clone + 'static,
    {
        let mut total = 0;
        loop {
            let f = f.clone();
            let n = self.store().call(move |c| f(c)).await?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    }

    /// Starts the background task that applies retention every interval (the first run one
    /// interval after start). It ends when the service is dropped or its store closes.
    pub(crate) fn spawn_retention(&self) {
        let weak = std::sync::Arc::downgrade(&self.0);
        let interval = self.state().policy.interval;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                match super::Traces(inner).apply_retention().await {
                    Err(Error::ShuttingDown) => return,
                    Err(e) => tracing::warn!(error = %e, "trace retention failed"),
                    Ok(_) => {}
                }
            }
        });
    }
}

fn days_ms(days: u64) -> i64 {
    i64::try_from(days)
        .unwrap_or(i64::MAX / DAY_MS)
        .saturating_mul(DAY_MS)
}

/// Bytes of pages in use (the file minus its free list).
fn used_bytes(c: &Connection) -> rusqlite::Result<i64> {
    let pragma = |name: &str| c.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0));
    Ok((pragma("page_count")? - pragma("freelist_count")?) * pragma("page_size")?)
}

/// Gives free pages back to the file system and truncates the WAL; returns the bytes freed.
fn vacuum(c: &mut Connection) -> rusqlite::Result<u64> {
    let pragma = |c: &Connection, name: &str| {
        c.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0))
    };
    let free = pragma(c, "freelist_count")?;
    if free == 0 {
        return Ok(0);
    }
    let page = pragma(c, "page_size")?;
    // The pragma frees one page per step: run it to the end.
    let mut st = c.prepare("PRAGMA incremental_vacuum")?;
    let mut rows = st.query([])?;
    while rows.next()?.is_some() {}
    drop(rows);
    drop(st);
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let left = pragma(c, "freelist_count")?;
    Ok(u64::try_from((free - left) * page).unwrap_or(0))
}
