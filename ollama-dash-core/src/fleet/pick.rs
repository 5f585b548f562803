//! The routing decision as a pure function of what is known about each node: no locks, no
//! I/O, so it can be tested case by case and benchmarked (`benches/benches/route.rs`).

use serde::Serialize;

/// Why a node was chosen (a trace's `route_reason`, a `/metrics` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The only node there is.
    Only,
    /// The node that served this conversation's earlier turns still holds the model.
    Affinity,
    /// The model is loaded there and a slot is free.
    Resident,
    /// The model is loaded there; all slots are busy, and its queue is the shortest (and short,
    /// or nowhere else has room).
    ResidentQueued,
    /// The model is not loaded anywhere with a short queue; it fits in this node's free VRAM.
    Fits,
    /// It fits nowhere without evicting another model; this node evicts the least.
    Evict,
    /// No node lists the model; the node asked answers (a pull, or "not found").
    NotInstalled,
    /// A baseline policy chose it (`routing` other than `resident`).
    Policy,
    /// The caller pinned the call to it (`X-Ollama-Dash-Node`).
    Pinned,
}

impl Reason {
    /// The name shown in traces and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Only => "only",
            Reason::Affinity => "affinity",
            Reason::Resident => "resident",
            Reason::ResidentQueued => "resident_queued",
            Reason::Fits => "fits",
            Reason::Evict => "evict",
            Reason::NotInstalled => "not_installed",
            Reason::Policy => "policy",
            Reason::Pinned => "pinned",
        }
    }
}

/// What routing knows about one node, for one model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Up (answering its probes, breaker closed).
    pub up: bool,
    /// Being drained: takes no new requests.
    pub draining: bool,
    /// Lists the model (`None`: its list is not known yet).
    pub installed: Option<bool>,
    /// Holds the model loaded.
    pub resident: bool,
    /// Requests for this model running there.
    pub in_flight: usize,
    /// Requests for this model waiting for a slot there.
    pub queued: usize,
    /// Slots for this model there (`max_parallel`; `None`: no limit known).
    pub slots: Option<usize>,
    /// VRAM free there, bytes (`None`: unknown).
    pub free_vram: Option<u64>,
    /// Requests of any model running there (the tie-break).
    pub node_in_flight: usize,
    /// Share of the load it should take (higher takes more).
    pub weight: f64,
}

impl Candidate {
    fn has_slot(&self) -> bool {
        self.slots.is_none_or(|s| self.in_flight < s)
    }

    fn waiting(&self) -> usize {
        self.queued
            + self
                .in_flight
                .saturating_sub(self.slots.unwrap_or(usize::MAX))
    }
}

/// An affinity hint: the node that served this conversation before, if the model is still
/// resident there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Affinity {
    /// Index of that node.
    pub node: usize,
}

/// How much longer the affinity node's queue may be than the best other before affinity gives
/// way (the prompt cache is worth a short wait, not a long one).
pub const AFFINITY_SLACK: usize = 2;

/// Requests already waiting where the model is loaded before a cold load elsewhere is better.
pub const SPILL_AFTER: usize = 4;

/// Picks the node for a request needing about `need` bytes of VRAM, skipping `exclude` (nodes
/// already tried). `None` when no node is up.
pub fn pick(
    nodes: &[Candidate],
    need: u64,
    affinity: Option<Affinity>,
    exclude: &[usize],
) -> Option<(usize, Reason)> {
    let open = |i: usize, c: &Candidate| c.up && !c.draining && !exclude.contains(&i);
    let usable: Vec<(usize, &Candidate)> = nodes
        .iter()
        .enumerate()
        .filter(|(i, c)| open(*i, c))
        .collect();
    if usable.is_empty() {
        return None;
    }
    if nodes.len() == 1 {
        return Some((usable[0].0, Reason::Only));
    }
    let installed: Vec<(usize, &Candidate)> = usable
        .iter()
        .copied()
        .filter(|(_, c)| c.installed != Some(false))
        .collect();
    if installed.is_empty() {
        return best(&usable).map(|i| (i, Reason::NotInstalled));
    }
    let resident: Vec<(usize, &Candidate)> = installed
        .iter()
        .copied()
        .filter(|(_, c)| c.resident)
        .collect();
    if let Some(Affinity { node }) = affinity
        && let Some((_, sticky)) = resident.iter().find(|(i, _)| *i == node)
    {
        let shortest = resident.iter().map(|(_, c)| c.waiting()).min().unwrap_or(0);
        if sticky.waiting() <= shortest + AFFINITY_SLACK {
            return Some((node, Reason::Affinity));
        }
    }
    let free: Vec<(usize, &Candidate)> = resident
        .iter()
        .copied()
        .filter(|(_, c)| c.has_slot())
        .collect();
    if let Some(i) = best(&free) {
        return Some((i, Reason::Resident));
    }
    let queued = resident
        .iter()
        .min_by(|a, b| a.1.waiting().cmp(&b.1.waiting()).then(tie(a.1, b.1)));
    // A short wait where the model is loaded beats a cold load elsewhere; a long one does not.
    if let Some((i, c)) = queued
        && c.waiting() < SPILL_AFTER
    {
        return Some((*i, Reason::ResidentQueued));
    }
    let fits: Vec<(usize, &Candidate)> = installed
        .iter()
        .copied()
        .filter(|(_, c)| !c.resident && c.free_vram.is_none_or(|f| f >= need))
        .collect();
    if let Some(i) = best(&fits) {
        return Some((i, Reason::Fits));
    }
    if let Some((i, _)) = queued {
        return Some((*i, Reason::ResidentQueued));
    }
    // Everything is full: the one with the most free VRAM evicts the least.
    installed
        .iter()
        .max_by(|a, b| {
            a.1.free_vram
                .unwrap_or(0)
                .cmp(&b.1.free_vram.unwrap_or(0))
                .then(tie(b.1, a.1))
        })
        .map(|(i, _)| (*i, Reason::Evict))
}

