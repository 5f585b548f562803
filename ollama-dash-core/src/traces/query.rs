//! SQL for traces: insert, get, and the filtered, paginated list.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params_from_iter};
use serde::Serialize;

use std::sync::Mutex;

use super::pages::{PageIndex, Scope};
use super::{TraceRecord, TraceStatus};
use crate::error::{Error, Result};

/// Most traces in one page.
pub const MAX_LIMIT: u32 = 1000;

/// Which traces to list. Every filter is optional; `cursor` (keyset, from the previous page's
/// `next_cursor`) and `page` (1-based, offset) are two ways to page; with neither, the newest come.
#[derive(Debug, Clone, Default)]
pub struct TraceQuery {
    /// Page size, 1..=1000 (default 50).
    pub limit: Option<u32>,
    /// Keyset cursor from the previous page.
    pub cursor: Option<String>,
    /// Page number, from 1 (PremRunner style); answers with `total`.
    pub page: Option<u32>,
    /// Only this model.
    pub model: Option<String>,
    /// Only this status: `ok`, `error` or `cancelled`.
    pub status: Option<String>,
    /// Only this API key name.
    pub api_key: Option<String>,
    /// Only traces created at or after this time (Unix ms).
    pub since_ms: Option<i64>,
    /// Only traces created before this time (Unix ms).
    pub until_ms: Option<i64>,
    /// Words that must all appear in the input or output (prefix match).
    pub search: Option<String>,
    /// Include input, output and tool calls (export); lists leave them out.
    pub with_bodies: bool,
}

/// One page of traces, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TracePage {
    /// The traces.
    pub traces: Vec<TraceRecord>,
    /// Pass as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// The page number, when paging by `page`.
    pub page: Option<u32>,
    /// How many traces match, when paging by `page`.
    pub total: Option<u64>,
}

