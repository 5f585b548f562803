//! Host-side data handed to and received from plugins, their conversion to the WIT types, and
//! the checks every plugin answer must pass.

use serde::Serialize;

use super::runtime::wit;

/// Everything known about one installed model, handed to detectors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelFacts {
    /// Model name as Ollama lists it.
    pub name: String,
    /// Main family (may be empty).
    pub family: String,
    /// All families.
    pub families: Vec<String>,
    /// Parameter size as reported, e.g. `7.6B`.
    pub parameter_size: String,
    /// Quantisation level, e.g. `Q4_K_M`.
    pub quantization: String,
    /// Capabilities already known.
    pub capabilities: Vec<String>,
    /// `model_info` flattened to `(key, value as text)`.
    pub model_info: Vec<(String, String)>,
    /// The prompt template.
    pub template: String,
}

/// One GPU in a [`HostSnapshot`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuFacts {
    /// Device name.
    pub name: String,
    /// Total memory in bytes.
    pub memory_total_bytes: u64,
    /// Memory in use in bytes.
    pub memory_used_bytes: u64,
    /// Busy share in percent, when known.
    pub utilization_percent: Option<f64>,
    /// Power draw in watts, when known.
    pub power_watts: Option<f64>,
}

/// A model in a [`HostSnapshot`]: `vram_bytes` is 0 for installed (not loaded) models.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SnapshotModel {
    /// Model name.
    pub name: String,
    /// Size in bytes (on disk for installed models, in memory for running ones).
    pub size_bytes: u64,
    /// Bytes in GPU memory (running models).
    pub vram_bytes: u64,
    /// Parameter size as reported.
    pub parameter_size: String,
    /// Quantisation level.
    pub quantization: String,
}

/// Aggregates of recent requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraceWindow {
    /// Window length in seconds.
    pub window_seconds: u64,
    /// Requests finished.
    pub requests: u64,
    /// Requests failed.
    pub errors: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Generated tokens.
    pub completion_tokens: u64,
    /// Generation time summed, milliseconds.
    pub generation_ms: u64,
}

/// A snapshot of the host's stats, handed to collectors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostSnapshot {
    /// Unix milliseconds when taken.
    pub taken_at_ms: u64,
    /// CPU busy share in percent.
    pub cpu_percent: f64,
    /// Total RAM in bytes.
    pub memory_total_bytes: u64,
    /// RAM in use in bytes.
    pub memory_used_bytes: u64,
    /// GPUs.
    pub gpus: Vec<GpuFacts>,
    /// Models loaded now.
    pub running: Vec<SnapshotModel>,
    /// Models installed.
    pub installed: Vec<SnapshotModel>,
    /// Recent request aggregates.
    pub traces: TraceWindow,
}

pub use ollama_dash_core::{MetricKind, PluginMetric};

/// A capability flag a detector added, with its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetectedFlag {
    /// The flag, e.g. `code`.
    pub flag: String,
    /// The plugin that added it.
    pub plugin: String,
}

/// Longest template handed to a plugin, in bytes.
const MAX_TEMPLATE: usize = 16 * 1024;
/// Most `model_info` entries handed to a plugin.
const MAX_INFO_ENTRIES: usize = 256;
/// Longest `model_info` value handed to a plugin, in bytes.
const MAX_INFO_VALUE: usize = 1024;
/// Most models or GPUs in a snapshot list.
const MAX_LIST: usize = 512;
/// Most flags one detector may return.
pub(crate) const MAX_FLAGS: usize = 16;
/// Longest flag.
const MAX_FLAG_LEN: usize = 32;
/// Most metrics one collector may return.
pub(crate) const MAX_METRICS: usize = 256;
/// Longest metric or label name.
const MAX_NAME_LEN: usize = 64;
/// Most labels per metric.
const MAX_LABELS: usize = 8;
/// Longest label value or help text.
const MAX_TEXT_LEN: usize = 256;

/// `text` cut to at most `max` bytes on a character boundary.
fn cut(text: &str, max: usize) -> String {
    text[..text.floor_char_boundary(max)].to_owned()
}

