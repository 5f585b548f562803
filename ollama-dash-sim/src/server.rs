//! The connection loop: HTTP/1.1 over hyper, with the refuse-connections knob and graceful stop.

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

use super::state::Sim;

/// Accepts connections until `stop` turns true (or its sender goes away), then waits up to 5 s
/// for requests in flight.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    sim: Arc<Sim>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
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
