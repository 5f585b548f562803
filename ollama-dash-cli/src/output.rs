//! Writing to stdout without panicking when it is closed (`ollama-dash list | head -1`).

use std::io::Write;

use serde::Serialize;

use crate::error::{Error, Result};

/// Writes `text` to stdout and flushes; a closed pipe is not an error.
pub(crate) fn print(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::io("writing to stdout", e))
        }
        _ => Ok(()),
    }
}

/// [`print`] with a newline.
pub(crate) fn line(text: &str) -> Result<()> {
    print(&format!("{text}\n"))
}

/// `value` as pretty JSON on stdout.
pub(crate) fn json(value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::Protocol(format!("encoding JSON: {e}")))?;
    line(&text)
}

/// `value` as one compact JSON line on stdout (NDJSON, for `traces --follow --json`).
pub(crate) fn json_line(value: &impl Serialize) -> Result<()> {
    let text =
        serde_json::to_string(value).map_err(|e| Error::Protocol(format!("encoding JSON: {e}")))?;
    line(&text)
}

/// A line on stderr (progress and notes; never fails the command).
pub(crate) fn note(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{text}");
}
