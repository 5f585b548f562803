//! Which nodes hold which models: the installed and running lists of every node merged into
//! one list each, every model with the `nodes` that hold it.
//!
//! The primary node's lists are the live collector's (with capabilities from `/api/show` and
//! the plugins); every other node's are its own probe loop's (`/api/tags`, `/api/ps` as Ollama
//! gave them). A model only other nodes hold takes the capabilities of a model with the same
//! digest elsewhere, else what its name, details and Ollama's listed capabilities say.
//! Pure functions over snapshots: reading them never waits on a node.

use chrono::Utc;

use crate::capabilities;
use crate::fleet::Holdings;
use crate::lifecycle::same_model;
use crate::live::{InstalledModel, RunningModel, models};

/// `primary`'s installed list with its name in each model's `nodes`, then every other node's
/// models added to the entry of the same name (or appended, sorted by name, when no node
/// before held it).
pub(crate) fn installed(
    primary: &str,
    live: &[InstalledModel],
    others: &[(String, Holdings)],
) -> Vec<InstalledModel> {
    let mut out: Vec<InstalledModel> = live
        .iter()
        .map(|m| InstalledModel {
            nodes: vec![primary.to_owned()],
            ..m.clone()
        })
        .collect();
    let known = out.len();
    for (node, holdings) in others {
        for m in holdings.installed.iter().flat_map(|list| list.iter()) {
            if let Some(entry) = out.iter_mut().find(|e| same_model(&e.name, &m.name)) {
                add(&mut entry.nodes, node);
                continue;
            }
            let caps = out
                .iter()
                .find(|e| !m.digest.is_empty() && e.digest == m.digest)
                .map(|e| e.capabilities.clone())
                .unwrap_or_else(|| {
                    capabilities::resolve(&m.name, &m.details, None, m.capabilities.as_deref())
                });
            let mut model = models::installed(m, caps, None);
            model.nodes = vec![node.clone()];
            out.push(model);
        }
    }
    out[known..].sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The same for loaded models: `primary`'s running list, then the other nodes'. A model
/// loaded on several nodes is one entry whose figures (size, VRAM, expiry) are those of the
/// first node in its `nodes`; `GET /api/nodes` has each node's own.
pub(crate) fn running(
    primary: &str,
    live: &[RunningModel],
    others: &[(String, Holdings)],
    installed: &[InstalledModel],
) -> Vec<RunningModel> {
    let now = Utc::now();
    let mut out: Vec<RunningModel> = live
        .iter()
        .map(|m| RunningModel {
            nodes: vec![primary.to_owned()],
            ..m.clone()
        })
        .collect();
    for (node, holdings) in others {
        for m in holdings.running.iter() {
            if let Some(entry) = out.iter_mut().find(|e| same_model(&e.name, &m.name)) {
                add(&mut entry.nodes, node);
                continue;
            }
            let listed = installed.iter().find(|e| same_model(&e.name, &m.name));
            let caps = listed.map_or_else(
                || capabilities::resolve(&m.name, &m.details, None, None),
                |e| e.capabilities.clone(),
            );
            let mut model = models::running(m, caps, listed.and_then(|e| e.context_length), now);
            model.nodes = vec![node.clone()];
            out.push(model);
        }
    }
    out
}

fn add(nodes: &mut Vec<String>, node: &str) {
    if !nodes.iter().any(|n| n == node) {
        nodes.push(node.to_owned());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use std::sync::Arc;

    use super::*;
    use crate::ollama::types::{ListModel, ModelDetails, ProcessModel};

    fn listed(name: &str, digest: &str) -> ListModel {
        serde_json::from_value(serde_json::json!({
            "name": name, "model": name, "digest": digest, "size": 1000,
            "details": {"family": "llama"}
        }))
        .unwrap()
    }

    fn loaded(name: &str) -> ProcessModel {
        serde_json::from_value(serde_json::json!({
            "name": name, "model": name, "digest": "d", "size": 1000, "size_vram": 1000,
            "details": {"family": "llama"}
        }))
        .unwrap()
    }

    fn on(node: &str, installed: &[ListModel], running: &[ProcessModel]) -> (String, Holdings) {
        let holdings = Holdings {
            installed: Some(installed.to_vec().into()),
            running: Arc::from(running.to_vec()),
        };
        (node.to_owned(), holdings)
    }

    #[test]
    fn a_model_on_several_nodes_is_one_entry_naming_them_and_others_are_added() {
        let mut primary = models::installed(
            &listed("llama3.2:1b", "d1"),
            capabilities::Capabilities::default(),
            None,
        );
        primary.capabilities = capabilities::resolve(
            "llava:7b",
            &ModelDetails::default(),
            None,
            Some(&["vision".to_owned()]),
        );
        let others = [
            on(
                "b",
                &[listed("llama3.2:1b", "d1"), listed("zeta:1b", "d9")],
                &[],
            ),
            on(
                "c",
                &[listed("llama3.2", "d1"), listed("alpha:1b", "d1")],
                &[],
            ),
            (
                "d".to_owned(),
                Holdings::default(), // not probed yet: holds nothing we know of
            ),
        ];
        let merged = installed("a", &[primary], &others);
        let names: Vec<(&str, Vec<&str>)> = merged
            .iter()
            .map(|m| {
                (
                    m.name.as_str(),
                    m.nodes.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        let expected: Vec<(&str, Vec<&str>)> = vec![
            ("llama3.2:1b", vec!["a", "b"]),
            ("alpha:1b", vec!["c"]),
            ("llama3.2", vec!["c"]),
            ("zeta:1b", vec!["b"]),
        ];
        assert_eq!(names, expected);
        // The same digest elsewhere lends its capabilities.
        let alpha = merged.iter().find(|m| m.name == "alpha:1b").unwrap();
        assert!(alpha.capabilities.has("vision"));
    }

    #[test]
    fn running_models_merge_by_name_and_keep_the_first_nodes_figures() {
        let mut here = models::running(
            &loaded("llama3.2:1b"),
            capabilities::Capabilities::default(),
            None,
            Utc::now(),
        );
        here.size_vram = 7;
        let others = [
            on("b", &[], &[loaded("llama3.2:1b"), loaded("qwen3:0.6b")]),
            on("c", &[], &[loaded("qwen3:0.6b")]),
        ];
        let merged = running("a", &[here], &others, &[]);
        assert_eq!(merged.len(), 2);
        assert_eq!(
            (merged[0].nodes.clone(), merged[0].size_vram),
            (vec!["a".to_owned(), "b".to_owned()], 7)
        );
        assert_eq!(merged[1].name, "qwen3:0.6b");
        assert_eq!(merged[1].nodes, ["b", "c"]);
    }
}
