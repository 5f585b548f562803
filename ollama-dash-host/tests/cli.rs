//! The real `ollama-dash` binary as a user runs it: `serve --simulate`, then SIGTERM.
//!
//! This lives in the host package (not in `tests/`) because only here does cargo tell us the
//! binary's path.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn serve_simulate(data: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ollama-dash"));
    command
        .args(["serve", "--simulate", "--listen", "127.0.0.1:0"])
        .env("DATA_PATH", data)
        .env_remove("AUTH_TOKEN")
        .env_remove("OLLAMA_HOST")
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[tokio::test]
async fn serve_simulate_answers_with_a_token_and_stops_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let mut child = serve_simulate(data.path()).spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut log);
        log
    });
    let stdout = child.stdout.take().unwrap();
    let open_line = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.starts_with("Open "))
    })
    .await
    .unwrap()
    .expect("serve prints the URL to open");
    let url = open_line.trim_start_matches("Open ");
    let (base, token) = url.split_once("/#token=").unwrap();
    assert!(token.len() >= 16);

    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/ping"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(format!("{base}/api/health"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let get = |path: &str| {
        client
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
    };
    let health: serde_json::Value = get("/api/health").await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    let running: serde_json::Value = get("/api/models/running")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        running["models"][0]["name"], "llama3.2:1b",
        "--simulate preloads a model: {running}"
    );
    let available: serde_json::Value = get("/api/models/available")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(available["models"].as_array().unwrap().len() >= 4);

    // A second server on the same DATA_PATH is refused, naming the directory and the holder.
    let second = tokio::task::spawn_blocking({
        let mut command = serve_simulate(data.path());
        move || command.output().unwrap()
    })
    .await
    .unwrap();
    assert!(!second.status.success(), "a second server started");
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains("is in use by another ollama-dash server")
            && said.contains(&format!("pid {}", child.id()))
            && said.contains(&data.path().display().to_string()),
        "{said}"
    );

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    assert!(data.path().join("ollama-dash.db").exists());
    // Logged in plain text: stderr is a pipe here, as under systemd or `2> file`.
    let log = log.join().unwrap();
    assert!(
        log.contains("INFO") && log.contains("dashboard ready"),
        "{log}"
    );
    assert!(
        !log.contains('\x1b'),
        "colour codes in a log that is not a terminal: {log}"
    );
}
