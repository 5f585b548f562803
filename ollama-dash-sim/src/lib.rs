//! The Ollama simulator: the one stand-in for Ollama used by every test and by
//! `ollama-dash serve --simulate`. It speaks Ollama's native HTTP API as `shared/ollama-api.md`
//! (sections 0–12) describes it: the same routes, field names, omitted-when-empty fields, status
//! codes, plain-text and JSON error bodies, NDJSON streaming and nanosecond metrics, with a
//! deterministic "model" behind it and knobs ([`SimControl`]) to make it misbehave on purpose.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use ollama_dash_sim::{SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::default()).await?;
//! let base_url = sim.url(); // "http://127.0.0.1:PORT", talk to it like Ollama
//! sim.control().fail_next(1, 503, "server busy, please try again.  maximum pending requests exceeded");
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! With the scheduler knobs of [`SimConfig`] (VRAM budget, load rate, `OLLAMA_MAX_LOADED_MODELS`,
//! `OLLAMA_NUM_PARALLEL`, `OLLAMA_MAX_QUEUE`, prompt cache) it schedules requests like Ollama's
//! `server/sched.go` (`docs/sim-scheduler.md`), and a [`Fleet`] runs several of them, each with
//! its own configuration, for multi-node tests and benches.
#![warn(missing_docs)]

mod catalogue;
mod fault;
mod fleet;
mod keep_alive;
mod model;
mod names;
mod prompt_cache;
mod routes;
mod scheduler;
mod server;
mod state;
mod text;
mod version;
mod wire;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use fault::Fault;
use scheduler::Rules;
use state::Sim;

pub use fleet::Fleet;

/// How to run a simulator.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Where to listen; `127.0.0.1:0` (any free port) by default.
    pub listen: SocketAddr,
    /// The Ollama version to report and imitate (fields that changed across versions follow it).
    pub version: String,
    /// Delay between streamed tokens; 0 for tests, the CLI uses about 30 ms.
    pub token_delay: Duration,
    /// Time to "load" a model that is not in memory (added to the time `load_bytes_per_sec`
    /// gives).
    pub load_delay: Duration,
    /// The GPU's VRAM. `None`: an 8 GiB pretend GPU; a model that does not fit spills into RAM
    /// and nothing is ever unloaded to make room. `Some`: a model must fit next to the loaded
    /// ones (the first one may spill), else idle models are unloaded, shortest keep-alive then
    /// least recently used first; while every loaded model is busy the request waits.
    pub vram_bytes: Option<u64>,
    /// When set, a cold load also takes the model's weight bytes divided by this rate.
    pub load_bytes_per_sec: Option<u64>,
    /// `OLLAMA_MAX_LOADED_MODELS`: at most this many models loaded (one is unloaded to make
    /// room, as for VRAM). `None`: no limit.
    pub max_loaded_models: Option<u32>,
    /// `OLLAMA_NUM_PARALLEL`: requests one loaded model runs at once (embedding models: 1);
    /// more wait for a slot. The KV cache, and so the size, grows with it. `None`: no limit.
    pub num_parallel: Option<u32>,
    /// `OLLAMA_MAX_QUEUE`: requests waiting for the scheduler (to load a model or make room)
    /// beyond this are answered 503 `server busy, please try again.  maximum pending requests
    /// exceeded`. `None`: no limit.
    pub max_queue: Option<u32>,
    /// A request whose leading tokens repeat the last sequence of a free parallel slot reports
    /// them as cached: a shorter `prompt_eval_duration` (and `prompt_eval_count` for the versions
    /// that counted only evaluated tokens: before 0.4.0, and 0.30.0). Off: nothing is cached.
    pub prompt_cache: bool,
    /// Models to load at start, with the default keep-alive.
    pub preload: Vec<String>,
    /// Where uploaded blobs are kept; `None` uses a temporary directory removed with the simulator.
    pub data_dir: Option<PathBuf>,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            version: "0.12.6".to_owned(),
            token_delay: Duration::ZERO,
            load_delay: Duration::ZERO,
            vram_bytes: None,
            load_bytes_per_sec: None,
            max_loaded_models: None,
            num_parallel: None,
            max_queue: None,
            prompt_cache: false,
            preload: Vec::new(),
            data_dir: None,
        }
    }
}

/// Starts simulators.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Binds `config.listen` and serves until the handle is shut down or dropped.
    pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let control = SimControl::detached(&config)?;
        control
            .sim
            .guard_hosts
            .store(addr.ip().is_loopback(), Ordering::Relaxed);
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(server::serve(
            listener,
            routes::router(control.sim.clone()),
            control.sim.clone(),
            stopped,
        ));
        Ok(SimHandle {
            addr,
            control,
            stop,
            task: Some(task),
        })
    }
}

