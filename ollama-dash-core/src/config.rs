//! Configuration: defaults < `ollama-dash.toml` < environment, through figment.
//!
//! Users already know `OLLAMA_HOST`, `DATA_PATH` and `AUTH_TOKEN`; every other key is read from
//! `OLLAMA_DASH_<KEY>` (upper case), e.g. `OLLAMA_DASH_CONNECT_TIMEOUT_SECS=3`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ollama::host::parse_ollama_host;

pub mod keys;

/// Name of the configuration file looked up in `DATA_PATH` when no `--config` is given.
pub const CONFIG_FILE_NAME: &str = "ollama-dash.toml";

/// What the library needs to run. Build it with [`DashboardConfig::load`] (file + env) or by hand.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DashboardConfig {
    /// Where Ollama listens, in Ollama's own `[scheme://]host[:port][/path]` form (`OLLAMA_HOST`).
    pub ollama_host: String,
    /// Directory for all runtime data: the SQLite store, tokens, uploads, logs (`DATA_PATH`).
    pub data_path: PathBuf,
    /// Time allowed to open a TCP connection to Ollama.
    pub connect_timeout_secs: u64,
    /// Time allowed for quick calls (`/api/version`, `/api/tags`, `/api/ps`, `/api/show`, …).
    pub request_timeout_secs: u64,
    /// Longest silence allowed inside a generation stream (a cold model load can take minutes).
    pub stream_idle_timeout_secs: u64,
    /// Longest a pull, push or create may run in total.
    pub pull_timeout_secs: u64,
    /// Traces kept at most (0: no limit); the oldest go first.
    #[serde(default = "defaults::trace_max_rows")]
    pub trace_max_rows: u64,
    /// Days a trace is kept (0: no limit).
    #[serde(default = "defaults::trace_max_age_days")]
    pub trace_max_age_days: u64,
    /// Largest the store file may grow before the oldest traces go, in MiB (0: no limit).
    #[serde(default = "defaults::trace_max_db_mb")]
    pub trace_max_db_mb: u64,
    /// Days the request and response bodies of a trace are kept; the metadata stays longer
    /// (0: as long as the trace).
    #[serde(default = "defaults::trace_body_max_age_days")]
    pub trace_body_max_age_days: u64,
    /// How often retention runs, in seconds.
    #[serde(default = "defaults::trace_retention_interval_secs")]
    pub trace_retention_interval_secs: u64,
    /// Interval of SSE keep-alive comments while a stream waits (e.g. for a model to load), ms.
    #[serde(default = "defaults::stream_keepalive_ms")]
    pub stream_keepalive_ms: u64,
    /// Largest upload accepted, in bytes (`OLLAMA_DASH_UPLOAD_MAX_BYTES`, default 256 GiB).
    #[serde(default = "default_upload_max_bytes")]
    pub upload_max_bytes: u64,
    /// Free disk space an upload must leave untouched, in bytes (default 1 GiB).
    #[serde(default = "default_upload_reserve_bytes")]
    pub upload_reserve_bytes: u64,
    /// An upload untouched for this long is removed by the janitor (default 24 h).
    #[serde(default = "default_upload_expiry_secs")]
    pub upload_expiry_secs: u64,
    /// Keep the uploaded file after a successful import (default: remove it).
    #[serde(default)]
    pub keep_uploads_after_import: bool,
    /// Imports running at once; more wait their turn (default 1).
    #[serde(default = "default_import_concurrency")]
    pub import_concurrency: usize,
    /// The Ollama nodes of a fleet (`[[nodes]]`, or `OLLAMA_DASH_NODES="a=url,b=url"`); when
    /// empty, the one at `ollama_host`, named `default`.
    #[serde(default)]
    pub nodes: Vec<crate::fleet::NodeConfig>,
    /// Requests waiting for a node slot per model, at most; past it they get 429 (default 64).
    #[serde(default = "default_max_queue")]
    pub max_queue: usize,
    /// Longest a request waits for a node slot, seconds (default 30).
    #[serde(default = "default_queue_timeout_secs")]
    pub queue_timeout_secs: u64,
    /// Idle keep-alive connections kept to each Ollama node, at most (default 64): after a
    /// burst, connections past it are closed as their requests end.
    #[serde(default = "default_upstream_max_idle_per_node")]
    pub upstream_max_idle_per_node: usize,
    /// How a node is chosen: `resident` (ours), or `random`, `round_robin`,
    /// `least_outstanding` (the baselines the routing benchmark compares).
    #[serde(default)]
    pub routing: crate::fleet::Policy,
    /// The live service: probe intervals, history, GPU fallback, managed Ollama.
    #[serde(flatten)]
    pub live: crate::live::config::LiveConfig,
}

