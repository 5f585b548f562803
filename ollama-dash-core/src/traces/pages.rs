//! Cheap offset pages (`page=N`): seek points into the newest-first order, kept in step with
//! the table, so a deep page costs a seek plus fewer than `2 × STRIDE` skipped rows instead of
//! skipping every row before it, and the page's `total` is a maintained count instead of a
//! `count(*)` per request.
//!
//! A *scope* is the set of rows a page ranges over: every trace, or the traces of one model,
//! one status or one API key (each has an index on `(column, seq)`). For each scope in use the
//! index keeps `top` (the highest `seq` accounted for), `rows` (the scope's rows up to `top`)
//! and seek points `(seq, rank)`, rank being how many of those rows are newer (`seq` greater).
//! Points are built lazily, on the first page asked of a scope, and then kept exact:
//!
//! - **inserts** need no hook: a new row always gets a `seq` above every row there is, so each
//!   use first counts the scope's rows above `top` (an indexed range, empty when nothing was
//!   added), shifts every rank by that many and moves `top` up;
//! - **deletes** must be told ([`PageIndex::deleted`], with the deleted rows from `RETURNING`):
//!   each point's rank drops by the deleted rows newer than it, deleted points go. Retention
//!   is the only code that deletes traces; a delete that is not told leaves wrong ranks, so a
//!   new one must go through [`delete_returning`];
//! - gaps between points that grow past `2 × STRIDE` (many rows added at the top, points
//!   deleted) are refilled from the rows inside that gap only.

use std::collections::HashMap;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params_from_iter};

use super::query::TraceQuery;

/// Rows between seek points when they are made; an offset page skips at most `2 × STRIDE`
/// rows one by one. Small under test so that a few hundred rows make many points.
const STRIDE: u64 = if cfg!(test) { 8 } else { 512 };

/// Scopes kept at most; past it the least recently used one is forgotten (and rebuilt if asked
/// for again).
const MAX_SCOPES: usize = 16;

/// The rows an offset page ranges over when seek points can serve it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Scope {
    /// Every trace.
    All,
    /// The traces of one model (index `traces_model`).
    Model(String),
    /// The traces with one status (index `traces_status`).
    Status(String),
    /// The traces of one API key name (index `traces_key`).
    Key(String),
}

impl Scope {
    /// The scope of `query` when it pages by `page` with at most one of the model, status and
    /// key filters and no time range, cursor or text search (`searching`); `None` otherwise
    /// (those take the plain `LIMIT … OFFSET` path: each is bounded by an index but pays for
    /// its offset).
    pub(super) fn of(query: &TraceQuery, searching: bool) -> Option<Self> {
        if query.page.is_none()
            || query.cursor.is_some()
            || searching
            || query.since_ms.is_some()
            || query.until_ms.is_some()
        {
            return None;
        }
        match (&query.model, &query.status, &query.api_key) {
            (None, None, None) => Some(Self::All),
            (Some(model), None, None) => Some(Self::Model(model.clone())),
            (None, Some(status), None) => Some(Self::Status(status.clone())),
            (None, None, Some(key)) => Some(Self::Key(key.clone())),
            _ => None,
        }
    }

    /// The filter's `AND column = ?` (empty for every trace) and its value.
    pub(super) fn filter(&self) -> (&'static str, Option<SqlValue>) {
        match self {
            Self::All => ("", None),
            Self::Model(v) => (" AND t.model = ?", Some(SqlValue::Text(v.clone()))),
            Self::Status(v) => (" AND t.status = ?", Some(SqlValue::Text(v.clone()))),
            Self::Key(v) => (" AND t.api_key = ?", Some(SqlValue::Text(v.clone()))),
        }
    }

    fn holds(&self, row: &DeletedRow) -> bool {
        match self {
            Self::All => true,
            Self::Model(v) => row.model == *v,
            Self::Status(v) => row.status == *v,
            Self::Key(v) => row.api_key.as_deref() == Some(v.as_str()),
        }
    }
}

/// A deleted trace, as `RETURNING seq, model, status, api_key` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeletedRow {
    seq: i64,
    model: String,
    status: String,
    api_key: Option<String>,
}

/// Where an offset page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seek {
    /// Rows of the scope: the page's `total`.
    pub(super) total: u64,
    /// Start at rows with `seq <= bound` (`None`: from the newest).
    pub(super) bound: Option<i64>,
    /// Rows to skip from there.
    pub(super) skip: u64,
}

