//! `list`, `ps`, `show`, `rm`, `stop`, `cp`: the installed and loaded models, as `ollama`
//! prints them.

use chrono::Utc;
use serde_json::Value;

use crate::api::Job;
use crate::connect::ConnectArgs;
use crate::error::Result;
use crate::table::Table;
use crate::target::NodeArgs;
use crate::{human, output};

/// Arguments of `list`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Print the server's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `ps`.
#[derive(Debug, Clone, clap::Args)]
pub struct PsArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Print the server's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `show`.
#[derive(Debug, Clone, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The model, e.g. llama3.2:1b.
    model: String,
    /// Print the server's JSON (template and model_info included).
    #[arg(long)]
    json: bool,
}

/// Arguments of `rm`.
#[derive(Debug, Clone, clap::Args)]
pub struct RmArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The models to delete (each is unloaded first).
    #[arg(required = true)]
    models: Vec<String>,
    #[command(flatten)]
    nodes: NodeArgs,
    /// Print the finished delete jobs as JSON (a list, one per model and node).
    #[arg(long)]
    json: bool,
}

/// Arguments of `stop`.
#[derive(Debug, Clone, clap::Args)]
pub struct StopArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The model to unload.
    model: String,
    /// The node to unload it from (repeat for several); default: every node that holds it.
    #[command(flatten)]
    nodes: NodeArgs,
    /// Print the server's answer as JSON (`model`, `was_loaded`, `nodes`).
    #[arg(long)]
    json: bool,
}

/// Arguments of `cp`.
#[derive(Debug, Clone, clap::Args)]
pub struct CpArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The model to copy.
    source: String,
    /// The new name.
    destination: String,
    /// Print the server's JSON answer.
    #[arg(long)]
    json: bool,
}

/// The short id `ollama list` shows: the digest's first 12 hex digits.
fn short_id(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.chars().take(12).collect()
}

/// `list`: NAME ID SIZE MODIFIED.
pub(crate) async fn list(args: ListArgs) -> Result<()> {
    let models = args.connect.client()?.models().await?;
    if args.json {
        return output::json(&models);
    }
    let now = Utc::now();
    let mut table = Table::new(&["NAME", "ID", "SIZE", "MODIFIED"]);
    for m in &models {
        table.row(vec![
            m.name.clone(),
            short_id(&m.digest),
            human::bytes(m.size),
            m.modified_at
                .as_deref()
                .map(|t| human::ago(t, now))
                .unwrap_or_default(),
        ]);
    }
    output::print(&table.render())
}

/// `ps`: NAME ID SIZE PROCESSOR UNTIL.
pub(crate) async fn ps(args: PsArgs) -> Result<()> {
    let models = args.connect.client()?.running().await?;
    if args.json {
        return output::json(&models);
    }
    let now = Utc::now();
    let mut table = Table::new(&["NAME", "ID", "SIZE", "PROCESSOR", "UNTIL"]);
    for m in &models {
        let until = match &m.expires {
            Some(e) if e.forever => "Forever".to_owned(),
            Some(e) => e
                .utc
                .as_deref()
                .map(|t| human::until(t, now))
                .unwrap_or_default(),
            None => String::new(),
        };
        table.row(vec![
            m.name.clone(),
            short_id(&m.digest),
            human::bytes(m.size),
            m.processor.clone().unwrap_or_default(),
            until,
        ]);
    }
    output::print(&table.render())
}

