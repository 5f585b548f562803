//! `ollama-dash-host`: the ollama-dash server as a library; the `ollama-dash` binary is a thin
//! shell over [`server::Server`].
//!
//! It mounts `ollama_dash_core::Dashboard` behind axum (on hyper 1), adds bearer-token auth, and
//! carries the Ollama simulator that tests and `serve --simulate` talk to.
#![warn(missing_docs)]

pub mod auth;
pub mod config;
pub mod connections;
pub mod data_lock;
pub mod http;
pub mod logging;
/// The WASM plugin host: the `ollama-dash-plugin-host` crate (the only wasmtime dependent).
pub use ollama_dash_plugin_host as plugins;
pub mod server;
pub mod workers;
/// The Ollama simulator: the `ollama-dash-sim` crate (`ollama-dash sim`, `serve --simulate`).
pub use ollama_dash_sim as sim;
