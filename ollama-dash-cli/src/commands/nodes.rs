//! `nodes`: the Ollama nodes the server routes to, their state and load (`GET /api/nodes`);
//! `nodes add`, `rm`, `drain` and `undrain` change them at run time (`POST /api/nodes`,
//! `DELETE /api/nodes/{name}`, `POST /api/nodes/{name}/drain|undrain`, admin only).

use serde_json::{Map, Value, json};

use crate::api::Node;
use crate::connect::ConnectArgs;
use crate::error::Result;
use crate::table::Table;
use crate::{human, output};

/// Arguments of `nodes`: with no subcommand, the list.
#[derive(Debug, Clone, clap::Args)]
pub struct NodesArgs {
    #[command(subcommand)]
    command: Option<NodesCommand>,
    #[command(flatten)]
    connect: ConnectArgs,
    /// Print the server's JSON (the `nodes` list, every field) instead of a table.
    #[arg(long)]
    json: bool,
}

/// The subcommands of `nodes`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum NodesCommand {
    /// Add a node at run time (kept by the server across restarts).
    Add(AddArgs),
    /// Remove a node added at run time; calls running there finish.
    Rm(NameArgs),
    /// Send no new requests to a node; running ones finish (kept across restarts).
    Drain(NameArgs),
    /// Let a drained node take requests again.
    Undrain(NameArgs),
}

/// Arguments of `nodes add`.
#[derive(Debug, Clone, clap::Args)]
pub struct AddArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The node's name (letters, digits, '-', '_', '.').
    name: String,
    /// Where its Ollama listens (`[scheme://]host[:port]`).
    #[arg(value_name = "URL")]
    node_url: String,
    /// Its VRAM, bytes (what routing counts free space against).
    #[arg(long, value_name = "N")]
    vram_bytes: Option<u64>,
    /// Requests one model serves there at once; more wait in the server's queue.
    #[arg(long, value_name = "N")]
    max_parallel: Option<usize>,
    /// Its share of the load relative to the other nodes (default 1).
    #[arg(long, value_name = "W")]
    weight: Option<f64>,
    /// A Prometheus endpoint with dcgm-exporter's GPU memory series, for its real VRAM.
    #[arg(long, value_name = "URL")]
    metrics_url: Option<String>,
    /// A label, `key=value` (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = label)]
    labels: Vec<(String, String)>,
    /// Print the server's JSON answer (the node's state) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Arguments of the `nodes` subcommands that name one node.
#[derive(Debug, Clone, clap::Args)]
pub struct NameArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The node's name.
    name: String,
    /// Print the server's JSON answer instead of a table.
    #[arg(long)]
    json: bool,
}

/// `key=value` as a pair.
fn label(raw: &str) -> std::result::Result<(String, String), String> {
    match raw.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("{raw:?} is not key=value")),
    }
}

/// `nodes [add|rm|drain|undrain]`.
pub(crate) async fn nodes(args: NodesArgs) -> Result<()> {
    match args.command {
        None => {
            let nodes = args.connect.client()?.nodes().await?;
            show(&nodes, args.json)
        }
        Some(NodesCommand::Add(add)) => {
            let node = add.connect.client()?.add_node(&add.body()).await?;
            show(std::slice::from_ref(&node), add.json)
        }
        Some(NodesCommand::Rm(rm)) => {
            rm.connect.client()?.remove_node(&rm.name).await?;
            if rm.json {
                return output::json(&json!({ "removed": rm.name }));
            }
            output::line(&format!("removed node {}", rm.name))
        }
        Some(NodesCommand::Drain(one)) => {
            let nodes = one.connect.client()?.drain_node(&one.name, true).await?;
            show(&nodes, one.json)
        }
        Some(NodesCommand::Undrain(one)) => {
            let nodes = one.connect.client()?.drain_node(&one.name, false).await?;
            show(&nodes, one.json)
        }
    }
}

impl AddArgs {
    /// The node as `POST /api/nodes` takes it (a `[[nodes]]` entry): only the fields given.
    fn body(&self) -> Value {
        let mut node = Map::new();
        node.insert("name".into(), json!(self.name));
        node.insert("url".into(), json!(self.node_url));
        if let Some(n) = self.vram_bytes {
            node.insert("vram_bytes".into(), json!(n));
        }
        if let Some(n) = self.max_parallel {
            node.insert("max_parallel".into(), json!(n));
        }
        if let Some(w) = self.weight {
            node.insert("weight".into(), json!(w));
        }
        if let Some(url) = &self.metrics_url {
            node.insert("metrics_url".into(), json!(url));
        }
        if !self.labels.is_empty() {
            let labels: Map<String, Value> = self
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            node.insert("labels".into(), Value::Object(labels));
        }
        Value::Object(node)
    }
}

/// `nodes` as JSON, or the table: NAME URL STATE VERSION LOADED VRAM IN-FLIGHT QUEUED.
fn show(nodes: &[Node], json: bool) -> Result<()> {
    if json {
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
    for node in nodes {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use clap::Parser;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        nodes: NodesArgs,
    }

    #[test]
    fn add_sends_only_the_fields_given_and_labels_are_key_value() {
        let cli = Cli::try_parse_from([
            "x",
            "add",
            "gpu-b",
            "10.0.0.2:11434",
            "--max-parallel",
            "2",
            "--label",
            "rack=r2",
            "--label",
            "zone=a=b",
        ])
        .unwrap();
        let Some(NodesCommand::Add(add)) = cli.nodes.command else {
            panic!("not add");
        };
        assert_eq!(
            add.body(),
            json!({
                "name": "gpu-b",
                "url": "10.0.0.2:11434",
                "max_parallel": 2,
                "labels": {"rack": "r2", "zone": "a=b"},
            })
        );
        let bad = Cli::try_parse_from(["x", "add", "a", "h:1", "--label", "nolabel"]);
        assert!(bad.unwrap_err().to_string().contains("not key=value"));
        let list = Cli::try_parse_from(["x", "--json"]).unwrap();
        assert!(list.nodes.command.is_none() && list.nodes.json);
    }
}
