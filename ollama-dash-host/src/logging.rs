//! Logging that can never take the process down.
//!
//! tracing-subscriber's fmt layer reports a failed write with `eprintln!`, and `eprintln!`
//! panics when stderr itself cannot be written (a full disk under a redirected log, a closed
//! pipe). A panic in the store thread once stopped every store route until a restart. So the
//! writer here swallows its own errors, the layer's internal error reports are off, and a log
//! line that cannot be written is simply lost.

use std::io::{self, IsTerminal, Write};

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: `RUST_LOG` (default `info`) to stderr, never failing; in
/// colour only on a terminal without `NO_COLOR` (a log file or journal gets plain text).
pub fn init() {
    let colour =
        io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_ansi(colour)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(|| NeverFails(io::stderr()))
        .log_internal_errors(false)
        .init();
}

/// A writer that reports every write as done, whatever the one inside says.
#[derive(Debug)]
pub struct NeverFails<W>(pub W);

impl<W: Write> Write for NeverFails<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = self.0.write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = self.0.flush();
        Ok(())
    }
}

/// Logs captured by [`capture_logs`].
#[cfg(test)]
#[derive(Debug, Clone, Default)]
pub(crate) struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl Captured {
    /// Everything logged so far.
    pub(crate) fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(test)]
impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Ok(mut lines) = self.0.lock() {
            lines.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sends this thread's logs (`debug` and above, no colour) into a buffer while the guard
/// lives.
#[cfg(test)]
pub(crate) fn capture_logs() -> (tracing::subscriber::DefaultGuard, Captured) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    (tracing::subscriber::set_default(subscriber), captured)
}

/// Runs `f` with [`capture_logs`]; its result and the lines logged.
#[cfg(test)]
pub(crate) fn capture<T>(f: impl FnOnce() -> T) -> (T, String) {
    let (guard, captured) = capture_logs();
    let result = f();
    drop(guard);
    (result, captured.text())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn a_failing_writer_reports_success() {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let mut raw = &full;
        assert!(raw.write_all(b"x").is_err(), "/dev/full refuses writes");
        let mut never = NeverFails(&full);
        never.write_all(b"a log line\n").unwrap();
        never.flush().unwrap();
    }
}
