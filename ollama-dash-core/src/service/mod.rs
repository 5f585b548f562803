//! Managed Ollama (opt-in, `manage_ollama = true`): find the `ollama` binary (config path, then
//! `PATH`), run `ollama serve` with our `OLLAMA_HOST`, log its output under `DATA_PATH/logs`
//! (rotated), check its health over HTTP (`HEAD /`, then `/api/version`), restart it when it
//! exits (backing off 2 s · 2^n, capped at 32 s), and stop only the child we started, by its
//! pid — never by name.

mod logs;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::logs::RotatingLog;
use crate::dashboard::now_ms;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::live::{Nudger, Probe, backoff};
use crate::ollama::OllamaClient;

/// Where the managed Ollama is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// Not managed by ollama-dash.
    NotManaged,
    /// Started, not answering yet.
    Starting,
    /// Answering.
    Running,
    /// Running but not answering health checks.
    Unhealthy,
    /// Exited; waiting to start it again.
    Restarting,
    /// Stopped on request.
    Stopped,
    /// Cannot be started (no binary…).
    Failed,
}

/// The managed Ollama as shown by `GET /api/service/status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceStatus {
    /// Whether ollama-dash manages Ollama at all.
    pub managed: bool,
    /// Where it is.
    pub state: ServiceState,
    /// A sentence for people.
    pub message: String,
    /// The binary run.
    pub binary: Option<PathBuf>,
    /// The `OLLAMA_HOST` it was given.
    pub host: String,
    /// The child's pid, while it runs.
    pub pid: Option<u32>,
    /// When the current child started, Unix ms.
    pub started_at: Option<i64>,
    /// Restarts after it exited on its own.
    pub restarts: u32,
    /// How the last child ended.
    pub last_exit: Option<String>,
    /// Where its output goes.
    pub log_path: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Start,
    Stop,
    Restart,
}

/// The managed Ollama service: the supervisor's handle (or, when Ollama is not managed, a
/// status that says so). Built from explicit handles; it never sees the facade.
#[derive(Debug)]
pub(crate) struct Service {
    status: Arc<Mutex<ServiceStatus>>,
    commands: Option<mpsc::Sender<(Action, tokio::sync::oneshot::Sender<()>)>>,
    stop: CancellationToken,
    done: Mutex<Option<tokio::sync::oneshot::Receiver<()>>>,
}

