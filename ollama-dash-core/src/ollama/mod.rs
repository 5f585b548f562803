//! Talking to Ollama: the client and its transport, its wire types, the NDJSON stream reader,
//! `OLLAMA_HOST` parsing.

mod client;
pub mod host;
mod stream;
pub mod transport;
pub mod types;

pub use client::{OllamaClient, Upstream};
pub use stream::{MAX_LINE_BYTES, NdjsonStream};
pub use transport::serve_from_this_thread;
