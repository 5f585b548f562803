//! The client's one error type: what went wrong, worded for the person at the terminal.

/// Everything a client command can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error; `message` is the server's own `error.message`.
    #[error("{message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The server's message (or the body, when it was not our JSON shape).
        message: String,
    },
    /// The server could not be reached at all.
    #[error(
        "could not reach ollama-dash at {url}: {source} (is `ollama-dash serve` running? see --url)"
    )]
    Unreachable {
        /// The base URL tried.
        url: String,
        /// What reqwest said.
        #[source]
        source: reqwest::Error,
    },
    /// Any other HTTP failure (a connection dropped mid-answer, a body that is not JSON).
    #[error("talking to the server: {0}")]
    Http(#[from] reqwest::Error),
    /// A local file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The server answered something this client cannot read.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// Wrong or missing input on the command line.
    #[error("{0}")]
    Usage(String),
    /// The user pressed Ctrl-C.
    #[error("{0}")]
    Interrupted(String),
    /// A job or import the command waited for ended badly.
    #[error("{0}")]
    Failed(String),
}

impl Error {
    /// An [`Error::Io`] naming what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }

    /// The status to exit with: 130 after Ctrl-C (as shells do), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Interrupted(_) => 130,
            _ => 1,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
