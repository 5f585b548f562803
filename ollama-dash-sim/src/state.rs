//! The simulator's state: test knobs, installed models, loaded models (`/api/ps`), blobs on disk,
//! and the tiny "scheduler" that loads models, splits them over a pretend GPU and expires them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Local};
use tokio::sync::watch;

use super::catalogue;
use super::keep_alive::KeepAlive;
use super::model::Model;
use super::names::Name;
use super::version::Features;

/// The pretend GPU: 8 GiB of VRAM.
const GPU_BYTES: u64 = 8 << 30;

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
            version: Mutex::new(version.to_owned()),
            counts: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn token_delay(&self) -> Duration {
        Duration::from_nanos(self.token_delay_ns.load(Ordering::Relaxed))
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
    in_flight: u32,
    /// Identifies one load, so a lease never touches a later reload of the same model.
    generation: u64,
}

#[derive(Debug, Default)]
struct Inner {
    models: BTreeMap<String, Arc<Model>>,
    loaded: BTreeMap<String, Loaded>,
    generations: u64,
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
    _temp: Option<tempfile::TempDir>,
}

impl Sim {
    /// Creates the state with the catalogue installed; blobs live in `data_dir/blobs` or a temp dir.
    pub(crate) fn new(
        data_dir: Option<&Path>,
        version: &str,
        token_delay: Duration,
        load_delay: Duration,
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
        }
        inner.models.insert(key, Arc::new(model));
    }

    /// Removes a model, unloads it, and deletes blob files no other model references.
    pub(crate) fn remove(&self, name: &Name) -> Option<Arc<Model>> {
        let key = name.key();
        let mut inner = lock(&self.inner);
        let removed = inner.models.remove(&key)?;
        inner.loaded.remove(&key);
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
        lock(&self.inner).loaded.remove(&name.key());
    }

    /// `/api/ps`: loaded models, most time left first; expired ones are dropped first.
    pub(crate) fn running(&self) -> Vec<Loaded> {
        let mut inner = lock(&self.inner);
        prune(&mut inner.loaded);
        let mut loaded: Vec<Loaded> = inner.loaded.values().cloned().collect();
        loaded.sort_by_key(|l| std::cmp::Reverse(l.expires_at.timestamp()));
        loaded
    }

    /// Schedules a request on a model: loads it (waiting the load delay) unless it is already
    /// loaded with the same context, and holds it until the returned lease is dropped. The lease's
    /// `load_duration` is non-zero when this request loaded the model or waited for its load.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        model: &Arc<Model>,
        context: u64,
        keep_alive: KeepAlive,
    ) -> Lease {
        let start = Instant::now();
        let key = model.name.key();
        let (ready_at, generation, loading) = {
            let mut inner = lock(&self.inner);
            prune(&mut inner.loaded);
            let reuse = inner
                .loaded
                .get(&key)
                .is_some_and(|l| l.model.digest == model.digest && l.context_length == context);
            if !reuse {
                load(
                    &mut inner,
                    model,
                    context,
                    keep_alive,
                    start + self.knobs.load_delay(),
                );
            }
            match inner.loaded.get_mut(&key) {
                Some(l) => {
                    l.in_flight += 1;
                    l.expires_at = keep_alive.expires_at(Local::now());
                    (l.ready_at, l.generation, !reuse || l.ready_at > start)
                }
                None => (start, 0, false),
            }
        };
        let mut lease = Lease {
            sim: self.clone(),
            key,
            generation,
            keep_alive,
            load_duration: Duration::ZERO,
        };
        if ready_at > Instant::now() {
            tokio::time::sleep_until(ready_at.into()).await;
        }
        if loading {
            lease.load_duration = start.elapsed().max(Duration::from_nanos(1));
        }
        lease
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
            load(
                &mut lock(&self.inner),
                &model,
                context,
                KeepAlive::DEFAULT,
                Instant::now(),
            );
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
        if keep_alive.is_zero() && loaded.in_flight == 0 {
            inner.loaded.remove(key);
        }
    }
}

/// Puts a model in memory: fully on the GPU while it fits, else split between GPU and RAM.
fn load(
    inner: &mut Inner,
    model: &Arc<Model>,
    context: u64,
    keep_alive: KeepAlive,
    ready_at: Instant,
) {
    inner.generations += 1;
    let size = model.memory(context);
    let used: u64 = inner
        .loaded
        .iter()
        .filter(|(key, _)| **key != model.name.key())
        .map(|(_, l)| l.size_vram)
        .sum();
    let free = GPU_BYTES.saturating_sub(used);
    let size_vram = if size <= free {
        size
    } else {
        free - free % (64 << 20)
    };
    let loaded = Loaded {
        model: model.clone(),
        size,
        size_vram,
        context_length: context,
        expires_at: keep_alive.expires_at(Local::now()),
        ready_at,
        in_flight: 0,
        generation: inner.generations,
    };
    inner.loaded.insert(model.name.key(), loaded);
}

/// Drops loaded models whose time is up and that no request is using.
fn prune(loaded: &mut BTreeMap<String, Loaded>) {
    let now = Local::now();
    loaded.retain(|_, l| l.in_flight > 0 || l.expires_at > now);
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
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.sim
            .release(&self.key, self.generation, self.keep_alive);
    }
}
