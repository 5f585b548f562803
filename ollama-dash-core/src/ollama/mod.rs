//! Talking to Ollama: the client, its wire types, the NDJSON stream reader, `OLLAMA_HOST` parsing.

mod client;
pub mod host;
mod stream;
pub mod types;

pub use client::{OllamaClient, serve_from_this_thread};
pub use stream::{MAX_LINE_BYTES, NdjsonStream};
