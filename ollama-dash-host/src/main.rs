//! `ollama-dash`: run the dashboard server, or the Ollama simulator on its own, or talk to a
//! running server as a client (`list`, `pull`, `run`, … from `ollama-dash-cli`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use ollama_dash_host::auth::TokenSource;
use ollama_dash_host::config::Config;
use ollama_dash_host::server::{Server, shutdown_signal};
use ollama_dash_host::sim::{SimConfig, run_standalone};

const ENV_HELP: &str = "\
Environment (overrides the config file):
  OLLAMA_HOST        where Ollama listens, [scheme://]host[:port][/path] (default 127.0.0.1:11434)
  DATA_PATH          directory for the store, token and uploads (default ~/.local/share/ollama-dash)
  AUTH_TOKEN         bearer token, at least 16 characters (default: generated, kept in DATA_PATH)
  OLLAMA_DASH_<KEY>  any other config key, e.g. OLLAMA_DASH_LISTEN=0.0.0.0:8700
  RUST_LOG           log filter, e.g. info or ollama_dash=debug";

/// Run, watch and share local LLMs served by Ollama.
#[derive(Debug, Parser)]
#[command(name = "ollama-dash", version, after_help = ENV_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the dashboard server.
    Serve {
        /// Config file (TOML); default: $DATA_PATH/ollama-dash.toml if it exists.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Address to listen on (default 127.0.0.1:8700; config key `listen`).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Start the built-in Ollama simulator on a free loopback port and use it instead of
        /// OLLAMA_HOST: a working product with no Ollama installed.
        #[arg(long)]
        simulate: bool,
        /// With --simulate: a fleet of this many simulated Ollamas (8, 16 and 24 GiB of VRAM in
        /// turn, 2 slots per model, loads at 2 GB/s), routed as `[[nodes]]` would be.
        #[arg(long, value_name = "N", default_value_t = 1, requires = "simulate")]
        nodes: usize,
    },
    /// Run only the Ollama simulator (speaks Ollama's HTTP API; for tests and demos).
    Sim {
        /// Address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:11434")]
        listen: SocketAddr,
        /// Delay between streamed tokens, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 30)]
        token_delay_ms: u64,
        /// Models loaded at start (repeatable).
        #[arg(long, value_name = "MODEL")]
        preload: Vec<String>,
        /// Fixed time a cold model load takes, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 0)]
        load_delay_ms: u64,
        /// The GPU's VRAM in MiB: models must fit (the first may spill into RAM), idle ones are
        /// unloaded to make room. Default: an 8 GiB GPU that spills and never unloads.
        #[arg(long, value_name = "MIB")]
        vram_mib: Option<u64>,
        /// Load speed in MiB/s: a cold load also takes the model's size over this rate.
        #[arg(long, value_name = "MIB_PER_SEC")]
        load_mib_per_sec: Option<u64>,
        /// OLLAMA_MAX_LOADED_MODELS: most models loaded at once (0: Ollama's default, 3 per GPU).
        /// Default: no limit.
        #[arg(long, value_name = "N")]
        max_loaded_models: Option<u32>,
        /// OLLAMA_NUM_PARALLEL: requests each model runs at once (0 counts as 1, as in Ollama).
        /// Default: no limit.
        #[arg(long, value_name = "N")]
        num_parallel: Option<u32>,
        /// OLLAMA_MAX_QUEUE: requests waiting for a load beyond this get 503 "server busy"
        /// (Ollama's default is 512). Default: no limit.
        #[arg(long, value_name = "N")]
        max_queue: Option<u32>,
        /// Report a repeated prompt prefix as cached (shorter prompt evaluation).
        #[arg(long)]
        prompt_cache: bool,
    },
    #[command(flatten)]
    Client(ollama_dash_cli::Command),
}

