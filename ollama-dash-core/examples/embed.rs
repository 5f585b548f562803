//! Embeds `Dashboard` in a program of its own: prints Ollama's version, the installed models and
//! what is loaded right now.
//!
//! ```sh
//! OLLAMA_HOST=127.0.0.1:11434 cargo run -p ollama-dash-core --example embed
//! ```

use ollama_dash_core::{Dashboard, DashboardConfig};

#[tokio::main]
async fn main() -> ollama_dash_core::Result<()> {
    // Its own store: DATA_PATH if set, else a fresh temporary directory.
    let scratch = tempfile::tempdir().map_err(|e| ollama_dash_core::Error::Io {
        context: "making a temporary directory".into(),
        source: e,
    })?;
    let data =
        std::env::var_os("DATA_PATH").map_or_else(|| scratch.path().to_path_buf(), Into::into);
    let mut config = DashboardConfig::with_data_path(data);
    if let Ok(host) = std::env::var("OLLAMA_HOST") {
        config.ollama_host = host;
    }
    let dashboard = Dashboard::new(config).await?;
    // The collector probes on its own; wait for its first round instead of racing it.
    dashboard.refresh_all().await;

    let health = dashboard.health().await;
    match &health.ollama.version {
        Some(version) => println!("Ollama {version} at {}", health.ollama.url),
        None => {
            println!(
                "Ollama is not reachable at {}: {:?}",
                health.ollama.url, health.ollama.error
            );
            return dashboard.shutdown().await;
        }
    }
    println!("\ninstalled:");
    let url = health.ollama.url.clone();
    for model in dashboard.list_models().into_result(&url)?.iter() {
        println!(
            "  {:<32} {:>8} {:>8} {:<10} {}",
            model.name,
            model.parameter_size,
            model.quantization,
            model.family,
            model.capabilities.names().join(",")
        );
    }
    println!("\nloaded:");
    for model in dashboard.running_models().into_result(&url)?.iter() {
        let expires = model
            .expires
            .as_ref()
            .map(|e| e.relative.as_str())
            .unwrap_or("?");
        println!(
            "  {:<32} {} (unloads {expires})",
            model.name, model.processor
        );
    }
    dashboard.shutdown().await
}
