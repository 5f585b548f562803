//! The integration tests of ollama-dash, one binary, one module per area.

mod core_client;
mod http_api;
mod smoke;
mod support;
mod web;
