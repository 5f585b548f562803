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

/// `VmRSS` of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}

/// Generations in flight, summed over the gauge's label sets.
async fn in_flight(client: &reqwest::Client, base: &str) -> u64 {
    let text = client
        .get(format!("{base}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("ollama_dash_gen_ai_requests_in_flight{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// A streamed chat sent by hand from a socket with a tiny receive buffer, whose answer is
/// never read.
async fn never_reading_stream(to: SocketAddr, i: usize) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let mut stream = socket.connect(to).await.unwrap();
    let body = serde_json::json!({
        "model": "llama3.2:1b",
        "stream": true,
        "messages": [{"role": "user", "content": format!("tell me a long story, reader {i}")}],
    })
    .to_string();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    stream
}

/// Clients that start a streamed chat and never read a byte of it: everyone else keeps getting
/// answers (health, models, a whole chat) within a bound while they hang on, the server's memory
/// stays bounded, and once they go away their generations end (none stays in flight) and the
/// server is as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_their_stream_starve_no_one() {
    const READERS: usize = 16;
    /// Longest any answer to a well-behaved client may take meanwhile.
    const BOUND: Duration = Duration::from_secs(5);
    let served = serve(&[], None, Stdio::inherit());
    let base = served.served.base.clone();
    let pid = served.served.child.id();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    assert_eq!(health(&base).await, 200);
    let rss_before = rss_kib(pid);

    let mut hostile = Vec::new();
    for i in 0..READERS {
        hostile.push(never_reading_stream(served.addr, i).await);
    }
    // Their generations are under way.
    let deadline = Instant::now() + Duration::from_secs(5);
    while in_flight(&client, &base).await < READERS as u64 {
        assert!(
            Instant::now() < deadline,
            "the never-reading streams did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Meanwhile the others are served, each within the bound.
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    for round in 0..5 {
        for (method, path) in [
            ("GET", "/api/health"),
            ("GET", "/v1/models"),
            ("POST", "/v1/chat/completions"),
        ] {
            let t = Instant::now();
            let request = match method {
                "GET" => client.get(format!("{base}{path}")),
                _ => client
                    .post(format!("{base}{path}"))
                    .json(&serde_json::json!({
                        "model": "llama3.2:1b",
                        "max_tokens": 8,
                        "messages": [{"role": "user", "content": format!("hello {round}")}],
                    })),
            };
            let answer = request.bearer_auth(TOKEN).send().await.unwrap();
            let status = answer.status();
            let body = answer.text().await.unwrap();
            let took = t.elapsed();
            assert_eq!(status, 200, "{path}: {body}");
            assert!(took < BOUND, "{path} took {took:?} while streams hang");
            slowest = slowest.max(took);
        }
    }
    let held = in_flight(&client, &base).await;
    let rss_during = rss_kib(pid);
    println!(
        "never-reading streams: {READERS} held, 15 answers to others in {:?} (slowest {slowest:?}), \
         still in flight after {:?}: {held}, RSS {} → {} KiB",
        started.elapsed(),
        started.elapsed(),
        rss_before,
        rss_during
    );
    assert!(
        rss_during < rss_before + 64 * 1024,
        "memory grew by {} KiB",
        rss_during - rss_before
    );

    // They go away (never having read): nothing of theirs stays in flight, and the server goes on.
    drop(hostile);
    let gone = Instant::now();
    let deadline = gone + Duration::from_secs(8);
    let mut left = in_flight(&client, &base).await;
    while left > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = in_flight(&client, &base).await;
    }
    println!(
        "never-reading streams: none in flight {:?} after they closed ({left} left)",
        gone.elapsed()
    );
    assert_eq!(
        left, 0,
        "generations of the gone clients are still in flight"
    );
    let traces: serde_json::Value = client
        .get(format!("{base}/v1/traces"))
        .query(&[("q", "long story"), ("limit", "100")])
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stories = traces["data"].as_array().map_or(0, Vec::len);
    let statuses: Vec<&str> = traces["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["status"].as_str())
        .collect();
    println!("never-reading streams: their traces: {statuses:?}");
    assert_eq!(
        stories, READERS,
        "each abandoned stream left its trace: {traces}"
    );
    assert_eq!(health(&base).await, 200);
}
