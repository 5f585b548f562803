//! The fleet: the Ollama nodes one ollama-dash fronts, what is known of each, and the choice of
//! node for every generation.
//!
//! With one node (`OLLAMA_HOST`, named `default`) nothing changes: every call goes there, no
//! gateway queue, no probes of its own (the live collector probes it). With several
//! (`[[nodes]]` or `OLLAMA_DASH_NODES`) each node is probed on its own loop (`/api/ps`,
//! `/api/tags`, with backoff: a slow node delays no other), and [`Fleet::route`] picks a node by
//! residency, free slots, free VRAM and conversation affinity ([`pick`]), admits the request
//! into that node's slots for the model (`max_parallel`) or a bounded per-model queue, and a
//! full queue answers [`crate::Error::Busy`] with a retry estimate. A node that fails
//! [`BREAKER_FAILURES`] times in a row is marked down until a probe answers again.
//!
//! The node list changes at run time ([`Fleet::add`], [`Fleet::remove`]: the admin API, kept in
//! the store and restored at start after the configured nodes). Routing reads one snapshot of
//! the list per decision; everything remembered across decisions (affinity, the nodes a call
//! already tried) names a node by its [`Node::id`], never by its place in the list. A removed
//! node takes no new request, its probe loop ends, and the calls running there finish (each
//! holds its node).

mod config;
mod pick;
pub mod scrape;
mod slots;
mod targets;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::broadcast;

pub use config::{DEFAULT_NODE, NodeConfig, parse_nodes_env, validate};
pub use pick::{AFFINITY_SLACK, Affinity, Candidate, Reason, SPILL_AFTER, pick};
pub use targets::Targets;

use crate::error::{Error, Result};
use crate::events::Event;
use crate::ollama::OllamaClient;
use crate::ollama::types::Message;
use crate::store::Store;
use slots::{Slot, Slots};

/// Failures in a row after which a node is marked down (until a probe answers).
pub const BREAKER_FAILURES: u32 = 3;

/// Conversations remembered for affinity.
const AFFINITY_ENTRIES: usize = 4096;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The model name Ollama means: `:latest` added when no tag is given.
pub fn canonical(model: &str) -> String {
    let last = model.rsplit('/').next().unwrap_or(model);
    if last.contains(':') {
        model.to_owned()
    } else {
        format!("{model}:latest")
    }
}

/// What routing needs to know of a request.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    /// The context window asked for (`num_ctx`), for the VRAM estimate.
    pub num_ctx: Option<u64>,
    /// A key for the conversation (its leading messages), for affinity.
    pub conversation: Option<u64>,
    /// The node the caller pinned the call to, by name: that one or none.
    pub node: Option<String>,
    /// The caller's API key (its name), whose turn it is when waiting for a slot: waiting is
    /// fair across keys. `None` (anonymous) is one shared key.
    pub key: Option<String>,
}

impl Hints {
    /// Hints for a chat: the conversation is keyed by its model and its leading messages up to
    /// and including the first question (system prompts and that question stay the same over
    /// its turns, so the first turn and every later one share the key).
    pub fn chat(model: &str, messages: &[Message], num_ctx: Option<u64>) -> Self {
        let conversation = messages.iter().position(|m| m.role == "user").map(|first| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            canonical(model).hash(&mut h);
            for m in &messages[..=first] {
                m.role.hash(&mut h);
                m.content.hash(&mut h);
            }
            h.finish()
        });
        Self {
            num_ctx,
            conversation,
            ..Self::default()
        }
    }
}

/// Where a node comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The configuration (`[[nodes]]`, `OLLAMA_DASH_NODES`, `OLLAMA_HOST`): removed only there.
    Config,
    /// Added at run time (`POST /api/nodes`), kept in the store.
    Api,
}