/// A running simulator; it stops when shut down or dropped.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    control: SimControl,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The test knobs.
    pub fn control(&self) -> SimControl {
        self.control.clone()
    }

    /// Stops accepting connections, lets requests in flight finish (at most 5 s) and returns.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// Knobs for tests; cheap to clone, and every change applies to the next request.
#[derive(Clone, Debug)]
pub struct SimControl {
    sim: Arc<Sim>,
}

impl SimControl {
    /// A simulator state without a server, for [`router`] in in-process tests.
    pub fn detached(config: &SimConfig) -> std::io::Result<SimControl> {
        let sim = Sim::new(
            config.data_dir.as_deref(),
            &config.version,
            config.token_delay,
            config.load_delay,
            Rules {
                vram_bytes: config.vram_bytes,
                load_bytes_per_sec: config.load_bytes_per_sec,
                max_loaded_models: config.max_loaded_models,
                num_parallel: config.num_parallel,
                max_queue: config.max_queue,
                prompt_cache: config.prompt_cache,
            },
        )?;
        sim.preload(&config.preload)?;
        Ok(SimControl { sim: Arc::new(sim) })
    }

    /// Sets the delay between streamed tokens.
    pub fn set_token_delay(&self, d: Duration) {
        self.sim.knobs.set_token_delay(d);
    }

    /// Sets how long loading a model takes.
    pub fn set_load_delay(&self, d: Duration) {
        self.sim.knobs.set_load_delay(d);
    }

    /// Every `/api/` request waits `d` before it is handled: a slow Ollama.
    pub fn set_response_delay(&self, d: Duration) {
        self.sim.knobs.set_response_delay(d);
    }

    /// The next `n` requests to any `/api/` route answer `{"error":message}` with `status`.
    pub fn fail_next(&self, n: u32, status: u16, message: &str) {
        self.sim.knobs.fail_next(n, status, message);
    }

    /// Generate and chat streams end with an `{"error":…}` line (no done line) after `tokens`
    /// tokens; with 0 the request fails with a 500 before any line. `None` turns it off.
    pub fn die_mid_stream_after(&self, tokens: Option<u32>) {
        self.sim.knobs.set_die_after(tokens);
    }

    /// Generate and chat responses are cut off (connection closed, no error line) after `tokens`
    /// tokens. `None` turns it off.
    pub fn drop_connection_mid_stream_after(&self, tokens: Option<u32>) {
        self.sim.knobs.set_drop_after(tokens);
    }

    /// While true, new connections are reset at once and open ones are closed.
    pub fn set_refuse_connections(&self, refuse: bool) {
        self.sim.knobs.refuse.send_replace(refuse);
    }

    /// Kills the simulator as a crashed Ollama dies: the port is closed (new connections are
    /// refused), open connections are dropped and loaded models are gone. [`SimControl::recover`]
    /// listens again on the same address.
    pub fn kill(&self) {
        self.sim.unload_all();
        self.sim.knobs.fault.send_replace(Fault::Killed);
        tracing::info!("simulator killed");
    }

    /// Stalls the simulator: it accepts connections and reads requests but answers none, and
    /// streams in progress stop between tokens, until [`SimControl::recover`].
    pub fn stall(&self) {
        self.sim.knobs.fault.send_replace(Fault::Stalled);
    }

    /// Slows generation down: the token delay and the reported eval and prompt-eval times are
    /// multiplied by `factor` (1 is normal speed; 0 counts as 1).
    pub fn slow(&self, factor: u32) {
        self.sim.knobs.set_slowdown(factor);
    }

    /// Back to normal after [`SimControl::kill`], [`SimControl::stall`] or
    /// [`SimControl::slow`]: listening, answering, full speed.
    pub fn recover(&self) {
        self.sim.knobs.set_slowdown(1);
        self.sim.knobs.fault.send_replace(Fault::Normal);
    }

    /// Changes the reported version and the version-dependent behaviour.
    pub fn set_version(&self, v: &str) {
        self.sim.knobs.set_version(v);
    }

    /// How many requests have hit `path` (e.g. `/api/chat`), whatever their outcome.
    pub fn request_count(&self, path: &str) -> u64 {
        self.sim.knobs.request_count(path)
    }
}

/// The simulator's HTTP routes as an axum router over `control`'s state (no socket needed).
pub fn router(control: &SimControl) -> axum::Router {
    routes::router(control.sim.clone())
}

/// Runs a simulator until `shutdown` completes; logs `Listening on ADDR (version X)` via tracing.
pub async fn run_standalone(
    config: SimConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let version = config.version.clone();
    let handle = Simulator::start(config).await?;
    tracing::info!("Listening on {} (version {version})", handle.addr());
    shutdown.await;
    handle.shutdown().await;
    Ok(())
}
