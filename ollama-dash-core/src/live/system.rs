//! System stats through sysinfo: CPU (no blocking sleep: usage is the delta since the previous
//! sample), per-core, load average, memory and swap, the disks that hold Ollama's models and
//! `DATA_PATH`, and network totals with rates.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sysinfo::{
    CpuRefreshKind, DiskRefreshKind, Disks, MemoryRefreshKind, Networks, RefreshKind, System,
};
use tokio::time::Instant;

use crate::error::{Error, Result};

/// One sample of the machine's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SystemStats {
    /// When it was taken.
    pub taken_at: DateTime<Utc>,
    /// Host name, if known.
    pub hostname: Option<String>,
    /// CPU use over all cores since the previous sample, percent (None on the first sample).
    pub cpu_percent: Option<f32>,
    /// CPU use per core, percent (empty on the first sample).
    pub per_core_percent: Vec<f32>,
    /// Logical cores.
    pub cores: usize,
    /// Load average over 1, 5 and 15 minutes (None where the OS has none).
    pub load_average: Option<[f64; 3]>,
    /// Memory in bytes.
    pub memory: MemoryStats,
    /// Swap in bytes.
    pub swap: MemoryStats,
    /// The filesystems holding Ollama's models and `DATA_PATH` (one entry when shared).
    pub disks: Vec<DiskStats>,
    /// Network totals over all interfaces but loopback.
    pub network: NetworkStats,
}

/// Used and total bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryStats {
    /// Total bytes.
    pub total: u64,
    /// Used bytes.
    pub used: u64,
    /// Available bytes (for memory: what can be allocated without swapping).
    pub available: u64,
}

/// A filesystem and why we watch it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiskStats {
    /// `models`, `data` or `models+data`.
    pub role: String,
    /// The path we asked about.
    pub path: PathBuf,
    /// Where that filesystem is mounted.
    pub mount_point: PathBuf,
    /// Filesystem type, e.g. `ext4`.
    pub file_system: String,
    /// Total bytes.
    pub total: u64,
    /// Available bytes.
    pub available: u64,
    /// Used share, percent.
    pub used_percent: f64,
}

/// Bytes moved since boot, and per second since the previous sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NetworkStats {
    /// Bytes received since boot.
    pub received_total: u64,
    /// Bytes sent since boot.
    pub transmitted_total: u64,
    /// Bytes received per second since the previous sample.
    pub received_per_sec: Option<f64>,
    /// Bytes sent per second since the previous sample.
    pub transmitted_per_sec: Option<f64>,
}

/// The sysinfo state kept between samples (CPU and network rates are deltas).
#[derive(Debug)]
pub struct SystemProbe {
    system: System,
    disks: Disks,
    networks: Networks,
    watched: Vec<(String, PathBuf)>,
    previous_net: Option<(Instant, u64, u64)>,
    primed: bool,
    samples: u64,
}

/// Mounts are listed again every this many samples (a new mount is rare; listing is the
/// expensive part); in between only the watched filesystems are asked for their space.
const RELIST_EVERY: u64 = 30;

fn storage_only() -> DiskRefreshKind {
    DiskRefreshKind::nothing().with_storage()
}

