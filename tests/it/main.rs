//! The integration tests of ollama-dash, one binary, one module per area.
#![allow(
    unreachable_pub,
    reason = "helpers are shared between the modules of this one binary"
)]
#![allow(clippy::unwrap_used, reason = "tests may unwrap")]

mod access;
mod chat_branches;
mod contract;
mod core_client;
mod faults;
mod fleet_models;
mod fleet_state;
mod gateway;
mod gateway_api;
mod health;
mod http_api;
mod layers;
mod live;
mod metrics;
mod nodes_api;
mod openapi;
mod plugins;
mod security;
mod sim;
mod smoke;
mod support;
mod uploads;
mod validation;
mod web;
mod web_chat;
