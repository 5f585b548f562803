#![allow(clippy::unwrap_used, reason = "tests")]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use super::*;

/// `nvidia-smi --query-gpu=<GPU_FIELDS> --format=csv,noheader,nounits` on a two-GPU box,
/// the second one a datacenter card that reports no fan and no memory utilisation.
const TWO_GPUS: &str = "\
0, GPU-5f8c2a1e-7d0b-4c4f-9a57-0c1d2e3f4a5b, 37, 12, 24564, 18342, 5866, 61, 287.43, 450.00, 45, 2520, 10501, 550.54.15, NVIDIA GeForce RTX 4090
1, GPU-a1b2c3d4-0000-1111-2222-333344445555, 0, [N/A], 81559, 4, 80974, 34, 62.10, 400.00, [N/A], 210, 1593, 550.54.15, NVIDIA A100-SXM4-80GB
";

/// `--query-compute-apps=<APP_FIELDS>`: an Ollama runner on GPU 0, one process whose memory the
/// driver hides (containers), and a junk line.
const APPS: &str = "\
GPU-5f8c2a1e-7d0b-4c4f-9a57-0c1d2e3f4a5b, 4242, 17920, /usr/local/bin/ollama
GPU-a1b2c3d4-0000-1111-2222-333344445555, 777, [N/A], python3, with, commas
No running processes found
";

#[test]
fn parses_two_gpus_and_keeps_na_as_unknown() {
    let (driver, gpus) = parse_smi_gpus(TWO_GPUS).unwrap();
    assert_eq!(driver.as_deref(), Some("550.54.15"));
    assert_eq!(gpus.len(), 2);
    let rtx = &gpus[0];
    assert_eq!(rtx.name, "NVIDIA GeForce RTX 4090");
    assert_eq!(rtx.uuid, "GPU-5f8c2a1e-7d0b-4c4f-9a57-0c1d2e3f4a5b");
    assert_eq!(rtx.utilization_percent, Some(37));
    assert_eq!(rtx.memory_total, Some(24564 * 1024 * 1024));
    assert_eq!(rtx.memory_used, Some(18342 * 1024 * 1024));
    assert_eq!(rtx.temperature_c, Some(61));
    assert_eq!(rtx.power_watts, Some(287.43));
    assert_eq!(rtx.fan_percent, Some(45));
    let a100 = &gpus[1];
    assert_eq!(
        (a100.index, a100.name.as_str()),
        (1, "NVIDIA A100-SXM4-80GB")
    );
    assert_eq!(a100.utilization_percent, Some(0), "a real 0 stays 0");
    assert_eq!(
        a100.memory_utilization_percent, None,
        "[N/A] is unknown, not 0"
    );
    assert_eq!(a100.fan_percent, None);
}

#[test]
fn rejects_lines_with_missing_fields_and_parses_apps() {
    assert!(parse_smi_gpus("0, GPU-x, 5\n").is_err());
    assert!(parse_smi_gpus("").unwrap().1.is_empty());
    let apps = parse_smi_apps(APPS);
    assert_eq!(apps.len(), 2, "{apps:?}");
    assert_eq!(apps[0].1.pid, 4242);
    assert_eq!(apps[0].1.used_memory, Some(17920 * 1024 * 1024));
    assert_eq!(apps[0].1.name.as_deref(), Some("/usr/local/bin/ollama"));
    assert_eq!(apps[1].1.used_memory, None);
    assert_eq!(apps[1].1.name.as_deref(), Some("python3, with, commas"));
}

fn script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// The probe with NVML as this machine has it. These tests are for machines without NVML
/// (every CI machine here); where NVML works they check that it reports devices instead.
async fn probe_with(smi: &str) -> Option<GpuReport> {
    let probe = GpuProbe::new(smi, Duration::from_secs(5));
    let report = probe.sample().await;
    if probe.nvml_error().is_none() {
        let report = report.unwrap();
        assert_eq!(report.source, GpuSource::Nvml);
        assert!(!report.devices.is_empty());
        return None;
    }
    Some(report.unwrap())
}

#[tokio::test]
async fn without_nvml_or_nvidia_smi_it_says_no_gpu_plainly() {
    let Some(report) = probe_with("/nonexistent/nvidia-smi").await else {
        return;
    };
    assert_eq!(report.source, GpuSource::None);
    assert!(report.devices.is_empty(), "never made-up devices");
    let note = report.note.clone().unwrap();
    assert!(
        note.starts_with("no GPU") && note.contains("NVML"),
        "{note}"
    );
    assert_eq!(report.memory_used(), None);
    // A bare name is looked up on PATH (no process is started when it is not there).
    let report = probe_with("ollama-dash-no-such-nvidia-smi").await.unwrap();
    assert_eq!(report.source, GpuSource::None);
}

#[tokio::test]
async fn without_nvml_a_real_nvidia_smi_process_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "case \"$1\" in\n  --query-gpu=*) printf '%s' '{TWO_GPUS}' ;;\n  --query-compute-apps=*) printf '%s' '{APPS}' ;;\n  *) exit 3 ;;\nesac"
    );
    let smi = script(dir.path(), "nvidia-smi", &body);
    let Some(report) = probe_with(&smi).await else {
        return;
    };
    assert_eq!(report.source, GpuSource::NvidiaSmi);
    assert_eq!(report.devices.len(), 2);
    assert_eq!(report.devices[0].processes[0].pid, 4242);
    assert_eq!(
        report.devices[1].processes[0].name.as_deref(),
        Some("python3, with, commas")
    );
    assert_eq!(report.memory_used(), Some((18342 + 4) * 1024 * 1024));
    assert!(report.note.unwrap().contains("NVML unavailable"));
}

#[tokio::test]
async fn a_failing_nvidia_smi_is_an_error_not_a_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let smi = script(
        dir.path(),
        "nvidia-smi",
        "echo 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'; exit 9",
    );
    let probe = GpuProbe::new(&smi, Duration::from_secs(5));
    let result = probe.sample().await;
    if probe.nvml_error().is_none() {
        return;
    }
    let err = result.unwrap_err().to_string();
    assert!(err.contains("could not communicate"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_hanging_nvidia_smi_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let smi = script(dir.path(), "nvidia-smi", "exec sleep 600");
    let probe = GpuProbe::new(&smi, Duration::from_secs(5));
    let result = probe.sample().await;
    if probe.nvml_error().is_none() {
        return;
    }
    assert!(
        matches!(result, Err(crate::Error::Timeout { seconds: 5, .. })),
        "{result:?}"
    );
}
