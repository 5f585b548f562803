//! The nodes a model action runs on (pull, start, stop, delete, import): named by the caller,
//! or all of them, resolved against one snapshot of the fleet.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Fleet, Node, position, probe};
use crate::error::{Error, Result};

/// Which nodes a model action runs on. In JSON (the `nodes` field of the model and import
/// APIs): absent or `null` is [`Targets::Default`], `"all"` is [`Targets::All`], a name or a list
/// of names is [`Targets::Named`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Option<Wire>", into = "Option<Wire>")]
pub enum Targets {
    /// None named: the only node of a fleet of one. With several, only actions that are safe
    /// everywhere accept it (see [`Fleet::targets`]).
    #[default]
    Default,
    /// Every node (draining ones too: an admin acts on them, routing does not).
    All,
    /// These nodes, by name, in this order (a name given twice counts once).
    Named(Vec<String>),
}

/// How [`Targets`] is written in JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum Wire {
    One(String),
    Many(Vec<String>),
}

impl From<Option<Wire>> for Targets {
    fn from(wire: Option<Wire>) -> Self {
        match wire {
            None => Self::Default,
            Some(Wire::One(all)) if all == "all" => Self::All,
            Some(Wire::One(name)) => Self::Named(vec![name]),
            Some(Wire::Many(names)) => Self::Named(names),
        }
    }
}

impl From<Targets> for Option<Wire> {
    fn from(targets: Targets) -> Self {
        match targets {
            Targets::Default => None,
            Targets::All => Some(Wire::One("all".to_owned())),
            Targets::Named(names) => Some(Wire::Many(names)),
        }
    }
}

impl Targets {
    /// Whether it names nothing (the default).
    pub fn is_default(&self) -> bool {
        *self == Self::Default
    }
}

impl Fleet {
    /// The nodes `targets` names, in order. An unknown name is bad input naming the nodes; an
    /// empty list is bad input; [`Targets::Default`] with several nodes is bad input unless
    /// `everywhere` (an action that is harmless on a node without the model, like an unload),
    /// when it means all of them.
    pub fn targets(&self, targets: &Targets, everywhere: bool) -> Result<Vec<Arc<Node>>> {
        let nodes = self.nodes();
        match targets {
            Targets::Default if nodes.len() == 1 || everywhere => Ok(nodes.to_vec()),
            Targets::Default => {
                let names: Vec<&str> = nodes.iter().map(|n| n.name()).collect();
                Err(Error::BadRequest(format!(
                    "there are {} Ollama nodes ({}): name the nodes to run this on (`nodes`: a \
                     name, a list of names, or \"all\")",
                    nodes.len(),
                    names.join(", ")
                )))
            }
            Targets::All => Ok(nodes.to_vec()),
            Targets::Named(names) if names.is_empty() => Err(Error::BadRequest(
                "`nodes` is empty: name at least one node, or \"all\"".to_owned(),
            )),
            Targets::Named(names) => {
                let mut out: Vec<Arc<Node>> = Vec::with_capacity(names.len());
                for name in names {
                    let node = &nodes[position(&nodes, name)?];
                    if !out.iter().any(|n| n.id == node.id) {
                        out.push(Arc::clone(node));
                    }
                }
                Ok(out)
            }
        }
    }

    /// Probes `node` now (`/api/ps`, `/api/tags`, `/api/version`) so its lists show a change
    /// an action just made, instead of after its next scheduled round. Only nodes with a probe
    /// loop keep lists (a fleet of one leaves that to the live collector): for the others this
    /// does nothing.
    pub async fn refresh(&self, node: &Node) -> Result<()> {
        if !node.probing.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(());
        }
        probe(node, true).await
    }
}
