//! The client's transport. The upstream pool is bounded per node: after bursts of concurrent
//! requests no more than `upstream_max_idle_per_node` connections to one Ollama stay open
//! (counted on a small HTTP/1.1 keep-alive upstream that counts the connections it accepts and
//! those still open). An `https://` node gets TLS, an `http://` one plain text; a transfer ends
//! at the pull timeout. Counts and bytes only, no timings.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::OllamaClient;
use crate::DashboardConfig;

/// What the upstream counted.
#[derive(Debug, Default)]
struct Counts {
    /// Connections accepted.
    accepted: AtomicUsize,
    /// Connections not yet closed.
    open: AtomicUsize,
    /// Requests answered.
    served: AtomicUsize,
}

/// Decrements `open` however a connection's task ends.
struct OpenGuard(Arc<Counts>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A fake Ollama answering `GET /api/version` (any request, in fact) after `delay`, keeping each
/// connection alive for the next request until the client closes it.
async fn counting_upstream(delay: Duration) -> (SocketAddr, Arc<Counts>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new(Counts::default());
    let shared = Arc::clone(&counts);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            shared.accepted.fetch_add(1, Ordering::SeqCst);
            shared.open.fetch_add(1, Ordering::SeqCst);
            let guard = OpenGuard(Arc::clone(&shared));
            tokio::spawn(serve(socket, delay, guard));
        }
    });
    (addr, counts)
}

/// Serves requests on one connection until the peer closes it (or sends garbage).
async fn serve(mut socket: TcpStream, delay: Duration, guard: OpenGuard) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // The request head…
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        // …and its body, if any.
        while buf.len() < head_end + length {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + length);
        tokio::time::sleep(delay).await;
        let body = br#"{"version":"0.0.0-counting"}"#;
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        if socket.write_all(head.as_bytes()).await.is_err() || socket.write_all(body).await.is_err()
        {
            return;
        }
        guard.0.served.fetch_add(1, Ordering::SeqCst);
    }
}

/// Sends `rounds` bursts of `concurrency` concurrent `version()` calls; every one must succeed.
async fn bursts(client: &OllamaClient, rounds: usize, concurrency: usize) {
    for round in 0..rounds {
        let calls = (0..concurrency).map(|_| client.version());
        let answers = futures_util::future::join_all(calls).await;
        for answer in answers {
            let version = answer.unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(version.version, "0.0.0-counting");
        }
    }
}

