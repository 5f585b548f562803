//! Work that wasm fuel barely counts: every call asks the host for random bytes without end
//! (`wasi:random`, inert but allowed). Each request costs a few instructions of fuel and the host
//! far more, so only the wall-clock deadline (epoch) stops it in time.
use ollama_dash_plugin::{HostSnapshot, Metric, ModelFacts, Plugin, Provides, export_plugin};

mod random {
    ollama_dash_plugin::__wit_bindgen::generate!({
        inline: "
            package wasi:random@0.2.0;
            interface random {
                get-random-bytes: func(len: u64) -> list<u8>;
                get-random-u64: func() -> u64;
            }
            world entropy {
                import random;
            }
        ",
        world: "entropy",
        runtime_path: "ollama_dash_plugin::__wit_bindgen::rt",
    });
}

struct Entropy;

fn churn() -> ! {
    loop {
        std::hint::black_box(random::wasi::random::random::get_random_bytes(4096));
    }
}

impl Plugin for Entropy {
    const NAME: &'static str = "entropy";
    const VERSION: &'static str = "0.1.0";
    const PROVIDES: &'static [Provides] = &[Provides::Detector, Provides::Collector];

    fn detect(_: &ModelFacts) -> Result<Vec<String>, String> {
        churn()
    }

    fn collect(_: &HostSnapshot) -> Result<Vec<Metric>, String> {
        churn()
    }
}

export_plugin!(Entropy);
