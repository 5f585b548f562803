//! The optional manifest next to a plugin: `name.toml` beside `name.wasm`.
//!
//! ```toml
//! enabled = true          # false: loaded and listed, never called
//! memory_mib = 16         # linear memory cap, 1..=64
//! fuel = 10_000_000       # CPU budget per call (≈ wasm instructions), up to 100 million
//! max_failures = 3        # failures in a row before it is disabled (until a forced reload
//!                         # or a new file), 1..=100
//! fresh_instance = false  # true: a new instance for every call (no state between calls)
//!
//! [settings]              # strings handed to the plugin's `configure`
//! extra_names = "mycorp-code"
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::runtime::Limits;

/// Default linear memory cap.
pub(crate) const DEFAULT_MEMORY_MIB: u32 = 16;
/// Highest memory cap a manifest may ask for.
pub(crate) const MAX_MEMORY_MIB: u32 = 64;
/// Default fuel per call: a few milliseconds of wasm on one core.
pub(crate) const DEFAULT_FUEL: u64 = 10_000_000;
/// Highest fuel a manifest may ask for.
pub(crate) const MAX_FUEL: u64 = 100_000_000;
/// Default failures in a row before a plugin is disabled.
pub(crate) const DEFAULT_MAX_FAILURES: u32 = 3;
/// Largest manifest read, in bytes.
const MAX_MANIFEST_BYTES: usize = 64 * 1024;

/// A parsed, checked manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub(crate) enabled: bool,
    pub(crate) limits: Limits,
    pub(crate) max_failures: u32,
    pub(crate) fresh_instance: bool,
    pub(crate) settings: Vec<(String, String)>,
}

impl Default for Manifest {
    fn default() -> Self {
        Self {
            enabled: true,
            limits: Limits {
                memory_bytes: DEFAULT_MEMORY_MIB as usize * 1024 * 1024,
                fuel: DEFAULT_FUEL,
            },
            max_failures: DEFAULT_MAX_FAILURES,
            fresh_instance: false,
            settings: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    enabled: Option<bool>,
    memory_mib: Option<u32>,
    fuel: Option<u64>,
    max_failures: Option<u32>,
    fresh_instance: Option<bool>,
    #[serde(default)]
    settings: BTreeMap<String, toml::Value>,
}

impl Manifest {
    /// Parses and checks a manifest's text.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(format!("manifest is over {MAX_MANIFEST_BYTES} bytes"));
        }
        let raw: Raw = toml::from_str(text).map_err(|e| format!("manifest: {}", e.message()))?;
        let mut manifest = Self::default();
        if let Some(enabled) = raw.enabled {
            manifest.enabled = enabled;
        }
        if let Some(mib) = raw.memory_mib {
            if !(1..=MAX_MEMORY_MIB).contains(&mib) {
                return Err(format!("manifest: memory_mib must be 1..={MAX_MEMORY_MIB}"));
            }
            manifest.limits.memory_bytes = mib as usize * 1024 * 1024;
        }
        if let Some(fuel) = raw.fuel {
            if !(1..=MAX_FUEL).contains(&fuel) {
                return Err(format!("manifest: fuel must be 1..={MAX_FUEL}"));
            }
            manifest.limits.fuel = fuel;
        }
        if let Some(n) = raw.max_failures {
            if !(1..=100).contains(&n) {
                return Err("manifest: max_failures must be 1..=100".to_owned());
            }
            manifest.max_failures = n;
        }
        if let Some(fresh) = raw.fresh_instance {
            manifest.fresh_instance = fresh;
        }
        for (key, value) in raw.settings {
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                    value.to_string()
                }
                _ => return Err(format!("manifest: setting {key} must be a plain value")),
            };
            manifest.settings.push((key, value));
        }
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(Manifest::parse("").unwrap(), Manifest::default());
        let m = Manifest::parse(
            "memory_mib = 8\nfuel = 1000\nmax_failures = 1\nfresh_instance = true\n[settings]\na = \"x\"\nb = 2\n",
        )
        .unwrap();
        assert_eq!(m.limits.memory_bytes, 8 << 20);
        assert_eq!(m.limits.fuel, 1000);
        assert_eq!(m.max_failures, 1);
        assert!(m.fresh_instance);
        assert_eq!(
            m.settings,
            [("a".into(), "x".into()), ("b".into(), "2".into())]
        );
    }

    #[test]
    fn bad_manifests_say_why() {
        for (text, needle) in [
            ("memory_mib = 65", "memory_mib"),
            ("fuel = 0", "fuel"),
            ("max_failures = 0", "max_failures"),
            ("surprise = 1", "surprise"),
            ("[settings]\nx = [1]", "setting x"),
            ("memory_mib = \"lots\"", "manifest"),
        ] {
            let err = Manifest::parse(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
