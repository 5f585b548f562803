//! The server's own settings, read from the same figment as the library's.

use std::net::SocketAddr;
use std::path::Path;

use ollama_dash_core::config::keys::{KnownKeys, warn_unknown};
use ollama_dash_core::config::{figment, figment_error, with_origin};
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
    /// Threads serving connections, each with its own single-threaded runtime (0: one per
    /// CPU).
    #[serde(default)]
    pub http_threads: usize,
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
    ///
    /// Keys that nothing reads (a misspelt key in the file, an unknown `OLLAMA_DASH_*`
    /// variable) are logged as warnings naming the nearest known key.
    pub fn load(config_file: Option<&Path>) -> Result<Self, Error> {
        let figment = figment(config_file)?;
        warn_unknown(&figment, &known_keys());
        let dashboard = DashboardConfig::from_figment(&figment)?;
        let host: HostConfig = figment.extract().map_err(figment_error)?;
        host.validate()
            .map_err(|error| with_origin(&figment, error))?;
        Ok(Self { dashboard, host })
    }
}

/// Every key the server reads: the library's, the server's own (`[[api_keys]]` entries
/// included), and the client's `OLLAMA_DASH_*` variables (read by the client commands, not
/// unknown), all derived from the structs and the clap definitions.
pub fn known_keys() -> KnownKeys {
    let client = <ollama_dash_cli::Command as clap::Subcommand>::augment_subcommands(
        clap::Command::new("ollama-dash"),
    );
    let mut client_env = Vec::new();
    let mut commands = vec![&client];
    while let Some(command) = commands.pop() {
        commands.extend(command.get_subcommands());
        client_env.extend(
            command
                .get_arguments()
                .filter_map(clap::Arg::get_env)
                .filter_map(|name| name.to_str())
                .map(str::to_owned),
        );
    }
    KnownKeys::dashboard()
        .with_fields::<HostConfig>()
        .with_table::<crate::auth::ConfiguredKey>("api_keys")
        .with_other_env(client_env)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    #![allow(
        clippy::result_large_err,
        reason = "figment::Jail's closures return figment::Error"
    )]
    use super::*;
    use figment::Jail;
    use ollama_dash_core::config::CONFIG_FILE_NAME;

    #[test]
    fn host_keys_are_known_and_the_clients_variables_are_not_unknown() {
        Jail::expect_with(|jail| {
            jail.set_env("DATA_PATH", jail.directory().display().to_string());
            jail.create_file(
                CONFIG_FILE_NAME,
                "listen = '127.0.0.1:9'\nmax_conections = 3\n\
                 [[api_keys]]\nname = 'ci'\nkey = 'a-long-enough-secret'\nrol = 'user'\n",
            )?;
            jail.set_env("OLLAMA_DASH_URL", "http://127.0.0.1:8700");
            jail.set_env("OLLAMA_DASH_TOKEN", "a-long-enough-secret");
            jail.set_env("OLLAMA_DASH_UPLOAD_CHUNK", "1");
            jail.set_env("OLLAMA_DASH_LISTN", "127.0.0.1:1");
            let found: Vec<(String, Option<String>)> = known_keys()
                .unknown(&figment(None).unwrap())
                .into_iter()
                .map(|u| (u.key, u.nearest))
                .collect();
            let some = |k: &str, n: &str| (k.to_owned(), Some(n.to_owned()));
            assert_eq!(
                found,
                [
                    some("api_keys[0].rol", "api_keys[0].role"),
                    some("OLLAMA_DASH_LISTN", "OLLAMA_DASH_LISTEN"),
                    some("max_conections", "max_connections"),
                ]
            );
            Ok(())
        });
    }

    #[test]
    fn load_warns_about_unknown_keys_and_bad_host_values_name_their_source() {
        Jail::expect_with(|jail| {
            jail.set_env("DATA_PATH", jail.directory().display().to_string());
            jail.create_file(CONFIG_FILE_NAME, "shutdown_grace_sec = 3\n")?;
            let (config, logs) = crate::logging::capture(|| Config::load(None));
            config.unwrap();
            assert!(
                logs.contains("WARN")
                    && logs.contains("unknown configuration key `shutdown_grace_sec`")
                    && logs.contains("did you mean `shutdown_grace_secs`?"),
                "{logs}"
            );
            jail.set_env("OLLAMA_DASH_MAX_CONNECTIONS", "lots");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(
                err.contains("`max_connections`")
                    && err.contains("environment variable OLLAMA_DASH_MAX_CONNECTIONS"),
                "{err}"
            );
            jail.set_env("OLLAMA_DASH_MAX_CONNECTIONS", "0");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(
                err.contains("at least 1")
                    && err.contains("environment variable OLLAMA_DASH_MAX_CONNECTIONS"),
                "a validation error names the variable too: {err}"
            );
            Ok(())
        });
    }
}
