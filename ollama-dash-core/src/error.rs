//! The one error type of the library and its kinds: what went wrong in the caller's terms.
//! Statuses are the host's business (its one table maps each [`ErrorKind`] to a status).
//! This module imports nothing from the crate: it is the bottom of it.

use std::path::PathBuf;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is, in the caller's terms (see [`Error::kind`]).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request was wrong (a field, a value, the configuration).
    Invalid,
    /// The thing asked for does not exist.
    NotFound,
    /// The caller may not do this.
    Forbidden,
    /// It conflicts with what exists (a name taken, a job running).
    Conflict,
    /// It existed but is gone for good.
    Gone,
    /// Larger than allowed.
    TooLarge,
    /// An uploaded model is not what it claims to be.
    InvalidModel,
    /// Someone else is working on it right now.
    Locked,
    /// A checksum sent with data does not match the data.
    ChecksumMismatch,
    /// No room on the disk for what was being written.
    StorageFull,
    /// The model does not fit in (V)RAM.
    DoesNotFit,
    /// Ollama could not be reached.
    Unreachable,
    /// Ollama failed mid-way (a broken stream, a crashed runner, an answer that is not JSON).
    UpstreamFailed,
    /// Ollama did not answer in time.
    Timeout,
    /// Not available right now (not probed yet, shutting down); try again later.
    Unavailable,
    /// Every node that could serve it is busy: try again after the time given
    /// ([`Error::retry_after_secs`]).
    Busy,
    /// Ollama refused with this status (400 and 404 are [`Self::Invalid`] and
    /// [`Self::NotFound`]).
    Upstream(u16),
    /// Anything else: a bug, or the store failing.
    #[default]
    Internal,
}

/// How a model action failed, in the user's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// No such model (locally, or in the registry when pulling).
    NotFound,
    /// Not enough (V)RAM to load it.
    DoesNotFit,
    /// Ollama's runner process died while loading or answering.
    RunnerCrashed,
    /// Ollama could not be reached.
    Unreachable,
    /// Asked to unload, but it was still loaded when we stopped waiting.
    StillLoaded,
}

impl Failure {
    /// Its name as shown (`not_found`, `does_not_fit`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::NotFound => "not_found",
            Failure::DoesNotFit => "does_not_fit",
            Failure::RunnerCrashed => "runner_crashed",
            Failure::Unreachable => "unreachable",
            Failure::StillLoaded => "still_loaded",
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Failure::NotFound => "model not found",
            Failure::DoesNotFit => "does not fit in memory",
            Failure::RunnerCrashed => "the model runner crashed",
            Failure::Unreachable => "Ollama is unreachable",
            Failure::StillLoaded => "still loaded",
        })
    }
}