/// What is known of one node.
#[derive(Debug)]
pub struct Node {
    /// Stable for the life of the process, never reused (unlike its place in the list).
    id: u64,
    source: Source,
    config: NodeConfig,
    client: OllamaClient,
    /// Taken out of the fleet: no new requests, its probe loop ends.
    removed: AtomicBool,
    /// Its probe loop runs.
    probing: AtomicBool,
    state: Mutex<NodeState>,
    /// Slots per model, when `max_parallel` is set.
    slots: Mutex<HashMap<String, Arc<Slots>>>,
    in_flight: AtomicUsize,
    /// Where [`Event::NodeChanged`] goes, once the fleet was told ([`Fleet::emit_to`]).
    events: Events,
    /// The state and loaded models last announced: an event goes out only when they change.
    announced: Mutex<(&'static str, Vec<String>)>,
}

/// The fleet's event sender, shared with its nodes (set once, after the fleet is made).
type Events = Arc<OnceLock<broadcast::Sender<Event>>>;

#[derive(Debug, Default)]
struct NodeState {
    down: bool,
    draining: bool,
    version: Option<String>,
    latency_ms: Option<f64>,
    /// Installed models and their sizes; `None` until the first tags probe.
    installed: Option<HashMap<String, u64>>,
    /// Loaded models and the VRAM each holds.
    resident: HashMap<String, u64>,
    /// The last `/api/tags` and `/api/ps` lists as the node gave them (its [`Holdings`]).
    lists: Holdings,
    failures: u32,
    last_error: Option<String>,
    served: u64,
    errors: u64,
    /// Requests waiting for a slot, per model.
    queued: HashMap<String, usize>,
    /// VRAM as last scraped from `metrics_url`; `None` without one, or after a failed scrape.
    scraped: Option<scrape::Vram>,
    /// Why the last scrape of `metrics_url` failed (cleared by one that works).
    metrics_error: Option<String>,
}

/// A node as `GET /api/nodes` shows it (and [`Event::NodeChanged`] carries).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeStatus {
    /// Its name.
    pub name: String,
    /// Its base URL.
    pub url: String,
    /// `up`, `down` or `draining`; `removed` once taken out of the fleet (only ever seen in the
    /// last [`Event::NodeChanged`] of a node).
    pub state: &'static str,
    /// Ollama's version, as last probed.
    pub version: Option<String>,
    /// How long its last probe took, ms.
    pub latency_ms: Option<f64>,
    /// Models loaded there.
    pub loaded: Vec<String>,
    /// All its VRAM, bytes: scraped from `metrics_url`, else configured (`vram_bytes`).
    pub vram_total: Option<u64>,
    /// VRAM in use, bytes: scraped, else held by the loaded models (from `/api/ps`).
    pub vram_used: u64,
    /// VRAM free, bytes: scraped, else the configured total less what the loaded models hold;
    /// unknown without either. Routing counts free space against this.
    pub vram_free: Option<u64>,
    /// Where the VRAM figures come from: `metrics` (scraped from `metrics_url`), `config`
    /// (`vram_bytes` less what `/api/ps` reports), or `ps` (only what `/api/ps` reports).
    pub vram_source: &'static str,
    /// Why the last scrape of `metrics_url` failed (the figures then come from `config` or
    /// `ps`); `None` when it worked or there is none.
    pub metrics_error: Option<String>,
    /// Requests running there now.
    pub in_flight: usize,
    /// Requests waiting for a slot there.
    pub queued: usize,
    /// Requests it served.
    pub served: u64,
    /// Requests that failed there.
    pub errors: u64,
    /// The last failure.
    pub last_error: Option<String>,
    /// Its labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// `config` (configured) or `api` (added at run time).
    pub source: Source,
}

/// What one node holds, as its probe last saw it: `/api/tags` and `/api/ps` as Ollama gave them.
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    /// Installed models; `None` until the first tags probe.
    pub installed: Option<Arc<[crate::ollama::types::ListModel]>>,
    /// Loaded models.
    pub running: Arc<[crate::ollama::types::ProcessModel]>,
}

impl Node {
    /// What it holds, as its own probe loop last saw it (empty for the one node of a fleet of
    /// one: the live collector probes that one).
    pub fn holdings(&self) -> Holdings {
        lock(&self.state).lists.clone()
    }