impl ModelFacts {
    pub(crate) fn to_wit(&self) -> wit::ModelFacts {
        wit::ModelFacts {
            name: self.name.clone(),
            family: self.family.clone(),
            families: self.families.iter().take(MAX_LIST).cloned().collect(),
            parameter_size: self.parameter_size.clone(),
            quantization: self.quantization.clone(),
            capabilities: self.capabilities.iter().take(MAX_LIST).cloned().collect(),
            model_info: self
                .model_info
                .iter()
                .take(MAX_INFO_ENTRIES)
                .map(|(k, v)| wit::Kv {
                    key: cut(k, MAX_INFO_VALUE),
                    value: cut(v, MAX_INFO_VALUE),
                })
                .collect(),
            template: cut(&self.template, MAX_TEMPLATE),
        }
    }
}

impl HostSnapshot {
    pub(crate) fn to_wit(&self) -> wit::HostSnapshot {
        let model = |m: &SnapshotModel| wit::InstalledModel {
            name: m.name.clone(),
            size_bytes: m.size_bytes,
            parameter_size: m.parameter_size.clone(),
            quantization: m.quantization.clone(),
        };
        wit::HostSnapshot {
            taken_at_ms: self.taken_at_ms,
            cpu_percent: self.cpu_percent,
            memory_total_bytes: self.memory_total_bytes,
            memory_used_bytes: self.memory_used_bytes,
            gpus: self
                .gpus
                .iter()
                .take(MAX_LIST)
                .map(|g| wit::Gpu {
                    name: g.name.clone(),
                    memory_total_bytes: g.memory_total_bytes,
                    memory_used_bytes: g.memory_used_bytes,
                    utilization_percent: g.utilization_percent,
                    power_watts: g.power_watts,
                })
                .collect(),
            running: self
                .running
                .iter()
                .take(MAX_LIST)
                .map(|m| wit::RunningModel {
                    name: m.name.clone(),
                    size_bytes: m.size_bytes,
                    vram_bytes: m.vram_bytes,
                })
                .collect(),
            installed: self.installed.iter().take(MAX_LIST).map(model).collect(),
            traces: wit::TraceWindow {
                window_seconds: self.traces.window_seconds,
                requests: self.traces.requests,
                errors: self.traces.errors,
                prompt_tokens: self.traces.prompt_tokens,
                completion_tokens: self.traces.completion_tokens,
                generation_ms: self.traces.generation_ms,
            },
        }
    }
}

