//! WASM plugins: the sandboxed host on its own, then through the HTTP API.

mod http;
mod sandbox;
