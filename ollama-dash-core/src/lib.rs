//! `ollama-dash-core`: the embeddable async library behind ollama-dash.
pub mod gguf;
