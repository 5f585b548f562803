//! Managed Ollama for real: a fake `ollama` executable (a script that execs the built
//! `ollama-dash sim`) is started, health-checked, restarted when killed, stopped by pid, and
//! never left behind when the host stops.
//!
//! Lives in the host package because only here does cargo give the binary's path.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use ollama_dash_core::service::{ServiceState, ServiceStatus};
use ollama_dash_core::{Dashboard, DashboardConfig, Event};

/// Writes `dir/ollama`: `ollama serve` runs the simulator on `$OLLAMA_HOST`.
fn fake_ollama(dir: &Path) -> PathBuf {
    let path = dir.join("ollama");
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = serve ] || {{ echo \"fake ollama: only 'serve'\" >&2; exit 2; }}\nexec '{}' sim --listen \"$OLLAMA_HOST\"\n",
        env!("CARGO_BIN_EXE_ollama-dash")
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn alive(pid: u32) -> bool {
    // Signal 0 checks existence; a zombie still counts, so also look at /proc's state.
    let exists = kill(Pid::from_raw(i32::try_from(pid).unwrap()), None).is_ok();
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    });
    exists && !zombie
}

/// Waits (on events, not on a clock) until the service status satisfies `done`.
async fn until(
    dashboard: &Dashboard,
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    what: &str,
    done: impl Fn(&ServiceStatus) -> bool,
) -> ServiceStatus {
    let status = dashboard.service_status();
    if done(&status) {
        return status;
    }
    loop {
        match tokio::time::timeout(Duration::from_secs(60), events.recv()).await {
            Ok(Ok(Event::Service(status))) if done(&status) => return status,
            Ok(Ok(_)) => {}
            other => panic!(
                "waiting for {what}: {other:?}; now {:?}",
                dashboard.service_status()
            ),
        }
    }
}

#[tokio::test]
async fn a_killed_ollama_comes_back_and_stop_start_restart_work_on_our_child_only() {
    let bin = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut config = DashboardConfig::with_data_path(data.path());
    config.ollama_host = format!("127.0.0.1:{}", free_port());
    config.live.manage_ollama = true;
    config.live.ollama_binary = Some(fake_ollama(bin.path()));
    let dashboard = Dashboard::new(config).await.unwrap();
    let mut events = dashboard.subscribe();
    let running = until(&dashboard, &mut events, "first start", |s| {
        s.state == ServiceState::Running
    })
    .await;
    let first = running.pid.unwrap();
    assert!(alive(first));
    dashboard.refresh_all().await;
    assert_eq!(
        dashboard.version().await.unwrap(),
        "0.12.6",
        "the managed Ollama answers"
    );

    // Killed from outside: it comes back by itself (after the 2 s backoff), with a new pid.
    kill(
        Pid::from_raw(i32::try_from(first).unwrap()),
        Signal::SIGKILL,
    )
    .unwrap();
    let restarting = until(&dashboard, &mut events, "restarting", |s| {
        s.state == ServiceState::Restarting
    })
    .await;
    assert!(
        restarting
            .last_exit
            .as_deref()
            .is_some_and(|e| e.contains("signal")),
        "{restarting:?}"
    );
    let back = until(&dashboard, &mut events, "back", |s| {
        s.state == ServiceState::Running
    })
    .await;
    let second = back.pid.unwrap();
    assert_ne!(second, first);
    assert_eq!(back.restarts, 1);

    // Stop: our child (by pid) goes, and stays gone.
    let stopped = dashboard.service_stop().await.unwrap();
    assert_eq!((stopped.state, stopped.pid), (ServiceState::Stopped, None));
    assert!(!alive(second));
    let started = dashboard.service_start().await.unwrap();
    assert_eq!(started.state, ServiceState::Running, "{started:?}");
    let third = started.pid.unwrap();
    let restarted = dashboard.service_restart().await.unwrap();
    assert_eq!(restarted.state, ServiceState::Running);
    assert_ne!(restarted.pid.unwrap(), third);
    assert!(!alive(third));

    let log = std::fs::read_to_string(data.path().join("logs/ollama.log")).unwrap();
    assert!(log.contains("Listening on"), "its output is logged: {log}");

    let last = restarted.pid.unwrap();
    dashboard.shutdown().await.unwrap();
    assert!(!alive(last), "shutting down stops the managed Ollama");
}

#[tokio::test]
async fn a_missing_binary_is_reported_not_retried_blindly() {
    let data = tempfile::tempdir().unwrap();
    let mut config = DashboardConfig::with_data_path(data.path());
    config.ollama_host = format!("127.0.0.1:{}", free_port());
    config.live.manage_ollama = true;
    config.live.ollama_binary = Some(data.path().join("no-such-ollama"));
    let dashboard = Dashboard::new(config).await.unwrap();
    let mut events = dashboard.subscribe();
    let failed = until(&dashboard, &mut events, "failed", |s| {
        s.state == ServiceState::Failed
    })
    .await;
    assert!(failed.message.contains("not an executable"), "{failed:?}");
    dashboard.shutdown().await.unwrap();
}

/// Starts `ollama-dash serve` managing the fake Ollama; returns it and the pid of the managed
/// Ollama once it answers.
async fn host_with_managed_ollama(
    bin: &Path,
    data: &Path,
    token: &str,
) -> (std::process::Child, u32) {
    let mut host = Command::new(env!("CARGO_BIN_EXE_ollama-dash"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATA_PATH", data)
        .env("AUTH_TOKEN", token)
        .env("OLLAMA_HOST", format!("127.0.0.1:{}", free_port()))
        .env("OLLAMA_DASH_MANAGE_OLLAMA", "true")
        .env("OLLAMA_DASH_OLLAMA_BINARY", fake_ollama(bin))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = host.stdout.take().unwrap();
    let base = tokio::task::spawn_blocking(move || support::listening_address(stdout))
        .await
        .unwrap();
    let client = reqwest::Client::new();
    // Wait for the condition "the managed Ollama answers", asking the host.
    for _ in 0..600 {
        let status: serde_json::Value = client
            .get(format!("{base}/api/service/status"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["state"] == "running" {
            let pid = u32::try_from(status["pid"].as_u64().unwrap()).unwrap();
            return (host, pid);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = host.kill();
    let _ = host.wait();
    panic!("the managed Ollama never came up");
}

#[tokio::test]
async fn a_killed_host_leaves_no_orphan() {
    let bin = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (mut host, pid) =
        host_with_managed_ollama(bin.path(), data.path(), "managed-test-token-0123456789").await;
    assert!(alive(pid));
    host.kill().unwrap(); // SIGKILL: no shutdown code runs
    host.wait().unwrap();
    let mut gone = false;
    for _ in 0..200 {
        if !alive(pid) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !gone {
        let _ = kill(Pid::from_raw(i32::try_from(pid).unwrap()), Signal::SIGKILL);
    }
    assert!(gone, "the managed Ollama outlived a SIGKILLed host");
}

#[tokio::test]
async fn stopping_the_host_leaves_no_orphan() {
    let bin = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (mut host, pid) =
        host_with_managed_ollama(bin.path(), data.path(), "managed-test-token-0123456789").await;
    assert!(alive(pid));
    kill(
        Pid::from_raw(i32::try_from(host.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    let status = tokio::task::spawn_blocking(move || host.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "clean exit: {status:?}");
    assert!(!alive(pid), "the managed Ollama went with the host");
}
