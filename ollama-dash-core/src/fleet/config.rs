//! The nodes of a fleet as configured: TOML `[[nodes]]`, or `OLLAMA_DASH_NODES`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ollama::host::parse_ollama_host;

/// One Ollama node (a TOML `[[nodes]]` entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeConfig {
    /// Its name, shown in `X-Ollama-Dash-Node`, traces and metrics.
    pub name: String,
    /// Where it listens, in Ollama's `[scheme://]host[:port][/path]` form.
    pub url: String,
    /// Its VRAM, bytes (what routing counts free space against; unknown when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vram_bytes: Option<u64>,
    /// Requests one model serves at once there (its `OLLAMA_NUM_PARALLEL`); more wait in the
    /// gateway's queue. Unset: no limit here (Ollama queues them itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<usize>,
    /// Models it keeps loaded at once (its `OLLAMA_MAX_LOADED_MODELS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_loaded_models: Option<usize>,
    /// Share of the load it takes relative to the others (default 1).
    #[serde(default = "one")]
    pub weight: f64,
    /// Free-form labels, shown on `/api/nodes`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// A Prometheus text endpoint with dcgm-exporter names, for real VRAM figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_url: Option<String>,
}

fn one() -> f64 {
    1.0
}

impl NodeConfig {
    /// A node with defaults for everything but its name and URL.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            vram_bytes: None,
            max_parallel: None,
            max_loaded_models: None,
            weight: 1.0,
            labels: BTreeMap::new(),
            metrics_url: None,
        }
    }
}

/// Name of the one node `OLLAMA_HOST` configures when no nodes are listed.
pub const DEFAULT_NODE: &str = "default";

/// Parses `OLLAMA_DASH_NODES`: `name=url` pairs separated by commas.
pub fn parse_nodes_env(raw: &str) -> Result<Vec<NodeConfig>> {
    raw.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('=') {
            Some((name, url)) if !name.trim().is_empty() && !url.trim().is_empty() => {
                Ok(NodeConfig::new(name.trim(), url.trim()))
            }
            _ => Err(Error::Config {
                key: "OLLAMA_DASH_NODES".into(),
                message: format!("{part:?} is not name=url"),
            }),
        })
        .collect()
}

/// Checks names (unique, short, plain) and URLs; the key named is `nodes`.
pub fn validate(nodes: &[NodeConfig]) -> Result<()> {
    let bad = |message: String| Error::Config {
        key: "nodes".into(),
        message,
    };
    let mut seen = std::collections::HashSet::new();
    for node in nodes {
        check(node).map_err(|(_, message)| bad(message))?;
        if !seen.insert(node.name.as_str()) {
            return Err(bad(format!("node {:?} is listed twice", node.name)));
        }
    }
    Ok(())
}

/// Checks one node on its own (name, URL, weight, `metrics_url`, `max_parallel`): the field at
/// fault and why.
pub(crate) fn check(node: &NodeConfig) -> std::result::Result<(), (&'static str, String)> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if node.name.is_empty() || node.name.len() > 64 || !node.name.chars().all(plain) {
        return Err((
            "name",
            format!(
                "node name {:?}: 1-64 letters, digits, '-', '_' or '.'",
                node.name
            ),
        ));
    }
    parse_ollama_host(&node.url).map_err(|e| {
        let why = match e {
            Error::Config { message, .. } => message,
            other => other.to_string(),
        };
        ("url", format!("node {:?}: url: {why}", node.name))
    })?;
    if !(node.weight.is_finite() && node.weight > 0.0) {
        return Err((
            "weight",
            format!("node {:?}: weight must be above 0", node.name),
        ));
    }
    if let Some(url) = &node.metrics_url {
        let parsed = reqwest::Url::parse(url).map_err(|e| e.to_string());
        if let Err(why) = parsed.and_then(|u| match u.scheme() {
            "http" | "https" => Ok(()),
            other => Err(format!("scheme {other:?} is not http or https")),
        }) {
            return Err((
                "metrics_url",
                format!("node {:?}: metrics_url {url:?}: {why}", node.name),
            ));
        }
    }
    if node.max_parallel == Some(0) {
        return Err((
            "max_parallel",
            format!("node {:?}: max_parallel must be at least 1", node.name),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn the_env_form_names_each_node() {
        let nodes = parse_nodes_env("a=http://127.0.0.1:11434, b=127.0.0.1:11435,").unwrap();
        assert_eq!(
            nodes
                .iter()
                .map(|n| (n.name.as_str(), n.url.as_str()))
                .collect::<Vec<_>>(),
            [("a", "http://127.0.0.1:11434"), ("b", "127.0.0.1:11435")]
        );
        validate(&nodes).unwrap();
        assert!(parse_nodes_env("a=x,oops").is_err());
        assert!(parse_nodes_env("=x").is_err());
    }

    #[test]
    fn bad_nodes_are_refused_by_name() {
        let twice = [NodeConfig::new("a", "h:1"), NodeConfig::new("a", "h:2")];
        assert!(validate(&twice).unwrap_err().to_string().contains("twice"));
        let spaced = [NodeConfig::new("a b", "h:1")];
        assert!(validate(&spaced).is_err());
        let url = [NodeConfig::new("a", "ftp://h")];
        let message = validate(&url).unwrap_err().to_string();
        assert!(message.contains("node \"a\": url: "), "{message}");
        let zero = [NodeConfig {
            max_parallel: Some(0),
            ..NodeConfig::new("a", "h:1")
        }];
        assert!(validate(&zero).is_err());
        for bad in ["localhost:9400/metrics", "ftp://h/metrics", "http://"] {
            let node = NodeConfig {
                metrics_url: Some(bad.to_owned()),
                ..NodeConfig::new("a", "h:1")
            };
            assert_eq!(check(&node).unwrap_err().0, "metrics_url", "{bad}");
        }
        let good = NodeConfig {
            metrics_url: Some("http://10.0.0.2:9400/metrics".to_owned()),
            ..NodeConfig::new("a", "h:1")
        };
        check(&good).unwrap();
    }
}
