//! The load-test target: the simulator answering every `/api/` call slowly (`--delay-ms`,
//! default 2000), and the ollama-dash server in front of it on `--listen` with `AUTH_TOKEN`.
//! Prints `READY http://ADDR` once the first probes are in; runs until SIGINT/SIGTERM.
//!
//! ```sh
//! AUTH_TOKEN=bench-token-0123456789 cargo run --release -p ollama-dash-benches --bin loadtest-host
//! ```

use std::time::Duration;

use anyhow::Context;
use ollama_dash_core::DashboardConfig;
use ollama_dash_host::config::{Config, HostConfig};
use ollama_dash_host::server::{Server, shutdown_signal};
use ollama_dash_host::sim::{SimConfig, Simulator};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:8799".to_owned();
    let mut delay_ms = 2000u64;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().context("--listen ADDR")?,
            "--delay-ms" => delay_ms = args.next().context("--delay-ms N")?.parse()?,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let token = std::env::var("AUTH_TOKEN").context("set AUTH_TOKEN")?;
    let sim = Simulator::start(SimConfig {
        preload: vec!["llama3.2:1b".to_owned(), "qwen3:0.6b".to_owned()],
        ..SimConfig::default()
    })
    .await?;
    let data = tempfile::tempdir()?;
    let mut dashboard = DashboardConfig::with_data_path(data.path());
    dashboard.ollama_host = sim.url();
    dashboard.request_timeout_secs = 30;
    let host: HostConfig = serde_json::from_value(serde_json::json!({
        "listen": listen,
        "auth_token": token,
    }))?;
    let server = Server::bind(Config { dashboard, host }).await?;
    // Slow from now on: every Ollama call the collector makes takes `delay_ms`.
    sim.control()
        .set_response_delay(Duration::from_millis(delay_ms));
    println!("READY http://{}", server.local_addr()?);
    server.run(shutdown_signal()).await?;
    sim.shutdown().await;
    Ok(())
}
