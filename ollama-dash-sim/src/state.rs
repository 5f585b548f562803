//! The simulator's state: test knobs, installed models, loaded models (`/api/ps`), blobs on disk,
//! and the scheduler that loads models (rules in `scheduler`), gives each a number of parallel
//! slots and a prompt cache, unloads them to make room and expires them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Local};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::catalogue;
use super::fault::Fault;
use super::keep_alive::KeepAlive;
use super::model::Model;
use super::names::Name;
use super::prompt_cache::PromptCache;
use super::scheduler::{self, Plan, Rules};
use super::version::Features;
use super::wire::ApiError;

/// Test knobs; every one takes effect for the next request.
#[derive(Debug)]
pub(crate) struct Knobs {
    token_delay_ns: AtomicU64,
    load_delay_ns: AtomicU64,
    /// Every `/api/` request waits this long before it is handled (a slow Ollama).
    response_delay_ns: AtomicU64,
    /// Next N `/api/*` requests fail with (status, message).
    fail: Mutex<Option<(u32, u16, String)>>,
    /// Tokens before a stream ends in an error line; -1 is off.
    die_after: AtomicI64,
    /// Tokens before a stream's connection is cut; -1 is off.
    drop_after: AtomicI64,
    pub(crate) refuse: watch::Sender<bool>,
    /// Killed, stalled or normal.
    pub(crate) fault: watch::Sender<Fault>,
    /// Token time is multiplied by this (1 = normal).
    slow: AtomicU32,
    version: Mutex<String>,
    counts: Mutex<HashMap<String, u64>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn to_knob(tokens: Option<u32>) -> i64 {
    tokens.map_or(-1, i64::from)
}

fn from_knob(value: i64) -> Option<u32> {
    u32::try_from(value).ok()
}

impl Knobs {
    fn new(token_delay: Duration, load_delay: Duration, version: &str) -> Knobs {
        Knobs {
            token_delay_ns: AtomicU64::new(nanos(token_delay)),
            load_delay_ns: AtomicU64::new(nanos(load_delay)),
            response_delay_ns: AtomicU64::new(0),
            fail: Mutex::new(None),
            die_after: AtomicI64::new(-1),
            drop_after: AtomicI64::new(-1),
            refuse: watch::Sender::new(false),
            fault: watch::Sender::new(Fault::Normal),
            slow: AtomicU32::new(1),
            version: Mutex::new(version.to_owned()),
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// The delay between tokens, slowed down by the slow knob.
    pub(crate) fn token_delay(&self) -> Duration {
        Duration::from_nanos(self.token_delay_ns.load(Ordering::Relaxed)) * self.slowdown()
    }

    /// The slow knob's factor (1 = normal).
    pub(crate) fn slowdown(&self) -> u32 {
        self.slow.load(Ordering::Relaxed).max(1)
    }

    pub(crate) fn set_slowdown(&self, factor: u32) {
        self.slow.store(factor.max(1), Ordering::Relaxed);
    }

    pub(crate) fn set_token_delay(&self, d: Duration) {
        self.token_delay_ns.store(nanos(d), Ordering::Relaxed);
    }

    pub(crate) fn load_delay(&self) -> Duration {
        Duration::from_nanos(self.load_delay_ns.load(Ordering::Relaxed))
    }

    pub(crate) fn set_load_delay(&self, d: Duration) {
        self.load_delay_ns.store(nanos(d), Ordering::Relaxed);
    }

    pub(crate) fn response_delay(&self) -> Duration {
        Duration::from_nanos(self.response_delay_ns.load(Ordering::Relaxed))
    }

    pub(crate) fn set_response_delay(&self, d: Duration) {
        self.response_delay_ns.store(nanos(d), Ordering::Relaxed);
    }

    pub(crate) fn fail_next(&self, n: u32, status: u16, message: &str) {
        *lock(&self.fail) = (n > 0).then(|| (n, status, message.to_owned()));
    }

    /// Consumes one planned failure, if any.
    pub(crate) fn take_failure(&self) -> Option<(u16, String)> {
        let mut fail = lock(&self.fail);
        let (left, status, message) = fail.as_mut()?;
        *left -= 1;
        let out = (*status, message.clone());
        if *left == 0 {
            *fail = None;
        }
        Some(out)
    }

    pub(crate) fn set_die_after(&self, tokens: Option<u32>) {
        self.die_after.store(to_knob(tokens), Ordering::Relaxed);
    }

    pub(crate) fn die_after(&self) -> Option<u32> {
        from_knob(self.die_after.load(Ordering::Relaxed))
    }

    pub(crate) fn set_drop_after(&self, tokens: Option<u32>) {
        self.drop_after.store(to_knob(tokens), Ordering::Relaxed);
    }

    pub(crate) fn drop_after(&self) -> Option<u32> {
        from_knob(self.drop_after.load(Ordering::Relaxed))
    }

    pub(crate) fn version(&self) -> String {
        lock(&self.version).clone()
    }

    pub(crate) fn set_version(&self, version: &str) {
        *lock(&self.version) = version.to_owned();
    }

    pub(crate) fn features(&self) -> Features {
        Features::of(&lock(&self.version))
    }

    pub(crate) fn count(&self, path: &str) {
        *lock(&self.counts).entry(path.to_owned()).or_default() += 1;
    }

    pub(crate) fn request_count(&self, path: &str) -> u64 {
        lock(&self.counts).get(path).copied().unwrap_or(0)
    }
}

/// A model in memory.
#[derive(Clone, Debug)]
pub(crate) struct Loaded {
    pub(crate) model: Arc<Model>,
    pub(crate) size: u64,
    pub(crate) size_vram: u64,
    pub(crate) context_length: u64,
    pub(crate) expires_at: DateTime<Local>,
    ready_at: Instant,
    /// Requests holding it (running, waiting for a slot or for the load): Ollama's `refCount`.
    pub(crate) in_flight: u32,
    /// Identifies one load, so a lease never touches a later reload of the same model.
    generation: u64,
    /// The keep-alive of the latest request (Ollama's `sessionDuration`), for eviction order.
    pub(crate) session: KeepAlive,
    /// When a request last took it, for eviction order.
    pub(crate) last_used: Instant,
    /// Chosen to make room: unloaded as soon as no request holds it.
    evicting: bool,
    /// The parallel slots (`OLLAMA_NUM_PARALLEL`); `None` is unlimited.
    slots: Option<Arc<Semaphore>>,
    cache: PromptCache,
}

#[derive(Debug, Default)]
struct Inner {
    models: BTreeMap<String, Arc<Model>>,
    loaded: BTreeMap<String, Loaded>,
    generations: u64,
}

/// A request's claim on a loaded (or loading) model, before it waits for the load and a slot.
#[derive(Debug)]
struct Claim {
    ready_at: Instant,
    generation: u64,
    slots: Option<Arc<Semaphore>>,
    loading: bool,
}

/// Everything the routes share.
#[derive(Debug)]
pub(crate) struct Sim {
    pub(crate) knobs: Knobs,
    /// Whether the Host-header guard applies (bound to a loopback address).
    pub(crate) guard_hosts: AtomicBool,
    pub(crate) hostname: String,
    blobs: PathBuf,
    inner: Mutex<Inner>,
    rules: Rules,
    /// Ollama's `processPending` loop: one request at a time decides a load or an eviction.
    pending: tokio::sync::Mutex<()>,
    /// Requests waiting for `pending` (Ollama's `pendingReqCh`, bounded by `OLLAMA_MAX_QUEUE`).
    queued: AtomicU32,
    /// Bumped on every unload, for requests waiting for room.
    unloads: watch::Sender<u64>,
    _temp: Option<tempfile::TempDir>,
}

impl Sim {
    /// Creates the state with the catalogue installed; blobs live in `data_dir/blobs` or a temp dir.
    pub(crate) fn new(
        data_dir: Option<&Path>,
        version: &str,
        token_delay: Duration,
        load_delay: Duration,
        rules: Rules,
    ) -> std::io::Result<Sim> {
        let temp = match data_dir {
            Some(_) => None,
            None => Some(
                tempfile::Builder::new()
                    .prefix("ollama-dash-sim-")
                    .tempdir()?,
            ),
        };
        let root = data_dir
            .or(temp.as_ref().map(tempfile::TempDir::path))
            .unwrap_or(Path::new("."));
        let blobs = root.join("blobs");
        std::fs::create_dir_all(&blobs)?;
        let models = catalogue::installed()
            .into_iter()
            .map(|m| (m.name.key(), Arc::new(m)))
            .collect();
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .unwrap_or_default()
            .trim()
            .to_lowercase();
        Ok(Sim {
            knobs: Knobs::new(token_delay, load_delay, version),
            guard_hosts: AtomicBool::new(true),
            hostname,
            blobs,
            inner: Mutex::new(Inner {
                models,
                ..Inner::default()
            }),
            rules,
            pending: tokio::sync::Mutex::new(()),
            queued: AtomicU32::new(0),
            unloads: watch::Sender::new(0),
            _temp: temp,
        })
    }

    /// The installed model for a name, matched case-insensitively.
    pub(crate) fn find(&self, name: &Name) -> Option<Arc<Model>> {
        lock(&self.inner).models.get(&name.key()).cloned()
    }

    /// Installed models, most recently modified first.
    pub(crate) fn list(&self) -> Vec<Arc<Model>> {
        let mut models: Vec<_> = lock(&self.inner).models.values().cloned().collect();
        models.sort_by_key(|m| std::cmp::Reverse(m.modified_at.timestamp()));
        models
    }

    /// Installs (or replaces) a model; a loaded older version is unloaded.
    pub(crate) fn install(&self, model: Model) {
        let key = model.name.key();
        let mut inner = lock(&self.inner);
        if inner
            .loaded
            .get(&key)
            .is_some_and(|l| l.model.digest != model.digest)
        {
            inner.loaded.remove(&key);
            self.unloaded();
        }
        inner.models.insert(key, Arc::new(model));
    }

    /// Removes a model, unloads it, and deletes blob files no other model references.
    pub(crate) fn remove(&self, name: &Name) -> Option<Arc<Model>> {
        let key = name.key();
        let mut inner = lock(&self.inner);
        let removed = inner.models.remove(&key)?;
        if inner.loaded.remove(&key).is_some() {
            self.unloaded();
        }
        for digest in removed.blob_digests() {
            if !inner
                .models
                .values()
                .any(|m| m.blob_digests().any(|d| d == digest))
            {
                let _ = std::fs::remove_file(self.blob_path(digest));
            }
        }
        Some(removed)
    }

    /// Where a blob lives: `blobs/sha256-<hex>` (the digest may use `:` or `-`).
    pub(crate) fn blob_path(&self, digest: &str) -> PathBuf {
        self.blobs.join(digest.replacen(':', "-", 1))
    }

    pub(crate) fn blobs_dir(&self) -> &Path {
        &self.blobs
    }

    /// A blob exists if its file does or an installed manifest references it.
    pub(crate) fn blob_exists(&self, digest: &str) -> bool {
        let canonical = digest.replacen('-', ":", 1);
        self.blob_path(digest).is_file()
            || lock(&self.inner)
                .models
                .values()
                .any(|m| m.blob_digests().any(|d| d == canonical))
    }

    /// Unloads a model now (`keep_alive: 0` with no prompt, delete).
    pub(crate) fn unload(&self, name: &Name) {
        if lock(&self.inner).loaded.remove(&name.key()).is_some() {
            self.unloaded();
        }
    }

    /// Unloads every model (the simulator was killed: its runners died with it).
    pub(crate) fn unload_all(&self) {
        let mut inner = lock(&self.inner);
        if !inner.loaded.is_empty() {
            inner.loaded.clear();
            self.unloaded();
        }
    }

    /// Tells requests waiting for room that a model was unloaded.
    fn unloaded(&self) {
        self.unloads.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// `/api/ps`: loaded models, most time left first; expired ones are dropped first.
    pub(crate) fn running(&self) -> Vec<Loaded> {
        let mut inner = lock(&self.inner);
        self.prune(&mut inner.loaded);
        let mut loaded: Vec<Loaded> = inner.loaded.values().cloned().collect();
        loaded.sort_by_key(|l| std::cmp::Reverse(l.expires_at.timestamp()));
        loaded
    }

    /// Schedules a request on a model as Ollama's scheduler does: a model loaded with the same
    /// settings is used at once (`GetRunner`); otherwise the request queues for the scheduler
    /// (503 busy past `max_queue`), which loads the model when it fits and else unloads one and
    /// waits. Then the request waits for the load and for one of the model's parallel slots, and
    /// holds them until the returned lease is dropped. The lease's `load_duration` is non-zero
    /// when this request loaded the model or waited for its load.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        model: &Arc<Model>,
        context: u64,
        keep_alive: KeepAlive,
    ) -> Result<Lease, ApiError> {
        let start = Instant::now();
        let key = model.name.key();
        let claim = {
            let mut inner = lock(&self.inner);
            self.prune(&mut inner.loaded);
            claim(&mut inner, model, context, keep_alive, start)
        };
        let claim = match claim {
            Some(claim) => claim,
            None => self.schedule(model, context, keep_alive, start).await?,
        };
        let mut lease = Lease {
            sim: self.clone(),
            key,
            generation: claim.generation,
            keep_alive,
            load_duration: Duration::ZERO,
            permit: None,
            cache: None,
        };
        if claim.ready_at > Instant::now() {
            tokio::time::sleep_until(claim.ready_at.into()).await;
        }
        if claim.loading {
            lease.load_duration = start.elapsed().max(Duration::from_nanos(1));
        }
        if let Some(slots) = claim.slots {
            // `llamaServer.Completion`'s `sem.Acquire`: the semaphore is never closed.
            lease.permit = slots.acquire_owned().await.ok();
        }
        Ok(lease)
    }

    /// The slow path: waits for the scheduler (bounded by `max_queue`), then loads, or unloads
    /// another model and waits for room, until the model can be claimed.
    async fn schedule(
        &self,
        model: &Arc<Model>,
        context: u64,
        keep_alive: KeepAlive,
        start: Instant,
    ) -> Result<Claim, ApiError> {
        // An idle scheduler takes the request at once; otherwise it waits in the queue, which
        // holds `max_queue` requests (Ollama's buffered `pendingReqCh`; a full one is busy).
        let _turn = match self.pending.try_lock() {
            Ok(turn) => turn,
            Err(_) => {
                let queued = self.queued.fetch_add(1, Ordering::SeqCst);
                let in_queue = Queued(&self.queued);
                if self.rules.max_queue.is_some_and(|max| queued >= max) {
                    tracing::debug!(model = %model.name.display(), queued, "queue full, answering busy");
                    return Err(ApiError::new(503, scheduler::BUSY));
                }
                let turn = self.pending.lock().await;
                drop(in_queue);
                turn
            }
        };
        let key = model.name.key();
        loop {
            let mut unloads = self.unloads.subscribe();
            {
                let mut inner = lock(&self.inner);
                self.prune(&mut inner.loaded);
                if let Some(claim) = claim(&mut inner, model, context, keep_alive, start) {
                    return Ok(claim);
                }
                let size = self.rules.memory(model, context);
                match scheduler::plan(&inner.loaded, &key, size, &self.rules) {
                    Plan::Load { size_vram } => {
                        let ready_at =
                            Instant::now() + self.rules.load_time(model, self.knobs.load_delay());
                        self.load(&mut inner, model, context, keep_alive, size_vram, ready_at);
                        if let Some(claim) = claim(&mut inner, model, context, keep_alive, start) {
                            return Ok(Claim {
                                loading: true,
                                ..claim
                            });
                        }
                        continue;
                    }
                    Plan::Evict(victim) => {
                        let idle = inner.loaded.get(&victim).is_none_or(|l| l.in_flight == 0);
                        tracing::debug!(model = %model.name.display(), victim, idle, "unloading to make room");
                        if idle {
                            inner.loaded.remove(&victim);
                            self.unloaded();
                            continue;
                        }
                        if let Some(loaded) = inner.loaded.get_mut(&victim) {
                            loaded.evicting = true;
                        }
                    }
                }
            }
            if unloads.changed().await.is_err() {
                return Err(ApiError::internal("scheduler stopped"));
            }
        }
    }

    /// Loads the models named in the config, with the default keep-alive.
    pub(crate) fn preload(&self, names: &[String]) -> std::io::Result<()> {
        for text in names {
            let model = Name::parse(text)
                .and_then(|name| self.find(&name))
                .ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("preload: model '{text}' not found"),
                    )
                })?;
            let context = self
                .knobs
                .features()
                .default_num_ctx
                .min(model.trained_context());
            let mut inner = lock(&self.inner);
            let size = self.rules.memory(&model, context);
            // Nothing is in use yet, so every model chosen to make room goes at once.
            loop {
                match scheduler::plan(&inner.loaded, &model.name.key(), size, &self.rules) {
                    Plan::Load { size_vram } => {
                        let now = Instant::now();
                        self.load(
                            &mut inner,
                            &model,
                            context,
                            KeepAlive::DEFAULT,
                            size_vram,
                            now,
                        );
                        break;
                    }
                    Plan::Evict(victim) => {
                        inner.loaded.remove(&victim);
                    }
                }
            }
        }
        Ok(())
    }

