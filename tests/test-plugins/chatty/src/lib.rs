//! Floods the log: detect sends one 2 MiB line (more than the host takes from one call into it),
//! collect logs short lines without end (more than its per-call budget).
use ollama_dash_plugin::{HostSnapshot, Metric, ModelFacts, Plugin, Provides, export_plugin, info};

struct Chatty;

impl Plugin for Chatty {
    const NAME: &'static str = "chatty";
    const VERSION: &'static str = "0.1.0";
    const PROVIDES: &'static [Provides] = &[Provides::Detector, Provides::Collector];

    fn detect(_: &ModelFacts) -> Result<Vec<String>, String> {
        info(&"a".repeat(2 << 20));
        Ok(Vec::new())
    }

    fn collect(_: &HostSnapshot) -> Result<Vec<Metric>, String> {
        let line = "b".repeat(1000);
        loop {
            info(std::hint::black_box(&line));
        }
    }
}

export_plugin!(Chatty);
