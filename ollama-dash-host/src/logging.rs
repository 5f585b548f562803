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
pub(crate) use capture::{capture, capture_logs};

/// Log capture for unit tests. One global subscriber (set once, `info` and above, no colour)
/// writes each line into the buffer of the thread that logged it, if that thread is capturing.
/// Global rather than a per-thread default: tracing caches each call site's interest across
/// all threads, and a call site first reached by another test while no thread-local subscriber
/// lived would stay disabled for everyone (a flaky test).
#[cfg(test)]
mod capture {
    use std::cell::RefCell;
    use std::io::{self, Write};
    use std::sync::{Arc, Mutex, Once};

    /// Logs captured by [`capture_logs`].
    #[derive(Debug, Clone, Default)]
    pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        /// Everything this thread logged since the capture began.
        pub(crate) fn text(&self) -> String {
            let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        }
    }

    thread_local! {
        static CAPTURING: RefCell<Option<Captured>> = const { RefCell::new(None) };
    }

    /// Ends this thread's capture when dropped.
    #[derive(Debug)]
    pub(crate) struct Guard(());

    impl Drop for Guard {
        fn drop(&mut self) {
            CAPTURING.with(|c| c.borrow_mut().take());
        }
    }

    /// Writes into the capturing thread's buffer; elsewhere, nowhere.
    struct ThisThread;

    impl Write for ThisThread {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            CAPTURING.with(|c| {
                if let Some(Captured(lines)) = &*c.borrow()
                    && let Ok(mut lines) = lines.lock()
                {
                    lines.extend_from_slice(buf);
                }
            });
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Captures this thread's logs while the guard lives (a `#[tokio::test]` runs its tasks
    /// on its own thread).
    pub(crate) fn capture_logs() -> (Guard, Captured) {
        static GLOBAL: Once = Once::new();
        GLOBAL.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .with_writer(|| ThisThread)
                .finish();
            let _ = tracing::subscriber::set_global_default(subscriber);
        });
        let captured = Captured::default();
        CAPTURING.with(|c| *c.borrow_mut() = Some(captured.clone()));
        (Guard(()), captured)
    }

    /// Runs `f` with [`capture_logs`]; its result and the lines logged.
    pub(crate) fn capture<T>(f: impl FnOnce() -> T) -> (T, String) {
        let (guard, captured) = capture_logs();
        let result = f();
        drop(guard);
        (result, captured.text())
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
