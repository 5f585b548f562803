//! `nodes`: the Ollama nodes the server routes to, their state and load (`GET /api/nodes`).

use crate::connect::ConnectArgs;
use crate::error::Result;
use crate::table::Table;
use crate::{human, output};

/// Arguments of `nodes`.
#[derive(Debug, Clone, clap::Args)]
pub struct NodesArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Print the server's JSON (the `nodes` list, every field) instead of a table.
    #[arg(long)]
    json: bool,
}

/// `nodes`: NAME URL STATE VERSION LOADED VRAM IN-FLIGHT QUEUED, one row per node.
pub(crate) async fn nodes(args: NodesArgs) -> Result<()> {
    let nodes = args.connect.client()?.nodes().await?;
    if args.json {
        return output::json(&nodes);
    }
    let mut table = Table::new(&[
        "NAME",
        "URL",
        "STATE",
        "VERSION",
        "LOADED",
        "VRAM",
        "IN-FLIGHT",
        "QUEUED",
    ]);
    for node in &nodes {
        let or_dash = |s: String| if s.is_empty() { "-".to_owned() } else { s };
        let vram = match node.vram_total {
            Some(total) => format!("{} / {}", human::bytes(node.vram_used), human::bytes(total)),
            None => format!("{} / ?", human::bytes(node.vram_used)),
        };
        table.row(vec![
            node.name.clone(),
            node.url.clone(),
            node.state.clone(),
            or_dash(node.version.clone().unwrap_or_default()),
            or_dash(node.loaded.join(",")),
            vram,
            node.in_flight.to_string(),
            node.queued.to_string(),
        ]);
    }
    output::print(&table.render())
}
