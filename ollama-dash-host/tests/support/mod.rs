//! Shared by the real-process tests of this package.

use std::io::{BufRead, BufReader};
use std::process::ChildStdout;

/// Reads `ollama-dash serve`'s output until it prints `listening on http://…`; that address,
/// without its trailing slash.
pub(crate) fn listening_address(stdout: ChildStdout) -> String {
    let line = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("listening on"))
        .expect("serve prints its address");
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("an http:// address")
        .trim_end_matches('/')
        .to_owned()
}
