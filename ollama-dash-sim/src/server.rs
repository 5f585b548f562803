//! The connection loop: HTTP/1.1 over hyper, with the refuse-connections and kill knobs and
//! graceful stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::fault::Fault;
use super::state::Sim;

/// Accepts connections until `stop` turns true (or its sender goes away), then waits up to 5 s
/// for requests in flight. While the simulator is killed the listener is closed and every
/// connection dropped; when it recovers it listens on the same address again.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    sim: Arc<Sim>,
    mut stop: watch::Receiver<bool>,
) {
    let addr = listener.local_addr().ok();
    let mut listener = Some(listener);
    let mut fault = sim.knobs.fault.subscribe();
    let mut connections = JoinSet::new();
    loop {
        let killed = *fault.borrow_and_update() == Fault::Killed;
        if killed && listener.is_some() {
            listener = None;
            connections.abort_all();
        }
        if !killed
            && listener.is_none()
            && let Some(addr) = addr
        {
            match TcpListener::bind(addr).await {
                Ok(bound) => {
                    tracing::info!(%addr, "simulator listening again");
                    listener = Some(bound);
                }
                Err(error) => {
                    tracing::warn!(%addr, %error, "simulator cannot listen again yet");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            }
        }
        tokio::select! {
            accepted = accept(listener.as_ref()), if listener.is_some() => match accepted {
                Ok((stream, _)) if *sim.knobs.refuse.borrow() => {
                    let _ = stream.set_zero_linger();
                    drop(stream);
                }
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(stream, app.clone(), sim.knobs.refuse.subscribe(), stop.clone()));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            _ = fault.changed() => {}
            changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), drain)
        .await
        .is_err()
    {
        connections.abort_all();
    }
}

/// Accepts on the listener (never resolves without one).
async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Serves one connection; it is dropped (closed) when connections are refused, and asked to
/// finish its current request when the simulator stops.
async fn connection(
    stream: TcpStream,
    app: Router,
    mut refuse: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        app.clone().oneshot(request)
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut watching_refuse = true;
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            refused = refuse.wait_for(|refused| *refused), if watching_refuse => match refused {
                Ok(_) => return,
                Err(_) => watching_refuse = false,
            },
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
