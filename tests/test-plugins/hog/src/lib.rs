//! Allocates without end, 1 MiB at a time, in every call.
use ollama_dash_plugin::{HostSnapshot, Metric, ModelFacts, Plugin, Provides, export_plugin};

struct Hog;

fn eat() -> ! {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        chunks.push(Vec::with_capacity(1 << 20));
        std::hint::black_box(&chunks);
    }
}

impl Plugin for Hog {
    const NAME: &'static str = "hog";
    const VERSION: &'static str = "0.1.0";
    const PROVIDES: &'static [Provides] = &[Provides::Detector, Provides::Collector];

    fn detect(_: &ModelFacts) -> Result<Vec<String>, String> {
        eat()
    }

    fn collect(_: &HostSnapshot) -> Result<Vec<Metric>, String> {
        eat()
    }
}

export_plugin!(Hog);
