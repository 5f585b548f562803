//! The NVML path: every device, every field NVML gives, processes by pid.

use chrono::Utc;
use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
use nvml_wrapper::enums::device::UsedGpuMemory;

use super::{GpuDevice, GpuProcess, GpuReport, GpuSource};
use crate::error::{Error, Result};

pub(super) fn init() -> std::result::Result<std::sync::Arc<Nvml>, String> {
    Nvml::init()
        .map(std::sync::Arc::new)
        .map_err(|e| e.to_string())
}

pub(super) fn sample(nvml: &Nvml) -> Result<GpuReport> {
    let count = nvml
        .device_count()
        .map_err(|e| Error::Unavailable(format!("NVML device count: {e}")))?;
    let mut devices = Vec::new();
    for index in 0..count {
        let device = nvml
            .device_by_index(index)
            .map_err(|e| Error::Unavailable(format!("NVML device {index}: {e}")))?;
        let utilization = device.utilization_rates().ok();
        let memory = device.memory_info().ok();
        let mut processes: Vec<GpuProcess> = device
            .running_compute_processes()
            .unwrap_or_default()
            .into_iter()
            .chain(device.running_graphics_processes().unwrap_or_default())
            .map(|p| GpuProcess {
                pid: p.pid,
                name: process_name(p.pid),
                used_memory: match p.used_gpu_memory {
                    UsedGpuMemory::Used(bytes) => Some(bytes),
                    UsedGpuMemory::Unavailable => None,
                },
            })
            .collect();
        processes.sort_by_key(|p| p.pid);
        processes.dedup_by_key(|p| p.pid);
        devices.push(GpuDevice {
            index,
            name: device.name().unwrap_or_default(),
            uuid: device.uuid().unwrap_or_default(),
            utilization_percent: utilization.as_ref().map(|u| u.gpu),
            memory_utilization_percent: utilization.as_ref().map(|u| u.memory),
            memory_total: memory.as_ref().map(|m| m.total),
            memory_used: memory.as_ref().map(|m| m.used),
            memory_free: memory.as_ref().map(|m| m.free),
            temperature_c: device.temperature(TemperatureSensor::Gpu).ok(),
            power_watts: device.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
            power_limit_watts: device
                .enforced_power_limit()
                .ok()
                .map(|mw| f64::from(mw) / 1000.0),
            fan_percent: device.fan_speed(0).ok(),
            sm_clock_mhz: device.clock_info(Clock::SM).ok(),
            memory_clock_mhz: device.clock_info(Clock::Memory).ok(),
            energy_mj: device.total_energy_consumption().ok(),
            processes,
        });
    }
    Ok(GpuReport {
        taken_at: Utc::now(),
        source: GpuSource::Nvml,
        driver_version: nvml.sys_driver_version().ok(),
        devices,
        note: None,
    })
}

/// `/proc/<pid>/comm`, where there is one.
pub(super) fn process_name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}
