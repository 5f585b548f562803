//! HTTP/1.1 to Ollama: hyper-util's pooled client, one pool per node and per serving thread.
//!
//! Not reqwest: reqwest 0.12 (and 0.13) wraps every client in tower-http's `FollowRedirect`,
//! which parses each request's URI back into a `Url` twice even with redirects off — about a
//! tenth of a proxied request's CPU (benches/RESULTS.md, issue 14). Ollama answers in one hop,
//! so this keeps what reqwest did for us here and drops the rest: keep-alive connections pooled
//! with an idle cap, a connect timeout, `TCP_NODELAY`, and TLS for an `https://` node (rustls
//! with the webpki roots, as reqwest's `rustls-tls`). Redirects are not followed.

use std::cell::RefCell;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, ResponseFuture};
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// A failure a body may carry.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body for Ollama: whole bytes ([`full`]), nothing ([`empty`]) or a stream
/// ([`streamed`], a blob upload).
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// A transport failure: no connection, or one that broke before the answer's head.
pub type SendError = hyper_util::client::legacy::Error;

/// A request body of `bytes`, sent with its length.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty request body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A request body read from `stream` as it is sent.
pub fn streamed<S, E>(stream: S) -> Body
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<BoxError> + 'static,
{
    StreamBody::new(stream.map_ok(Frame::data).map_err(Into::into)).boxed_unsync()
}

/// `error` and each error below it, joined by ": " (hyper-util's own message is only
/// "client error (Connect)").
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        message = format!("{message}: {inner}");
        source = inner.source();
    }
    message
}

/// One pool of connections.
type Http = Client<HttpsConnector<HttpConnector>, Body>;

/// The connection pools of one node: one shared, and one for each serving thread.
#[derive(Debug)]
pub(super) struct Pools {
    shared: Http,
    connect_timeout: Duration,
    max_idle: usize,
}

/// A serving thread's own pools: how many serving threads there are, and this thread's pool of
/// each node it has called, by the node's [`Pools`].
type ThreadPools = (usize, Vec<(Weak<Pools>, Http)>);

thread_local! {
    /// Set on a serving thread only (see [`serve_from_this_thread`]).
    static THREAD_POOLS: RefCell<Option<ThreadPools>> = const { RefCell::new(None) };
}

/// Marks the calling thread as one of `threads` that serve connections, each on a
/// single-threaded runtime: from now on its calls to a node go through a pool of its own, holding
/// a share (`upstream_max_idle_per_node` / (`threads` + 1), at least 1) of the node's idle
/// connections; the share left over is the shared pool's, which the probes use.
///
/// A pooled connection is a task on the runtime that opened it: one shared pool let a request on
/// one thread reuse a connection another thread had opened, and every exchange on it woke that
/// thread (benches/RESULTS.md, issue 14). Other threads (background probes, tests) use the
/// shared pool.
pub fn serve_from_this_thread(threads: usize) {
    THREAD_POOLS.with_borrow_mut(|pools| *pools = Some((threads.max(1), Vec::new())));
}

impl Pools {
    /// The pools of a node: the shared one built now, the threads' ones on their first call.
    pub(super) fn new(connect_timeout: Duration, max_idle: usize) -> Self {
        Self {
            shared: Self::build(connect_timeout, max_idle),
            connect_timeout,
            max_idle,
        }
    }

    /// A pool: a burst of N requests may open N connections, but no more than `max_idle` stay
    /// open once it is over; idle ones close after 90 s.
    fn build(connect_timeout: Duration, max_idle: usize) -> Http {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(connect_timeout));
        tcp.set_nodelay(true);
        let connector = HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(max_idle)
            .build(connector)
    }

    /// Sends `request` through the calling thread's pool (the shared one off serving threads).
    pub(super) fn send(self: &Arc<Self>, request: http::Request<Body>) -> ResponseFuture {
        THREAD_POOLS.with_borrow_mut(|pools| {
            let Some((threads, pools)) = pools else {
                return self.shared.request(request);
            };
            let me = Arc::as_ptr(self);
            if let Some((_, http)) = pools.iter().find(|(p, _)| p.as_ptr() == me) {
                return http.request(request);
            }
            // Pools of nodes gone (removed, or a dashboard closed) go with the next new one.
            pools.retain(|(p, _)| p.strong_count() > 0);
            // One share each for the serving threads and one left for the shared pool (the
            // probes'), so all of them together keep at most `max_idle`.
            let share = (self.max_idle / (*threads + 1)).max(1);
            let http = Self::build(self.connect_timeout, share);
            let sent = http.request(request);
            pools.push((Arc::downgrade(self), http));
            sent
        })
    }
}
