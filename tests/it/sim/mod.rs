//! Conformance tests of the Ollama simulator against `shared/ollama-api.md`, over real loopback
//! HTTP with raw `reqwest` and `serde_json::Value`, one module per endpoint group.

mod basics;
mod blobs_create;
mod chat;
mod embed;
mod generate;
mod knobs;
mod models;
mod pull;
mod support;