fn default_max_queue() -> usize {
    64
}

fn default_queue_timeout_secs() -> u64 {
    30
}

fn default_upstream_max_idle_per_node() -> usize {
    64
}

/// Defaults of the trace and stream settings (serde needs functions).
mod defaults {
    pub(super) fn trace_max_rows() -> u64 {
        1_000_000
    }
    pub(super) fn trace_max_age_days() -> u64 {
        30
    }
    pub(super) fn trace_max_db_mb() -> u64 {
        2048
    }
    pub(super) fn trace_body_max_age_days() -> u64 {
        7
    }
    pub(super) fn trace_retention_interval_secs() -> u64 {
        300
    }
    pub(super) fn stream_keepalive_ms() -> u64 {
        10_000
    }
}

fn default_upload_max_bytes() -> u64 {
    256 << 30
}

fn default_upload_reserve_bytes() -> u64 {
    1 << 30
}

fn default_upload_expiry_secs() -> u64 {
    24 * 3600
}

fn default_import_concurrency() -> usize {
    1
}

impl DashboardConfig {
    /// Defaults for everything, with data under `data_path`.
    pub fn with_data_path(data_path: impl Into<PathBuf>) -> Self {
        Self {
            ollama_host: "127.0.0.1:11434".to_owned(),
            data_path: data_path.into(),
            connect_timeout_secs: 5,
            request_timeout_secs: 10,
            stream_idle_timeout_secs: 300,
            pull_timeout_secs: 3600,
            trace_max_rows: defaults::trace_max_rows(),
            trace_max_age_days: defaults::trace_max_age_days(),
            trace_max_db_mb: defaults::trace_max_db_mb(),
            trace_body_max_age_days: defaults::trace_body_max_age_days(),
            trace_retention_interval_secs: defaults::trace_retention_interval_secs(),
            stream_keepalive_ms: defaults::stream_keepalive_ms(),
            upload_max_bytes: default_upload_max_bytes(),
            upload_reserve_bytes: default_upload_reserve_bytes(),
            upload_expiry_secs: default_upload_expiry_secs(),
            keep_uploads_after_import: false,
            import_concurrency: default_import_concurrency(),
            nodes: Vec::new(),
            max_queue: default_max_queue(),
            queue_timeout_secs: default_queue_timeout_secs(),
            upstream_max_idle_per_node: default_upstream_max_idle_per_node(),
            routing: crate::fleet::Policy::default(),
            live: crate::live::config::LiveConfig::default(),
        }
    }

    /// Loads the configuration from defaults, the config file and the environment.
    ///
    /// The file is `config_file` if given, else `$DATA_PATH/ollama-dash.toml` if it exists.
    pub fn load(config_file: Option<&Path>) -> Result<Self> {
        let figment = figment(config_file)?;
        Self::from_figment(&figment)
    }

    /// Extracts and validates the library's part of an already built figment.
    pub fn from_figment(figment: &Figment) -> Result<Self> {
        let config: Self = figment.extract().map_err(figment_error)?;
        config
            .validate()
            .map_err(|error| with_origin(figment, error))?;
        Ok(config)
    }

    /// Checks every value, naming the key of the first bad one.
    pub fn validate(&self) -> Result<()> {
        parse_ollama_host(&self.ollama_host)?;
        if self.data_path.as_os_str().is_empty() {
            return Err(config_error("DATA_PATH", "must not be empty"));
        }
        for (key, value) in [
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("request_timeout_secs", self.request_timeout_secs),
            ("stream_idle_timeout_secs", self.stream_idle_timeout_secs),
            ("pull_timeout_secs", self.pull_timeout_secs),
            (
                "trace_retention_interval_secs",
                self.trace_retention_interval_secs,
            ),
            ("upload_expiry_secs", self.upload_expiry_secs),
        ] {
            if value == 0 {
                return Err(config_error(key, "must be at least 1 second"));
            }
        }
        if self.stream_keepalive_ms == 0 {
            return Err(config_error("stream_keepalive_ms", "must be at least 1"));
        }
        if self.import_concurrency == 0 {
            return Err(config_error("import_concurrency", "must be at least 1"));
        }
        if self.queue_timeout_secs == 0 {
            return Err(config_error(
                "queue_timeout_secs",
                "must be at least 1 second",
            ));
        }
        crate::fleet::validate(&self.nodes)?;
        self.live.validate()
    }

