//! `vram-headroom`: will the largest installed model fit?
//!
//! For the largest installed model (by size on disk) it estimates the memory it needs loaded
//! (weights plus `[settings] overhead_percent`, default 20 %, for the KV cache and buffers) and
//! compares it with the GPUs' memory, or the RAM on a machine without a GPU:
//!
//! - `largest_model_bytes{model}`: its size on disk;
//! - `largest_model_needed_bytes{model}`: the estimate;
//! - `largest_model_headroom_bytes{model,device}`: device memory minus the estimate (negative:
//!   it cannot fit even alone);
//! - `largest_model_fits_now{model,device}`: 1 when it is loaded or would fit in the memory
//!   free right now, else 0;
//! - `installed_models_fitting{device}`: how many installed models fit the device alone.

use ollama_dash_plugin::{HostSnapshot, Kv, Metric, Plugin, Provides, export_plugin, setting};

struct VramHeadroom;

fn overhead_percent() -> Result<f64, String> {
    match setting("overhead_percent") {
        None => Ok(20.0),
        Some(v) => match v.trim().parse::<f64>() {
            Ok(p) if (0.0..=400.0).contains(&p) => Ok(p),
            _ => Err(format!(
                "overhead_percent must be a number from 0 to 400, not {v:?}"
            )),
        },
    }
}

impl Plugin for VramHeadroom {
    const NAME: &'static str = "vram-headroom";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Memory headroom for the largest installed model";
    const PROVIDES: &'static [Provides] = &[Provides::Collector];

    fn configure(settings: &[Kv]) -> Result<(), String> {
        for kv in settings {
            if kv.key != "overhead_percent" {
                return Err(format!(
                    "unknown setting {:?} (known: overhead_percent)",
                    kv.key
                ));
            }
        }
        overhead_percent().map(|_| ())
    }

    fn collect(snapshot: &HostSnapshot) -> Result<Vec<Metric>, String> {
        let factor = 1.0 + overhead_percent()? / 100.0;
        let (device, total, used) = if snapshot.gpus.is_empty() {
            (
                "ram",
                snapshot.memory_total_bytes,
                snapshot.memory_used_bytes,
            )
        } else {
            let total = snapshot.gpus.iter().map(|g| g.memory_total_bytes).sum();
            let used = snapshot.gpus.iter().map(|g| g.memory_used_bytes).sum();
            ("gpu", total, used)
        };
        let needed = |size: u64| size as f64 * factor;
        let fitting = snapshot
            .installed
            .iter()
            .filter(|m| needed(m.size_bytes) <= total as f64)
            .count();
        let mut metrics = vec![
            Metric::gauge(
                "installed_models_fitting",
                "Installed models whose estimated loaded size fits the device alone",
                fitting as f64,
            )
            .label("device", device),
        ];
        let Some(largest) = snapshot.installed.iter().max_by_key(|m| m.size_bytes) else {
            return Ok(metrics);
        };
        let need = needed(largest.size_bytes);
        let loaded = snapshot.running.iter().any(|r| r.name == largest.name);
        let free = total.saturating_sub(used) as f64;
        let fits_now = loaded || need <= free;
        let model = largest.name.as_str();
        metrics.extend([
            Metric::gauge(
                "largest_model_bytes",
                "Size on disk of the largest installed model",
                largest.size_bytes as f64,
            )
            .label("model", model),
            Metric::gauge(
                "largest_model_needed_bytes",
                "Estimated memory the largest installed model needs loaded",
                need,
            )
            .label("model", model),
            Metric::gauge(
                "largest_model_headroom_bytes",
                "Device memory minus the largest model's estimated need",
                total as f64 - need,
            )
            .label("model", model)
            .label("device", device),
            Metric::gauge(
                "largest_model_fits_now",
                "1 when the largest model is loaded or fits in free memory now",
                if fits_now { 1.0 } else { 0.0 },
            )
            .label("model", model)
            .label("device", device),
        ]);
        Ok(metrics)
    }
}

export_plugin!(VramHeadroom);
