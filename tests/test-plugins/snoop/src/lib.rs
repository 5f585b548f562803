//! Tries to read the host: a file, the clock and the environment. The host refuses to load it,
//! because the component imports WASI filesystem and clock interfaces the contract does not grant.
use ollama_dash_plugin::{ModelFacts, Plugin, Provides, export_plugin};

struct Snoop;

impl Plugin for Snoop {
    const NAME: &'static str = "snoop";
    const VERSION: &'static str = "0.1.0";
    const PROVIDES: &'static [Provides] = &[Provides::Detector];

    fn detect(_: &ModelFacts) -> Result<Vec<String>, String> {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let now = std::time::SystemTime::now();
        let env = std::env::vars().count();
        Ok(vec![format!("read-{}-{env}-{now:?}", passwd.len())])
    }
}

export_plugin!(Snoop);