impl SystemProbe {
    /// Prepares the probe; `models` and `data` are the directories whose disks are reported.
    pub fn new(models: Option<PathBuf>, data: PathBuf) -> Result<Self> {
        let err = |e: sysinfo::Error| Error::Unavailable(format!("system stats: {e}"));
        let kind = RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing().with_usage())
            .with_memory(MemoryRefreshKind::everything());
        let system = System::new_with_specifics(kind).map_err(err)?;
        let disks = Disks::new_with_refreshed_list_specifics(storage_only()).map_err(err)?;
        let networks = Networks::new_with_refreshed_list().map_err(err)?;
        let mut watched = Vec::new();
        if let Some(models) = models {
            watched.push(("models".to_owned(), models));
        }
        watched.push(("data".to_owned(), data));
        Ok(Self {
            system,
            disks,
            networks,
            watched,
            previous_net: None,
            primed: false,
            samples: 0,
        })
    }

    /// Takes a sample. Quick (reads /proc), but it is file I/O: call it off the async threads.
    pub fn sample(&mut self) -> SystemStats {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        if self.samples.is_multiple_of(RELIST_EVERY) {
            self.disks.refresh_specifics(true, storage_only());
        } else {
            let watched: Vec<PathBuf> = self
                .watched_disks()
                .into_iter()
                .map(|d| d.mount_point)
                .collect();
            for disk in self.disks.iter_mut() {
                if watched.iter().any(|m| m == disk.mount_point()) {
                    disk.refresh_specifics(storage_only());
                }
            }
        }
        self.samples += 1;
        self.networks.refresh(true);
        let now = Instant::now();
        let (cpu_percent, per_core_percent) = if self.primed {
            let per_core = self.system.cpus().iter().map(|c| c.usage()).collect();
            (Some(self.system.global_cpu_usage()), per_core)
        } else {
            (None, Vec::new())
        };
        self.primed = true;
        let (rx, tx) = self
            .networks
            .iter()
            .filter(|(name, _)| name.as_os_str() != "lo")
            .fold((0u64, 0u64), |(rx, tx), (_, data)| {
                (
                    rx.saturating_add(data.total_received()),
                    tx.saturating_add(data.total_transmitted()),
                )
            });
        let rate = |now_total: u64, before: u64, secs: f64| {
            (secs > 0.0).then(|| now_total.saturating_sub(before) as f64 / secs)
        };
        let (rx_rate, tx_rate) = match self.previous_net {
            Some((at, prx, ptx)) => {
                let secs = now.saturating_duration_since(at).as_secs_f64();
                (rate(rx, prx, secs), rate(tx, ptx, secs))
            }
            None => (None, None),
        };
        self.previous_net = Some((now, rx, tx));
        let load = System::load_average()
            .ok()
            .map(|l| [l.one, l.five, l.fifteen]);
        SystemStats {
            taken_at: Utc::now(),
            hostname: System::host_name().ok(),
            cpu_percent,
            per_core_percent,
            cores: self.system.cpus().len(),
            load_average: load,
            memory: MemoryStats {
                total: self.system.total_memory(),
                used: self.system.used_memory(),
                available: self.system.available_memory(),
            },
            swap: MemoryStats {
                total: self.system.total_swap(),
                used: self.system.used_swap(),
                available: self.system.free_swap(),
            },
            disks: self.watched_disks(),
            network: NetworkStats {
                received_total: rx,
                transmitted_total: tx,
                received_per_sec: rx_rate,
                transmitted_per_sec: tx_rate,
            },
        }
    }

    fn watched_disks(&self) -> Vec<DiskStats> {
        let mounts: Vec<(PathBuf, String, u64, u64)> = self
            .disks
            .iter()
            .map(|d| {
                (
                    d.mount_point().to_path_buf(),
                    d.file_system().to_string_lossy().into_owned(),
                    d.total_space(),
                    d.available_space(),
                )
            })
            .collect();
        let mut out: Vec<DiskStats> = Vec::new();
        for (role, path) in &self.watched {
            let Some((mount, fs, total, available)) = mount_of(path, &mounts) else {
                continue;
            };
            if let Some(same) = out.iter_mut().find(|d| d.mount_point == *mount) {
                same.role = format!("{}+{role}", same.role);
                continue;
            }
            let used = total.saturating_sub(*available);
            out.push(DiskStats {
                role: role.clone(),
                path: path.clone(),
                mount_point: mount.clone(),
                file_system: fs.clone(),
                total: *total,
                available: *available,
                used_percent: if *total == 0 {
                    0.0
                } else {
                    used as f64 * 100.0 / *total as f64
                },
            });
        }
        out
    }
}

/// The mount holding `path`: the longest mount point that is a prefix of it (or of its
/// nearest existing ancestor, when it does not exist yet).
fn mount_of<'a, T>(
    path: &Path,
    mounts: &'a [(PathBuf, T, u64, u64)],
) -> Option<&'a (PathBuf, T, u64, u64)> {
    let resolved = path
        .ancestors()
        .find_map(|p| p.canonicalize().ok())
        .unwrap_or_else(|| path.to_path_buf());
    mounts
        .iter()
        .filter(|(mount, ..)| resolved.starts_with(mount))
        .max_by_key(|(mount, ..)| mount.as_os_str().len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn the_longest_mount_prefix_wins_and_missing_paths_use_their_parent() {
        let mounts = vec![
            (PathBuf::from("/"), "ext4", 100, 50),
            (PathBuf::from("/tmp"), "tmpfs", 10, 5),
        ];
        let dir = std::env::temp_dir().join("ollama-dash-no-such-dir/deeper");
        let found = mount_of(&dir, &mounts).unwrap();
        let tmp = std::env::temp_dir().canonicalize().unwrap();
        let expected = if tmp.starts_with("/tmp") { "/tmp" } else { "/" };
        assert_eq!(found.0, PathBuf::from(expected));
        assert_eq!(
            mount_of(Path::new("/usr"), &mounts).unwrap().0,
            PathBuf::from("/")
        );
    }

    #[test]
    fn a_real_sample_has_memory_disks_and_cpu_from_the_second_sample_on() {
        let data = tempfile::tempdir().unwrap();
        let mut probe = SystemProbe::new(None, data.path().to_path_buf()).unwrap();
        let first = probe.sample();
        assert!(first.cpu_percent.is_none(), "no delta yet");
        assert!(first.memory.total > 0 && first.memory.used <= first.memory.total);
        assert!(first.cores > 0);
        let second = probe.sample();
        let cpu = second.cpu_percent.unwrap();
        assert!((0.0..=100.0).contains(&cpu), "{cpu}");
        assert_eq!(second.per_core_percent.len(), second.cores);
        assert_eq!(second.disks.len(), 1, "{:?}", second.disks);
        assert_eq!(second.disks[0].role, "data");
        assert!(second.disks[0].total > 0);
        assert!(second.network.received_per_sec.is_some());
    }
}