    fn release(&self, key: &str, generation: u64, keep_alive: KeepAlive) {
        let mut inner = lock(&self.inner);
        let Some(loaded) = inner
            .loaded
            .get_mut(key)
            .filter(|l| l.generation == generation)
        else {
            return;
        };
        loaded.in_flight = loaded.in_flight.saturating_sub(1);
        loaded.expires_at = keep_alive.expires_at(Local::now());
        if (keep_alive.is_zero() || loaded.evicting) && loaded.in_flight == 0 {
            inner.loaded.remove(key);
            self.unloaded();
        }
    }

    /// Takes a prompt-cache slot of the lease's model for `prompt`: the number of leading
    /// tokens already cached (0 when the cache is off or every slot is busy).
    fn take_cache(&self, key: &str, generation: u64, prompt: &[i64]) -> Option<(usize, usize)> {
        if !self.rules.prompt_cache {
            return None;
        }
        let mut inner = lock(&self.inner);
        let loaded = inner
            .loaded
            .get_mut(key)
            .filter(|l| l.generation == generation)?;
        loaded.cache.take(prompt)
    }

    fn put_cache(&self, key: &str, generation: u64, slot: usize, tokens: Vec<i64>) {
        let mut inner = lock(&self.inner);
        if let Some(loaded) = inner
            .loaded
            .get_mut(key)
            .filter(|l| l.generation == generation)
        {
            loaded.cache.put(slot, tokens);
        }
    }

