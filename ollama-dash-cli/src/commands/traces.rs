//! `traces`: the recent generations the server traced, as a table or JSON; `--follow` polls
//! for new ones and prints them as they come (the newest at the bottom, as `tail -f`).

use std::collections::HashSet;
use std::time::Duration;

use chrono::{Local, TimeZone};

use crate::api::{Trace, TraceQuery};
use crate::connect::ConnectArgs;
use crate::error::Result;
use crate::table::Table;
use crate::{human, output};

/// Arguments of `traces`.
#[derive(Debug, Clone, clap::Args)]
pub struct TracesArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Only traces of this model.
    #[arg(long)]
    model: Option<String>,
    /// Only traces with this status: ok, error or cancelled.
    #[arg(long)]
    status: Option<String>,
    /// At most this many (the server allows up to 500).
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Keep printing new traces as they are recorded (Ctrl-C to stop).
    #[arg(long, short)]
    follow: bool,
    /// Seconds between polls with --follow.
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    interval: f64,
    /// JSON: an array, or one trace per line with --follow.
    #[arg(long)]
    json: bool,
}

const HEADERS: [&str; 8] = [
    "ID", "CREATED", "MODEL", "ENDPOINT", "STATUS", "TOKENS", "DURATION", "TTFT",
];
/// Column widths of `--follow`, so later rows line up with the first ones.
const FOLLOW_WIDTHS: [usize; 8] = [36, 19, 16, 20, 9, 6, 8, 6];

/// A trace as a table row.
fn row(trace: &Trace) -> Vec<String> {
    let created = Local
        .timestamp_millis_opt(trace.created_at)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default();
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    vec![
        trace.id.clone(),
        created,
        opt(&trace.model),
        opt(&trace.endpoint),
        opt(&trace.status),
        trace
            .total_tokens
            .map_or_else(|| "-".to_owned(), |t| t.to_string()),
        trace
            .duration_ms
            .map_or_else(|| "-".to_owned(), human::millis),
        trace.ttft_ms.map_or_else(|| "-".to_owned(), human::millis),
    ]
}

/// `traces`.
pub(crate) async fn traces(args: TracesArgs) -> Result<()> {
    let client = args.connect.client()?;
    let mut query = TraceQuery {
        limit: Some(args.limit),
        model: args.model.clone(),
        status: args.status.clone(),
        since_ms: None,
    };
    let page = client.traces(&query).await?;
    if !args.follow {
        if args.json {
            return output::json(&page.data);
        }
        let mut table = Table::new(&HEADERS);
        page.data.iter().for_each(|t| table.row(row(t)));
        return output::print(&table.render());
    }
    let mut seen: HashSet<String> = HashSet::new();
    let mut first = true;
    let mut batch = page.data;
    let pause = Duration::from_secs_f64(args.interval.clamp(0.05, 3600.0));
    loop {
        batch.retain(|t| !seen.contains(&t.id));
        batch.sort_by_key(|t| t.created_at);
        if let Some(newest) = batch.last() {
            query.since_ms = Some(newest.created_at);
        }
        if args.json {
            for trace in &batch {
                output::json_line(trace)?;
            }
        } else if first || !batch.is_empty() {
            let mut table = Table::new(&HEADERS);
            batch.iter().for_each(|t| table.row(row(t)));
            output::print(&table.render_at_least(&FOLLOW_WIDTHS, first))?;
        }
        seen.extend(batch.iter().map(|t| t.id.clone()));
        first = false;
        tokio::time::sleep(pause).await;
        query.limit = Some(500);
        batch = client.traces(&query).await?.data;
    }
}
