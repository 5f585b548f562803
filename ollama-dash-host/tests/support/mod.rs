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

/// A running `ollama-dash serve`, killed (SIGKILL) when dropped: also when a test fails
/// half-way, so no server outlives its test.
#[allow(dead_code, reason = "not every test binary serves the simulator")]
pub(crate) struct Served {
    pub(crate) child: std::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub(crate) base: String,
}

impl Served {
    /// SIGKILL now, and reap it.
    #[allow(dead_code, reason = "not every test binary kills its server by hand")]
    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `program serve --simulate` on a free port with `DATA_PATH` and `AUTH_TOKEN`, `RUST_LOG=warn`
/// unless `configure` (run last) says otherwise. `program` is the binary, or a wrapper
/// (`prlimit … --`) already holding the binary as its last argument.
#[allow(dead_code, reason = "not every test binary serves the simulator")]
pub(crate) fn serve_simulated(
    mut program: std::process::Command,
    data: &std::path::Path,
    token: &str,
    configure: impl FnOnce(&mut std::process::Command),
) -> Served {
    program
        .args(["serve", "--simulate", "--listen", "127.0.0.1:0"])
        .env("DATA_PATH", data)
        .env("AUTH_TOKEN", token)
        .env_remove("OLLAMA_HOST")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped());
    configure(&mut program);
    let mut child = program.spawn().unwrap();
    let base = listening_address(child.stdout.take().unwrap());
    Served { child, base }
}
