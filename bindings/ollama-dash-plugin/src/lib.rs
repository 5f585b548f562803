//! Guest SDK for [ollama-dash] plugins.
//!
//! A plugin is a WebAssembly component that ollama-dash loads from its plugins directory. It
//! can be a **capability detector** (it looks at an installed model and adds capability flags,
//! such as `code`) and/or a **metrics collector** (it looks at a snapshot of the host's stats and
//! returns named metrics, shown in `/metrics`, the stats and the event stream). It runs in a
//! sandbox: no files, no network, no environment, no clock; its only way out is the log.
//!
//! You implement [`Plugin`] on a unit struct and name it in [`export_plugin!`]; this crate hides
//! the WIT bindings (`bindings/wit`, package `ollama-dash:plugin@0.1.0`).
//!
//! # A complete detector
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "code-models"
//! version = "0.1.0"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! ollama-dash-plugin = { path = "../../bindings/ollama-dash-plugin" }
//! ```
//!
//! `src/lib.rs` (this exact file is `examples/detector.rs`, built and loaded by the tests):
//!
#![doc = concat!("```rust,ignore\n", include_str!("../examples/detector.rs"), "```")]
//!
//! Build and install:
//!
//! ```sh
//! rustup target add wasm32-wasip2
//! cargo build --release --target wasm32-wasip2
//! cp target/wasm32-wasip2/release/code_models.wasm "$DATA_PATH/plugins/"
//! ```
//!
//! The server picks it up within seconds (or at once on `POST /api/plugins/reload`);
//! `GET /api/plugins` shows its state.
//!
//! # Rules the host enforces
//!
//! - Flags: lower case `[a-z0-9][a-z0-9-]*`, at most 32 characters, at most 16 per model.
//! - Metrics: names `[a-z_][a-z0-9_]*` (at most 64 characters; the host prefixes
//!   `ollama_dash_plugin_` and adds a `plugin` label; counters also get `_total`), finite values,
//!   at most 8 labels (unique, not `plugin`, not starting with `__`), at most 256 metrics per call.
//! - Each call has a CPU budget (10 M fuel, about half a millisecond of a tight loop), a
//!   wall-clock deadline (about 100 ms), a log budget (32 lines) and the instance a memory cap
//!   (16 MiB by default); one call may hand the host at most 1 MiB. A panic, a runaway loop,
//!   running out of memory or an answer breaking the rules above counts as a failure: the plugin
//!   turns `degraded`, and after a few failures in a row `disabled` until a forced reload
//!   (`POST /api/plugins/reload`) or a new version of its file.
//! - Calls to one plugin run one at a time.
//! - Instances are reused between calls, but any failure throws the instance away, so keep no
//!   state you cannot lose.
//!
//! # Settings
//!
//! An optional manifest next to the component (`code_models.toml` beside `code_models.wasm`)
//! may hold `[settings]`; read them with [`setting`], check them in [`Plugin::configure`].

use std::sync::Mutex;

// Lets the generated code name this crate the same way from inside and from plugins.
extern crate self as ollama_dash_plugin;

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

#[doc(hidden)]
pub mod __bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "ollama_dash_plugin::__bindings",
        runtime_path: "ollama_dash_plugin::__wit_bindgen::rt",
    });
}

use __bindings::exports::ollama_dash::plugin::{capability_detector, meta, metrics_collector};
use __bindings::ollama_dash::plugin::logger;
pub use __bindings::ollama_dash::plugin::types::{
    Gpu, HostSnapshot, InstalledModel, Kv, LogLevel, Metric, MetricKind, ModelFacts, PluginInfo,
    Provides, RunningModel, TraceWindow,
};

