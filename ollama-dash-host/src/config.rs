//! The server's own settings, read from the same figment as the library's.

use std::net::SocketAddr;
use std::path::Path;

use ollama_dash_core::config::{figment, figment_error};
use ollama_dash_core::{DashboardConfig, Error};
use serde::Deserialize;

/// Default address of the HTTP server.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8700";

/// Shortest bearer token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// Settings of the HTTP server (keys `listen`, `auth_token`, `cors_origins`, …).
#[derive(Debug, Clone, Deserialize)]
pub struct HostConfig {
    /// Address to listen on (`OLLAMA_DASH_LISTEN`).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The bearer token (`AUTH_TOKEN`); generated and kept in `DATA_PATH` when absent.
    #[serde(default)]
    pub auth_token: Option<String>,
    /// Origins allowed to call the API from a browser, besides our own page
    /// (`OLLAMA_DASH_CORS_ORIGINS`, e.g. `["https://grafana.example"]`).
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Named keys with roles, e.g. `[[api_keys]] name = "ci" key = "…" role = "user"`.
    #[serde(default)]
    pub api_keys: Vec<crate::auth::ConfiguredKey>,
    /// Failed sign-ins allowed per client address per minute before it gets 429.
    #[serde(default = "default_auth_failures")]
    pub auth_failures_per_minute: u32,
    /// Seconds in-flight requests get to finish after SIGINT/SIGTERM.
    #[serde(default = "default_grace")]
    pub shutdown_grace_secs: u64,
    /// Directory of WASM plugins (`*.wasm` + optional `*.toml`); default `DATA_PATH/plugins`.
    #[serde(default)]
    pub plugins_dir: Option<std::path::PathBuf>,
    /// Seconds between looks at the plugins directory for new, changed or deleted files.
    #[serde(default = "default_plugins_poll")]
    pub plugins_poll_secs: u64,
    /// Seconds a connection gets to send a request's headers, and the longest a kept-alive
    /// connection may sit idle between requests.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
    /// Connections open at once, all clients together; more are closed as they arrive.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Connections open at once from one client address.
    #[serde(default = "default_max_connections_per_addr")]
    pub max_connections_per_addr: usize,
}

fn default_header_read_timeout() -> u64 {
    10
}

fn default_max_connections() -> usize {
    4096
}

fn default_max_connections_per_addr() -> usize {
    512
}

fn default_plugins_poll() -> u64 {
    2
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8700))
}

fn default_auth_failures() -> u32 {
    10
}

fn default_grace() -> u64 {
    10
}

/// Everything `serve` needs: the library's config and the server's.
#[derive(Debug, Clone)]
pub struct Config {
    /// The library's part.
    pub dashboard: DashboardConfig,
    /// The server's part.
    pub host: HostConfig,
}

impl Config {
    /// Loads both parts from defaults < file < environment, validating every value.
    pub fn load(config_file: Option<&Path>) -> Result<Self, Error> {
        let figment = figment(config_file)?;
        let dashboard = DashboardConfig::from_figment(&figment)?;
        let host: HostConfig = figment.extract().map_err(figment_error)?;
        host.validate()?;
        Ok(Self { dashboard, host })
    }
}

impl HostConfig {
    /// Checks the values a user can get wrong.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(token) = &self.auth_token
            && token.chars().count() < MIN_TOKEN_LEN
        {
            return Err(Error::Config {
                key: "AUTH_TOKEN".to_owned(),
                message: format!("must be at least {MIN_TOKEN_LEN} characters long"),
            });
        }
        for (key, value) in [
            (
                "header_read_timeout_secs",
                self.header_read_timeout_secs as usize,
            ),
            ("max_connections", self.max_connections),
            ("max_connections_per_addr", self.max_connections_per_addr),
        ] {
            if value == 0 {
                return Err(Error::Config {
                    key: key.to_owned(),
                    message: "must be at least 1".to_owned(),
                });
            }
        }
        if self.plugins_poll_secs == 0 {
            return Err(Error::Config {
                key: "plugins_poll_secs".to_owned(),
                message: "must be at least 1 second".to_owned(),
            });
        }
        for origin in &self.cors_origins {
            if http::HeaderValue::from_str(origin).is_err() || !origin.contains("://") {
                return Err(Error::Config {
                    key: "cors_origins".to_owned(),
                    message: format!("{origin:?} is not an origin like https://host:port"),
                });
            }
        }
        Ok(())
    }
}
