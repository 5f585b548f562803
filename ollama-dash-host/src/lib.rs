//! `ollama-dash-host`: the ollama-dash server as a library (the `ollama-dash` binary is a thin shell).
pub mod sim;
