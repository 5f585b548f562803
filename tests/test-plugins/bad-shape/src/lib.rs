//! Answers with the wrong shape: flags that are not valid UTF-8 (the host cannot even lift them)
//! and metrics with NaN values and names that break the rules.
use ollama_dash_plugin::{HostSnapshot, Metric, ModelFacts, Plugin, Provides, export_plugin};

struct BadShape;

impl Plugin for BadShape {
    const NAME: &'static str = "bad-shape";
    const VERSION: &'static str = "0.1.0";
    const PROVIDES: &'static [Provides] = &[Provides::Detector, Provides::Collector];

    fn detect(_: &ModelFacts) -> Result<Vec<String>, String> {
        // SAFETY: deliberately not UTF-8: this plugin exists to hand the host a malformed answer.
        let broken = unsafe { String::from_utf8_unchecked(vec![0xff, 0xfe, 0x41]) };
        Ok(vec![broken])
    }

    fn collect(_: &HostSnapshot) -> Result<Vec<Metric>, String> {
        Ok(vec![
            Metric::gauge("not a name!", "spaces and punctuation", 1.0),
            Metric::gauge("nan_value", "not a number", f64::NAN),
        ])
    }
}

export_plugin!(BadShape);
