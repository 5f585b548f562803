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