    /// The nodes to route to: those listed, else the one at `ollama_host` named `default`.
    pub fn node_configs(&self) -> Vec<crate::fleet::NodeConfig> {
        if self.nodes.is_empty() {
            vec![crate::fleet::NodeConfig::new(
                crate::fleet::DEFAULT_NODE,
                self.ollama_host.clone(),
            )]
        } else {
            self.nodes.clone()
        }
    }

    /// Where the nodes of [`Self::node_configs`] were set, as a person would look for them:
    /// `OLLAMA_HOST` (one node), `OLLAMA_DASH_NODES` when that variable is set, else the
    /// configuration's `[[nodes]]`.
    pub fn nodes_source(&self) -> &'static str {
        if self.nodes.is_empty() {
            "OLLAMA_HOST"
        } else if std::env::var_os("OLLAMA_DASH_NODES").is_some_and(|v| !v.is_empty()) {
            "OLLAMA_DASH_NODES"
        } else {
            "the configuration's [[nodes]]"
        }
    }

    /// The Ollama the dashboard's own views and jobs talk to (installed and running models,
    /// pulls, imports, the managed service): `ollama_host`, unless nodes are listed and none of
    /// them is at that address — then the first node, so a fleet configured without
    /// `OLLAMA_HOST` never watches an Ollama it does not route to.
    pub fn primary_host(&self) -> &str {
        let Some(first) = self.nodes.first() else {
            return &self.ollama_host;
        };
        let host = parse_ollama_host(&self.ollama_host).ok();
        let listed = self
            .nodes
            .iter()
            .any(|node| host.is_some() && parse_ollama_host(&node.url).ok() == host);
        if listed {
            &self.ollama_host
        } else {
            &first.url
        }
    }

    /// The base URL of [`Self::primary_host`], e.g. `http://127.0.0.1:11434`.
    pub fn ollama_url(&self) -> Result<String> {
        parse_ollama_host(self.primary_host())
    }

    /// The connect timeout as a [`Duration`].
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
}

/// Builds the layered figment: defaults < file < environment.
///
/// The host extracts its own settings from the same figment, so one file configures both.
/// The default data path is `$XDG_DATA_HOME/ollama-dash`, else `~/.local/share/ollama-dash`,
/// else `./ollama-dash-data`.
pub fn figment(config_file: Option<&Path>) -> Result<Figment> {
    let file = match config_file {
        Some(path) if !path.exists() => {
            let message = format!("{} does not exist", path.display());
            return Err(config_error("--config", &message));
        }
        Some(path) => path.to_path_buf(),
        None => std::env::var_os("DATA_PATH")
            .filter(|v| !v.is_empty())
            .map_or_else(default_data_path, PathBuf::from)
            .join(CONFIG_FILE_NAME),
    };
    let defaults = DashboardConfig::with_data_path(default_data_path());
    let well_known = Env::raw().only(&["OLLAMA_HOST", "DATA_PATH", "AUTH_TOKEN"]);
    let mut figment = Figment::from(Serialized::defaults(defaults))
        .merge(Toml::file(file))
        .merge(well_known.map(|key| key.as_str().to_ascii_lowercase().into()))
        .merge(Env::prefixed("OLLAMA_DASH_").ignore(&["nodes"]));
    // `name=url,name=url`: a list of tables in the file, a string in the environment.
    if let Some(raw) = std::env::var("OLLAMA_DASH_NODES")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        let nodes = crate::fleet::parse_nodes_env(&raw)?;
        figment = figment.merge(Serialized::default("nodes", nodes));
    }
    Ok(figment)
}

fn default_data_path() -> PathBuf {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    match (
        std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()),
        home,
    ) {
        (Some(xdg), _) => PathBuf::from(xdg).join("ollama-dash"),
        (None, Some(home)) => PathBuf::from(home).join(".local/share/ollama-dash"),
        (None, None) => PathBuf::from("ollama-dash-data"),
    }
}