/// The seek points of one scope.
#[derive(Debug)]
struct Points {
    /// Highest `seq` accounted for; the scope's rows above it are new.
    top: i64,
    /// The scope's rows with `seq <= top`.
    rows: u64,
    /// `(seq, rank)`, `seq` descending (so rank ascending); rank = rows of the scope with a
    /// greater `seq`, up to `top`.
    points: Vec<(i64, u64)>,
    /// When last used (for forgetting the least recently used scope).
    used: u64,
}

/// Seek points per scope; lives beside the store and is only used on its thread (behind a
/// mutex so the closures sent there can share it).
#[derive(Debug, Default)]
pub(crate) struct PageIndex {
    scopes: HashMap<Scope, Points>,
    clock: u64,
}

impl PageIndex {
    /// Where the page at `offset` (0-based, newest first) of `scope` starts, and the scope's
    /// total; builds or brings the scope's points up to date first.
    pub(super) fn seek(
        &mut self,
        c: &Connection,
        scope: &Scope,
        offset: u64,
    ) -> rusqlite::Result<Seek> {
        self.clock += 1;
        let clock = self.clock;
        let points = match self.scopes.remove(scope) {
            Some(mut points) => {
                points.catch_up(c, scope)?;
                points
            }
            None => Points::build(c, scope)?,
        };
        if self.scopes.len() >= MAX_SCOPES
            && let Some(oldest) = self
                .scopes
                .iter()
                .min_by_key(|(_, p)| p.used)
                .map(|(s, _)| s.clone())
        {
            self.scopes.remove(&oldest);
        }
        let points = self.scopes.entry(scope.clone()).or_insert(points);
        points.used = clock;
        Ok(points.seek(offset))
    }

    /// Takes in rows that were deleted (and committed): ranks drop by the deleted rows newer
    /// than each point, deleted points go, and `top` comes down to the newest row left
    /// (`newest`), so that a `seq` SQLite hands out again is seen as new.
    pub(crate) fn deleted(&mut self, rows: &[DeletedRow], newest: Option<i64>) {
        for (scope, points) in &mut self.scopes {
            let mut gone: Vec<i64> = rows
                .iter()
                .filter(|r| r.seq <= points.top && scope.holds(r))
                .map(|r| r.seq)
                .collect();
            points.remove(&mut gone);
            points.top = points.top.min(newest.unwrap_or(i64::MIN));
        }
    }

    /// Forgets every scope (after a delete whose outcome is not known); they are rebuilt on
    /// their next use.
    pub(crate) fn clear(&mut self) {
        self.scopes.clear();
    }
}