/// mimalloc, not glibc's malloc: allocation was the largest single cost of a proxied request
/// (see benches/RESULTS.md, issue 14).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        // A client prints its own errors (the server's message, plainly) and logs nothing.
        Command::Client(client) => return Ok(ollama_dash_cli::run(client, Cli::command).await),
        Command::Serve {
            config,
            listen,
            simulate,
            nodes,
        } => {
            ollama_dash_host::logging::init();
            serve(config, listen, simulate, nodes).await?;
        }
        Command::Sim {
            listen,
            token_delay_ms,
            preload,
            load_delay_ms,
            vram_mib,
            load_mib_per_sec,
            max_loaded_models,
            num_parallel,
            max_queue,
            prompt_cache,
        } => {
            ollama_dash_host::logging::init();
            let config = SimConfig {
                listen,
                token_delay: Duration::from_millis(token_delay_ms),
                preload,
                load_delay: Duration::from_millis(load_delay_ms),
                vram_bytes: vram_mib.map(|mib| mib.saturating_mul(1 << 20)),
                load_bytes_per_sec: load_mib_per_sec.map(|mib| mib.saturating_mul(1 << 20)),
                // Ollama: 0 is the automatic default of 3 models per GPU (one pretend GPU).
                max_loaded_models: max_loaded_models.map(|n| if n == 0 { 3 } else { n }),
                num_parallel: num_parallel.map(|n| n.max(1)),
                max_queue,
                prompt_cache,
                ..SimConfig::default()
            };
            run_standalone(config, shutdown_signal())
                .await
                .context("running the simulator")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(
    config: Option<PathBuf>,
    listen: Option<SocketAddr>,
    simulate: bool,
    nodes: usize,
) -> anyhow::Result<()> {
    let mut config = Config::load(config.as_deref())?;
    if let Some(listen) = listen {
        config.host.listen = listen;
    }
    let simulator = if simulate {
        let fleet = simulated_fleet(nodes.max(1)).await?;
        let urls = fleet.urls();
        tracing::info!(urls = ?urls, "simulated Ollama running (--simulate)");
        config.dashboard.ollama_host = urls[0].clone();
        if urls.len() > 1 {
            config.dashboard.nodes = urls
                .iter()
                .enumerate()
                .map(|(i, url)| ollama_dash_core::fleet::NodeConfig {
                    vram_bytes: Some(sim_vram(i)),
                    max_parallel: Some(2),
                    ..ollama_dash_core::fleet::NodeConfig::new(format!("sim-{}", i + 1), url)
                })
                .collect();
        }
        Some(fleet)
    } else {
        None
    };
    let data_path = config.dashboard.data_path.clone();
    let server = Server::bind(config)
        .await
        .map_err(|e| explain_full_disk(e, &data_path))?;
    let addr = server.local_addr()?;
    let url = format!("http://{addr}/");
    // Written, not println!: a closed or full stdout must not panic the server.
    let banner = match server.token_source() {
        TokenSource::Configured => {
            format!("ollama-dash listening on {url} (token from AUTH_TOKEN/config)\n")
        }
        _ => format!(
            "ollama-dash listening on {url}\nOpen {url}#token={}\n",
            server.token()
        ),
    };
    let mut stdout = std::io::stdout();
    let _ = stdout
        .write_all(banner.as_bytes())
        .and_then(|()| stdout.flush());
    server.run(shutdown_signal()).await?;
    if let Some(sim) = simulator {
        sim.shutdown().await;
    }
    Ok(())
}

/// A start-up error that comes from a full disk says which disk: the store, the token and the
/// uploads all live in `DATA_PATH` (the store's own message, "database or disk is full", names
/// neither the path nor the setting).
fn explain_full_disk(error: anyhow::Error, data_path: &std::path::Path) -> anyhow::Error {
    use std::io::ErrorKind;
    let full = error.chain().any(|cause| {
        cause
            .downcast_ref::<ollama_dash_core::Error>()
            .is_some_and(ollama_dash_core::Error::is_storage_full)
            || cause.downcast_ref::<std::io::Error>().is_some_and(|e| {
                matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
            })
    });
    if !full {
        return error;
    }
    error.context(format!(
        "no space left on the disk of DATA_PATH ({}): free some space there or point DATA_PATH \
         at another disk",
        data_path.display()
    ))
}

/// VRAM of simulated node `i`: 8, 16, 24 GiB in turn.
fn sim_vram(i: usize) -> u64 {
    (8 << 30) * (i as u64 % 3 + 1)
}

/// `--simulate`: one simulated Ollama as before, or a fleet of `nodes` that schedule as
/// Ollama does (VRAM, slots, loads proportional to size).
async fn simulated_fleet(nodes: usize) -> anyhow::Result<ollama_dash_host::sim::Fleet> {
    let one = SimConfig {
        token_delay: Duration::from_millis(30),
        load_delay: Duration::from_millis(400),
        ..SimConfig::default()
    };
    let configs = if nodes == 1 {
        vec![SimConfig {
            preload: vec!["llama3.2:1b".to_owned()],
            ..one
        }]
    } else {
        (0..nodes)
            .map(|i| SimConfig {
                preload: if i == 0 {
                    vec!["llama3.2:1b".to_owned()]
                } else {
                    Vec::new()
                },
                vram_bytes: Some(sim_vram(i)),
                load_bytes_per_sec: Some(2_000_000_000),
                num_parallel: Some(2),
                ..one.clone()
            })
            .collect()
    };
    ollama_dash_host::sim::Fleet::start(configs)
        .await
        .context("starting the simulator")
}