    fn new(
        id: u64,
        source: Source,
        config: NodeConfig,
        client: OllamaClient,
        events: Events,
    ) -> Self {
        Self {
            id,
            source,
            config,
            client,
            removed: AtomicBool::new(false),
            probing: AtomicBool::new(false),
            state: Mutex::default(),
            slots: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            events,
            announced: Mutex::new(("up", Vec::new())),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Its id: stable while the process runs, never given to another node.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Its configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Where it comes from.
    pub fn source(&self) -> Source {
        self.source
    }

    fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// The client for it.
    pub fn client(&self) -> &OllamaClient {
        &self.client
    }

    fn status(&self) -> NodeStatus {
        let s = lock(&self.state);
        let mut loaded: Vec<String> = s.resident.keys().cloned().collect();
        loaded.sort();
        let vram = s.vram(self.config.vram_bytes);
        NodeStatus {
            name: self.config.name.clone(),
            url: self.client.base_url().to_owned(),
            state: if self.is_removed() {
                "removed"
            } else if s.down {
                "down"
            } else if s.draining {
                "draining"
            } else {
                "up"
            },
            version: s.version.clone(),
            latency_ms: s.latency_ms,
            loaded,
            vram_total: vram.total,
            vram_used: vram.used,
            vram_free: vram.free,
            vram_source: vram.source,
            metrics_error: s.metrics_error.clone(),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            queued: s.queued.values().sum(),
            served: s.served,
            errors: s.errors,
            last_error: s.last_error.clone(),
            labels: self.config.labels.clone(),
            source: self.source,
        }
    }

    /// What [`pick`] knows of this node for `model`, and the model's size here when installed.
    fn candidate_and_size(&self, model: &str, slots_used: usize) -> (Candidate, Option<u64>) {
        let s = lock(&self.state);
        let free_vram = s.vram(self.config.vram_bytes).free;
        let installed = s.installed.as_ref().map(|m| m.get(model).copied());
        let candidate = Candidate {
            up: !s.down,
            draining: s.draining,
            installed: installed.map(|size| size.is_some()),
            resident: s.resident.contains_key(model),
            in_flight: slots_used,
            queued: s.queued.get(model).copied().unwrap_or(0),
            slots: self.config.max_parallel,
            free_vram,
            node_in_flight: self.in_flight.load(Ordering::Relaxed),
            weight: self.config.weight,
        };
        (candidate, installed.flatten())
    }

    fn slots_for(&self, model: &str) -> Option<Arc<Slots>> {
        let max = self.config.max_parallel?;
        let mut slots = lock(&self.slots);
        Some(Arc::clone(
            slots
                .entry(model.to_owned())
                .or_insert_with(|| Slots::new(max)),
        ))
    }

    fn slots_used(&self, model: &str) -> usize {
        lock(&self.slots).get(model).map_or(0, |s| s.used())
    }

    /// Sends [`Event::NodeChanged`] if its state or loaded models changed since the last one
    /// (or always, `force`: it was added or removed).
    fn announce(&self, force: bool) {
        let Some(events) = self.events.get() else {
            return;
        };
        let status = self.status();
        let mut announced = lock(&self.announced);
        let unchanged = announced.0 == status.state && announced.1 == status.loaded;
        if unchanged && !force {
            return;
        }
        *announced = (status.state, status.loaded.clone());
        // Under the lock, so two changes are announced in the order they were seen.
        let _ = events.send(Event::NodeChanged(status));
    }

    /// A call failed before its answer started: counts toward the breaker.
    fn failed(&self, error: &Error, alone: bool) {
        let mut s = lock(&self.state);
        s.failures += 1;
        s.errors += 1;
        s.last_error = Some(error.to_string());
        if !alone && s.failures >= BREAKER_FAILURES && !s.down {
            s.down = true;
            tracing::warn!(node = %self.config.name, error = %error, "node marked down");
            drop(s);
            self.announce(false);
        }
    }

    fn answered(&self, model: &str) {
        let mut s = lock(&self.state);
        s.failures = 0;
        s.served += 1;
        // It is loaded there now, whatever the last probe said.
        let size = s
            .installed
            .as_ref()
            .and_then(|m| m.get(model))
            .copied()
            .unwrap_or(0);
        let new = !s.resident.contains_key(model);
        s.resident.entry(model.to_owned()).or_insert(size);
        drop(s);
        if new {
            self.announce(false);
        }
    }
}

/// A node's VRAM figures and where they come from.
struct VramFigures {
    total: Option<u64>,
    used: u64,
    free: Option<u64>,
    source: &'static str,
}

impl NodeState {
    /// The VRAM figures: scraped, else the configured total (`configured`) against what the
    /// loaded models hold, else only what they hold.
    fn vram(&self, configured: Option<u64>) -> VramFigures {
        if let Some(v) = self.scraped {
            return VramFigures {
                total: Some(v.total),
                used: v.used,
                free: Some(v.free),
                source: "metrics",
            };
        }
        let used: u64 = self.resident.values().sum();
        VramFigures {
            total: configured,
            used,
            free: configured.map(|t| t.saturating_sub(used)),
            source: if configured.is_some() { "config" } else { "ps" },
        }
    }
}

/// The fleet: every node, and the routing state shared by all requests.
#[derive(Debug, Clone)]
pub struct Fleet(Arc<Inner>);

/// Makes the client for a node's URL.
type ClientFactory = Arc<dyn Fn(&str) -> Result<OllamaClient> + Send + Sync>;

struct Inner {
    /// The nodes now: configured ones first, then those added. Replaced whole on a change, so
    /// a routing decision reads one consistent list.
    nodes: RwLock<Arc<[Arc<Node>]>>,
    /// Serialises adds, removes and drains (each checks, writes the store, then changes).
    changes: tokio::sync::Mutex<()>,
    /// Where added nodes and drains are kept.
    store: Store,
    client: ClientFactory,
    /// Where the configured nodes come from, for the message refusing to remove one.
    configured_in: String,
    next_id: AtomicU64,
    /// The probe loops' schedule, once [`Fleet::spawn_probes`] ran.
    probes: Mutex<Option<(Duration, u32)>>,
    max_queue: usize,
    queue_timeout: Duration,
    /// Conversation key → the id of the node that served it last.
    affinity: Mutex<HashMap<u64, u64>>,
    /// Average service time per model, ms (for `Retry-After`).
    service_ms: Mutex<HashMap<String, f64>>,
    /// Routing decisions by node name and reason (a removed node's stay: they are counters).
    decisions: Mutex<HashMap<(String, Reason), u64>>,
    policy: Policy,
    /// The next node of [`Policy::RoundRobin`].
    turn: AtomicUsize,
    /// Where node changes are announced ([`Fleet::emit_to`]); every node holds it too.
    events: Events,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("nodes", &self.nodes)
            .field("max_queue", &self.max_queue)
            .field("queue_timeout", &self.queue_timeout)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// How the fleet admits requests.
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    /// Requests waiting for a slot per model, at most (`max_queue`).
    pub max_queue: usize,
    /// Longest a request waits for a slot (`queue_timeout_secs`).
    pub queue_timeout: Duration,
    /// How a node is chosen (`routing`).
    pub policy: Policy,
}

/// How a node is chosen (config `routing`): ours, or the baselines the routing benchmark
/// compares it with. Every policy skips nodes that are down, draining or lack the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Residency, free slots, VRAM and affinity ([`pick`]).
    #[default]
    Resident,
    /// Any node at random (what Open WebUI does across its Ollama URLs).
    Random,
    /// Each node in turn.
    RoundRobin,
    /// The node with the fewest requests in flight (LiteLLM's least-busy).
    LeastOutstanding,
}

/// Where a call runs: its node, why, and its slot (released when this is dropped).
#[derive(Debug)]
pub struct Routed {
    node: Arc<Node>,
    model: String,
    reason: Reason,
    queue_ms: f64,
    started: Instant,
    fleet: Weak<Inner>,
    _slot: Option<Slot>,
    answered: bool,
}

impl Routed {
    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Why routing chose it.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// Time spent waiting for a slot, ms.
    pub fn queue_ms(&self) -> f64 {
        self.queue_ms
    }