/// Turns a figment extraction error into [`Error::Config`] naming the key the user wrote and
/// where it was set: the file's path or the variable's name, e.g. ``invalid configuration for
/// `pull_timeout_secs`: invalid type: found string "soon", expected u64 (set by the environment
/// variable OLLAMA_DASH_PULL_TIMEOUT_SECS)``.
pub fn figment_error(error: figment::Error) -> Error {
    let key = match error.path.as_slice() {
        [] => "configuration".to_owned(),
        [only] => env_name(only),
        [first, rest @ ..] => rest.iter().fold(first.clone(), |key, part| {
            if part.bytes().all(|b| b.is_ascii_digit()) {
                format!("{key}[{part}]")
            } else {
                format!("{key}.{part}")
            }
        }),
    };
    let profile = error.profile.clone().unwrap_or_default();
    let origin = error
        .metadata
        .as_ref()
        .and_then(|metadata| keys::origin(metadata, &profile, &error.path));
    let message = match origin {
        Some(origin) => format!("{} ({origin})", error.kind),
        None => error.kind.to_string(),
    };
    Error::Config { key, message }
}

/// Adds where the value was set (the file or the variable) to a validation error about a
/// top-level key of `figment`; other errors are returned as they are.
pub fn with_origin(figment: &Figment, error: Error) -> Error {
    let Error::Config { key, message } = error else {
        return error;
    };
    let origin = figment
        .find_metadata(&key.to_ascii_lowercase())
        .and_then(|metadata| {
            keys::origin(metadata, figment.profile(), &[key.to_ascii_lowercase()])
        });
    match origin {
        Some(origin) => Error::Config {
            message: format!("{message} ({origin})"),
            key,
        },
        None => Error::Config { key, message },
    }
}

/// The name a user would write for a config key: the env var for the well-known ones.
fn env_name(key: &str) -> String {
    match key {
        "ollama_host" | "data_path" | "auth_token" => key.to_ascii_uppercase(),
        other => other.to_owned(),
    }
}

