//! Accepting connections with limits: a header-read deadline that also closes idle kept-alive
//! connections, a cap on open connections (all clients, and per address), and the soft
//! open-files limit raised to the hard one at start.
//!
//! `axum::serve` sets no timer on hyper, so hyper's `header_read_timeout` never fired, and it
//! caps nothing: 500 idle plus 50 slowloris connections were held for as long as the clients
//! liked, and 600 tokenless idle connections under `RLIMIT_NOFILE=512` starved a real health
//! check. This loop is what `axum::serve` does (hyper's HTTP/1 connection, graceful shutdown,
//! `ConnectInfo`) plus the limits.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::workers::Workers;

/// File descriptors kept free for everything but client connections (store, logs, uploads,
/// the Ollama pool, plugins).
const RESERVED_FDS: u64 = 256;

/// Largest request head hyper reads; bigger heads get hyper's own (empty) 431.
pub const MAX_HEAD_BYTES: usize = 1024 * 1024;
/// Most header lines hyper parses; more get hyper's own (empty) 431.
pub const MAX_HEAD_LINES: usize = 1000;

/// How many connections may be open and how long a client may take to send its headers.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections, all clients together.
    pub max_connections: usize,
    /// Open connections from one address.
    pub max_per_addr: usize,
    /// Time to send a request's headers; also the longest idle time between requests.
    pub header_read_timeout: Duration,
}

/// Raises the soft open-files limit to the hard one and returns the soft limit now in force
/// (`None` where it cannot be read).
pub fn raise_nofile_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(hard)) = (limit.current, limit.maximum)
        && current < hard
    {
        limit.current = Some(hard);
        match setrlimit(Resource::Nofile, limit) {
            Ok(()) => tracing::debug!(from = current, to = hard, "raised the open-files limit"),
            Err(e) => tracing::warn!(error = %e, "could not raise the open-files limit"),
        }
    }
    getrlimit(Resource::Nofile).current
}

impl Limits {
    /// These limits, with `max_connections` lowered to what the open-files limit allows.
    pub fn within_nofile(mut self, nofile: Option<u64>) -> Self {
        if let Some(nofile) = nofile {
            let room =
                usize::try_from(nofile.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX);
            if room < self.max_connections {
                tracing::warn!(
                    configured = self.max_connections,
                    allowed = room,
                    nofile,
                    "max_connections lowered to fit the open-files limit"
                );
                self.max_connections = room;
            }
        }
        self.max_per_addr = self.max_per_addr.min(self.max_connections);
        self
    }
}

/// Open connections, in all and per address.
#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_addr: HashMap<IpAddr, usize>,
}

/// A slot held by one connection; frees itself when the connection ends.
struct Slot {
    open: Arc<Mutex<Open>>,
    addr: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_addr.get_mut(&self.addr) {
            *n -= 1;
            if *n == 0 {
                open.per_addr.remove(&self.addr);
            }
        }
    }
}

fn take_slot(open: &Arc<Mutex<Open>>, addr: IpAddr, limits: &Limits) -> Option<Slot> {
    let mut guard = open.lock().unwrap_or_else(|p| p.into_inner());
    let mine = guard.per_addr.get(&addr).copied().unwrap_or(0);
    if guard.total >= limits.max_connections || mine >= limits.max_per_addr {
        return None;
    }
    guard.total += 1;
    *guard.per_addr.entry(addr).or_insert(0) += 1;
    Some(Slot {
        open: Arc::clone(open),
        addr,
    })
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits for
/// the open connections to finish their requests. Each connection is served on one of
/// `workers`' threads.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    workers: &Workers,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEAD_LINES);
    let graceful = GracefulShutdown::new();
    let open = Arc::new(Mutex::new(Open::default()));
    tokio::pin!(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors (or a connection reset before accept): back off
                    // a moment instead of spinning; connections that end free descriptors.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = take_slot(&open, addr.ip(), &limits) else {
            tracing::debug!(%addr, "connection refused: too many open connections");
            drop(tcp);
            continue;
        };
        // No Nagle: a streamed token must leave at once, not wait for the previous one's ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        // Registered again with the runtime of the thread that serves it.
        let tcp = match tcp.into_std() {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::warn!(%addr, error = %e, "could not hand a connection over");
                continue;
            }
        };
        let (http, router, watcher) = (http.clone(), router.clone(), graceful.watcher());
        workers.spawn(move || async move {
            let tcp = match tokio::net::TcpStream::from_std(tcp) {
                Ok(tcp) => tcp,
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "could not take a connection over");
                    return;
                }
            };
            let connection = http.serve_connection(TokioIo::new(tcp), service(router, addr));
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(%addr, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The router as hyper's service for one connection, each request knowing the client address.
fn service(
    router: Router,
    addr: SocketAddr,
) -> impl hyper::service::Service<
    http::Request<Incoming>,
    Response = axum::response::Response,
    Error = Infallible,
    Future = impl Future<Output = Result<axum::response::Response, Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(addr));
        router.clone().oneshot(request.map(axum::body::Body::new))
    })
}
