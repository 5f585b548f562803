//! The real binary against clients that misbehave (issue #17): idle and slowloris connections,
//! a flood from one address under a low open-files limit, and a log that cannot be written.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use std::time::{Duration, Instant};
use support::Served;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const TOKEN: &str = "hostile-clients-token-0123";

/// The served binary and its address; its data directory lives as long as it.
struct Server {
    served: Served,
    addr: SocketAddr,
    _data: tempfile::TempDir,
}

/// `ollama-dash serve --simulate`, optionally under `prlimit --nofile=…`, with extra
/// environment and where its log goes.
fn serve(env: &[(&str, &str)], nofile: Option<&str>, stderr: Stdio) -> Server {
    let data = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_ollama-dash");
    let program = match nofile {
        Some(limit) => {
            let mut c = Command::new("prlimit");
            c.arg(format!("--nofile={limit}")).arg("--").arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let served = support::serve_simulated(program, data.path(), TOKEN, |c| {
        c.envs(env.iter().copied()).stderr(stderr);
    });
    let addr = served.base.trim_start_matches("http://").parse().unwrap();
    Server {
        served,
        addr,
        _data: data,
    }
}

/// A connection from `from` (any 127.x address is this machine).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// Waits until the server closes `stream` (end of file or reset); false if it is still open
/// at `deadline`. Whatever the server sends first (a 408, say) is read and ignored.
async fn closed_by(stream: &mut TcpStream, deadline: Instant) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

async fn health(base: &str) -> reqwest::StatusCode {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(format!("{base}/api/health"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .status()
}

/// F3: a connection that sends no request, one that trickles its headers (slowloris) and one
/// that idles after a request are all closed after `header_read_timeout_secs`.
#[tokio::test]
async fn idle_slow_and_kept_alive_connections_are_closed_after_the_header_timeout() {
    let served = serve(
        &[("OLLAMA_DASH_HEADER_READ_TIMEOUT_SECS", "1")],
        None,
        Stdio::inherit(),
    );
    let mut silent = TcpStream::connect(served.addr).await.unwrap();
    let mut kept_alive = TcpStream::connect(served.addr).await.unwrap();
    kept_alive
        .write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 512];
    let n = kept_alive.read(&mut answer).await.unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        &answer[..n]
    );
    let mut slow = TcpStream::connect(served.addr).await.unwrap();
    let trickle = async {
        slow.write_all(b"GET /ping HTTP/1.1\r\n").await.unwrap();
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if slow.write_all(b"x").await.is_err() {
                return true;
            }
        }
        false
    };
    // Generous against the 1 s limit: the point is that they close at all (they never did).
    let deadline = Instant::now() + Duration::from_secs(6);
    let (silent_closed, kept_closed, slow_cut) = tokio::join!(
        closed_by(&mut silent, deadline),
        closed_by(&mut kept_alive, deadline),
        trickle
    );
    assert!(
        silent_closed,
        "a connection that never sent a request stayed open"
    );
    assert!(kept_closed, "an idle kept-alive connection stayed open");
    assert!(
        slow_cut,
        "a slowloris client kept trickling headers for 8 s"
    );
    assert_eq!(health(&served.served.base).await, 200);
}

/// F3: one address holds at most `max_connections_per_addr` connections, and under a low
/// open-files limit (raised at start to the hard limit) a flood of idle connections from one
/// address leaves room for everyone else: a real health check still answers.
#[tokio::test]
async fn a_connection_flood_from_one_address_cannot_starve_the_others() {
    let served = serve(
        &[
            ("OLLAMA_DASH_HEADER_READ_TIMEOUT_SECS", "30"),
            ("OLLAMA_DASH_MAX_CONNECTIONS_PER_ADDR", "100"),
        ],
        Some("256:512"),
        Stdio::inherit(),
    );
    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", served.served.child.id())).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .skip(3)
        .take(2)
        .collect::<Vec<_>>();
    assert_eq!(
        open_files,
        ["512", "512"],
        "soft limit raised to the hard one"
    );

    // 600 tokenless idle connections from 127.0.0.2.
    let mut flood = Vec::new();
    for _ in 0..600 {
        flood.push(connect_from([127, 0, 0, 2], served.addr).await);
    }
    // The server closes what is over the per-address cap; at most 100 stay open.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut closed = 0;
    for stream in &mut flood {
        if closed_by(
            stream,
            deadline.min(Instant::now() + Duration::from_millis(20)),
        )
        .await
        {
            closed += 1;
        }
    }
    assert!(
        closed >= 500,
        "only {closed} of 600 flood connections were closed"
    );
    // Everyone else still gets in.
    for _ in 0..5 {
        assert_eq!(health(&served.served.base).await, 200);
    }
    drop(flood);
}

/// F2: a log that cannot be written (stderr on a full disk: /dev/full) loses log lines, never
/// the server: requests that log and that use the store thread all answer.
#[tokio::test]
async fn a_log_that_cannot_be_written_never_stops_the_server() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let served = serve(&[("RUST_LOG", "debug")], None, Stdio::from(full));
    let client = reqwest::Client::new();
    for round in 0..3 {
        let chat = client
            .post(format!("{}/v1/chat/completions", served.served.base))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({
                "model": "llama3.2:1b",
                "messages": [{"role": "user", "content": format!("round {round}")}],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(chat.status(), 200);
        let missing = client
            .get(format!("{}/v1/traces/no-such-trace", served.served.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
        let key = client
            .post(format!("{}/api/keys", served.served.base))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"name": format!("k{round}"), "role": "viewer"}))
            .send()
            .await
            .unwrap();
        assert!(key.status().is_success(), "{}", key.status());
    }
    let traces: serde_json::Value = client
        .get(format!("{}/v1/traces", served.served.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        traces["data"].as_array().is_some_and(|d| d.len() >= 3),
        "{traces}"
    );
    assert_eq!(health(&served.served.base).await, 200);
}
