// Shared by echo-v1 and echo-v2 (each sets VERSION and includes this file).
use ollama_dash_plugin::{HostSnapshot, Metric, ModelFacts, Plugin, Provides, export_plugin, info};

struct Echo;

impl Plugin for Echo {
    const NAME: &'static str = "echo";
    const VERSION: &'static str = VERSION;
    const PROVIDES: &'static [Provides] = &[Provides::Detector, Provides::Collector];

    fn detect(model: &ModelFacts) -> Result<Vec<String>, String> {
        info(&format!("echo {VERSION} saw {}", model.name));
        Ok(vec![format!("echo-v{}", &VERSION[..1])])
    }

    fn collect(snapshot: &HostSnapshot) -> Result<Vec<Metric>, String> {
        let major: f64 = VERSION[..1].parse().map_err(|_| "bad version".to_owned())?;
        Ok(vec![
            Metric::gauge("echo_version", "Major version of the echo plugin", major),
            Metric::gauge("echo_installed", "Installed models seen", snapshot.installed.len() as f64),
            Metric::gauge("echo_trace_requests", "Requests in the trace window", snapshot.traces.requests as f64)
                .label("window_seconds", &snapshot.traces.window_seconds.to_string()),
            Metric::gauge("echo_trace_completion_tokens", "Tokens generated in the trace window", snapshot.traces.completion_tokens as f64),
        ])
    }
}

export_plugin!(Echo);
