//! The `ollama-dash` command-line client: `list`, `ps`, `show`, `rm`, `cp`, `pull`, `upload`,
//! `run`, `traces`, `nodes`, `token` and `completions`, talking to a running ollama-dash server over its
//! HTTP API only (named as the `ollama` CLI's commands, with the same tables).
//!
//! The host binary adds [`Command`] to its own subcommands (beside `serve` and `sim`) and hands
//! a parsed one to [`run`]. Every command takes [`ConnectArgs`]: `--url` (`OLLAMA_DASH_URL`,
//! default `http://127.0.0.1:8700`) and a token from `--token` (`OLLAMA_DASH_TOKEN`), else
//! `AUTH_TOKEN`, else the server's `DATA_PATH/auth-token` when the URL is a loopback address.
//! Errors print the server's own message on stderr and exit with 1 (130 after Ctrl-C).
//!
//! **Invariant: this crate depends on no crate of the workspace.** It speaks the HTTP API, so a
//! change the server makes on the wire shows here as a failing process test, and the client
//! stays small (no SQLite, no wasmtime, no axum).
//!
//! Why these crates:
//! - **reqwest** (rustls), **tokio**, **serde/serde_json**, **clap**, **thiserror**,
//!   **chrono**, **base64**: already the workspace's choices, so nothing new is compiled for
//!   them; chrono reads the server's RFC 3339 times, base64 writes tus `Upload-Metadata`.
//! - **indicatif** (new): the de-facto progress bar (cargo-binstall, rustup's and uv's style);
//!   it hides itself when stderr is not a terminal, throttles redraws, and formats bytes,
//!   speed and ETA, which a hand-made bar would have to redo.
//! - **clap_complete** (new): completion scripts generated from the same clap definitions, for
//!   bash, zsh, fish, elvish and PowerShell; the clap project's own crate, so it never drifts.

#![warn(missing_docs)]

pub mod api;
pub mod client;
pub mod commands;
pub mod connect;
pub mod error;
mod human;
mod output;
mod progress;
pub mod sse;
mod state;
mod table;
pub mod target;

use std::process::ExitCode;

pub use client::Client;
pub use connect::ConnectArgs;
pub use error::{Error, Result};

use commands::{completions, models, nodes, pull, run as chat, token, traces, upload};

/// The client's subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// List installed models (NAME ID SIZE MODIFIED).
    List(models::ListArgs),
    /// List loaded models (NAME ID SIZE PROCESSOR UNTIL).
    Ps(models::PsArgs),
    /// Show a model's details, capabilities and parameters.
    Show(models::ShowArgs),
    /// Delete models (unloading them first).
    Rm(models::RmArgs),
    /// Unload a model from memory (every node that holds it, or those named by --node).
    Stop(models::StopArgs),
    /// Copy a model to a new name.
    Cp(models::CpArgs),
    /// Pull a model through the server, with live progress (Ctrl-C cancels the pull).
    Pull(pull::PullArgs),
    /// Upload a model file (resumable tus) and import it into Ollama.
    Upload(upload::UploadArgs),
    /// Chat with a model: one answer for a prompt, else a chat on stdin (/bye leaves).
    Run(chat::RunArgs),
    /// Show recent traces (generations), optionally following new ones.
    Traces(traces::TracesArgs),
    /// List the Ollama nodes the server routes to (state, version, loaded models, VRAM, load);
    /// `nodes add`, `rm`, `drain`, `undrain` change them (admin).
    Nodes(nodes::NodesArgs),
    /// Print the sign-in link for the web page again.
    Token(token::TokenArgs),
    /// Write a shell completion script.
    Completions(completions::CompletionsArgs),
}

/// Runs `command`; `app` builds the binary's whole clap command (for `completions`). Errors are
/// printed on stderr as `Error: <message>`.
pub async fn run(command: Command, app: impl FnOnce() -> clap::Command) -> ExitCode {
    let outcome = match command {
        Command::List(args) => models::list(args).await,
        Command::Ps(args) => models::ps(args).await,
        Command::Show(args) => models::show(args).await,
        Command::Rm(args) => models::rm(args).await,
        Command::Stop(args) => models::stop(args).await,
        Command::Cp(args) => models::cp(args).await,
        Command::Pull(args) => pull::pull(args).await,
        Command::Upload(args) => upload::upload(args).await,
        Command::Run(args) => chat::run(args).await,
        Command::Traces(args) => traces::traces(args).await,
        Command::Nodes(args) => nodes::nodes(args).await,
        Command::Token(args) => token::token(args).await,
        Command::Completions(args) => completions::completions(&args, app()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            output::note(&format!("Error: {e}"));
            ExitCode::from(e.exit_code())
        }
    }
}