/// Finds `name` on `PATH`, like a shell would (an executable regular file).
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The `host:port` Ollama should bind, from our `OLLAMA_HOST` base URL.
fn bind_address(base_url: &str) -> String {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

impl Service {
    /// Supervises `ollama serve` when `config.live.manage_ollama`, else says Ollama is not
    /// managed. Each time the child starts answering, `live` is asked for the version, running
    /// and installed probes (instead of waiting for their next turn).
    pub(crate) fn new(
        config: &crate::DashboardConfig,
        ollama: OllamaClient,
        events: tokio::sync::broadcast::Sender<Event>,
        live: Nudger,
    ) -> Self {
        match config.live.manage_ollama {
            true => Self::managed(config, ollama, events, live),
            false => Self::unmanaged(ollama.base_url()),
        }
    }

    /// Not managed: every action says so.
    fn unmanaged(host: &str) -> Self {
        Self {
            status: Arc::new(Mutex::new(ServiceStatus {
                managed: false,
                state: ServiceState::NotManaged,
                message: "Ollama is not managed by ollama-dash (set manage_ollama = true to let it start and supervise `ollama serve`)".to_owned(),
                binary: None,
                host: host.to_owned(),
                pid: None,
                started_at: None,
                restarts: 0,
                last_exit: None,
                log_path: None,
            })),
            commands: None,
            stop: CancellationToken::new(),
            done: Mutex::new(None),
        }
    }

    /// Starts supervising `ollama serve`.
    fn managed(
        config: &crate::DashboardConfig,
        ollama: OllamaClient,
        events: tokio::sync::broadcast::Sender<Event>,
        live: Nudger,
    ) -> Self {
        let host = bind_address(ollama.base_url());
        let log_path = config.data_path.join("logs").join("ollama.log");
        let binary = match &config.live.ollama_binary {
            Some(path) if is_executable(path) => Ok(path.clone()),
            Some(path) => Err(format!(
                "ollama_binary {} is not an executable file",
                path.display()
            )),
            None => find_on_path("ollama")
                .ok_or_else(|| "no `ollama` on PATH (set ollama_binary)".to_owned()),
        };
        let status = Arc::new(Mutex::new(ServiceStatus {
            managed: true,
            state: ServiceState::Starting,
            message: "starting".to_owned(),
            binary: binary.as_ref().ok().cloned(),
            host: host.clone(),
            pid: None,
            started_at: None,
            restarts: 0,
            last_exit: None,
            log_path: Some(log_path.clone()),
        }));
        let (tx, rx) = mpsc::channel(8);
        let stop = CancellationToken::new();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let supervisor = Supervisor {
            status: Arc::clone(&status),
            events,
            ollama,
            host,
            log: Arc::new(tokio::sync::Mutex::new(RotatingLog::new(
                log_path,
                config.live.ollama_log_max_bytes,
                config.live.ollama_log_files,
            ))),
            stop: stop.clone(),
            live,
        };
        tokio::spawn(async move {
            match binary {
                Ok(binary) => supervisor.run(binary, rx).await,
                Err(message) => {
                    supervisor.set(ServiceState::Failed, message, None);
                    supervisor.idle(rx).await;
                }
            }
            let _ = done_tx.send(());
        });
        Self {
            status,
            commands: Some(tx),
            stop,
            done: Mutex::new(Some(done_rx)),
        }
    }

    /// The managed Ollama's state (or that it is not managed).
    pub(crate) fn status(&self) -> ServiceStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Starts the managed Ollama; returns once it answers (or is known not to start).
    pub(crate) async fn start(&self) -> Result<ServiceStatus> {
        self.send(Action::Start).await
    }

    /// Stops the managed Ollama (SIGTERM to our child's pid, SIGKILL after 10 s).
    pub(crate) async fn stop(&self) -> Result<ServiceStatus> {
        self.send(Action::Stop).await
    }

    /// Stops and starts the managed Ollama; returns once it answers again.
    pub(crate) async fn restart(&self) -> Result<ServiceStatus> {
        self.send(Action::Restart).await
    }

    /// [`Error::Conflict`] when Ollama is not managed.
    async fn send(&self, command: Action) -> Result<ServiceStatus> {
        let Some(commands) = &self.commands else {
            return Err(Error::Conflict(self.status().message));
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        commands
            .send((command, tx))
            .await
            .map_err(|_| Error::ShuttingDown)?;
        let _ = rx.await;
        Ok(self.status())
    }

    /// Stops the child (if any) and the supervisor; waits for both.
    pub(crate) async fn shutdown(&self) {
        self.stop.cancel();
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(done) = done {
            let _ = done.await;
        }
    }
}

impl Drop for Service {
    /// A dashboard dropped without `shutdown` still stops its child (the supervisor sends
    /// SIGTERM, and the child is killed when its handle goes).
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

struct Supervisor {
    status: Arc<Mutex<ServiceStatus>>,
    events: tokio::sync::broadcast::Sender<Event>,
    ollama: OllamaClient,
    host: String,
    log: Arc<tokio::sync::Mutex<RotatingLog>>,
    stop: CancellationToken,
    /// The collector, asked for fresh probes each time the child starts answering.
    live: Nudger,
}

/// Waits after a SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(10);
/// A child that ran this long resets the restart backoff.
const STABLE: Duration = Duration::from_secs(60);

impl Supervisor {
    fn set(&self, state: ServiceState, message: impl Into<String>, pid: Option<Option<u32>>) {
        let snapshot = {
            let mut s = self.status.lock().unwrap_or_else(|e| e.into_inner());
            let message = message.into();
            if s.state == state && s.message == message && pid.is_none() {
                return;
            }
            s.state = state;
            s.message = message;
            if let Some(pid) = pid {
                s.pid = pid;
                s.started_at = pid.map(|_| now_ms());
            }
            s.clone()
        };
        tracing::info!(state = ?snapshot.state, message = %snapshot.message, pid = ?snapshot.pid, "managed Ollama");
        let _ = self.events.send(Event::Service(snapshot));
    }

    fn update(&self, f: impl FnOnce(&mut ServiceStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Answers commands while nothing can run (no binary).
    async fn idle(&self, mut rx: mpsc::Receiver<(Action, tokio::sync::oneshot::Sender<()>)>) {
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return,
                cmd = rx.recv() => match cmd {
                    Some((_, reply)) => { let _ = reply.send(()); }
                    None => return,
                },
            }
        }
    }

    fn spawn(&self, binary: &Path) -> std::io::Result<Child> {
        // `setpriv --pdeathsig TERM` (util-linux) asks the kernel to send the child SIGTERM
        // when we die, even by SIGKILL, then execs Ollama (same pid). Setting it ourselves
        // would need `pre_exec`, which is `unsafe`.
        let mut command = match find_on_path("setpriv") {
            Some(setpriv) => {
                let mut command = Command::new(setpriv);
                command.args(["--pdeathsig", "TERM", "--"]).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        let mut child = command
            .arg("serve")
            .env("OLLAMA_HOST", &self.host)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0)
            .spawn()?;
        for pipe in [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|e| Box::new(e) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let log = Arc::clone(&self.log);
            tokio::spawn(async move {
                let mut lines = BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = log.lock().await.line(&line).await;
                }
            });
        }
        Ok(child)
    }

    /// Asks the child to stop (SIGTERM to its pid), then kills it after a grace period.
    async fn terminate(&self, child: &mut Child) -> String {
        if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        match tokio::time::timeout(TERM_GRACE, child.wait()).await {
            Ok(Ok(status)) => status.to_string(),
            _ => {
                let _ = child.kill().await;
                "killed after not stopping on SIGTERM".to_owned()
            }
        }
    }

    async fn healthy(&self) -> bool {
        self.ollama.heartbeat().await.is_ok() && self.ollama.version().await.is_ok()
    }

    async fn run(
        &self,
        binary: PathBuf,
        mut rx: mpsc::Receiver<(Action, tokio::sync::oneshot::Sender<()>)>,
    ) {
        let mut wanted = true;
        let mut failures: u32 = 0;
        let mut child: Option<Child> = None;
        let mut started = Instant::now();
        let mut next_start = Instant::now();
        let mut next_check = Instant::now();
        let mut pending: Vec<tokio::sync::oneshot::Sender<()>> = Vec::new();
        loop {
            if wanted && child.is_none() && Instant::now() >= next_start {
                match self.spawn(&binary) {
                    Ok(c) => {
                        started = Instant::now();
                        next_check = started;
                        self.set(
                            ServiceState::Starting,
                            format!("started {} serve", binary.display()),
                            Some(c.id()),
                        );
                        child = Some(c);
                    }
                    Err(e) => {
                        failures += 1;
                        next_start = Instant::now() + backoff(failures);
                        self.set(
                            ServiceState::Restarting,
                            format!("could not start {}: {e}", binary.display()),
                            Some(None),
                        );
                    }
                }
            }
            if child.is_none()
                || !matches!(
                    self.status.lock().unwrap_or_else(|e| e.into_inner()).state,
                    ServiceState::Starting
                )
            {
                for reply in pending.drain(..) {
                    let _ = reply.send(());
                }
            }
            let wake = if child.is_some() {
                next_check
            } else if wanted {
                next_start
            } else {
                Instant::now() + Duration::from_secs(3600)
            };
            tokio::select! {
                () = self.stop.cancelled() => {
                    if let Some(mut c) = child.take() {
                        let how = self.terminate(&mut c).await;
                        self.update(|s| s.last_exit = Some(how));
                    }
                    self.set(ServiceState::Stopped, "stopped with ollama-dash", Some(None));
                    for reply in pending.drain(..) { let _ = reply.send(()); }
                    return;
                }
                how = async {
                    match child.as_mut() {
                        Some(c) => c.wait().await.map_or_else(|e| e.to_string(), |s| s.to_string()),
                        None => std::future::pending().await,
                    }
                } => {
                    child = None;
                    let ran = Instant::now().saturating_duration_since(started);
                    failures = if ran >= STABLE { 1 } else { failures + 1 };
                    next_start = Instant::now() + backoff(failures);
                    self.update(|s| { s.last_exit = Some(how.clone()); s.restarts += 1; });
                    self.set(ServiceState::Restarting, format!("exited ({how}); restarting in {} s", backoff(failures).as_secs()), Some(None));
                }
                cmd = rx.recv() => {
                    let Some((cmd, reply)) = cmd else { return };
                    match cmd {
                        Action::Stop => {
                            wanted = false;
                            if let Some(mut c) = child.take() {
                                let how = self.terminate(&mut c).await;
                                self.update(|s| s.last_exit = Some(how));
                            }
                            self.set(ServiceState::Stopped, "stopped on request", Some(None));
                            let _ = reply.send(());
                        }
                        Action::Start | Action::Restart => {
                            if cmd == Action::Restart && let Some(mut c) = child.take() {
                                let how = self.terminate(&mut c).await;
                                self.update(|s| s.last_exit = Some(how));
                            }
                            wanted = true;
                            failures = 0;
                            next_start = Instant::now();
                            pending.push(reply);
                        }
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    if child.is_some() {
                        let ok = self.healthy().await;
                        let since = Instant::now().saturating_duration_since(started);
                        match (ok, self.status().state) {
                            (true, ServiceState::Running) => {}
                            (true, _) => {
                                self.set(ServiceState::Running, "answering", None);
                                self.refresh_probes();
                            }
                            (false, ServiceState::Starting) if since < Duration::from_secs(60) => {}
                            (false, _) => self.set(ServiceState::Unhealthy, "running but not answering HEAD / or /api/version", None),
                        }
                        let starting = self.status().state == ServiceState::Starting;
                        next_check = Instant::now() + if starting { Duration::from_millis(200) } else { Duration::from_secs(5) };
                    }
                }
            }
        }
    }
}

impl Supervisor {
    /// Ollama answers again: the collector runs its Ollama probes now, one after the other.
    fn refresh_probes(&self) {
        let live = self.live.clone();
        tokio::spawn(async move {
            for probe in [Probe::Version, Probe::Running, Probe::Installed] {
                live.refresh(&[probe]).await;
            }
        });
    }

    fn status(&self) -> ServiceStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_address_drops_scheme_and_path() {
        assert_eq!(bind_address("http://127.0.0.1:11434"), "127.0.0.1:11434");
        assert_eq!(bind_address("http://[::1]:8080/proxy"), "[::1]:8080");
        assert!(find_on_path("sh").is_some());
        assert!(find_on_path("no-such-binary-ollama-dash").is_none());
    }
}
