//! Panics in every call.
use ollama_dash_plugin::{HostSnapshot, Metric, ModelFacts, Plugin, Provides, export_plugin};

struct Panicky;

impl Plugin for Panicky {
    const NAME: &'static str = "panicky";
    const VERSION: &'static str = "0.1.0";
    const PROVIDES: &'static [Provides] = &[Provides::Detector, Provides::Collector];

    fn detect(model: &ModelFacts) -> Result<Vec<String>, String> {
        panic!("panicky refuses {}", model.name)
    }

    fn collect(_: &HostSnapshot) -> Result<Vec<Metric>, String> {
        panic!("panicky refuses to collect")
    }
}

export_plugin!(Panicky);
