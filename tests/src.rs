//! Integration tests live in `it/`. This library only carries what `build.rs` produced: the
//! paths of the WebAssembly plugins built for the tests and benches.

/// Paths of the plugins built by `build.rs` (release builds for `wasm32-wasip2`).
pub mod plugin_paths {
    include!(concat!(env!("OUT_DIR"), "/plugin_paths.rs"));
}
