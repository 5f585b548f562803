//! Running the HTTP server: bind, serve with client addresses, shut down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ollama_dash_core::Dashboard;
use tokio::net::TcpListener;

use crate::auth::{Authenticator, TokenSource, resolve_token};
use crate::config::Config;
use crate::connections::{Limits, raise_nofile_limit, serve};
use crate::http::{AppState, app};
use crate::plugins::{PluginHost, PluginsConfig};
use crate::workers::{Workers, thread_count};

/// A server bound to its address, ready to [`Server::run`].
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: AppState,
    config: Config,
    token: String,
    token_source: TokenSource,
    nofile: Option<u64>,
    _data_lock: crate::data_lock::DataLock,
}

impl Server {
    /// Opens the dashboard, resolves the token and binds the listener.
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        // First, before anything opens files: room for `max_connections` clients.
        let nofile = raise_nofile_limit();
        let data_lock = crate::data_lock::acquire(&config.dashboard.data_path)?;
        let dashboard = Dashboard::new(config.dashboard.clone()).await?;
        // One round of probes before serving, so the first requests find data; bounded, since
        // the collector keeps trying on its own anyway.
        let _ = tokio::time::timeout(Duration::from_secs(3), dashboard.refresh_all()).await;
        let (token, token_source) = resolve_token(
            config.host.auth_token.as_deref(),
            &config.dashboard.data_path,
        )
        .context("reading or writing the auth token")?;
        let listener = TcpListener::bind(config.host.listen)
            .await
            .with_context(|| format!("listening on {}", config.host.listen))?;
        let auth = Authenticator::new(token.clone(), config.host.auth_failures_per_minute)
            .with_configured_keys(&config.host.api_keys)?;
        auth.reload_stored_keys(&dashboard).await?;
        let plugins = PluginHost::new(PluginsConfig::under(
            &config.dashboard.data_path,
            config.host.plugins_dir.as_deref(),
        ))?;
        plugins
            .start(
                &dashboard,
                Duration::from_secs(config.host.plugins_poll_secs),
            )
            .await;
        let auth = Arc::new(auth);
        Ok(Self {
            listener,
            state: AppState {
                dashboard,
                auth,
                plugins,
            },
            config,
            token,
            token_source,
            nofile,
            _data_lock: data_lock,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The bearer token clients must send.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Where the token came from.
    pub fn token_source(&self) -> TokenSource {
        self.token_source
    }

    /// Serves until `shutdown` resolves, then stops accepting, gives in-flight requests up to
    /// `shutdown_grace_secs` to finish, and flushes the store.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = app(self.state.clone(), &self.config.host.cors_origins);
        let host = &self.config.host;
        let limits = Limits {
            max_connections: host.max_connections,
            max_per_addr: host.max_connections_per_addr,
            header_read_timeout: Duration::from_secs(host.header_read_timeout_secs),
        }
        .within_nofile(self.nofile);
        let grace = Duration::from_secs(host.shutdown_grace_secs);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let dashboard = self.state.dashboard.clone();
        let signal = async move {
            shutdown.await;
            dashboard.begin_shutdown();
            tracing::info!("shutting down: no new connections, finishing in-flight requests");
            let _ = stop_tx.send(());
        };
        let workers = Workers::start(thread_count(host.http_threads))
            .context("starting the connection threads")?;
        let server = serve(self.listener, router, limits, &workers, signal);
        let deadline = async move {
            if stop_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = server => {}
            () = deadline => tracing::warn!(?grace, "in-flight requests did not finish in time; closing them"),
        }
        self.state.plugins.stop();
        let flushed = self.state.dashboard.shutdown().await;
        // After the store is flushed, as when the main runtime's tasks outlived it: a job or a
        // connection past the grace period is cancelled only now.
        workers.stop().await;
        flushed?;
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