    /// Puts a model in memory with `size_vram` of it on the GPU, ready at `ready_at`.
    fn load(
        &self,
        inner: &mut Inner,
        model: &Arc<Model>,
        context: u64,
        keep_alive: KeepAlive,
        size_vram: u64,
        ready_at: Instant,
    ) {
        inner.generations += 1;
        let parallel = self.rules.parallel(model);
        let loaded = Loaded {
            model: model.clone(),
            size: self.rules.memory(model, context),
            size_vram,
            context_length: context,
            expires_at: keep_alive.expires_at(Local::now()),
            ready_at,
            in_flight: 0,
            generation: inner.generations,
            session: keep_alive,
            last_used: Instant::now(),
            evicting: false,
            slots: parallel.map(|n| Arc::new(Semaphore::new(n as usize))),
            cache: PromptCache::new(parallel.unwrap_or(1)),
        };
        tracing::debug!(model = %model.name.display(), size = loaded.size, size_vram, "loading");
        if inner.loaded.insert(model.name.key(), loaded).is_some() {
            self.unloaded();
        }
    }

    /// Drops loaded models whose time is up and that no request is using.
    fn prune(&self, loaded: &mut BTreeMap<String, Loaded>) {
        let now = Local::now();
        let before = loaded.len();
        loaded.retain(|_, l| l.in_flight > 0 || l.expires_at > now);
        if loaded.len() != before {
            self.unloaded();
        }
    }
}

