//! The wasmtime side: one engine (fuel metering, compile cache), one linker, the WIT bindings,
//! and the sandbox every instance runs in.

use std::path::Path;
use std::sync::Arc;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Cache, CacheConfig, Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The generated bindings of `bindings/wit` (world `plugin`). The only `bindgen!` in the
/// workspace.
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../bindings/wit",
        world: "plugin",
    });
}

/// The WIT types, by their WIT names.
pub(crate) mod wit {
    pub(crate) use super::bindings::ollama_dash::plugin::types::*;
}

pub(crate) use bindings::{Plugin as PluginBindings, PluginPre};

/// Interfaces a plugin may import. The WIT package is the contract; the WASI ones are what a
/// Rust `wasm32-wasip2` std program imports even when it never uses them, and they grant
/// nothing here: no environment variables, stdin closed, stdout/stderr discarded, `exit` traps.
/// Files, sockets and clocks are refused at load.
const ALLOWED_IMPORTS: &[&str] = &[
    "ollama-dash:plugin/",
    "wasi:io/",
    "wasi:cli/environment@",
    "wasi:cli/exit@",
    "wasi:cli/stdin@",
    "wasi:cli/stdout@",
    "wasi:cli/stderr@",
    "wasi:cli/terminal-",
    "wasi:random/",
];

/// Most log lines one call may write; more are dropped.
const LOG_LINES_PER_CALL: u32 = 32;
/// Longest log line kept, in bytes.
const LOG_LINE_MAX: usize = 1024;

/// Per-store state: the sandbox's WASI context (empty), its limits and the log budget.
pub(crate) struct HostState {
    plugin: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    log_budget: u32,
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostState")
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

impl HostState {
    /// Tags later log lines with the plugin's own name (known after `describe`).
    pub(crate) fn rename(&mut self, plugin: &Arc<str>) {
        self.plugin = Arc::clone(plugin);
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl bindings::ollama_dash::plugin::types::Host for HostState {}

impl bindings::ollama_dash::plugin::logger::Host for HostState {
    fn log(&mut self, level: wit::LogLevel, message: String) {
        if self.log_budget == 0 {
            return;
        }
        self.log_budget -= 1;
        let mut end = message.len().min(LOG_LINE_MAX);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let message = &message[..end];
        let plugin = &*self.plugin;
        match level {
            wit::LogLevel::Trace => tracing::trace!(target: "plugin", plugin, "{message}"),
            wit::LogLevel::Debug => tracing::debug!(target: "plugin", plugin, "{message}"),
            wit::LogLevel::Info => tracing::info!(target: "plugin", plugin, "{message}"),
            wit::LogLevel::Warn => tracing::warn!(target: "plugin", plugin, "{message}"),
            wit::LogLevel::Error => tracing::error!(target: "plugin", plugin, "{message}"),
        }
    }
}

/// Limits of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Linear memory cap in bytes (per memory; a Rust plugin has one).
    pub(crate) memory_bytes: usize,
    /// Fuel (≈ wasm instructions) per call.
    pub(crate) fuel: u64,
}

/// The engine and linker every plugin shares.
#[derive(Clone)]
pub(crate) struct Runtime {
    engine: Engine,
    linker: Arc<Linker<HostState>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

impl Runtime {
    /// An engine with fuel metering and, when `cache_dir` is given, wasmtime's compile cache
    /// there (keyed by the wasm bytes' hash plus the engine's version and settings).
    pub(crate) fn new(cache_dir: Option<&Path>) -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.consume_fuel(true);
        config.max_wasm_stack(512 * 1024);
        if let Some(dir) = cache_dir {
            let dir = std::path::absolute(dir)?;
            let mut cache = CacheConfig::new();
            cache.with_directory(dir);
            config.cache(Some(Cache::new(cache)?));
        }
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        PluginBindings::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(
            &mut linker,
            |state| state,
        )?;
        Ok(Self {
            engine,
            linker: Arc::new(linker),
        })
    }

    /// Compiles (or fetches from the cache), checks the imports, and pre-links a component.
    pub(crate) fn prepare(&self, wasm: &[u8]) -> Result<PluginPre<HostState>, String> {
        if !wasmparser_is_component(wasm) {
            return Err("not a WebAssembly component (build with --target wasm32-wasip2)".into());
        }
        // wasmtime reports bad input as errors; the catch is cheap insurance at a trust boundary.
        let compiled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Component::new(&self.engine, wasm)
        }))
        .map_err(|_| "the compiler panicked on this file".to_owned())?
        .map_err(|e| format!("not a valid component: {e:#}"))?;
        let ty = compiled.component_type();
        for (name, _) in ty.imports(&self.engine) {
            if !ALLOWED_IMPORTS
                .iter()
                .any(|allowed| name.starts_with(allowed))
            {
                return Err(format!(
                    "imports {name}, which plugins may not use (only the logger and inert WASI \
                     basics: no files, network, environment or clock)"
                ));
            }
        }
        let pre = self
            .linker
            .instantiate_pre(&compiled)
            .map_err(|e| format!("cannot link: {e:#}"))?;
        PluginPre::new(pre).map_err(|e| format!("does not match ollama-dash:plugin@0.1.0: {e:#}"))
    }

    /// A fresh sandbox: its own store, empty WASI context, memory cap, no fuel yet.
    pub(crate) fn store(&self, plugin: &Arc<str>, limits: Limits) -> Store<HostState> {
        let state = HostState {
            plugin: Arc::clone(plugin),
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .memories(2)
                .tables(8)
                .table_elements(100_000)
                .instances(32)
                .trap_on_grow_failure(true)
                .build(),
            log_budget: LOG_LINES_PER_CALL,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        store
    }
}

/// Refills the store's fuel and log budget before a call.
pub(crate) fn arm(store: &mut Store<HostState>, fuel: u64) -> wasmtime::Result<()> {
    store.data_mut().log_budget = LOG_LINES_PER_CALL;
    store.set_fuel(fuel)
}

/// Whether the bytes carry the component-model preamble (version 0x0d, layer 1).
fn wasmparser_is_component(wasm: &[u8]) -> bool {
    wasm.len() >= 8 && wasm[..4] == *b"\0asm" && wasm[4..8] == [0x0d, 0x00, 0x01, 0x00]
}
