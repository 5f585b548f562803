//! Never returns: an endless loop in every call.
use ollama_dash_plugin::{HostSnapshot, Metric, ModelFacts, Plugin, Provides, export_plugin};

struct Spin;

fn forever() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

impl Plugin for Spin {
    const NAME: &'static str = "spin";
    const VERSION: &'static str = "0.1.0";
    const PROVIDES: &'static [Provides] = &[Provides::Detector, Provides::Collector];

    fn detect(_: &ModelFacts) -> Result<Vec<String>, String> {
        forever()
    }

    fn collect(_: &HostSnapshot) -> Result<Vec<Metric>, String> {
        forever()
    }
}

export_plugin!(Spin);
