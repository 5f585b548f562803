//! A traced chat through [`Dashboard::chat`], against the simulator: streams the answer, then
//! reads its trace back from the store and prints it.
//!
//! ```sh
//! cargo run -p ollama-dash-core --example traced_chat
//! ```

use futures_util::StreamExt;
use ollama_dash_core::ollama::types::{ChatRequest, Message};
use ollama_dash_core::{Dashboard, DashboardConfig, Error, Origin};
use ollama_dash_sim::{SimConfig, Simulator};

#[tokio::main]
async fn main() -> ollama_dash_core::Result<()> {
    let io = |context: &str| {
        let context = context.to_owned();
        move |source| Error::Io { context, source }
    };
    let sim = Simulator::start(SimConfig {
        preload: vec!["llama3.2:1b".into()],
        ..SimConfig::default()
    })
    .await
    .map_err(io("starting the simulator"))?;
    let data = tempfile::tempdir().map_err(io("making a temporary directory"))?;
    let mut config = DashboardConfig::with_data_path(data.path());
    config.ollama_host = sim.url();
    let dashboard = Dashboard::new(config).await?;

    let request = ChatRequest {
        model: "llama3.2:1b".into(),
        messages: vec![Message {
            role: "user".into(),
            content: "Why is the sky blue?".into(),
            ..Message::default()
        }],
        ..ChatRequest::default()
    };
    let origin = Origin {
        endpoint: "examples/traced_chat".into(),
        ..Origin::default()
    };
    let generation = dashboard.chat(origin, request);
    let trace_id = generation.trace_id().to_owned();
    let mut lines = generation.stream().await?;
    while let Some(line) = lines.next().await {
        print!("{}", line?.message.content);
    }
    println!();

    // The final line came out only once the trace was durable: it is there to read.
    let trace = dashboard.trace(&trace_id).await?;
    println!(
        "trace {}: {} {} on {}, {} prompt + {} completion tokens, {:.1} ms (first token after {:.1} ms)",
        trace.id,
        trace.status.as_str(),
        trace.endpoint,
        trace.model,
        trace.prompt_tokens.unwrap_or(0),
        trace.completion_tokens.unwrap_or(0),
        trace.duration_ms.unwrap_or(0.0),
        trace.ttft_ms.unwrap_or(0.0),
    );
    println!("input:  {}", trace.input.unwrap_or_default());
    println!("output: {}", trace.output.unwrap_or_default());
    dashboard.shutdown().await?;
    sim.shutdown().await;
    Ok(())
}