pub(crate) fn config_error(key: &str, message: &str) -> Error {
    Error::Config {
        key: key.to_owned(),
        message: message.to_owned(),
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

    fn load_in(jail: &mut Jail) -> Result<DashboardConfig> {
        jail.set_env("DATA_PATH", jail.directory().display().to_string());
        DashboardConfig::load(None)
    }

    #[test]
    fn file_overrides_defaults_and_env_overrides_file() {
        Jail::expect_with(|jail| {
            jail.create_file(
                CONFIG_FILE_NAME,
                "ollama_host = 'gpu-box'\nrequest_timeout_secs = 3\n",
            )?;
            let config = load_in(jail).unwrap();
            assert_eq!(config.ollama_url().unwrap(), "http://gpu-box:11434");
            assert_eq!(config.request_timeout_secs, 3);
            assert_eq!(config.connect_timeout_secs, 5, "default kept");
            jail.set_env("OLLAMA_HOST", "other:1234");
            jail.set_env("OLLAMA_DASH_REQUEST_TIMEOUT_SECS", "7");
            let config = load_in(jail).unwrap();
            assert_eq!(config.ollama_url().unwrap(), "http://other:1234");
            assert_eq!(config.request_timeout_secs, 7);
            assert_eq!(config.data_path, jail.directory());
            Ok(())
        });
    }

    #[test]
    fn bad_values_name_their_key() {
        Jail::expect_with(|jail| {
            jail.set_env("OLLAMA_HOST", "ftp://nope");
            let err = load_in(jail).unwrap_err().to_string();
            assert!(
                err.contains("OLLAMA_HOST") && err.contains("environment variable OLLAMA_HOST"),
                "{err}"
            );
            jail.set_env("OLLAMA_HOST", "localhost");
            jail.set_env("OLLAMA_DASH_PULL_TIMEOUT_SECS", "soon");
            let err = load_in(jail).unwrap_err().to_string();
            assert!(err.contains("pull_timeout_secs"), "{err}");
            assert!(
                err.contains("environment variable OLLAMA_DASH_PULL_TIMEOUT_SECS"),
                "the variable is named: {err}"
            );
            jail.set_env("OLLAMA_DASH_PULL_TIMEOUT_SECS", "0");
            let err = load_in(jail).unwrap_err().to_string();
            assert!(
                err.contains("pull_timeout_secs")
                    && err.contains("at least")
                    && err.contains("OLLAMA_DASH_PULL_TIMEOUT_SECS"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn bad_values_in_the_file_name_the_key_and_the_file() {
        Jail::expect_with(|jail| {
            let file = jail.directory().join(CONFIG_FILE_NAME);
            let file = file.display().to_string();
            jail.create_file(CONFIG_FILE_NAME, "request_timeout_secs = 'soon'\n")?;
            let err = load_in(jail).unwrap_err().to_string();
            assert!(
                err.contains("`request_timeout_secs`") && err.contains(&format!("set in {file}")),
                "{err}"
            );
            jail.create_file(CONFIG_FILE_NAME, "ollama_host = 'ftp://nope'\n")?;
            let err = load_in(jail).unwrap_err().to_string();
            assert!(
                err.contains("OLLAMA_HOST") && err.contains(&format!("set in {file}")),
                "a validation error names the file too: {err}"
            );
            jail.create_file(
                CONFIG_FILE_NAME,
                "[[nodes]]\nname = 'a'\nurl = 'h:1'\n\n[[nodes]]\nname = 'b'\nurl = 'h:2'\nweight = 'heavy'\n",
            )?;
            let err = load_in(jail).unwrap_err().to_string();
            assert!(
                err.contains("`nodes[1].weight`") && err.contains(&format!("set in {file}")),
                "{err}"
            );
            // A value left at its default names no source.
            jail.create_file(CONFIG_FILE_NAME, "")?;
            let err = with_origin(
                &figment(None).unwrap(),
                config_error("pull_timeout_secs", "bad"),
            )
            .to_string();
            assert!(err.ends_with(": bad"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn nodes_come_from_the_file_or_the_environment_and_one_host_is_one_node() {
        Jail::expect_with(|jail| {
            let config = load_in(jail).unwrap();
            let nodes = config.node_configs();
            assert_eq!(
                (nodes.len(), nodes[0].name.as_str(), nodes[0].url.as_str()),
                (1, "default", "127.0.0.1:11434")
            );
            jail.create_file(
                CONFIG_FILE_NAME,
                "[[nodes]]\nname = 'a'\nurl = 'gpu-a:11434'\nmax_parallel = 2\n\n\
                 [[nodes]]\nname = 'b'\nurl = 'gpu-b'\nweight = 2.0\n",
            )?;
            let config = load_in(jail).unwrap();
            let names: Vec<_> = config.nodes.iter().map(|n| n.name.as_str()).collect();
            assert_eq!(names, ["a", "b"]);
            assert_eq!(config.nodes[0].max_parallel, Some(2));
            assert_eq!(config.nodes[1].weight, 2.0);
            jail.set_env("OLLAMA_DASH_NODES", "x=127.0.0.1:1,y=127.0.0.1:2");
            let config = load_in(jail).unwrap();
            let names: Vec<_> = config.nodes.iter().map(|n| n.name.as_str()).collect();
            assert_eq!(names, ["x", "y"], "the environment wins over the file");
            jail.set_env("OLLAMA_DASH_NODES", "x=127.0.0.1:1,x=127.0.0.1:2");
            let err = load_in(jail).unwrap_err().to_string();
            assert!(err.contains("nodes") && err.contains("twice"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_primary_ollama_is_ollama_host_when_it_is_a_node_else_the_first_node() {
        Jail::expect_with(|jail| {
            assert_eq!(load_in(jail).unwrap().primary_host(), "127.0.0.1:11434");
            jail.set_env("OLLAMA_DASH_NODES", "a=http://gpu-a:11434,b=gpu-b");
            let config = load_in(jail).unwrap();
            assert_eq!(config.primary_host(), "http://gpu-a:11434");
            assert_eq!(config.ollama_url().unwrap(), "http://gpu-a:11434");
            // OLLAMA_HOST names a node (in another spelling of the same address): that one.
            jail.set_env("OLLAMA_HOST", "gpu-b:11434");
            assert_eq!(load_in(jail).unwrap().primary_host(), "gpu-b:11434");
            Ok(())
        });
    }

    #[test]
    fn a_missing_explicit_config_file_is_an_error() {
        let err = DashboardConfig::load(Some(Path::new("/no/such/ollama-dash.toml"))).unwrap_err();
        assert!(err.to_string().contains("--config"), "{err}");
    }
}