/// Waits (bounded) for the connections the pool let go to be seen closed, then returns how
/// many are still open.
async fn open_after_settling(counts: &Counts, at_most: usize) -> usize {
    for _ in 0..200 {
        if counts.open.load(Ordering::SeqCst) <= at_most {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    counts.open.load(Ordering::SeqCst)
}

fn client(addr: SocketAddr, max_idle: Option<usize>) -> OllamaClient {
    let mut config = DashboardConfig::with_data_path("unused");
    if let Some(max_idle) = max_idle {
        config.upstream_max_idle_per_node = max_idle;
    }
    OllamaClient::with_host(&config, &format!("http://{addr}")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_64_leave_at_most_64_connections_open_to_one_node() {
    let (addr, counts) = counting_upstream(Duration::from_millis(5)).await;
    let client = client(addr, None);
    assert_eq!(
        DashboardConfig::with_data_path("unused").upstream_max_idle_per_node,
        64,
        "the default"
    );
    bursts(&client, 6, 64).await;
    assert_eq!(counts.served.load(Ordering::SeqCst), 6 * 64);
    let open = open_after_settling(&counts, 64).await;
    let accepted = counts.accepted.load(Ordering::SeqCst);
    assert!(
        open <= 64,
        "{open} connections still open after 6 bursts of 64 ({accepted} accepted)"
    );
    // The connections kept are used again: another burst opens no more than it needs.
    bursts(&client, 1, 64).await;
    assert!(open_after_settling(&counts, 64).await <= 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_past_the_cap_are_closed() {
    // Slow answers: the 64 calls of a burst overlap, so the burst needs many connections.
    let (addr, counts) = counting_upstream(Duration::from_millis(50)).await;
    let client = client(addr, Some(8));
    bursts(&client, 3, 64).await;
    assert_eq!(counts.served.load(Ordering::SeqCst), 3 * 64);
    let accepted = counts.accepted.load(Ordering::SeqCst);
    assert!(
        accepted > 8,
        "the bursts needed more connections than the cap ({accepted} accepted)"
    );
    let open = open_after_settling(&counts, 8).await;
    assert!(
        open <= 8,
        "{open} connections still open with a cap of 8 ({accepted} accepted)"
    );
}

/// Runs `work` on a new thread marked as one of `threads` serving threads (on a
/// single-threaded runtime, as the host's are), and waits for its answer; the thread's pools go
/// with it.
fn on_serving_thread<T, Fut>(threads: usize, work: impl FnOnce() -> Fut + Send + 'static) -> T
where
    T: Send + 'static,
    Fut: std::future::Future<Output = T>,
{
    std::thread::spawn(move || {
        crate::ollama::serve_from_this_thread(threads);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(work())
    })
    .join()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_serving_thread_has_its_own_pool_with_a_share_of_the_idle_cap() {
    let (addr, counts) = counting_upstream(Duration::from_millis(50)).await;
    let client = client(addr, Some(8));
    // One call from the shared pool (this runtime), then one from a serving thread.
    bursts(&client, 1, 1).await;
    assert_eq!(counts.accepted.load(Ordering::SeqCst), 1);
    let on_thread = client.clone();
    on_serving_thread(3, move || async move { bursts(&on_thread, 1, 1).await });
    assert_eq!(
        counts.accepted.load(Ordering::SeqCst),
        2,
        "a serving thread does not reuse the shared pool's connection"
    );
    assert_eq!(
        open_after_settling(&counts, 1).await,
        1,
        "the thread's connection closes with it"
    );
    // A burst of 16 on one of 3 serving threads keeps 8 / (3 + 1) = 2 idle connections, and
    // reuses them.
    let (addr, counts) = counting_upstream(Duration::from_millis(50)).await;
    let client = self::client(addr, Some(8));
    let kept = on_serving_thread(3, move || async move {
        bursts(&client, 1, 16).await;
        let accepted = counts.accepted.load(Ordering::SeqCst);
        assert!(accepted > 2, "the burst needed {accepted} connections");
        let open = open_after_settling(&counts, 2).await;
        bursts(&client, 1, 1).await;
        (open, counts.accepted.load(Ordering::SeqCst) - accepted)
    });
    assert_eq!(
        kept,
        (2, 0),
        "(idle kept, connections opened by the next call)"
    );
}

/// Accepts one connection on a fresh port and sends back the first bytes it receives.
async fn first_bytes_listener() -> (SocketAddr, tokio::sync::oneshot::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 64];
        let n = socket.read(&mut buf).await.unwrap_or(0);
        buf.truncate(n);
        let _ = tx.send(buf);
    });
    (addr, rx)
}

#[tokio::test]
async fn an_https_node_is_spoken_to_in_tls_and_an_http_one_in_plain_text() {
    let config = DashboardConfig::with_data_path("unused");
    let (addr, first) = first_bytes_listener().await;
    let client = OllamaClient::with_host(&config, &format!("https://{addr}")).unwrap();
    let err = client.version().await.unwrap_err();
    assert!(
        matches!(err, crate::Error::Unreachable { .. }),
        "a node that closes during the handshake is unreachable: {err}"
    );
    let first = first.await.unwrap();
    // 0x16: a TLS handshake record (the ClientHello).
    assert_eq!(first.first(), Some(&0x16), "{first:?}");

    let (addr, first) = first_bytes_listener().await;
    let client = OllamaClient::with_host(&config, &format!("http://{addr}")).unwrap();
    assert!(client.version().await.is_err());
    let first = first.await.unwrap();
    assert!(
        first.starts_with(b"GET /api/version HTTP/1.1\r\n"),
        "{first:?}"
    );
}

/// An Ollama that answers a pull with a progress line every 100 ms, forever.
async fn endless_pull() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n\
                            transfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let line = "{\"status\":\"pulling manifest\"}\n";
                let chunk = format!("{:x}\r\n{line}\r\n", line.len());
                while socket.write_all(chunk.as_bytes()).await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_pull_that_never_finishes_ends_truncated_at_the_pull_timeout() {
    let addr = endless_pull().await;
    let mut config = DashboardConfig::with_data_path("unused");
    config.pull_timeout_secs = 1;
    let client = OllamaClient::with_host(&config, &format!("http://{addr}")).unwrap();
    let request = crate::ollama::types::PullRequest {
        model: "llama3.2:1b".to_owned(),
        insecure: None,
        stream: None,
    };
    let read = async {
        let mut stream = client.pull_stream(&request).await.unwrap();
        let mut lines = 0;
        loop {
            match stream.next().await {
                Some(Ok(_)) => lines += 1,
                Some(Err(e)) => return (lines, e),
                None => panic!("the stream ended without an error"),
            }
        }
    };
    // A hang guard only: without the deadline the stream never ends.
    let (lines, error) = tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the pull stream outlived its timeout");
    assert!(lines >= 1, "progress lines arrived before the deadline");
    assert!(matches!(error, crate::Error::StreamTruncated), "{error}");
}
