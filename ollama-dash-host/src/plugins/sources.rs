//! Where plugin inputs come from: a model's `/api/show` answer becomes [`ModelFacts`], the
//! dashboard's view of Ollama and of this machine becomes a [`HostSnapshot`].

use ollama_dash_core::Dashboard;
use ollama_dash_core::ollama::types::ShowResponse;
use serde_json::Value;

use super::types::{HostSnapshot, ModelFacts, SnapshotModel};

/// The facts of one model from its `/api/show` answer.
pub fn facts_from_show(name: &str, show: &ShowResponse) -> ModelFacts {
    let details = &show.details;
    let model_info = show
        .model_info
        .iter()
        .filter_map(|(key, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                // Token lists and other arrays are large and of no use to a detector.
                _ => return None,
            };
            Some((key.clone(), text))
        })
        .collect();
    ModelFacts {
        name: name.to_owned(),
        family: details.family.clone(),
        families: details.families.clone().unwrap_or_default(),
        parameter_size: details.parameter_size.clone(),
        quantization: details.quantization_level.clone(),
        capabilities: show.capabilities.clone().unwrap_or_default(),
        model_info,
        template: show.template.clone().unwrap_or_default(),
    }
}

/// A snapshot from what Ollama says (installed and running models) and this machine's memory.
/// Parts that cannot be read stay empty: a collector still runs.
pub async fn snapshot_from(dashboard: &Dashboard) -> HostSnapshot {
    let installed = dashboard.list_models().await.unwrap_or_default();
    let running = dashboard.running_models().await.unwrap_or_default();
    let (memory_total_bytes, memory_used_bytes) = memory().unwrap_or_default();
    HostSnapshot {
        taken_at_ms: u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default(),
        memory_total_bytes,
        memory_used_bytes,
        installed: installed
            .into_iter()
            .map(|m| SnapshotModel {
                name: m.name,
                size_bytes: m.size,
                vram_bytes: 0,
                parameter_size: m.details.parameter_size,
                quantization: m.details.quantization_level,
            })
            .collect(),
        running: running
            .into_iter()
            .map(|m| SnapshotModel {
                name: m.name,
                size_bytes: m.size,
                vram_bytes: m.size_vram.unwrap_or_default(),
                parameter_size: m.details.parameter_size,
                quantization: m.details.quantization_level,
            })
            .collect(),
        ..HostSnapshot::default()
    }
}

/// `(total, used)` RAM in bytes from `/proc/meminfo`.
fn memory() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kib| kib * 1024)
    };
    let total = field("MemTotal:")?;
    let available = field("MemAvailable:")?;
    Some((total, total.saturating_sub(available)))
}
