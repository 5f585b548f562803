//! The live service's configuration keys (flattened into [`crate::DashboardConfig`]).
//!
//! Every key is a deployment setting: it comes from `ollama-dash.toml` or `OLLAMA_DASH_<KEY>`
//! and is never overridden from the UI.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::config_error;
use crate::error::Result;

/// Intervals, retention, GPU fallback and managed-Ollama settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LiveConfig {
    /// Seconds between system stats samples (CPU, memory, disks, network).
    pub system_interval_secs: f64,
    /// Seconds between GPU samples.
    pub gpu_interval_secs: f64,
    /// Seconds between `/api/ps` probes.
    pub ps_interval_secs: f64,
    /// Seconds between `/api/tags` probes.
    pub tags_interval_secs: f64,
    /// Seconds between `/api/version` probes.
    pub version_interval_secs: f64,
    /// Samples kept in memory for sparklines.
    pub history_samples: usize,
    /// Seconds per point of the downsampled history kept in SQLite.
    pub history_step_secs: u64,
    /// Days of downsampled history kept in SQLite.
    pub history_days: u64,
    /// Rows of model snapshots kept in SQLite (oldest dropped first).
    pub snapshot_rows: u64,
    /// Ollama's model store, for its disk usage (`OLLAMA_MODELS`; default `~/.ollama/models`).
    pub ollama_models_path: Option<PathBuf>,
    /// The `nvidia-smi` used when NVML is not available (a name looked up on `PATH`, or a path).
    pub nvidia_smi: String,
    /// Seconds `nvidia-smi` may take.
    pub nvidia_smi_timeout_secs: u64,
    /// `keep_alive` sent when starting (warming) a model, unless the request or the settings
    /// give one (e.g. `"30m"`, `"-1"` for forever). None: Ollama's own default.
    pub start_keep_alive: Option<String>,
    /// Start and supervise `ollama serve` ourselves.
    pub manage_ollama: bool,
    /// The `ollama` binary to run when managing it (default: `ollama` on `PATH`).
    pub ollama_binary: Option<PathBuf>,
    /// Bytes a managed Ollama log file may reach before it is rotated.
    pub ollama_log_max_bytes: u64,
    /// Rotated managed Ollama log files kept.
    pub ollama_log_files: u32,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            system_interval_secs: 2.0,
            gpu_interval_secs: 2.0,
            ps_interval_secs: 3.0,
            tags_interval_secs: 30.0,
            version_interval_secs: 30.0,
            history_samples: 300,
            history_step_secs: 60,
            history_days: 7,
            snapshot_rows: 20_000,
            ollama_models_path: None,
            nvidia_smi: "nvidia-smi".to_owned(),
            nvidia_smi_timeout_secs: 5,
            start_keep_alive: None,
            manage_ollama: false,
            ollama_binary: None,
            ollama_log_max_bytes: 10 * 1024 * 1024,
            ollama_log_files: 5,
        }
    }
}

impl LiveConfig {
    /// Checks every value, naming the key of the first bad one.
    pub fn validate(&self) -> Result<()> {
        for (key, value) in [
            ("system_interval_secs", self.system_interval_secs),
            ("gpu_interval_secs", self.gpu_interval_secs),
            ("ps_interval_secs", self.ps_interval_secs),
            ("tags_interval_secs", self.tags_interval_secs),
            ("version_interval_secs", self.version_interval_secs),
        ] {
            if !(0.1..=3600.0).contains(&value) {
                return Err(config_error(key, "must be between 0.1 and 3600 seconds"));
            }
        }
        if !(2..=100_000).contains(&self.history_samples) {
            return Err(config_error(
                "history_samples",
                "must be between 2 and 100000",
            ));
        }
        if self.history_step_secs == 0 || self.history_days == 0 || self.history_days > 3650 {
            return Err(config_error(
                "history_step_secs",
                "history_step_secs must be ≥ 1 and history_days 1 to 3650",
            ));
        }
        if self.nvidia_smi_timeout_secs == 0 {
            return Err(config_error(
                "nvidia_smi_timeout_secs",
                "must be at least 1 second",
            ));
        }
        if let Some(keep_alive) = &self.start_keep_alive {
            crate::settings::parse_keep_alive(keep_alive)
                .map_err(|m| config_error("start_keep_alive", &m))?;
        }
        if self.ollama_log_files == 0 || self.ollama_log_max_bytes < 4096 {
            return Err(config_error(
                "ollama_log_max_bytes",
                "ollama_log_max_bytes must be ≥ 4096 and ollama_log_files ≥ 1",
            ));
        }
        Ok(())
    }

    /// The interval of a probe.
    pub fn interval(&self, probe: super::Probe) -> Duration {
        use super::Probe;
        let secs = match probe {
            Probe::System => self.system_interval_secs,
            Probe::Gpu => self.gpu_interval_secs,
            Probe::Running => self.ps_interval_secs,
            Probe::Installed => self.tags_interval_secs,
            Probe::Version => self.version_interval_secs,
        };
        Duration::from_secs_f64(secs)
    }

    /// Where Ollama keeps its models: the config value, else `OLLAMA_MODELS`, else
    /// `~/.ollama/models`.
    pub fn models_path(&self) -> Option<PathBuf> {
        self.ollama_models_path
            .clone()
            .or_else(|| std::env::var_os("OLLAMA_MODELS").map(PathBuf::from))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ollama/models")))
    }
}
