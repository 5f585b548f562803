//! Where plugin inputs come from: a model's `/api/show` answer (or the capability chain's facts)
//! becomes [`ModelFacts`]; the live collector's cache becomes a [`HostSnapshot`].

use std::time::Duration;

use ollama_dash_core::Dashboard;
use ollama_dash_core::capabilities;
use ollama_dash_core::ollama::types::{ModelDetails, ShowResponse};
use serde_json::Value;

use super::types::{GpuFacts, HostSnapshot, ModelFacts, SnapshotModel, TraceWindow};

/// How far back the trace aggregates of a snapshot look.
pub const TRACE_WINDOW: Duration = Duration::from_secs(300);

/// The facts of one model from its details and `/api/show` answer; `known` are the
/// capabilities found so far.
fn facts(
    name: &str,
    details: &ModelDetails,
    show: Option<&ShowResponse>,
    known: Vec<String>,
) -> ModelFacts {
    let model_info = show
        .map(|show| {
            show.model_info
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
                .collect()
        })
        .unwrap_or_default();
    ModelFacts {
        name: name.to_owned(),
        family: details.family.clone(),
        families: details.families.clone().unwrap_or_default(),
        parameter_size: details.parameter_size.clone(),
        quantization: details.quantization_level.clone(),
        capabilities: known,
        model_info,
        template: show.and_then(|s| s.template.clone()).unwrap_or_default(),
    }
}

/// The facts of one model from its `/api/show` answer.
pub fn facts_from_show(name: &str, show: &ShowResponse) -> ModelFacts {
    let known = show.capabilities.clone().unwrap_or_default();
    facts(name, &show.details, Some(show), known)
}

/// The facts the capability chain hands a detector.
pub fn facts_from_chain(chain: &capabilities::ModelFacts) -> ModelFacts {
    let known = chain.found.names().into_iter().map(str::to_owned).collect();
    facts(&chain.name, &chain.details, chain.show.as_deref(), known)
}

/// A snapshot from the live collector's cache: system and GPU stats, installed and running
/// models (the trace aggregates come from [`trace_window`]). Parts not collected yet stay
/// empty: a collector still runs.
pub fn snapshot_from(dashboard: &Dashboard) -> HostSnapshot {
    let system = dashboard.system_stats().value;
    let gpus = dashboard.gpu_stats().value;
    let installed = dashboard.list_models().value;
    let running = dashboard.running_models().value;
    HostSnapshot {
        taken_at_ms: u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default(),
        cpu_percent: system
            .as_ref()
            .and_then(|s| s.cpu_percent)
            .map_or(0.0, f64::from),
        memory_total_bytes: system.as_ref().map_or(0, |s| s.memory.total),
        memory_used_bytes: system.as_ref().map_or(0, |s| s.memory.used),
        gpus: gpus
            .iter()
            .flat_map(|report| report.devices.iter())
            .map(|d| GpuFacts {
                name: d.name.clone(),
                memory_total_bytes: d.memory_total.unwrap_or_default(),
                memory_used_bytes: d.memory_used.unwrap_or_default(),
                utilization_percent: d.utilization_percent.map(f64::from),
                power_watts: d.power_watts,
            })
            .collect(),
        installed: installed
            .iter()
            .flat_map(|models| models.iter())
            .map(|m| SnapshotModel {
                name: m.name.clone(),
                size_bytes: m.size,
                vram_bytes: 0,
                parameter_size: m.parameter_size.clone(),
                quantization: m.quantization.clone(),
            })
            .collect(),
        running: running
            .iter()
            .flat_map(|models| models.iter())
            .map(|m| SnapshotModel {
                name: m.name.clone(),
                size_bytes: m.size,
                vram_bytes: m.size_vram,
                parameter_size: m.parameter_size.clone(),
                quantization: m.quantization.clone(),
            })
            .collect(),
        ..HostSnapshot::default()
    }
}

/// Aggregates of the traces recorded in the last [`TRACE_WINDOW`] (kept in memory by the
/// dashboard: no SQL per round).
pub fn trace_window(dashboard: &Dashboard) -> TraceWindow {
    let t = dashboard.recent_trace_totals(TRACE_WINDOW);
    TraceWindow {
        window_seconds: TRACE_WINDOW.as_secs(),
        requests: t.count,
        errors: t.errors,
        prompt_tokens: t.prompt_tokens,
        completion_tokens: t.completion_tokens,
        generation_ms: t.generation_ms,
    }
}