/// A section of `show`: a title and indented `key    value` lines.
fn section(out: &mut String, title: &str, rows: &[(String, String)]) {
    if rows.is_empty() {
        return;
    }
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    out.push_str(&format!("  {title}\n"));
    for (key, value) in rows {
        let line = format!("    {key:width$}    {value}");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push('\n');
}

/// A JSON scalar as text (`null` as nothing).
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `show`'s text: Model, Capabilities, Parameters, System, License, as `ollama show`.
fn render_show(show: &Value) -> String {
    let info = show.get("model_info");
    let arch = info
        .and_then(|i| i.get("general.architecture"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let from_info = |suffix: &str| text(info.and_then(|i| i.get(format!("{arch}.{suffix}"))));
    let details = show.get("details");
    let model: Vec<(String, String)> = [
        (
            "architecture",
            Some(arch.to_owned()).filter(|a| !a.is_empty()),
        ),
        (
            "parameters",
            text(details.and_then(|d| d.get("parameter_size"))),
        ),
        (
            "context length",
            text(show.get("context_length")).or_else(|| from_info("context_length")),
        ),
        ("embedding length", from_info("embedding_length")),
        (
            "quantization",
            text(details.and_then(|d| d.get("quantization_level"))),
        ),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
    .collect();
    let capabilities: Vec<(String, String)> = show
        .get("capabilities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let name = c.get("name").and_then(Value::as_str).or(c.as_str())?;
            let source = c.get("source").and_then(Value::as_str).unwrap_or("ollama");
            let note = if source == "ollama" {
                String::new()
            } else {
                format!("({source})")
            };
            Some((name.to_owned(), note))
        })
        .collect();
    let parameters: Vec<(String, String)> = show
        .get("parameters")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let (k, v) = l.split_once(char::is_whitespace)?;
            Some((k.to_owned(), v.trim().to_owned()))
        })
        .collect();
    let lines = |key: &str, take: usize| -> Vec<(String, String)> {
        text(show.get(key))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(take)
            .map(|l| (l.trim().to_owned(), String::new()))
            .collect()
    };
    let mut out = String::new();
    section(&mut out, "Model", &model);
    section(&mut out, "Capabilities", &capabilities);
    section(&mut out, "Parameters", &parameters);
    section(&mut out, "System", &lines("system", 2));
    section(&mut out, "License", &lines("license", 2));
    out
}

/// `show MODEL`.
pub(crate) async fn show(args: ShowArgs) -> Result<()> {
    let show = args.connect.client()?.show(&args.model).await?;
    if args.json {
        return output::json(&show);
    }
    output::print(&render_show(&show))
}

/// `rm MODEL…`: each delete job (one per model and node), waited for.
pub(crate) async fn rm(args: RmArgs) -> Result<()> {
    let client = args.connect.client()?;
    let mut done = Vec::new();
    for model in &args.models {
        for job in client.delete(model, args.nodes.field()).await? {
            let job = super::wait_for_job(&client, job).await?;
            if !args.json {
                output::line(&format!("deleted '{model}'{}", on(&job)))?;
            }
            done.push(job);
        }
    }
    if args.json {
        return output::json(&done);
    }
    Ok(())
}

/// ` on NODE` when the server fronts several nodes (the job names one other than `default`).
pub(crate) fn on(job: &Job) -> String {
    match job.node.as_deref() {
        Some(node) if node != "default" => format!(" on {node}"),
        _ => String::new(),
    }
}

/// `stop MODEL`: unloads it; says where it was loaded.
pub(crate) async fn stop(args: StopArgs) -> Result<()> {
    let client = args.connect.client()?;
    let stopped = client.stop(&args.model, args.nodes.field()).await?;
    if args.json {
        return output::json(&stopped);
    }
    let held: Vec<&str> = stopped
        .nodes
        .iter()
        .filter(|n| n.was_loaded)
        .map(|n| n.node.as_str())
        .collect();
    match held.as_slice() {
        [] if !stopped.was_loaded => output::line(&format!("'{}' was not loaded", args.model)),
        [] | ["default"] => output::line(&format!("stopped '{}'", args.model)),
        nodes => output::line(&format!("stopped '{}' on {}", args.model, nodes.join(", "))),
    }
}

/// `cp SOURCE DESTINATION`.
pub(crate) async fn cp(args: CpArgs) -> Result<()> {
    let client = args.connect.client()?;
    let answer = client.copy(&args.source, &args.destination).await?;
    if args.json {
        return output::json(&answer);
    }
    output::line(&format!(
        "copied '{}' to '{}'",
        args.source, args.destination
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_has_ollamas_sections() {
        let show = serde_json::json!({
            "capabilities": [{"name": "completion", "source": "ollama"},
                             {"name": "code", "source": "detector:code-models"}],
            "details": {"parameter_size": "1.2B", "quantization_level": "Q8_0"},
            "context_length": 131072,
            "model_info": {"general.architecture": "llama", "llama.embedding_length": 2048},
            "parameters": "stop    \"<|eot_id|>\"\ntemperature 0.6",
            "license": "LICENSE LINE 1\nline 2\nline 3",
        });
        let text = render_show(&show);
        assert!(
            text.contains("  Model\n    architecture        llama\n"),
            "{text}"
        );
        assert!(text.contains("    context length      131072\n"), "{text}");
        assert!(
            text.contains("    code          (detector:code-models)\n"),
            "{text}"
        );
        assert!(
            text.contains("    stop           \"<|eot_id|>\"\n"),
            "{text}"
        );
        assert!(text.contains("LICENSE LINE 1\n    line 2\n\n"), "{text}");
    }
}
