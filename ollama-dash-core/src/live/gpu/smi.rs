//! The `nvidia-smi` fallback: two CSV queries (devices, compute apps), parsed strictly enough
//! that `[N/A]`, `[Not Supported]` and the like become "unknown", never 0.

use std::process::Stdio;
use std::time::Duration;

use chrono::Utc;

use super::{GpuDevice, GpuProcess, GpuReport, GpuSource};
use crate::error::{Error, Result};

/// Fields asked of `--query-gpu`, in order; the name is last because it may hold commas.
pub(crate) const GPU_FIELDS: &str = "index,uuid,utilization.gpu,utilization.memory,memory.total,\
memory.used,memory.free,temperature.gpu,power.draw,power.limit,fan.speed,clocks.sm,clocks.mem,\
driver_version,name";

/// Fields asked of `--query-compute-apps`; the process name is last for the same reason.
pub(crate) const APP_FIELDS: &str = "gpu_uuid,pid,used_memory,process_name";

const MIB: u64 = 1024 * 1024;

/// Runs both queries. `Ok(None)` when `nvidia-smi` is not there at all.
pub(super) async fn sample(smi: &str, timeout: Duration) -> Result<Option<GpuReport>> {
    let Some(gpus) = run(smi, &format!("--query-gpu={GPU_FIELDS}"), timeout).await? else {
        return Ok(None);
    };
    let (driver, mut devices) = parse_smi_gpus(&gpus)?;
    // The apps query is best effort: some drivers refuse it; devices still count.
    if let Ok(Some(apps)) = run(smi, &format!("--query-compute-apps={APP_FIELDS}"), timeout).await {
        for (uuid, process) in parse_smi_apps(&apps) {
            if let Some(device) = devices.iter_mut().find(|d| d.uuid == uuid) {
                device.processes.push(process);
            }
        }
    }
    Ok(Some(GpuReport {
        taken_at: Utc::now(),
        source: GpuSource::NvidiaSmi,
        driver_version: driver,
        devices,
        note: None,
    }))
}

/// Runs `smi <query> --format=csv,noheader,nounits`, killed after `timeout`.
async fn run(smi: &str, query: &str, timeout: Duration) -> Result<Option<String>> {
    let child = tokio::process::Command::new(smi)
        .args([query, "--format=csv,noheader,nounits"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("running {smi}"), e)),
    };
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| Error::Timeout {
            what: format!("{smi} {query}"),
            seconds: timeout.as_secs(),
        })?
        .map_err(|e| Error::io(format!("running {smi}"), e))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let text = if stderr.trim().is_empty() {
            stdout
        } else {
            stderr
        };
        return Err(Error::Unavailable(format!(
            "{smi} failed ({}): {}",
            output.status,
            text.trim()
        )));
    }
    Ok(Some(String::from_utf8_lossy(&output.stdout).into_owned()))
}

/// A number, or `None` for `[N/A]`, `N/A`, `[Not Supported]`, `[Unknown Error]`, empty…
fn number(field: &str) -> Option<f64> {
    field
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

fn whole(field: &str) -> Option<u32> {
    number(field).map(|v| v.round() as u32)
}

fn mib(field: &str) -> Option<u64> {
    number(field).map(|v| (v * MIB as f64).round() as u64)
}

fn text(field: &str) -> Option<String> {
    let t = field.trim();
    (!t.is_empty() && !t.starts_with('[') && t != "N/A").then(|| t.to_owned())
}

/// Parses `--query-gpu` output (fields as in [`GPU_FIELDS`]): the driver version and each device.
pub fn parse_smi_gpus(output: &str) -> Result<(Option<String>, Vec<GpuDevice>)> {
    let count = GPU_FIELDS.split(',').count();
    let mut driver = None;
    let mut devices = Vec::new();
    for line in output.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.splitn(count, ',').collect();
        if f.len() != count {
            return Err(Error::Protocol(format!(
                "nvidia-smi: expected {count} fields, got {}: {line:?}",
                f.len()
            )));
        }
        let index = f[0]
            .trim()
            .parse::<u32>()
            .map_err(|_| Error::Protocol(format!("nvidia-smi: bad GPU index in {line:?}")))?;
        driver = driver.or_else(|| text(f[13]));
        devices.push(GpuDevice {
            index,
            uuid: text(f[1]).unwrap_or_default(),
            utilization_percent: whole(f[2]),
            memory_utilization_percent: whole(f[3]),
            memory_total: mib(f[4]),
            memory_used: mib(f[5]),
            memory_free: mib(f[6]),
            temperature_c: whole(f[7]),
            power_watts: number(f[8]),
            power_limit_watts: number(f[9]),
            fan_percent: whole(f[10]),
            sm_clock_mhz: whole(f[11]),
            memory_clock_mhz: whole(f[12]),
            energy_mj: None,
            name: text(f[14]).unwrap_or_else(|| "unknown GPU".to_owned()),
            processes: Vec::new(),
        });
    }
    Ok((driver, devices))
}

/// Parses `--query-compute-apps` output: `(gpu uuid, process)` per line; bad lines are skipped.
pub fn parse_smi_apps(output: &str) -> Vec<(String, GpuProcess)> {
    output
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.splitn(4, ',').collect();
            let [uuid, pid, used, name] = f.as_slice() else {
                return None;
            };
            let pid = pid.trim().parse::<u32>().ok()?;
            Some((
                text(uuid)?,
                GpuProcess {
                    pid,
                    name: text(name),
                    used_memory: mib(used),
                },
            ))
        })
        .collect()
}
