//! GPUs: NVML first (initialised once, every device, the processes holding memory), else
//! `nvidia-smi` with a timeout, else plainly "no GPU" — never zeros that look like a GPU.

mod nvml;
mod smi;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::OnceCell;

use crate::error::Result;

pub use smi::{parse_smi_apps, parse_smi_gpus};

/// Where the GPU numbers came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GpuSource {
    /// The NVIDIA Management Library.
    Nvml,
    /// `nvidia-smi --query-gpu=… --format=csv`.
    NvidiaSmi,
    /// Neither is there: no GPU to report.
    None,
}

/// All GPUs, or why there are none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuReport {
    /// When it was taken.
    pub taken_at: DateTime<Utc>,
    /// Where the numbers came from.
    pub source: GpuSource,
    /// Driver version, when known.
    pub driver_version: Option<String>,
    /// Every device (empty with `source: none`).
    pub devices: Vec<GpuDevice>,
    /// Why there is no GPU, or what went wrong with the preferred source.
    pub note: Option<String>,
}

impl GpuReport {
    /// "No GPU", with the reasons each source gave.
    pub fn none(note: String) -> Self {
        Self {
            taken_at: Utc::now(),
            source: GpuSource::None,
            driver_version: None,
            devices: Vec::new(),
            note: Some(note),
        }
    }

    /// Sum of memory used over all devices, bytes (None when no device reports it).
    pub fn memory_used(&self) -> Option<u64> {
        self.devices
            .iter()
            .filter_map(|d| d.memory_used)
            .reduce(|a, b| a + b)
    }
}

/// One GPU. A value the source could not give (`[N/A]`) is `None`, never 0.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuDevice {
    /// Index as the driver numbers it.
    pub index: u32,
    /// e.g. `NVIDIA GeForce RTX 4090`.
    pub name: String,
    /// e.g. `GPU-5f8c…`.
    pub uuid: String,
    /// Busy share of the last sample period, percent.
    pub utilization_percent: Option<u32>,
    /// Memory-controller busy share, percent.
    pub memory_utilization_percent: Option<u32>,
    /// Memory, bytes.
    pub memory_total: Option<u64>,
    /// Memory in use, bytes.
    pub memory_used: Option<u64>,
    /// Memory free, bytes.
    pub memory_free: Option<u64>,
    /// Core temperature, °C.
    pub temperature_c: Option<u32>,
    /// Power draw, watts.
    pub power_watts: Option<f64>,
    /// Enforced power limit, watts.
    pub power_limit_watts: Option<f64>,
    /// Fan speed, percent.
    pub fan_percent: Option<u32>,
    /// SM clock, MHz.
    pub sm_clock_mhz: Option<u32>,
    /// Memory clock, MHz.
    pub memory_clock_mhz: Option<u32>,
    /// Energy since the driver loaded, millijoules (NVML only).
    pub energy_mj: Option<u64>,
    /// Processes holding memory on it, where the source tells.
    pub processes: Vec<GpuProcess>,
}

/// A process holding GPU memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuProcess {
    /// Its pid.
    pub pid: u32,
    /// Its name, when known.
    pub name: Option<String>,
    /// Bytes it holds, when the driver tells.
    pub used_memory: Option<u64>,
}

/// Reads the GPUs; NVML is initialised on the first sample and kept.
#[derive(Debug)]
pub struct GpuProbe {
    nvml: OnceCell<std::result::Result<Arc<nvml_wrapper::Nvml>, String>>,
    smi: String,
    timeout: Duration,
    /// Where `smi` was found on `PATH`, and when we looked (looked up again after a minute,
    /// so a missing `nvidia-smi` costs a `PATH` walk, not a fork, every sample).
    found: std::sync::Mutex<Option<(tokio::time::Instant, Option<std::path::PathBuf>)>>,
}

impl GpuProbe {
    /// A probe that falls back to `smi` (a name on `PATH` or a path), allowed `timeout`.
    pub fn new(smi: impl Into<String>, timeout: Duration) -> Self {
        Self {
            nvml: OnceCell::new(),
            smi: smi.into(),
            timeout,
            found: std::sync::Mutex::new(None),
        }
    }

    /// The `nvidia-smi` to run, if there is one.
    fn smi_path(&self) -> Option<std::path::PathBuf> {
        if self.smi.contains('/') {
            return Some(std::path::PathBuf::from(&self.smi));
        }
        let now = tokio::time::Instant::now();
        let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        match &*found {
            Some((at, path)) if now.saturating_duration_since(*at) < Duration::from_secs(60) => {
                path.clone()
            }
            _ => {
                let path = crate::service::find_on_path(&self.smi);
                *found = Some((now, path.clone()));
                path
            }
        }
    }

    /// NVML's init error, if it failed (after the first sample).
    pub fn nvml_error(&self) -> Option<String> {
        self.nvml.get().and_then(|r| r.as_ref().err().cloned())
    }

    /// Takes a sample from the best source there is.
    pub async fn sample(&self) -> Result<GpuReport> {
        let nvml = self
            .nvml
            .get_or_init(|| async {
                tokio::task::spawn_blocking(nvml::init)
                    .await
                    .unwrap_or_else(|e| Err(format!("NVML init panicked: {e}")))
            })
            .await;
        let nvml_note = match nvml {
            Ok(nvml) => {
                let nvml = Arc::clone(nvml);
                return tokio::task::spawn_blocking(move || nvml::sample(&nvml))
                    .await
                    .map_err(|e| crate::Error::Unavailable(format!("NVML sample: {e}")))?;
            }
            Err(e) => e.clone(),
        };
        let Some(smi) = self.smi_path() else {
            return Ok(GpuReport::none(format!(
                "no GPU: NVML unavailable ({nvml_note}) and {} not found",
                self.smi
            )));
        };
        match smi::sample(&smi.display().to_string(), self.timeout).await {
            Ok(Some(mut report)) => {
                report.note = Some(format!(
                    "NVML unavailable ({nvml_note}); using {}",
                    self.smi
                ));
                Ok(report)
            }
            Ok(None) => Ok(GpuReport::none(format!(
                "no GPU: NVML unavailable ({nvml_note}) and {} not found",
                self.smi
            ))),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests;