    /// The answer started: the node works (closes its breaker count) and holds the model.
    pub fn answered(&mut self) {
        self.answered = true;
        self.node.answered(&self.model);
    }
}

impl Drop for Routed {
    fn drop(&mut self) {
        self.node.in_flight.fetch_sub(1, Ordering::Relaxed);
        if self.answered
            && let Some(fleet) = self.fleet.upgrade()
        {
            let ms = self.started.elapsed().as_secs_f64() * 1000.0;
            let mut times = lock(&fleet.service_ms);
            let avg = times.entry(self.model.clone()).or_insert(ms);
            *avg = 0.8 * *avg + 0.2 * ms;
        }
    }
}

impl Fleet {
    /// The fleet over the configured nodes (validated), with one client each (`client` makes
    /// it from a URL, for nodes added later too); `configured_in` names where the configured
    /// nodes were set, for the message refusing to remove one. The nodes added at run time come
    /// back with [`Fleet::restore`].
    pub(crate) fn new(
        nodes: &[NodeConfig],
        client: impl Fn(&str) -> Result<OllamaClient> + Send + Sync + 'static,
        admission: Admission,
        store: Store,
        configured_in: String,
    ) -> Result<Self> {
        validate(nodes)?;
        let next_id = AtomicU64::new(0);
        let events = Events::default();
        let nodes = nodes
            .iter()
            .map(|config| {
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                let client = client(&config.url)?;
                Ok(Arc::new(Node::new(
                    id,
                    Source::Config,
                    config.clone(),
                    client,
                    Arc::clone(&events),
                )))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self(Arc::new(Inner {
            nodes: RwLock::new(nodes.into()),
            changes: tokio::sync::Mutex::new(()),
            store,
            client: Arc::new(client),
            configured_in,
            next_id,
            probes: Mutex::default(),
            max_queue: admission.max_queue,
            queue_timeout: admission.queue_timeout,
            affinity: Mutex::default(),
            service_ms: Mutex::default(),
            decisions: Mutex::default(),
            policy: admission.policy,
            turn: AtomicUsize::new(0),
            events,
        })))
    }

    /// Announces node changes on `events` from now on: [`Event::NodeChanged`] when a node is
    /// added (its first status), removed (its last, state `removed`), goes up, down or into or
    /// out of draining, or its loaded models change — not on every probe. Set once; a second
    /// sender is ignored.
    pub fn emit_to(&self, events: broadcast::Sender<Event>) {
        let _ = self.0.events.set(events);
    }

    /// Adds the nodes kept in the store (added at run time) after the configured ones, and
    /// drains again those that were drained. A stored node named like a configured one is
    /// skipped with a warning: the configuration wins.
    pub(crate) async fn restore(&self) -> Result<()> {
        let (stored, drained) = self
            .0
            .store
            .call(|c| {
                let mut st =
                    c.prepare("SELECT name, config FROM fleet_nodes ORDER BY added_at, name")?;
                let stored = st
                    .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let mut st = c.prepare("SELECT name FROM fleet_drained")?;
                let drained = st
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok((stored, drained))
            })
            .await?;
        let _changing = self.0.changes.lock().await;
        let mut nodes = self.nodes().to_vec();
        for (name, json) in stored {
            let config = match serde_json::from_str::<NodeConfig>(&json) {
                Ok(config) => config,
                Err(e) => {
                    tracing::warn!(node = %name, error = %e, "a stored node cannot be read; skipped");
                    continue;
                }
            };
            if nodes.iter().any(|n| n.config.name == config.name) {
                tracing::warn!(
                    node = %config.name,
                    configured_in = %self.0.configured_in,
                    "a node added over the API has the name of a configured node; skipped, the \
                     configured one is used"
                );
                continue;
            }
            let made = config::check(&config)
                .map_err(|(field, message)| Error::invalid_field(field, message))
                .and_then(|()| self.make(Source::Api, config));
            match made {
                Ok(node) => nodes.push(node),
                Err(e) => {
                    tracing::warn!(node = %name, error = %e, "a stored node is not valid; skipped")
                }
            }
        }
        for node in &nodes {
            if drained.contains(&node.config.name) {
                lock(&node.state).draining = true;
            }
        }
        self.swap(nodes);
        Ok(())
    }

    fn make(&self, source: Source, config: NodeConfig) -> Result<Arc<Node>> {
        let client = (self.0.client)(&config.url)?;
        let id = self.0.next_id.fetch_add(1, Ordering::Relaxed);
        Ok(Arc::new(Node::new(
            id,
            source,
            config,
            client,
            Arc::clone(&self.0.events),
        )))
    }

    /// Replaces the list (under [`Inner::changes`]).
    fn swap(&self, nodes: Vec<Arc<Node>>) {
        *self.0.nodes.write().unwrap_or_else(|e| e.into_inner()) = nodes.into();
    }

    /// The nodes now, in order: the configured ones, then those added at run time. A snapshot:
    /// later changes leave it as it is.
    pub fn nodes(&self) -> Arc<[Arc<Node>]> {
        Arc::clone(&self.0.nodes.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Adds a node at run time and keeps it in the store (restored at every start); in a fleet
    /// of several its probe loop starts, and routing considers it once a probe answered (its
    /// models are unknown before). Refused: a field that is not valid
    /// ([`Error::InvalidField`] naming it), a name already in use ([`Error::Conflict`]).
    pub async fn add(&self, config: NodeConfig) -> Result<NodeStatus> {
        config::check(&config).map_err(|(field, message)| Error::invalid_field(field, message))?;
        let _changing = self.0.changes.lock().await;
        if let Some(taken) = self.nodes().iter().find(|n| n.config.name == config.name) {
            return Err(Error::Conflict(match taken.source {
                Source::Config => format!(
                    "node {:?} is configured in {}",
                    config.name, self.0.configured_in
                ),
                Source::Api => format!("a node named {:?} already exists", config.name),
            }));
        }
        let node = self.make(Source::Api, config)?;
        let name = node.config.name.clone();
        let json = serde_json::to_string(&node.config).map_err(Error::store)?;
        let added_at = crate::dashboard::now_ms();
        self.0
            .store
            .call(move |c| {
                let tx = c.transaction()?;
                tx.execute(
                    "INSERT OR REPLACE INTO fleet_nodes (name, config, added_at) VALUES (?1, ?2, ?3)",
                    (&name, &json, added_at),
                )?;
                tx.execute("DELETE FROM fleet_drained WHERE name = ?1", [&name])?;
                tx.commit()
            })
            .await?;
        let mut nodes = self.nodes().to_vec();
        nodes.push(Arc::clone(&node));
        self.swap(nodes);
        self.start_probes();
        tracing::info!(node = %node.config.name, url = node.client.base_url(), "node added");
        node.announce(true);
        Ok(node.status())
    }

    /// Removes a node added at run time, from the store too: no new request goes there, its
    /// probe loop ends, calls running there finish (each holds its node) and calls waiting for
    /// one of its slots are routed again. A configured node is refused ([`Error::Conflict`]: a
    /// restart would bring it back, so it is removed from the configuration); an unknown one is
    /// [`Error::NotFound`].
    pub async fn remove(&self, name: &str) -> Result<()> {
        let _changing = self.0.changes.lock().await;
        let nodes = self.nodes();
        let Some(node) = nodes.iter().find(|n| n.config.name == name) else {
            return Err(Error::NotFound(format!("node {name:?}")));
        };
        if node.source == Source::Config {
            return Err(Error::Conflict(format!(
                "node {name:?} is configured in {}; remove it there",
                self.0.configured_in
            )));
        }
        let owned = name.to_owned();
        self.0
            .store
            .call(move |c| {
                let tx = c.transaction()?;
                tx.execute("DELETE FROM fleet_nodes WHERE name = ?1", [&owned])?;
                tx.execute("DELETE FROM fleet_drained WHERE name = ?1", [&owned])?;
                tx.commit()
            })
            .await?;
        node.removed.store(true, Ordering::Release);
        let rest: Vec<Arc<Node>> = nodes.iter().filter(|n| n.id != node.id).cloned().collect();
        self.swap(rest);
        // Wake the calls waiting for a slot there: they route again.
        for slots in lock(&node.slots).values() {
            slots.close();
        }
        lock(&self.0.affinity).retain(|_, id| *id != node.id);
        tracing::info!(node = name, "node removed");
        node.announce(true);
        Ok(())
    }

    /// Every node's state.
    pub fn status(&self) -> Vec<NodeStatus> {
        self.nodes().iter().map(|n| n.status()).collect()
    }

    /// Routing decisions so far, by node name and reason (a removed node's stay).
    pub fn decisions(&self) -> Vec<(String, Reason, u64)> {
        let decisions = lock(&self.0.decisions);
        let mut out: Vec<(String, Reason, u64)> = decisions
            .iter()
            .map(|((name, r), n)| (name.clone(), *r, *n))
            .collect();
        out.sort_by(|a, b| (a.0.as_str(), a.1.as_str()).cmp(&(b.0.as_str(), b.1.as_str())));
        out
    }

    /// Stops (or resumes) sending new requests to a node; running ones finish. Kept in the
    /// store: a restart drains it again.
    pub async fn drain(&self, name: &str, draining: bool) -> Result<()> {
        let _changing = self.0.changes.lock().await;
        let node = self.find(name)?;
        let owned = name.to_owned();
        self.0
            .store
            .call(move |c| match draining {
                true => c.execute(
                    "INSERT OR IGNORE INTO fleet_drained (name) VALUES (?1)",
                    [owned],
                ),
                false => c.execute("DELETE FROM fleet_drained WHERE name = ?1", [owned]),
            })
            .await?;
        lock(&node.state).draining = draining;
        node.announce(false);
        Ok(())
    }

    fn find(&self, name: &str) -> Result<Arc<Node>> {
        self.nodes()
            .iter()
            .find(|n| n.config.name == name)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("node {name:?}")))
    }

    /// The node named `name`'s client, for calls made on one node (admin, passthrough).
    pub fn client(&self, name: &str) -> Result<OllamaClient> {
        Ok(self.find(name)?.client.clone())
    }

    /// Picks a node for `model` (not one of `tried`, by [`Node::id`]) and takes a slot there,
    /// waiting in the model's queue when every slot is busy. A full queue, or a wait past the
    /// queue timeout, is [`Error::Busy`] with an estimate of when to retry.
    pub async fn route(&self, model: &str, hints: &Hints, tried: &[u64]) -> Result<Routed> {
        let model = canonical(model);
        loop {
            // One list per decision; a node removed meanwhile is chosen again from a new one.
            let nodes = self.nodes();
            let (node, reason) = self.choose(&nodes, &model, hints, tried)?;
            let started = Instant::now();
            let slot = match node.slots_for(&model) {
                None => None,
                Some(slots) => match self
                    .admit(&nodes, &node, &model, slots, hints.key.as_deref())
                    .await
                {
                    Ok(slot) => Some(slot),
                    Err(_) if node.is_removed() => continue,
                    Err(e) => return Err(e),
                },
            };
            if node.is_removed() {
                continue;
            }
            *lock(&self.0.decisions)
                .entry((node.config.name.clone(), reason))
                .or_default() += 1;
            if let Some(key) = hints.conversation {
                let mut affinity = lock(&self.0.affinity);
                if affinity.len() >= AFFINITY_ENTRIES {
                    affinity.clear(); // crude, bounded; a conversation loses its node at worst
                }
                affinity.insert(key, node.id);
            }
            node.in_flight.fetch_add(1, Ordering::Relaxed);
            return Ok(Routed {
                node,
                model,
                reason,
                queue_ms: started.elapsed().as_secs_f64() * 1000.0,
                started: Instant::now(),
                fleet: Arc::downgrade(&self.0),
                _slot: slot,
                answered: false,
            });
        }
    }

    /// The node for a call among `nodes` (its place there is what [`pick`] works with), and
    /// why.
    fn choose(
        &self,
        nodes: &[Arc<Node>],
        model: &str,
        hints: &Hints,
        tried: &[u64],
    ) -> Result<(Arc<Node>, Reason)> {
        // One look at each node's state: its candidate, and the model's size there.
        let mut size = 0;
        let candidates: Vec<Candidate> = nodes
            .iter()
            .map(|n| {
                let (candidate, installed) = n.candidate_and_size(model, n.slots_used(model));
                size = size.max(installed.unwrap_or(0));
                candidate
            })
            .collect();
        let tried: Vec<usize> = (0..nodes.len())
            .filter(|&i| tried.contains(&nodes[i].id))
            .collect();
        let need = need(size, hints.num_ctx);
        let affinity = hints
            .conversation
            .and_then(|k| lock(&self.0.affinity).get(&k).copied())
            .and_then(|id| nodes.iter().position(|n| n.id == id))
            .map(|node| Affinity { node });
        let picked = match &hints.node {
            Some(name) => {
                let pinned = position(nodes, name)?;
                let others: Vec<usize> = (0..nodes.len()).filter(|&i| i != pinned).collect();
                let excluded = [others.as_slice(), &tried].concat();
                let Some((index, _)) = pick(&candidates, need, None, &excluded) else {
                    return Err(Error::Unavailable(format!(
                        "node {name:?} cannot take {model} now: it is down or draining"
                    )));
                };
                Some((index, Reason::Pinned))
            }
            None => match self.0.policy {
                Policy::Resident => pick(&candidates, need, affinity, &tried),
                baseline => self.baseline(baseline, &candidates, &tried),
            },
        };
        let Some((index, reason)) = picked else {
            return Err(Error::Unavailable(format!(
                "no Ollama node can take {model} now: every node is down, draining or already tried"
            )));
        };
        Ok((Arc::clone(&nodes[index]), reason))
    }

    /// A baseline policy's choice among the nodes that are up, open and list the model.
    fn baseline(
        &self,
        policy: Policy,
        candidates: &[Candidate],
        tried: &[usize],
    ) -> Option<(usize, Reason)> {
        let open: Vec<usize> = (0..candidates.len())
            .filter(|i| {
                let c = &candidates[*i];
                c.up && !c.draining && !tried.contains(i) && c.installed != Some(false)
            })
            .collect();
        let chosen = match policy {
            Policy::Random => open.get(rand::random_range(0..open.len().max(1))).copied(),
            Policy::RoundRobin => {
                let turn = self.0.turn.fetch_add(1, Ordering::Relaxed);
                open.get(turn % open.len().max(1)).copied()
            }
            Policy::LeastOutstanding | Policy::Resident => open
                .iter()
                .copied()
                .min_by_key(|i| candidates[*i].node_in_flight + candidates[*i].queued),
        };
        chosen.map(|i| (i, Reason::Policy))
    }

    /// A slot on `node` for `model`: at once if one is free, else after a bounded wait in
    /// `key`'s line (waiting is fair across keys: [`slots`]).
    async fn admit(
        &self,
        nodes: &[Arc<Node>],
        node: &Node,
        model: &str,
        slots: Arc<Slots>,
        key: Option<&str>,
    ) -> Result<Slot> {
        if let Some(slot) = slots.try_take() {
            return Ok(slot);
        }
        let waiting: usize = nodes
            .iter()
            .map(|n| lock(&n.state).queued.get(model).copied().unwrap_or(0))
            .sum();
        if waiting >= self.0.max_queue {
            return Err(self.busy(nodes, model, waiting, "the queue for it is full"));
        }
        *lock(&node.state)
            .queued
            .entry(model.to_owned())
            .or_default() += 1;
        let waited = tokio::time::timeout(self.0.queue_timeout, slots.wait(key).slot()).await;
        if let Some(q) = lock(&node.state).queued.get_mut(model) {
            *q = q.saturating_sub(1);
        }
        match waited {
            Ok(Ok(slot)) => Ok(slot),
            Ok(Err(_)) => Err(Error::ShuttingDown),
            Err(_) => Err(self.busy(nodes, model, waiting, "no slot freed up in time")),
        }
    }

    fn busy(&self, nodes: &[Arc<Node>], model: &str, position: usize, why: &str) -> Error {
        let slots: usize = nodes
            .iter()
            .filter_map(|n| n.config.max_parallel)
            .sum::<usize>()
            .max(1);
        let each_ms = lock(&self.0.service_ms)
            .get(model)
            .copied()
            .unwrap_or(1000.0);
        let secs = (each_ms * (position + 1) as f64 / slots as f64 / 1000.0).ceil();
        Error::Busy {
            message: format!("every Ollama node serving {model} is busy: {why}"),
            retry_after_secs: (secs as u64).clamp(1, 3600),
        }
    }

    /// A call through `routed` failed before its answer started. Whether another node may be
    /// tried: the node was unreachable, busy or failing — not when the request itself was wrong.
    pub(crate) fn failed(&self, routed: &Routed, error: &Error) -> bool {
        let alone = self.nodes().len() == 1;
        let retry = match error {
            Error::Unreachable { .. } | Error::Timeout { .. } => true,
            Error::Ollama { status, .. } => *status == 503 || *status >= 500,
            _ => false,
        };
        if retry {
            routed.node.failed(error, alone);
        }
        retry && !alone
    }

    /// Starts one probe loop per node (only for a fleet of several: one node is the live
    /// collector's), and for every node added later. Each ends when its node is removed or the
    /// fleet dropped.
    pub(crate) fn spawn_probes(&self, interval: Duration, tags_every: u32) {
        *lock(&self.0.probes) = Some((interval, tags_every));
        self.start_probes();
    }

    /// Starts the probe loop of every node without one, once the fleet has several nodes and
    /// [`Self::spawn_probes`] set the schedule.
    fn start_probes(&self) {
        let Some((interval, tags_every)) = *lock(&self.0.probes) else {
            return;
        };
        let nodes = self.nodes();
        if nodes.len() < 2 {
            return;
        }
        for node in nodes.iter() {
            if !node.probing.swap(true, Ordering::AcqRel) {
                tokio::spawn(probe_loop(Arc::downgrade(node), interval, tags_every));
            }
        }
    }
}

/// The place of the node named `name` in `nodes`; an unknown name is bad input, naming the
/// nodes.
fn position(nodes: &[Arc<Node>], name: &str) -> Result<usize> {
    nodes
        .iter()
        .position(|n| n.config.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = nodes.iter().map(|n| n.name()).collect();
            Error::BadRequest(format!(
                "no node named {name:?}; the nodes are {}",
                names.join(", ")
            ))
        })
}

/// VRAM a model of `size` bytes needs (the largest size any node lists): the size, plus a
/// rough 10 % and 128 KiB per token of context for the KV cache.
fn need(size: u64, num_ctx: Option<u64>) -> u64 {
    size + size / 10 + num_ctx.unwrap_or(0) * 128 * 1024
}

/// Longest wait between two probes of a failing node, or two scrapes of a failing
/// `metrics_url`.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Probes one node: `/api/ps` every round, `/api/tags` and `/api/version` every `tags_every`
/// rounds; after a failure, waits twice as long each time (at most 30 s). With a `metrics_url`
/// its VRAM is scraped every round too, backing off on its own the same way when the scrape
/// fails (which never marks the node down: its figures fall back to `config` or `ps`). A change
/// of state or loaded models is announced ([`Node::announce`]).
async fn probe_loop(node: Weak<Node>, interval: Duration, tags_every: u32) {
    let mut round: u32 = 0;
    let mut wait = interval;
    let mut scrape_wait = interval;
    let mut next_scrape = Instant::now();
    let mut scraper = None;
    loop {
        tokio::time::sleep(wait).await;
        let Some(node) = node.upgrade() else {
            return;
        };
        if node.is_removed() {
            return;
        }
        let full = round.is_multiple_of(tags_every.max(1)) || lock(&node.state).installed.is_none();
        round = round.wrapping_add(1);
        let started = Instant::now();
        let probed = probe(&node, full).await;
        {
            let mut s = lock(&node.state);
            s.latency_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
            match probed {
                Ok(()) => {
                    if s.down {
                        tracing::info!(node = %node.config.name, "node is up again");
                    }
                    s.down = false;
                    s.failures = 0;
                    wait = interval;
                }
                Err(e) => {
                    if !s.down {
                        tracing::warn!(node = %node.config.name, error = %e, "node probe failed; marked down");
                    }
                    s.down = true;
                    s.last_error = Some(e.to_string());
                    wait = (wait * 2).min(MAX_BACKOFF);
                }
            }
        }
        if let Some(url) = &node.config.metrics_url
            && Instant::now() >= next_scrape
        {
            let timeout = interval.clamp(Duration::from_secs(1), Duration::from_secs(10));
            let scraped = scrape::scrape(&mut scraper, url, timeout).await;
            let mut s = lock(&node.state);
            match scraped {
                Ok(vram) => {
                    if s.metrics_error.is_some() {
                        tracing::info!(node = %node.config.name, "metrics_url answers again");
                    }
                    s.scraped = Some(vram);
                    s.metrics_error = None;
                    scrape_wait = interval;
                }
                Err(e) => {
                    if s.metrics_error.is_none() {
                        tracing::warn!(node = %node.config.name, error = %e, "metrics_url scrape failed; VRAM from config or /api/ps");
                    }
                    s.scraped = None;
                    s.metrics_error = Some(e.to_string());
                    scrape_wait = (scrape_wait * 2).min(MAX_BACKOFF);
                }
            }
            next_scrape = Instant::now() + scrape_wait.saturating_sub(interval);
        }
        node.announce(false);
    }
}

async fn probe(node: &Node, full: bool) -> Result<()> {
    let ps = node.client.ps().await?;
    let resident = ps
        .models
        .iter()
        .map(|m| (canonical(&m.name), m.size_vram.unwrap_or(m.size)))
        .collect();
    {
        let mut s = lock(&node.state);
        s.resident = resident;
        s.lists.running = ps.models.into();
    }
    if full {
        let tags = node.client.tags().await?;
        let installed = tags
            .models
            .iter()
            .map(|m| (canonical(&m.name), m.size))
            .collect();
        let version = node.client.version().await?.version;
        let mut s = lock(&node.state);
        s.installed = Some(installed);
        s.lists.installed = Some(tags.models.into());
        s.version = Some(version);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
