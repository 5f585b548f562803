//! A fleet of simulators: one per node configuration, each on a free loopback port, shut down
//! together. For multi-node gateway tests and benches.

use std::net::{Ipv4Addr, SocketAddr};

use crate::{SimConfig, SimControl, SimHandle, Simulator};

/// Running simulators, one per node; dropping the fleet stops them all.
#[derive(Debug)]
pub struct Fleet {
    nodes: Vec<SimHandle>,
}

impl Fleet {
    /// Starts one simulator per config, each on `127.0.0.1:0` whatever its `listen` says; if
    /// one fails to start, the ones already started are stopped and the error is returned.
    pub async fn start(configs: Vec<SimConfig>) -> std::io::Result<Fleet> {
        let mut nodes = Vec::with_capacity(configs.len());
        for config in configs {
            let config = SimConfig {
                listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                ..config
            };
            match Simulator::start(config).await {
                Ok(node) => nodes.push(node),
                Err(error) => {
                    Fleet { nodes }.shutdown().await;
                    return Err(error);
                }
            }
        }
        tracing::info!(nodes = nodes.len(), "simulator fleet started");
        Ok(Fleet { nodes })
    }

    /// The nodes, in the order of their configs.
    pub fn nodes(&self) -> &[SimHandle] {
        &self.nodes
    }

    /// Node `index`, if there is one.
    pub fn node(&self, index: usize) -> Option<&SimHandle> {
        self.nodes.get(index)
    }

    /// How many nodes there are.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the fleet has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node's base URL, in order.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(SimHandle::url).collect()
    }

    /// Every node's knobs, in order.
    pub fn controls(&self) -> Vec<SimControl> {
        self.nodes.iter().map(SimHandle::control).collect()
    }

    /// Stops every node at once and waits for all of them.
    pub async fn shutdown(self) {
        futures_util::future::join_all(self.nodes.into_iter().map(SimHandle::shutdown)).await;
    }
}