/// Everything that can go wrong in `ollama-dash-core`.
///
/// The wording of messages is not part of the API; branch on the variant or on the `is_*`
/// helpers instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is missing or malformed; `key` names it as the user wrote it.
    #[error("invalid configuration for `{key}`: {message}")]
    Config {
        /// The configuration key, e.g. `OLLAMA_HOST` or `auth_token`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// Ollama could not be reached at all (connection refused, DNS, TLS, timeout before a reply).
    #[error("Ollama is unreachable at {url}: {message}")]
    Unreachable {
        /// The base URL that was tried.
        url: String,
        /// What the transport said.
        message: String,
    },
    /// Ollama did not answer within the time allowed for this call.
    #[error("Ollama did not answer {what} within {seconds} s")]
    Timeout {
        /// The call that timed out, e.g. `GET /api/ps`.
        what: String,
        /// The limit in seconds.
        seconds: u64,
    },
    /// Ollama answered with an error status and body.
    #[error("Ollama answered {status}: {message}")]
    Ollama {
        /// The HTTP status Ollama returned.
        status: u16,
        /// The `error` text of Ollama's body (or the raw body).
        message: String,
    },
    /// A stream from Ollama carried an `{"error": …}` line after it had started.
    #[error("Ollama stream failed: {0}")]
    StreamError(String),
    /// A stream from Ollama ended without its final `done` (or `success`) line.
    #[error("Ollama stream ended before it was done")]
    StreamTruncated,
    /// Ollama sent something that is not the JSON we expect.
    #[error("unexpected answer from Ollama: {0}")]
    Protocol(String),
    /// The thing asked for does not exist (a model, a trace, a session…).
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with what exists (a name already taken, a job already running).
    #[error("{0}")]
    Conflict(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The caller sent something invalid.
    #[error("{0}")]
    BadRequest(String),
    /// The thing asked for existed but is gone for good (an expired or consumed upload).
    #[error("{0}")]
    Gone(String),
    /// The request is larger than allowed, or than the disk can hold.
    #[error("{0}")]
    TooLarge(String),
    /// Someone else is working on this right now (e.g. another request appending to an upload).
    #[error("{0}")]
    Locked(String),
    /// A checksum sent with the data does not match the data received.
    #[error("{0}")]
    ChecksumMismatch(String),
    /// An uploaded file is not what it claims to be (bad GGUF, unsafe ZIP, …); the message says
    /// exactly what is wrong.
    #[error("{0}")]
    InvalidModel(String),
    /// The SQLite store failed.
    #[error("store error: {0}")]
    Store(String),
    /// The store file failed its integrity check or was written by a newer version.
    #[error("store at {path} cannot be opened safely: {message}")]
    StoreCorrupt {
        /// Path of the database file.
        path: PathBuf,
        /// What the check found.
        message: String,
    },
    /// The dashboard is shutting down or its background worker is gone.
    #[error("ollama-dash is shutting down")]
    ShuttingDown,
    /// Something is not available right now (not probed yet, not managed, …); try again later.
    #[error("{0}")]
    Unavailable(String),
    /// Starting, stopping or pulling a model failed in one of the ways users know.
    #[error("{model}: {kind}: {message}")]
    Lifecycle {
        /// The model.
        model: String,
        /// Which kind of failure.
        kind: Failure,
        /// What Ollama said.
        message: String,
    },
    /// Every node that could serve the request is busy and its queue is full (or the wait for a
    /// slot timed out): try again after `retry_after_secs`.
    #[error("{message}")]
    Busy {
        /// What is busy.
        message: String,
        /// When a retry is likely to be admitted, seconds.
        retry_after_secs: u64,
    },
    /// One field of a request is invalid; the message says why on its own.
    #[error("{message}")]
    InvalidField {
        /// The field at fault.
        field: String,
        /// Why.
        message: String,
    },
    /// One or more fields of a request are invalid; each entry is `(field, why)`.
    #[error("{}", invalid_fields(.0))]
    InvalidFields(Vec<(String, String)>),
    /// A filesystem operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Ollama could not be reached or did not answer in time (the host answers 502/503/504).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Unreachable { .. } | Error::Timeout { .. })
            || self.lifecycle_failure() == Some(Failure::Unreachable)
    }

    /// The thing asked for does not exist (404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound(_))
            || matches!(self, Error::Ollama { status: 404, .. })
            || self.lifecycle_failure() == Some(Failure::NotFound)
    }

    /// A write failed because the disk (or the quota, or the file size limit) is full (507).
    pub fn is_storage_full(&self) -> bool {
        match self {
            Error::Io { source, .. } => is_storage_full(source),
            Error::Store(message) => message.contains("database or disk is full"),
            _ => false,
        }
    }

    /// The request itself was wrong (400).
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            Error::BadRequest(_)
                | Error::Config { .. }
                | Error::InvalidFields(_)
                | Error::InvalidField { .. }
        ) || matches!(self, Error::Ollama { status: 400, .. })
    }

    /// What kind of failure this is: what a caller branches on, and what the host maps to
    /// a status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Unreachable { .. } => ErrorKind::Unreachable,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::ShuttingDown | Error::Unavailable(_) => ErrorKind::Unavailable,
            Error::Busy { .. } => ErrorKind::Busy,
            Error::Lifecycle { kind, .. } => match kind {
                Failure::NotFound => ErrorKind::NotFound,
                Failure::DoesNotFit => ErrorKind::DoesNotFit,
                Failure::RunnerCrashed => ErrorKind::UpstreamFailed,
                Failure::Unreachable => ErrorKind::Unreachable,
                Failure::StillLoaded => ErrorKind::Timeout,
            },
            Error::Ollama { status: 400, .. } => ErrorKind::Invalid,
            Error::Ollama { status: 404, .. } => ErrorKind::NotFound,
            Error::Ollama { status, .. } if (400..600).contains(status) => {
                ErrorKind::Upstream(*status)
            }
            Error::StreamError(_) | Error::StreamTruncated | Error::Protocol(_) => {
                ErrorKind::UpstreamFailed
            }
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Forbidden(_) => ErrorKind::Forbidden,
            Error::Gone(_) => ErrorKind::Gone,
            Error::TooLarge(_) => ErrorKind::TooLarge,
            Error::InvalidModel(_) => ErrorKind::InvalidModel,
            e if e.is_storage_full() => ErrorKind::StorageFull,
            Error::Locked(_) => ErrorKind::Locked,
            Error::ChecksumMismatch(_) => ErrorKind::ChecksumMismatch,
            Error::NotFound(_) => ErrorKind::NotFound,
            e if e.is_bad_request() => ErrorKind::Invalid,
            _ => ErrorKind::Internal,
        }
    }

    /// When to try again, seconds, for [`ErrorKind::Busy`].
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Error::Busy {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// The classified lifecycle failure, if this is one.
    pub fn lifecycle_failure(&self) -> Option<Failure> {
        match self {
            Error::Lifecycle { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    pub(crate) fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Error::InvalidField {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn store(e: impl std::fmt::Display) -> Self {
        Error::Store(e.to_string())
    }
}

fn invalid_fields(fields: &[(String, String)]) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|(f, why)| format!("{f}: {why}"))
        .collect();
    format!("invalid fields: {}", parts.join("; "))
}

/// ENOSPC, EDQUOT or EFBIG: there is no room for what was being written.
pub(crate) fn is_storage_full(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge
    )
}