/// Claims the model when it is loaded (or loading) with the same digest and context: the
/// request holds it, and its keep-alive and last use are updated.
fn claim(
    inner: &mut Inner,
    model: &Arc<Model>,
    context: u64,
    keep_alive: KeepAlive,
    start: Instant,
) -> Option<Claim> {
    let loaded = inner
        .loaded
        .get_mut(&model.name.key())
        .filter(|l| l.model.digest == model.digest && l.context_length == context)?;
    loaded.in_flight += 1;
    loaded.expires_at = keep_alive.expires_at(Local::now());
    loaded.session = keep_alive;
    loaded.last_used = Instant::now();
    Some(Claim {
        ready_at: loaded.ready_at,
        generation: loaded.generation,
        slots: loaded.slots.clone(),
        loading: loaded.ready_at > start,
    })
}

/// One request counted in the scheduler's queue while it waits.
struct Queued<'a>(&'a AtomicU32);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A request's hold on a loaded model; dropping it starts the keep-alive clock.
#[derive(Debug)]
pub(crate) struct Lease {
    sim: Arc<Sim>,
    key: String,
    generation: u64,
    keep_alive: KeepAlive,
    /// How long this request waited for the model to load (zero if it was loaded).
    pub(crate) load_duration: Duration,
    /// One of the model's parallel slots, when they are limited.
    permit: Option<OwnedSemaphorePermit>,
    /// The prompt-cache slot taken and the tokens it will hold.
    cache: Option<(usize, Vec<i64>)>,
}

impl Lease {
    /// Looks `prompt` up in the model's prompt cache and takes a slot for it: how many of its
    /// leading tokens need no evaluation.
    pub(crate) fn cache_prompt(&mut self, prompt: Vec<i64>) -> usize {
        match self.sim.take_cache(&self.key, self.generation, &prompt) {
            Some((slot, cached)) => {
                self.cache = Some((slot, prompt));
                cached
            }
            None => 0,
        }
    }

    /// Adds the answer's tokens to the sequence the cache slot will hold.
    pub(crate) fn cache_answer(&mut self, tokens: impl IntoIterator<Item = i64>) {
        if let Some((_, sequence)) = &mut self.cache {
            sequence.extend(tokens);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some((slot, tokens)) = self.cache.take() {
            self.sim.put_cache(&self.key, self.generation, slot, tokens);
        }
        self.permit = None;
        self.sim
            .release(&self.key, self.generation, self.keep_alive);
    }
}
