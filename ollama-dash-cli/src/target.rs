//! `--node`: which of the server's Ollama nodes a model action runs on (the `nodes` field of
//! `/api/models/{pull,stop,delete}` and the `X-Ollama-Dash-Node` header of a chat).

use serde_json::{Value, json};

/// `--node NAME`, repeatable; `all` for every node.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NodeArgs {
    /// The node it runs on (repeat for several, `all` for every node); needed for pull and rm
    /// when the server fronts more than one node.
    #[arg(long = "node", value_name = "NAME")]
    pub nodes: Vec<String>,
}

impl NodeArgs {
    /// The request's `nodes` field: absent, one name (or `all`), or a list.
    pub fn field(&self) -> Option<Value> {
        match self.nodes.as_slice() {
            [] => None,
            [one] => Some(json!(one)),
            many => Some(json!(many)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_one_or_several_names() {
        let args = |n: &[&str]| NodeArgs {
            nodes: n.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert_eq!(args(&[]).field(), None);
        assert_eq!(args(&["all"]).field(), Some(json!("all")));
        assert_eq!(args(&["a", "b"]).field(), Some(json!(["a", "b"])));
    }
}