impl Points {
    /// Reads the scope's `seq`s (through the smallest covering index: never the wide table
    /// rows) and makes a point every [`STRIDE`] rows.
    fn build(c: &Connection, scope: &Scope) -> rusqlite::Result<Self> {
        let (filter, value) = scope.filter();
        let sql = format!("SELECT t.seq FROM traces t WHERE 1{filter}");
        let mut st = c.prepare_cached(&sql)?;
        let mut seqs = st
            .query_map(params_from_iter(value.iter()), |r| r.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()?;
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        let points = seqs
            .iter()
            .zip(0u64..)
            .skip(STRIDE as usize)
            .step_by(STRIDE as usize)
            .map(|(&seq, rank)| (seq, rank))
            .collect();
        Ok(Self {
            top: seqs.first().copied().unwrap_or(i64::MIN),
            rows: seqs.len() as u64,
            points,
            used: 0,
        })
    }

    /// Accounts for the rows added since the last use, then refills gaps grown too wide.
    fn catch_up(&mut self, c: &Connection, scope: &Scope) -> rusqlite::Result<()> {
        let (filter, value) = scope.filter();
        let sql = format!("SELECT count(*), max(t.seq) FROM traces t WHERE t.seq > ?{filter}");
        let args: Vec<SqlValue> = std::iter::once(SqlValue::Integer(self.top))
            .chain(value)
            .collect();
        let (added, newest): (i64, Option<i64>) = c
            .prepare_cached(&sql)?
            .query_row(params_from_iter(args.iter()), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        if let (Ok(added @ 1..), Some(newest)) = (u64::try_from(added), newest) {
            self.top = newest;
            self.rows += added;
            for point in &mut self.points {
                point.1 += added;
            }
        }
        self.refill(c, scope)
    }

    /// Makes points inside every gap wider than `2 × STRIDE` rows (between two points, or at
    /// either end) from the rows in that gap only.
    fn refill(&mut self, c: &Connection, scope: &Scope) -> rusqlite::Result<()> {
        let mut i: usize = 0;
        loop {
            // The gap below point i - 1 (or from the newest row) down to point i (or the end).
            let above = i.checked_sub(1).map(|j| self.points[j]);
            let below = self.points.get(i).copied();
            let first = above.map_or(0, |(_, rank)| rank);
            let last = below.map_or(self.rows, |(_, rank)| rank);
            if last.saturating_sub(first) > 2 * STRIDE {
                let added = self.fill(c, scope, above, below)?;
                i += added;
            }
            if i >= self.points.len() {
                return Ok(());
            }
            i += 1;
        }
    }

    /// Adds points every [`STRIDE`] rows between `above` and `below` (exclusive; `None`: the
    /// newest row, the oldest); returns how many it added.
    fn fill(
        &mut self,
        c: &Connection,
        scope: &Scope,
        above: Option<(i64, u64)>,
        below: Option<(i64, u64)>,
    ) -> rusqlite::Result<usize> {
        let (filter, value) = scope.filter();
        let mut args = Vec::new();
        let mut sql = format!("SELECT t.seq FROM traces t WHERE t.seq <= ?{filter}");
        args.push(SqlValue::Integer(self.top));
        args.extend(value);
        if let Some((seq, _)) = above {
            sql.push_str(" AND t.seq < ?");
            args.push(SqlValue::Integer(seq));
        }
        if let Some((seq, _)) = below {
            sql.push_str(" AND t.seq > ?");
            args.push(SqlValue::Integer(seq));
        }
        sql.push_str(" ORDER BY t.seq DESC");
        // Rank of the first row in the gap: the newest row is rank 0; the row after a point
        // ranks one more than it.
        let (base, start) = match above {
            Some((_, rank)) => (rank, rank + 1),
            None => (0, 0),
        };
        let mut st = c.prepare_cached(&sql)?;
        let new: Vec<(i64, u64)> = st
            .query_map(params_from_iter(args.iter()), |r| r.get::<_, i64>(0))?
            .zip(start..)
            .filter(|(_, rank)| *rank > base && (rank - base) % STRIDE == 0)
            .map(|(seq, rank)| seq.map(|seq| (seq, rank)))
            .collect::<rusqlite::Result<_>>()?;
        // The new points go just before `below` (every point newer than it comes first).
        let at = self
            .points
            .partition_point(|&(seq, _)| below.is_none_or(|(below, _)| seq > below));
        let added = new.len();
        self.points.splice(at..at, new);
        Ok(added)
    }

    /// Removes the rows `gone` (their `seq`s, any order) from the counts.
    fn remove(&mut self, gone: &mut [i64]) {
        if gone.is_empty() {
            return;
        }
        gone.sort_unstable_by(|a, b| b.cmp(a));
        self.rows = self.rows.saturating_sub(gone.len() as u64);
        // Walk points (seq descending) and deleted rows (seq descending) together.
        let mut newer = 0; // deleted rows with a seq above the current point
        let mut kept = Vec::with_capacity(self.points.len());
        for &(seq, rank) in &self.points {
            while newer < gone.len() && gone[newer] > seq {
                newer += 1;
            }
            if gone.get(newer) == Some(&seq) {
                continue; // the point's own row went
            }
            kept.push((seq, rank.saturating_sub(newer as u64)));
        }
        self.points = kept;
    }

    fn seek(&self, offset: u64) -> Seek {
        let at = self.points.partition_point(|&(_, rank)| rank <= offset);
        let (bound, skip) = match at.checked_sub(1).map(|i| self.points[i]) {
            Some((seq, rank)) => (Some(seq), offset - rank),
            None => (None, offset),
        };
        Seek {
            total: self.rows,
            bound,
            skip,
        }
    }
}

/// Runs a `DELETE … RETURNING seq, model, status, api_key` on traces and tells `pages` what went
/// (or, if the statement failed, forgets every scope); returns the rows deleted.
pub(crate) fn delete_returning(
    c: &Connection,
    pages: &std::sync::Mutex<PageIndex>,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    let deleted: rusqlite::Result<(Vec<DeletedRow>, Option<i64>)> = (|| {
        let mut st = c.prepare_cached(sql)?;
        let rows = st
            .query_map(params, |r| {
                Ok(DeletedRow {
                    seq: r.get(0)?,
                    model: r.get(1)?,
                    status: r.get(2)?,
                    api_key: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let newest: Option<i64> = c.query_row("SELECT max(seq) FROM traces", [], |r| r.get(0))?;
        Ok((rows, newest))
    })();
    let mut pages = pages.lock().unwrap_or_else(|p| p.into_inner());
    match deleted {
        Ok((rows, newest)) => {
            pages.deleted(&rows, newest);
            Ok(rows.len())
        }
        Err(e) => {
            pages.clear();
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests;