/// The least loaded of `nodes` (fewest in flight per weight, then the heavier weight).
fn best(nodes: &[(usize, &Candidate)]) -> Option<usize> {
    nodes.iter().min_by(|a, b| tie(a.1, b.1)).map(|(i, _)| *i)
}

/// Orders two nodes: the one with less work per unit of weight first.
fn tie(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    let load = |c: &Candidate| (c.node_in_flight as f64 + 1.0) / c.weight.max(f64::MIN_POSITIVE);
    load(a).total_cmp(&load(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Candidate {
        Candidate {
            up: true,
            draining: false,
            installed: Some(true),
            resident: false,
            in_flight: 0,
            queued: 0,
            slots: Some(1),
            free_vram: Some(16 << 30),
            node_in_flight: 0,
            weight: 1.0,
        }
    }

    const GB: u64 = 1 << 30;

    #[test]
    fn resident_with_a_free_slot_wins_over_a_cold_node() {
        let nodes = [
            node(),
            Candidate {
                resident: true,
                ..node()
            },
        ];
        assert_eq!(pick(&nodes, GB, None, &[]), Some((1, Reason::Resident)));
    }

    #[test]
    fn a_short_queue_where_it_is_loaded_beats_a_cold_load_a_long_one_does_not() {
        let busy = |queued| Candidate {
            resident: true,
            in_flight: 1,
            queued,
            ..node()
        };
        let nodes = [busy(1), node()];
        assert_eq!(
            pick(&nodes, GB, None, &[]),
            Some((0, Reason::ResidentQueued))
        );
        let nodes = [busy(SPILL_AFTER), node()];
        assert_eq!(pick(&nodes, GB, None, &[]), Some((1, Reason::Fits)));
    }

    #[test]
    fn when_nothing_fits_the_shortest_resident_queue_waits() {
        let full = |queued| Candidate {
            resident: true,
            in_flight: 1,
            queued,
            free_vram: Some(0),
            ..node()
        };
        let cold = Candidate {
            free_vram: Some(GB / 2),
            ..node()
        };
        let nodes = [full(SPILL_AFTER + 3), full(SPILL_AFTER + 1), cold];
        assert_eq!(
            pick(&nodes, GB, None, &[]),
            Some((1, Reason::ResidentQueued))
        );
    }

    #[test]
    fn eviction_is_the_last_resort_and_picks_the_most_free_vram() {
        let small = |free| Candidate {
            free_vram: Some(free),
            ..node()
        };
        let nodes = [small(GB / 4), small(GB / 2)];
        assert_eq!(pick(&nodes, GB, None, &[]), Some((1, Reason::Evict)));
    }

    #[test]
    fn down_draining_excluded_and_uninstalled_nodes_are_skipped() {
        let nodes = [
            Candidate {
                up: false,
                resident: true,
                ..node()
            },
            Candidate {
                draining: true,
                resident: true,
                ..node()
            },
            Candidate {
                installed: Some(false),
                ..node()
            },
            node(),
        ];
        assert_eq!(pick(&nodes, GB, None, &[]), Some((3, Reason::Fits)));
        assert_eq!(
            pick(&nodes, GB, None, &[3]),
            Some((2, Reason::NotInstalled))
        );
        assert_eq!(pick(&nodes[..2], GB, None, &[]), None);
    }

    #[test]
    fn affinity_holds_unless_its_queue_is_much_longer() {
        let resident = |queued| Candidate {
            resident: true,
            in_flight: 1,
            queued,
            ..node()
        };
        let nodes = [resident(0), resident(2)];
        let sticky = Some(Affinity { node: 1 });
        assert_eq!(pick(&nodes, GB, sticky, &[]), Some((1, Reason::Affinity)));
        let nodes = [resident(0), resident(AFFINITY_SLACK + 1)];
        assert_ne!(pick(&nodes, GB, sticky, &[]).map(|p| p.0), Some(1));
        let cold = [node(), node()];
        assert_eq!(
            pick(&cold, GB, sticky, &[]).map(|p| p.1),
            Some(Reason::Fits),
            "affinity only where the model is still resident"
        );
    }

    #[test]
    fn ties_go_to_the_less_loaded_then_the_heavier_node() {
        let nodes = [
            Candidate {
                node_in_flight: 2,
                ..node()
            },
            Candidate {
                node_in_flight: 1,
                ..node()
            },
        ];
        assert_eq!(pick(&nodes, GB, None, &[]).map(|p| p.0), Some(1));
        let nodes = [
            node(),
            Candidate {
                weight: 3.0,
                ..node()
            },
        ];
        assert_eq!(pick(&nodes, GB, None, &[]).map(|p| p.0), Some(1));
    }

    #[test]
    fn one_node_is_always_the_one() {
        let nodes = [Candidate {
            installed: Some(false),
            ..node()
        }];
        assert_eq!(pick(&nodes, GB, None, &[]), Some((0, Reason::Only)));
    }
}
