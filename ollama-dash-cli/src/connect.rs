//! Which server to talk to and with what token: `--url`, `--token`, `--data-path`.

use std::path::PathBuf;

use crate::client::Client;
use crate::error::{Error, Result};

/// The server's default address (`listen` defaults to `127.0.0.1:8700`).
pub const DEFAULT_URL: &str = "http://127.0.0.1:8700";

/// The file in `DATA_PATH` where the server keeps a generated token.
const TOKEN_FILE_NAME: &str = "auth-token";

/// Options every client command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// The ollama-dash server.
    #[arg(long, env = "OLLAMA_DASH_URL", default_value = DEFAULT_URL, value_name = "URL")]
    pub url: String,
    /// Bearer token; default: AUTH_TOKEN, else the server's DATA_PATH/auth-token when the
    /// server is on this machine (a loopback URL).
    #[arg(
        long,
        env = "OLLAMA_DASH_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// The server's data directory, for its token (default as the server's:
    /// $XDG_DATA_HOME/ollama-dash, else ~/.local/share/ollama-dash).
    #[arg(long, env = "DATA_PATH", value_name = "DIR")]
    pub data_path: Option<PathBuf>,
}

impl ConnectArgs {
    /// A client for the server these options name.
    pub fn client(&self) -> Result<Client> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(Error::Usage(format!(
                "--url {:?} must start with http:// or https://",
                self.url
            )));
        }
        Client::new(&self.url, self.token()?)
    }

    /// `--token`, else `AUTH_TOKEN`, else the token file when the server is local.
    fn token(&self) -> Result<Option<String>> {
        if let Some(token) = self.token.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(token.to_owned()));
        }
        if let Some(token) = std::env::var("AUTH_TOKEN").ok().filter(|t| !t.is_empty()) {
            return Ok(Some(token));
        }
        // A token read from this machine's disk is never sent to another machine.
        if !is_loopback(&self.url) {
            return Ok(None);
        }
        let path = self.data_path().join(TOKEN_FILE_NAME);
        match std::fs::read_to_string(&path) {
            Ok(token) => Ok(Some(token.trim().to_owned()).filter(|t| !t.is_empty())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }

    /// The server's data directory, defaulted as the server does.
    fn data_path(&self) -> PathBuf {
        if let Some(path) = &self.data_path {
            return path.clone();
        }
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        match (var("XDG_DATA_HOME"), var("HOME")) {
            (Some(xdg), _) => PathBuf::from(xdg).join("ollama-dash"),
            (None, Some(home)) => PathBuf::from(home).join(".local/share/ollama-dash"),
            (None, None) => PathBuf::from("ollama-dash-data"),
        }
    }
}

/// Whether `url`'s host is this machine (`localhost`, `127.x.x.x`, `[::1]`).
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_are_local() {
        assert!(is_loopback("http://127.0.0.1:8700"));
        assert!(is_loopback("http://localhost:8700/"));
        assert!(is_loopback("http://[::1]:8700"));
        assert!(!is_loopback("http://gpu-box:8700"));
        assert!(!is_loopback("https://127.0.0.1.example.com"));
    }
}