/// `[a-z0-9][a-z0-9-]*`, 1 to `max` bytes: plugin names and flags.
pub(crate) fn is_slug(text: &str, max: usize) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// `[a-z_][a-z0-9_]*`, 1 to 64 bytes: metric and label names.
fn is_metric_name(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME_LEN
        && (bytes[0].is_ascii_lowercase() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

/// Checks a detector's answer; the first broken rule is the error.
pub(crate) fn check_flags(flags: Vec<String>) -> Result<Vec<String>, String> {
    if flags.len() > MAX_FLAGS {
        return Err(format!(
            "returned {} flags; at most {MAX_FLAGS}",
            flags.len()
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(flags.len());
    for flag in flags {
        if !is_slug(&flag, MAX_FLAG_LEN) {
            return Err(format!(
                "flag {:?} is not [a-z0-9][a-z0-9-]* of at most {MAX_FLAG_LEN} characters",
                cut(&flag, 64)
            ));
        }
        if !out.contains(&flag) {
            out.push(flag);
        }
    }
    Ok(out)
}

/// Checks a collector's answer and tags it with the plugin's name.
pub(crate) fn check_metrics(
    plugin: &str,
    metrics: Vec<wit::Metric>,
) -> Result<Vec<PluginMetric>, String> {
    if metrics.len() > MAX_METRICS {
        return Err(format!(
            "returned {} metrics; at most {MAX_METRICS}",
            metrics.len()
        ));
    }
    metrics
        .into_iter()
        .map(|m| {
            let name = cut(&m.name, 80);
            if !is_metric_name(&m.name) {
                return Err(format!("metric name {name:?} is not [a-z_][a-z0-9_]*"));
            }
            if !m.value.is_finite() {
                return Err(format!("metric {name} has a non-finite value"));
            }
            let kind = match m.kind {
                wit::MetricKind::Gauge => MetricKind::Gauge,
                wit::MetricKind::Counter if m.value < 0.0 => {
                    return Err(format!("counter {name} is negative"));
                }
                wit::MetricKind::Counter => MetricKind::Counter,
            };
            if m.labels.len() > MAX_LABELS {
                return Err(format!("metric {name} has more than {MAX_LABELS} labels"));
            }
            let mut labels = Vec::with_capacity(m.labels.len());
            for kv in m.labels {
                let reserved = kv.key == "plugin" || kv.key.starts_with("__");
                let repeated = labels.iter().any(|(k, _)| *k == kv.key);
                if !is_metric_name(&kv.key) || reserved || repeated {
                    return Err(format!(
                        "metric {name} has a bad label name {:?}",
                        cut(&kv.key, 80)
                    ));
                }
                if kv.value.len() > MAX_TEXT_LEN {
                    return Err(format!(
                        "metric {name} has a label value over {MAX_TEXT_LEN} bytes"
                    ));
                }
                labels.push((kv.key, kv.value));
            }
            Ok(PluginMetric {
                plugin: plugin.to_owned(),
                name: m.name,
                // One line without escapes: `# HELP` text goes to `/metrics` as it is.
                help: cut(&m.help, MAX_TEXT_LEN)
                    .replace(|c: char| c.is_control() || c == '\\', " "),
                value: m.value,
                labels,
                kind,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn metric(name: &str, value: f64) -> wit::Metric {
        wit::Metric {
            name: name.to_owned(),
            help: "h".to_owned(),
            value,
            labels: vec![],
            kind: wit::MetricKind::Gauge,
        }
    }

    #[test]
    fn flags_must_be_slugs_and_few() {
        assert_eq!(
            check_flags(vec!["code".into(), "code".into(), "fim-2".into()]).unwrap(),
            ["code", "fim-2"]
        );
        for bad in ["", "Code", "with space", "-lead", &"x".repeat(33)] {
            assert!(check_flags(vec![bad.to_owned()]).is_err(), "{bad:?}");
        }
        assert!(check_flags(vec!["a".to_owned(); 17]).is_err());
    }

    #[test]
    fn help_is_one_line_and_label_names_are_unique_and_unreserved() {
        let mut m = metric("x", 1.0);
        m.help = "one\nollama_dash_up 0\r\\".to_owned();
        let ok = check_metrics("p", vec![m]).unwrap();
        assert_eq!(ok[0].help, "one ollama_dash_up 0  ");
        let labelled = |keys: &[&str]| {
            let mut m = metric("x", 1.0);
            m.labels = keys
                .iter()
                .map(|k| wit::Kv {
                    key: (*k).to_owned(),
                    value: "v".to_owned(),
                })
                .collect();
            check_metrics("p", vec![m])
        };
        assert!(labelled(&["a", "b"]).is_ok());
        for bad in [&["a", "a"][..], &["__name__"], &["plugin"]] {
            assert!(labelled(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn metrics_must_be_named_finite_and_labelled_sanely() {
        let ok = check_metrics("p", vec![metric("vram_free_bytes", 1.5)]).unwrap();
        assert_eq!(ok[0].plugin, "p");
        assert!(check_metrics("p", vec![metric("not a name", 1.0)]).is_err());
        assert!(check_metrics("p", vec![metric("nan", f64::NAN)]).is_err());
        assert!(check_metrics("p", vec![metric("inf", f64::INFINITY)]).is_err());
        let mut labelled = metric("x", 1.0);
        labelled.labels.push(wit::Kv {
            key: "plugin".into(),
            value: "spoof".into(),
        });
        assert!(check_metrics("p", vec![labelled]).is_err());
        let mut counter = metric("c", -1.0);
        counter.kind = wit::MetricKind::Counter;
        assert!(check_metrics("p", vec![counter]).is_err());
        assert!(check_metrics("p", vec![metric("x", 1.0); MAX_METRICS + 1]).is_err());
    }

    #[test]
    fn long_inputs_are_cut_on_char_boundaries() {
        let facts = ModelFacts {
            template: "é".repeat(MAX_TEMPLATE),
            ..ModelFacts::default()
        };
        let wit = facts.to_wit();
        assert!(wit.template.len() <= MAX_TEMPLATE);
        assert!(wit.template.chars().all(|c| c == 'é'));
    }
}