impl TraceQuery {
    pub(crate) fn validate(&self) -> Result<()> {
        if let Some(limit) = self.limit
            && !(1..=MAX_LIMIT).contains(&limit)
        {
            return Err(Error::BadRequest(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        if self.page == Some(0) {
            return Err(Error::BadRequest("page starts at 1".into()));
        }
        if self.page.is_some() && self.cursor.is_some() {
            return Err(Error::BadRequest(
                "use either page or cursor, not both".into(),
            ));
        }
        if let Some(cursor) = &self.cursor
            && cursor.parse::<i64>().is_err()
        {
            return Err(Error::BadRequest(format!("invalid cursor {cursor:?}")));
        }
        if let Some(status) = &self.status
            && !matches!(status.as_str(), "ok" | "error" | "cancelled")
        {
            return Err(Error::BadRequest(format!(
                "status must be ok, error or cancelled, not {status:?}"
            )));
        }
        Ok(())
    }
}

const COLUMNS: &str = "t.seq, t.id, t.created_at, t.endpoint, t.model, t.api_key, t.client_addr, \
    t.stream, t.status, t.http_status, t.error, t.prompt_tokens, t.completion_tokens, \
    t.total_tokens, t.duration_ms, t.ttft_ms, t.load_ns, t.prompt_eval_ns, t.eval_ns, t.total_ns, \
    t.node, t.route_reason, t.queue_ms";
const BODIES: &str = ", t.input, t.output, t.tool_calls";

pub(super) fn insert(c: &Connection, t: &TraceRecord) -> rusqlite::Result<()> {
    insert_as(c, t, "INSERT").map(drop)
}

/// Inserts unless a trace with this id is there already; 1 if it was inserted.
pub(super) fn insert_or_ignore(c: &Connection, t: &TraceRecord) -> rusqlite::Result<usize> {
    insert_as(c, t, "INSERT OR IGNORE")
}

fn insert_as(c: &Connection, t: &TraceRecord, verb: &str) -> rusqlite::Result<usize> {
    let mut st = c.prepare_cached(&format!(
        "{verb} INTO traces (id, created_at, endpoint, model, api_key, client_addr, stream, status, \
         http_status, error, input, output, tool_calls, prompt_tokens, completion_tokens, \
         total_tokens, duration_ms, ttft_ms, load_ns, prompt_eval_ns, eval_ns, total_ns, node, \
         route_reason, queue_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
         ?19, ?20, ?21, ?22, ?23, ?24, ?25)"
    ))?;
    let int = |v: Option<u64>| v.and_then(|v| i64::try_from(v).ok());
    st.execute(rusqlite::params![
        t.id,
        t.created_at,
        t.endpoint,
        t.model,
        t.api_key,
        t.client_addr,
        t.stream,
        t.status.as_str(),
        t.http_status,
        t.error,
        t.input,
        t.output,
        t.tool_calls,
        int(t.prompt_tokens),
        int(t.completion_tokens),
        int(t.total_tokens),
        t.duration_ms,
        t.ttft_ms,
        int(t.load_ns),
        int(t.prompt_eval_ns),
        int(t.eval_ns),
        int(t.total_ns),
        t.node,
        t.route_reason,
        t.queue_ms,
    ])
}

pub(super) fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<TraceRecord>> {
    let sql = format!("SELECT {COLUMNS}{BODIES} FROM traces t WHERE t.id = ?1");
    c.query_row(&sql, [id], |r| row(r, true).map(|(_, t)| t))
        .optional()
}

/// A page of traces. Offset pages (`page`) of every trace or of one model, status or key are
/// served from seek points ([`super::pages`]): the same rows, order and `total` as
/// [`list_plain`], without skipping every row before the page or counting every row. Other
/// queries (a cursor, no `page`, a time range, a text search, two filters) take
/// [`list_plain`]: each is bounded by an index, and a deep `page` of them still pays its offset.
pub(super) fn list(
    c: &Connection,
    q: &TraceQuery,
    pages: &Mutex<PageIndex>,
) -> rusqlite::Result<TracePage> {
    let searching = q.search.as_deref().and_then(fts_query).is_some();
    match (Scope::of(q, searching), q.page) {
        (Some(scope), Some(page)) => list_seek(c, q, &scope, page, pages),
        _ => list_plain(c, q),
    }
}

fn list_seek(
    c: &Connection,
    q: &TraceQuery,
    scope: &Scope,
    page: u32,
    pages: &Mutex<PageIndex>,
) -> rusqlite::Result<TracePage> {
    let limit = q.limit.unwrap_or(50);
    let offset = u64::from(page.saturating_sub(1)) * u64::from(limit);
    let seek = pages
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .seek(c, scope, offset)?;
    if offset >= seek.total {
        return Ok(TracePage {
            traces: Vec::new(),
            next_cursor: None,
            page: Some(page),
            total: Some(seek.total),
        });
    }
    let (filter, value) = scope.filter();
    let mut args: Vec<SqlValue> = value.into_iter().collect();
    let bound = match seek.bound {
        Some(seq) => {
            args.push(SqlValue::Integer(seq));
            " AND t.seq <= ?"
        }
        None => "",
    };
    args.push(SqlValue::Integer(i64::from(limit) + 1));
    args.push(SqlValue::Integer(
        i64::try_from(seek.skip).unwrap_or(i64::MAX),
    ));
    let bodies = if q.with_bodies { BODIES } else { "" };
    let sql = format!(
        "SELECT {COLUMNS}{bodies} FROM traces t WHERE 1{filter}{bound} \
         ORDER BY t.seq DESC LIMIT ? OFFSET ?"
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st
        .query_map(params_from_iter(args.iter()), |r| row(r, q.with_bodies))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(finish(rows, limit, Some(page), Some(seek.total)))
}

/// A page by plain `LIMIT … OFFSET` and, for `page`, a `count(*)` of the matches: what every
/// list did before seek points, and still does for the queries they do not serve.
pub(super) fn list_plain(c: &Connection, q: &TraceQuery) -> rusqlite::Result<TracePage> {
    let mut clauses: Vec<&str> = Vec::new();
    let mut args: Vec<SqlValue> = Vec::new();
    let mut filter = |clause: &'static str, value: Option<SqlValue>| {
        if let Some(value) = value {
            clauses.push(clause);
            args.push(value);
        }
    };
    // With a text search the full-text index drives the query in rowid order, so a page stops
    // after `limit` matches instead of collecting every match first.
    let search = q.search.as_deref().and_then(fts_query);
    let (from, key) = match &search {
        Some(_) => (
            "traces_fts CROSS JOIN traces t ON t.seq = traces_fts.rowid",
            "traces_fts.rowid",
        ),
        None => ("traces t", "t.seq"),
    };
    filter("traces_fts MATCH ?", search.map(SqlValue::Text));
    filter("t.model = ?", q.model.clone().map(SqlValue::Text));
    filter("t.status = ?", q.status.clone().map(SqlValue::Text));
    filter("t.api_key = ?", q.api_key.clone().map(SqlValue::Text));
    filter("t.created_at >= ?", q.since_ms.map(SqlValue::Integer));
    filter("t.created_at < ?", q.until_ms.map(SqlValue::Integer));
    let filtered = |clauses: &[&str]| {
        if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        }
    };
    let total = match q.page {
        Some(_) => {
            let sql = format!("SELECT count(*) FROM {from} {}", filtered(&clauses));
            let n: i64 = c.query_row(&sql, params_from_iter(args.iter()), |r| r.get(0))?;
            Some(u64::try_from(n).unwrap_or(0))
        }
        None => None,
    };
    let cursor_clause = format!("{key} < ?");
    if let Some(cursor) = q.cursor.as_deref().and_then(|c| c.parse::<i64>().ok()) {
        clauses.push(&cursor_clause);
        args.push(SqlValue::Integer(cursor));
    }
    let limit = q.limit.unwrap_or(50);
    let offset = q.page.map_or(0, |p| i64::from(p - 1) * i64::from(limit));
    let bodies = if q.with_bodies { BODIES } else { "" };
    let sql = format!(
        "SELECT {COLUMNS}{bodies} FROM {from} {} ORDER BY {key} DESC LIMIT {} OFFSET {offset}",
        filtered(&clauses),
        limit + 1
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st
        .query_map(params_from_iter(args.iter()), |r| row(r, q.with_bodies))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(finish(rows, limit, q.page, total))
}

/// The page from up to `limit + 1` rows `(seq, trace)`: one more than `limit` means a next page.
fn finish(
    mut rows: Vec<(i64, TraceRecord)>,
    limit: u32,
    page: Option<u32>,
    total: Option<u64>,
) -> TracePage {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(|(seq, _)| seq.to_string()))
        .flatten();
    TracePage {
        traces: rows.into_iter().map(|(_, t)| t).collect(),
        next_cursor,
        page,
        total,
    }
}

/// Turns free text into an FTS5 query: every word must appear, quoted so that no character is
/// taken for FTS syntax; a word ending in `*` matches as a prefix. `None` when there is no word.
///
/// Control characters separate words like whitespace does: the index's tokenizer (`unicode61`)
/// splits stored text at them, so `a\0b` is stored as the words `a` and `b` and is found by
/// searching for both. They must not reach the FTS5 query either way: its parser stops a quoted
/// string at a NUL ("unterminated string").
fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .filter_map(|w| {
            let (word, prefix) = match w.strip_suffix('*') {
                Some(stem) => (stem, "*"),
                None => (w, ""),
            };
            (!word.is_empty()).then(|| format!("\"{}\"{prefix}", word.replace('"', "\"\"")))
        })
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

fn row(r: &Row<'_>, bodies: bool) -> rusqlite::Result<(i64, TraceRecord)> {
    let uint = |i: usize| -> rusqlite::Result<Option<u64>> {
        Ok(r.get::<_, Option<i64>>(i)?
            .and_then(|v| u64::try_from(v).ok()))
    };
    let status: String = r.get(8)?;
    let trace = TraceRecord {
        id: r.get(1)?,
        created_at: r.get(2)?,
        endpoint: r.get(3)?,
        model: r.get(4)?,
        api_key: r.get(5)?,
        client_addr: r.get(6)?,
        stream: r.get(7)?,
        status: TraceStatus::parse(&status),
        http_status: r.get(9)?,
        error: r.get(10)?,
        prompt_tokens: uint(11)?,
        completion_tokens: uint(12)?,
        total_tokens: uint(13)?,
        duration_ms: r.get(14)?,
        ttft_ms: r.get(15)?,
        load_ns: uint(16)?,
        prompt_eval_ns: uint(17)?,
        eval_ns: uint(18)?,
        total_ns: uint(19)?,
        node: r.get(20)?,
        route_reason: r.get(21)?,
        queue_ms: r.get(22)?,
        input: if bodies { r.get(23)? } else { None },
        output: if bodies { r.get(24)? } else { None },
        tool_calls: if bodies { r.get(25)? } else { None },
    };
    Ok((r.get(0)?, trace))
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn search_text_becomes_quoted_prefix_terms() {
        assert_eq!(fts_query("  "), None);
        assert_eq!(
            fts_query("weath* \"Paris\" OR *"),
            Some("\"weath\"* \"\"\"Paris\"\"\" \"OR\"".into())
        );
        assert_eq!(fts_query("a\0b\u{7}c*"), Some("\"a\" \"b\" \"c\"*".into()));
        assert_eq!(fts_query("\0\u{1b}"), None);
    }
}
