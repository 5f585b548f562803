//! The real binary on a disk that fills up (issue #17, F6): `DATA_PATH` on a small tmpfs of its
//! own. Needs root (mount), as the test command runs in CI.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use std::time::{Duration, Instant};
use support::Served;

const TOKEN: &str = "full-disk-token-0123456789";

/// A tmpfs mounted on a temp dir; unmounted (after the server is gone) on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "mounting a tmpfs needs root (the test command runs as root in CI)"
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the disk to the last byte; returns the filler file.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0x5a_u8; 64 * 1024];
        loop {
            match file.write(&block) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        loop {
            match file.write(&block[..1]) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn serve(data: &Path) -> Served {
    let bin = Command::new(env!("CARGO_BIN_EXE_ollama-dash"));
    support::serve_simulated(bin, data, TOKEN, |c| {
        c.env("OLLAMA_DASH_UPLOAD_RESERVE_BYTES", "0")
            .env("RUST_LOG", "error");
    })
}

async fn health(client: &reqwest::Client, base: &str) -> serde_json::Value {
    client
        .get(format!("{base}/api/health"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn chat(client: &reqwest::Client, base: &str, text: &str) -> reqwest::StatusCode {
    client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "model": "llama3.2:1b",
            "messages": [{"role": "user", "content": text}],
        }))
        .send()
        .await
        .unwrap()
        .status()
}

/// Polls health until `done` says yes or the (generous) deadline passes.
async fn health_until(
    client: &reqwest::Client,
    base: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let h = health(client, base).await;
        if done(&h) || Instant::now() > deadline {
            return h;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_507_leaves_no_temp_files_and_degrades_health_until_freed() {
    let disk = SmallDisk::mount("24m");
    let served = serve(disk.path());
    let client = reqwest::Client::new();
    let base = &served.base;
    assert_eq!(health(&client, base).await["status"], "ok");

    let created = client
        .post(format!("{base}/v1/uploads"))
        .bearer_auth(TOKEN)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", 8 * 1024 * 1024)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = format!("{base}{}", created.headers()["location"].to_str().unwrap());

    let filler = disk.fill();
    // A tus PATCH that cannot be stored: 507 with the JSON error shape, offset unchanged.
    let patched = client
        .patch(&location)
        .bearer_auth(TOKEN)
        .header("tus-resumable", "1.0.0")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", 0)
        .body(vec![7u8; 4 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 507);
    let body: serde_json::Value = patched.json().await.unwrap();
    assert_eq!(
        body["error"]["type"], "insufficient_storage_error",
        "{body}"
    );
    let leftovers: Vec<String> = std::fs::read_dir(disk.path().join("uploads"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temp files left behind: {leftovers:?}"
    );

    // Generations still answer; their traces cannot be written, and health says so.
    for i in 0..5 {
        assert_eq!(chat(&client, base, &format!("while full {i}")).await, 200);
    }
    let degraded = health_until(&client, base, |h| h["status"] == "degraded").await;
    assert_eq!(degraded["status"], "degraded", "{degraded}");
    assert!(
        degraded["store"]["write_error"]
            .as_str()
            .is_some_and(|e| e.contains("full")),
        "{degraded}"
    );

    // The traces made while full are held in memory, not dropped.
    let held = health(&client, base).await;
    assert!(
        held["traces"]["waiting"].as_u64().is_some_and(|n| n >= 5),
        "{held}"
    );
    assert_eq!(held["traces"]["dropped"], 0);

    // Space again: the next write commits the held traces too, and health recovers.
    std::fs::remove_file(filler).unwrap();
    assert_eq!(chat(&client, base, "after").await, 200);
    // Health turns ok at the first commit that finds room (any write's), and the held traces
    // go with the next trace batch, which may commit a moment later: wait for both.
    let recovered = health_until(&client, base, |h| {
        h["status"] == "ok" && h["traces"]["waiting"] == 0
    })
    .await;
    assert_eq!(recovered["status"], "ok", "{recovered}");
    assert!(recovered["store"]["write_error"].is_null(), "{recovered}");
    assert_eq!(recovered["traces"]["waiting"], 0, "{recovered}");
    let page: serde_json::Value = client
        .get(format!("{base}/v1/traces"))
        .bearer_auth(TOKEN)
        .query(&[("q", "while full"), ("limit", "100")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["data"].as_array().map(Vec::len),
        Some(5),
        "every trace made while the disk was full is stored once there is room: {page}"
    );
    drop(served);
}

/// Start-up on a disk that is already full: the server cannot open its store, and it must say
/// so plainly — exit non-zero (not a panic, not a hang) with a message that names `DATA_PATH`
/// and the lack of space — instead of serving without one.
#[test]
fn a_full_disk_at_start_up_is_a_clear_error_naming_data_path() {
    let disk = SmallDisk::mount("2m");
    let data = disk.path().join("data");
    std::fs::create_dir(&data).unwrap();
    disk.fill();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ollama-dash"))
        .args(["serve", "--simulate", "--listen", "127.0.0.1:0"])
        .env("DATA_PATH", &data)
        .env("AUTH_TOKEN", TOKEN)
        .env_remove("OLLAMA_HOST")
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(20) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if status.is_none() {
        let _ = child.kill();
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!(
        "full disk at start: {:?} after {:?}: {}",
        output.status.code(),
        started.elapsed(),
        stderr.trim()
    );
    let status = status
        .unwrap_or_else(|| panic!("the server did not exit on a full disk: {stdout}\n{stderr}"));
    assert!(
        !stdout.contains("listening on"),
        "it served without a store: {stdout}"
    );
    assert!(!status.success(), "{stderr}");
    assert_ne!(status.code(), Some(101), "a panic, not an error: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(status.code().is_some(), "killed by a signal: {status:?}");
    let lower = stderr.to_lowercase();
    assert!(
        stderr.contains("DATA_PATH") && stderr.contains(&*data.to_string_lossy()),
        "the message names DATA_PATH and its value: {stderr}"
    );
    assert!(
        lower.contains("no space") || lower.contains("disk is full") || lower.contains("full"),
        "the message says the disk is full: {stderr}"
    );
}