/// A plugin: who it is and what it does. Implement the parts you list in
/// [`PROVIDES`](Plugin::PROVIDES); the others are never called.
pub trait Plugin: 'static {
    /// Short stable identifier, `[a-z0-9][a-z0-9-]*`; flags you detect carry it as their source.
    const NAME: &'static str;
    /// Your plugin's version, e.g. `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;
    /// One line for people.
    const DESCRIPTION: &'static str = "";
    /// The parts you implement.
    const PROVIDES: &'static [Provides];

    /// Checks the manifest's `[settings]` (also readable any time with [`setting`]). An error
    /// refuses them and the plugin is not loaded.
    fn configure(settings: &[Kv]) -> Result<(), String> {
        let _ = settings;
        Ok(())
    }

    /// Extra capability flags for `model`; an empty list adds nothing.
    fn detect(model: &ModelFacts) -> Result<Vec<String>, String> {
        let _ = model;
        Ok(Vec::new())
    }

    /// Metrics derived from `snapshot`.
    fn collect(snapshot: &HostSnapshot) -> Result<Vec<Metric>, String> {
        let _ = snapshot;
        Ok(Vec::new())
    }
}

/// Exports a [`Plugin`] implementation as the component's entry points. Use it once per crate.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        type __OllamaDashExport = $crate::Adapter<$plugin>;
        $crate::__bindings::__export_world!(
            __OllamaDashExport with_types_in $crate::__bindings
        );
    };
}

/// Connects a [`Plugin`] to the generated bindings; named only by [`export_plugin!`].
#[doc(hidden)]
#[derive(Debug)]
pub struct Adapter<P>(std::marker::PhantomData<P>);

static SETTINGS: Mutex<Vec<Kv>> = Mutex::new(Vec::new());

impl<P: Plugin> meta::Guest for Adapter<P> {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: P::NAME.to_owned(),
            version: P::VERSION.to_owned(),
            description: P::DESCRIPTION.to_owned(),
            provides: P::PROVIDES.to_vec(),
        }
    }

    fn configure(settings: Vec<Kv>) -> Result<(), String> {
        P::configure(&settings)?;
        if let Ok(mut stored) = SETTINGS.lock() {
            *stored = settings;
        }
        Ok(())
    }
}

impl<P: Plugin> capability_detector::Guest for Adapter<P> {
    fn detect(model: ModelFacts) -> Result<Vec<String>, String> {
        P::detect(&model)
    }
}

impl<P: Plugin> metrics_collector::Guest for Adapter<P> {
    fn collect(snapshot: HostSnapshot) -> Result<Vec<Metric>, String> {
        P::collect(&snapshot)
    }
}

/// The value of a manifest setting, if the manifest has it.
pub fn setting(key: &str) -> Option<String> {
    let settings = SETTINGS.lock().ok()?;
    settings
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| kv.value.clone())
}

/// Writes a line to the host's log, tagged with the plugin's name.
pub fn log(level: LogLevel, message: &str) {
    logger::log(level, message);
}

/// [`log`] at info level.
pub fn info(message: &str) {
    log(LogLevel::Info, message);
}

/// [`log`] at warn level.
pub fn warn(message: &str) {
    log(LogLevel::Warn, message);
}

impl ModelFacts {
    /// Whether `family` is the main family or one of the families (case-insensitive).
    pub fn has_family(&self, family: &str) -> bool {
        self.family.eq_ignore_ascii_case(family)
            || self.families.iter().any(|f| f.eq_ignore_ascii_case(family))
    }

    /// A `model_info` value, e.g. `info("general.architecture")`.
    pub fn info(&self, key: &str) -> Option<&str> {
        self.model_info
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| kv.value.as_str())
    }

    /// Whether a capability is already known (from Ollama or earlier detectors).
    pub fn has_capability(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }
}

impl Metric {
    /// A gauge with no labels.
    pub fn gauge(name: &str, help: &str, value: f64) -> Self {
        Self {
            name: name.to_owned(),
            help: help.to_owned(),
            value,
            labels: Vec::new(),
            kind: MetricKind::Gauge,
        }
    }

    /// A counter with no labels.
    pub fn counter(name: &str, help: &str, value: f64) -> Self {
        Self {
            kind: MetricKind::Counter,
            ..Self::gauge(name, help, value)
        }
    }

    /// Adds a label.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.push(Kv {
            key: key.to_owned(),
            value: value.to_owned(),
        });
        self
    }
}
