//! The scheduling rules of Ollama's `server/sched.go`, as pure functions over the loaded set:
//! whether a model can load now (and how much of it sits in VRAM), which loaded model to unload
//! to make room, how long a load takes, and the busy answer. `state::Sim::acquire` drives them;
//! `docs/sim-scheduler.md` says which Ollama function each rule imitates.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::Model;
use crate::state::Loaded;

/// The pretend GPU when no VRAM budget is configured: 8 GiB, split with RAM past that.
pub(crate) const DEFAULT_GPU_BYTES: u64 = 8 << 30;

/// Ollama's `ErrMaxQueue` (`server/sched.go`), answered with 503 by `handleScheduleError`
/// (`server/routes.go`).
pub(crate) const BUSY: &str = "server busy, please try again.  maximum pending requests exceeded";

/// VRAM is handed out in 64 MiB steps when a model is split between GPU and RAM.
const SPLIT_STEP: u64 = 64 << 20;

/// The scheduler knobs of a simulator (the `SimConfig` fields of the same names).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Rules {
    /// The VRAM budget; `None` is today's 8 GiB pretend GPU that never evicts.
    pub(crate) vram_bytes: Option<u64>,
    /// Bytes of weights loaded per second; `None` adds nothing to the fixed load delay.
    pub(crate) load_bytes_per_sec: Option<u64>,
    /// `OLLAMA_MAX_LOADED_MODELS`; `None` is no limit.
    pub(crate) max_loaded_models: Option<u32>,
    /// `OLLAMA_NUM_PARALLEL`; `None` is no limit on requests per model.
    pub(crate) num_parallel: Option<u32>,
    /// `OLLAMA_MAX_QUEUE`; `None` is no limit on requests waiting to be scheduled.
    pub(crate) max_queue: Option<u32>,
    /// Whether a repeated prompt prefix is reported as cached.
    pub(crate) prompt_cache: bool,
}

impl Rules {
    /// Parallel requests a model gets: `OLLAMA_NUM_PARALLEL`, but 1 for embedding models
    /// (`Scheduler.load`: "Embedding models should always be loaded with parallel=1").
    pub(crate) fn parallel(&self, model: &Model) -> Option<u32> {
        self.num_parallel
            .map(|n| if model.has("completion") { n.max(1) } else { 1 })
    }

    /// Memory a model takes loaded with `context` per request: the KV cache holds
    /// `num_ctx × parallel` tokens (`llm/server.go`, `KvSize: opts.NumCtx * numParallel`).
    pub(crate) fn memory(&self, model: &Model, context: u64) -> u64 {
        let parallel = u64::from(self.parallel(model).unwrap_or(1));
        model.memory(context.saturating_mul(parallel))
    }

    /// How long a cold load takes: the fixed delay plus the weights over the load rate.
    pub(crate) fn load_time(&self, model: &Model, fixed: Duration) -> Duration {
        let streaming = self
            .load_bytes_per_sec
            .filter(|rate| *rate > 0)
            .map_or(Duration::ZERO, |rate| {
                Duration::from_secs_f64(model.weights_size() as f64 / rate as f64)
            });
        fixed + streaming
    }
}

/// What the scheduler does with a request whose model is not loaded as asked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Load it now with this much of it in VRAM.
    Load {
        /// Bytes on the GPU (the rest is in RAM).
        size_vram: u64,
    },
    /// Unload this model first (at once if idle, else once its requests are done), then retry.
    Evict(String),
}

/// `Scheduler.processPending`'s decision for a model of `size` bytes under `key`.
///
/// The same model loaded with other settings is reloaded (`needsReload`); past
/// `max_loaded_models` one model is unloaded; with a VRAM budget the first model loads even if
/// it must spill into RAM (`load` with `requireFull = false`), later ones must fit entirely next
/// to the others (`requireFull = true`) or one is unloaded. Without a budget nothing is unloaded.
pub(crate) fn plan(loaded: &BTreeMap<String, Loaded>, key: &str, size: u64, rules: &Rules) -> Plan {
    if loaded.contains_key(key) {
        return Plan::Evict(key.to_owned());
    }
    if let Some(max) = rules.max_loaded_models
        && loaded.len() >= max as usize
        && let Some(victim) = victim(loaded)
    {
        return Plan::Evict(victim);
    }
    let used: u64 = loaded.values().map(|l| l.size_vram).sum();
    match rules.vram_bytes {
        None => Plan::Load {
            size_vram: split(size, DEFAULT_GPU_BYTES.saturating_sub(used)),
        },
        Some(vram) if loaded.is_empty() => Plan::Load {
            size_vram: split(size, vram),
        },
        Some(vram) if used.saturating_add(size) <= vram => Plan::Load { size_vram: size },
        Some(_) => match victim(loaded) {
            Some(victim) => Plan::Evict(victim),
            None => Plan::Load {
                size_vram: split(size, 0),
            },
        },
    }
}

/// All of `size` when it fits in `free`, else as much as fits in 64 MiB steps.
fn split(size: u64, free: u64) -> u64 {
    if size <= free {
        size
    } else {
        free - free % SPLIT_STEP
    }
}

/// `findRunnerToUnload`: runners sorted by keep-alive, shortest first (`ByDurationAndName`),
/// then the least recently used first (where Ollama breaks ties by model path); the first idle
/// one, else the first one, whose requests are then waited for.
pub(crate) fn victim(loaded: &BTreeMap<String, Loaded>) -> Option<String> {
    let mut order: Vec<(&String, &Loaded)> = loaded.iter().collect();
    order.sort_by_key(|(_, l)| (l.session.sort_key(), l.last_used));
    order
        .iter()
        .find(|(_, l)| l.in_flight == 0)
        .or_else(|| order.first())
        .map(|(key, _)| (*key).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_in_64_mib_steps() {
        assert_eq!(split(100, 200), 100);
        assert_eq!(split(1 << 30, (100 << 20) + 5), 64 << 20);
        assert_eq!(split(1 << 30, 0), 0);
    }

    #[test]
    fn the_first_model_loads_even_when_too_big() {
        let rules = Rules {
            vram_bytes: Some(1 << 30),
            ..Rules::default()
        };
        assert_eq!(
            plan(&BTreeMap::new(), "a", 3 << 30, &rules),
            Plan::Load { size_vram: 1 << 30 }
        );
    }
}
