//! Jobs: pull, start and delete run in the background. Starting one returns its id at once;
//! progress (bytes, percent, speed, ETA) goes out as [`Event::Job`] and is readable by id; a
//! job can be cancelled; every job is kept in SQLite (`jobs`), so after a restart a pull that
//! was running shows as `interrupted` and can be resumed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::dashboard::now_ms;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::fleet::{Fleet, Node, Targets};
use crate::lifecycle::{Lifecycle, StopOutcome, check_name, classify, same_model};
use crate::live::{Nudger, Probe};
use crate::ollama::types::{DeleteRequest, KeepAlive, ProgressResponse, PullRequest};
use crate::store::Store;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Download a model.
    Pull,
    /// Load (warm) a model, pulling it first if needed.
    Start,
    /// Unload then delete a model.
    Delete,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Working.
    Running,
    /// Finished well.
    Done,
    /// Finished with an error.
    Failed,
    /// Cancelled by a user.
    Cancelled,
    /// ollama-dash stopped while it ran.
    Interrupted,
}

impl JobState {
    fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Interrupted => "interrupted",
        }
    }
}

/// Progress of a job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Ollama's last status line, e.g. `pulling 6a0746a1ec1a`, or ours (`loading`).
    pub status: String,
    /// Bytes done over all layers.
    pub completed: u64,
    /// Bytes in all layers known so far.
    pub total: u64,
    /// `completed / total`, percent.
    pub percent: Option<f64>,
    /// Bytes per second over the last few seconds.
    pub bytes_per_sec: Option<f64>,
    /// Seconds left at that speed.
    pub eta_secs: Option<f64>,
}

/// Why a job failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobError {
    /// `not_found`, `does_not_fit`, `runner_crashed`, `unreachable`, `still_loaded` or `other`.
    pub kind: String,
    /// The error's kind, which the host answers with a status.
    #[serde(default)]
    pub error_kind: crate::ErrorKind,
    /// What happened.
    pub message: String,
}

/// A job as shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Its id (UUIDv7).
    pub id: String,
    /// What it does.
    pub kind: JobKind,
    /// On which model.
    pub model: String,
    /// The node it runs on (`None`: a job stored before jobs named their node).
    pub node: Option<String>,
    /// Where it is.
    pub state: JobState,
    /// How far.
    pub progress: Progress,
    /// Why it failed.
    pub error: Option<JobError>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

impl Job {
    /// A pull or start that did not finish can be started again; Ollama keeps the layers it
    /// already has.
    pub fn resumable(&self) -> bool {
        matches!(self.kind, JobKind::Pull | JobKind::Start)
            && matches!(
                self.state,
                JobState::Interrupted | JobState::Cancelled | JobState::Failed
            )
    }
}

#[derive(Debug)]
struct Entry {
    job: Job,
    cancel: CancellationToken,
}

/// The jobs service: this run's jobs in memory (finished ones stay for reads until restart),
/// every one also kept in the store. Cheap to clone; built from explicit handles, it never sees
/// the facade. Its tasks hold the service, not the dashboard.
#[derive(Debug, Clone)]
pub(crate) struct Jobs(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    entries: Mutex<HashMap<String, Entry>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    store: Store,
    events: broadcast::Sender<Event>,
    /// The nodes jobs run on.
    fleet: Fleet,
    /// The node the live collector watches: a change there refreshes its probes; a change
    /// elsewhere refreshes that node's own lists.
    primary: String,
    /// Loads and unloads models for start and delete.
    lifecycle: Lifecycle,
    /// The collector, refreshed after each change and told of deleted digests.
    live: Nudger,
    /// Cancelled when shutdown begins: a job stopped then ends `interrupted`, not `cancelled`.
    stopping: CancellationToken,
}

impl Jobs {
    /// The service over the nodes of `fleet` (`primary` is the one the collector watches),
    /// keeping its jobs in `store`, announcing them on `events`.
    pub(crate) fn new(
        store: Store,
        events: broadcast::Sender<Event>,
        fleet: Fleet,
        primary: String,
        lifecycle: Lifecycle,
        live: Nudger,
    ) -> Self {
        Self(Arc::new(Inner {
            entries: Mutex::default(),
            tasks: Mutex::default(),
            store,
            events,
            fleet,
            primary,
            lifecycle,
            live,
            stopping: CancellationToken::new(),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.0.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, event: Event) {
        let _ = self.0.events.send(event);
    }

    /// Cancels every running job and waits (up to `limit`) until each has recorded its end,
    /// as `interrupted`.
    pub(crate) async fn cancel_all(&self, limit: Duration) {
        self.0.stopping.cancel();
        for entry in self.lock().values() {
            entry.cancel.cancel();
        }
        let tasks = std::mem::take(&mut *self.0.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        let _ = tokio::time::timeout(limit, futures_util::future::join_all(tasks)).await;
    }
}

/// Overall progress of a pull: Σcompleted / Σtotal over distinct layers, speed over a window.
#[derive(Debug, Default)]
pub(crate) struct PullTracker {
    layers: BTreeMap<String, (u64, u64)>,
    window: VecDeque<(Instant, u64)>,
}

/// Speed is measured over this much recent time.
const SPEED_WINDOW: Duration = Duration::from_secs(5);

impl PullTracker {
    pub(crate) fn update(&mut self, line: &ProgressResponse, now: Instant) -> Progress {
        if let (Some(digest), Some(total)) = (&line.digest, line.total) {
            let completed = line.completed.unwrap_or(0).min(total);
            self.layers.insert(digest.clone(), (completed, total));
        }
        let completed: u64 = self.layers.values().map(|l| l.0).sum();
        let total: u64 = self.layers.values().map(|l| l.1).sum();
        self.window.push_back((now, completed));
        while self
            .window
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > SPEED_WINDOW)
        {
            self.window.pop_front();
        }
        let speed = self.window.front().and_then(|(t, bytes)| {
            let secs = now.saturating_duration_since(*t).as_secs_f64();
            (secs >= 0.2).then(|| completed.saturating_sub(*bytes) as f64 / secs)
        });
        let left = total.saturating_sub(completed) as f64;
        Progress {
            status: line.status.clone(),
            completed,
            total,
            percent: (total > 0).then(|| completed as f64 * 100.0 / total as f64),
            bytes_per_sec: speed,
            eta_secs: speed.filter(|s| *s > 0.0).map(|s| left / s),
        }
    }
}

/// A running job's handle on itself.
struct Ctx {
    jobs: Jobs,
    id: String,
    last_event: Option<Instant>,
    last_store: Option<Instant>,
}

impl Ctx {
    fn new(jobs: &Jobs, id: &str) -> Self {
        Self {
            jobs: jobs.clone(),
            id: id.to_owned(),
            last_event: None,
            last_store: None,
        }
    }

    /// A new status line, keeping the byte counts so far.
    fn status(&mut self, status: &str) {
        let current = self
            .jobs
            .lock()
            .get(&self.id)
            .map(|e| e.job.progress.clone())
            .unwrap_or_default();
        self.progress(Progress {
            status: status.to_owned(),
            bytes_per_sec: None,
            eta_secs: None,
            ..current
        });
    }

    /// Records progress; emits at most every 200 ms (and on status changes), stores every 2 s.
    fn progress(&mut self, progress: Progress) {
        let now = Instant::now();
        let Some(job) = self.jobs.update(&self.id, |job| {
            let status_changed = job.progress.status != progress.status;
            job.progress = progress;
            status_changed
        }) else {
            return;
        };
        let (job, status_changed) = job;
        let due = |last: Option<Instant>, every: Duration| {
            last.is_none_or(|t| now.saturating_duration_since(t) >= every)
        };
        if status_changed || due(self.last_event, Duration::from_millis(200)) {
            self.last_event = Some(now);
            self.jobs.emit(Event::Job(job.clone()));
        }
        if due(self.last_store, Duration::from_secs(2)) {
            self.last_store = Some(now);
            self.jobs.store_job(&job);
        }
    }
}

fn row_to_job(r: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    let kind: String = r.get("kind")?;
    let state: String = r.get("state")?;
    let progress: Option<String> = r.get("progress")?;
    let error: Option<String> = r.get("error")?;
    let text = |s: String| serde_json::Value::String(s);
    Ok(Job {
        id: r.get("id")?,
        kind: serde_json::from_value(text(kind)).unwrap_or(JobKind::Pull),
        model: r.get("model")?,
        node: r.get("node")?,
        state: serde_json::from_value(text(state)).unwrap_or(JobState::Failed),
        progress: progress
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or_default(),
        error: error.and_then(|e| serde_json::from_str(&e).ok()),
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

impl Jobs {
    /// Marks jobs left `running` by an earlier process as `interrupted` (at start).
    pub(crate) async fn mark_interrupted(&self) -> Result<()> {
        let now = now_ms();
        let n = self
            .0
            .store
            .call(move |conn| {
                conn.execute(
                    "UPDATE jobs SET state = 'interrupted', updated_at = ?1 WHERE state = 'running'",
                    params![now],
                )
            })
            .await?;
        if n > 0 {
            tracing::info!(
                jobs = n,
                "jobs interrupted by the last shutdown; they can be resumed"
            );
        }
        Ok(())
    }

    fn store_job(&self, job: &Job) {
        let jobs = self.clone();
        let job = job.clone();
        tokio::spawn(async move { jobs.write_job(job).await });
    }

    async fn write_job(&self, job: Job) {
        let progress = serde_json::to_string(&job.progress).unwrap_or_default();
        let error = job
            .error
            .as_ref()
            .and_then(|e| serde_json::to_string(e).ok());
        let kind = serde_json::to_value(job.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = self
            .0
            .store
            .write(move |conn| {
                conn.execute(
                    "INSERT INTO jobs (id, kind, model, state, progress, error, created_at, updated_at, node) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO UPDATE SET \
                     state = ?4, progress = ?5, error = ?6, updated_at = ?8 WHERE jobs.state = 'running'",
                    params![job.id, kind, job.model, job.state.as_str(), progress, error, job.created_at, job.updated_at, job.node],
                )?;
                Ok(())
            })
            .await;
    }

    /// Applies `f` to a job in memory; returns the job after and what `f` said.
    fn update<T>(&self, id: &str, f: impl FnOnce(&mut Job) -> T) -> Option<(Job, T)> {
        let mut entries = self.lock();
        let entry = entries.get_mut(id)?;
        let out = f(&mut entry.job);
        entry.job.updated_at = now_ms();
        Some((entry.job.clone(), out))
    }

    /// Starts a job on `node` unless one of the same kind is already running on the same model
    /// there (then that one is returned).
    fn spawn<F, Fut>(&self, kind: JobKind, model: &str, node: Arc<Node>, work: F) -> Result<Job>
    where
        F: FnOnce(Jobs, String, Arc<Node>, Ctx) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<()>> + Send + 'static,
    {
        check_name(model)?;
        let now = now_ms();
        let job = Job {
            id: uuid::Uuid::now_v7().to_string(),
            kind,
            model: model.to_owned(),
            node: Some(node.name().to_owned()),
            state: JobState::Running,
            progress: Progress {
                status: "queued".to_owned(),
                ..Progress::default()
            },
            error: None,
            created_at: now,
            updated_at: now,
        };
        let cancel = CancellationToken::new();
        {
            let mut entries = self.lock();
            if let Some(existing) = entries.values().find(|e| {
                e.job.kind == kind
                    && e.job.state == JobState::Running
                    && e.job.node == job.node
                    && same_model(&e.job.model, model)
            }) {
                return Ok(existing.job.clone());
            }
            entries.insert(
                job.id.clone(),
                Entry {
                    job: job.clone(),
                    cancel: cancel.clone(),
                },
            );
        }
        self.store_job(&job);
        self.emit(Event::Job(job.clone()));
        let jobs = self.clone();
        let id = job.id.clone();
        let task = tokio::spawn(async move {
            let ctx = Ctx::new(&jobs, &id);
            let run = work(jobs.clone(), jobs.model_of(&id), node, ctx);
            let result = tokio::select! {
                () = cancel.cancelled() => None,
                r = run => Some(r),
            };
            jobs.finish(&id, result).await;
        });
        let mut tasks = self.0.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
        Ok(job)
    }

    /// One job per node of `targets` (see [`Fleet::targets`]), started by `start`.
    fn each(
        &self,
        model: &str,
        targets: &Targets,
        start: impl Fn(Arc<Node>) -> Result<Job>,
    ) -> Result<Vec<Job>> {
        check_name(model)?;
        self.0
            .fleet
            .targets(targets, false)?
            .into_iter()
            .map(start)
            .collect()
    }

    async fn finish(&self, id: &str, result: Option<Result<()>>) {
        let shutting_down = self.0.stopping.is_cancelled();
        let Some((job, ())) = self.update(id, |job| match result {
            Some(Ok(())) => {
                job.state = JobState::Done;
                job.progress.status = "done".to_owned();
                if job.progress.total > 0 {
                    job.progress.completed = job.progress.total;
                    job.progress.percent = Some(100.0);
                }
                job.progress.eta_secs = None;
            }
            Some(Err(e)) => {
                job.state = JobState::Failed;
                job.error = Some(JobError {
                    kind: e
                        .lifecycle_failure()
                        .map_or("other", crate::error::Failure::as_str)
                        .to_owned(),
                    error_kind: e.kind(),
                    message: e.to_string(),
                });
            }
            None if shutting_down => job.state = JobState::Interrupted,
            None => job.state = JobState::Cancelled,
        }) else {
            return;
        };
        tracing::info!(job = %job.id, kind = ?job.kind, model = %job.model, node = ?job.node, state = job.state.as_str(), "job finished");
        self.emit(Event::Job(job.clone()));
        self.write_job(job).await;
    }

    /// What a job on `node` changed shows at once: the collector's `probes` for the primary,
    /// the node's own lists for another.
    async fn refresh(&self, node: &Node, probes: &[Probe]) {
        if node.name() == self.0.primary {
            self.0.live.refresh(probes).await;
        } else if let Err(e) = self.0.fleet.refresh(node).await {
            tracing::debug!(node = node.name(), error = %e, "refreshing a node's lists failed");
        }
    }

    /// Pulls `model` in the background, one job per node of `targets`.
    pub(crate) fn pull(&self, model: &str, targets: &Targets) -> Result<Vec<Job>> {
        self.each(model, targets, |node| {
            self.spawn(
                JobKind::Pull,
                model,
                node,
                |jobs, model, node, mut ctx| async move {
                    jobs.pull_with(&node, &model, &mut ctx).await?;
                    jobs.refresh(&node, &[Probe::Installed]).await;
                    Ok(())
                },
            )
        })
    }

    /// Starts (warms) `model` in the background on each node of `targets`: loads it with an
    /// empty prompt; if that node does not have it, pulls it and loads again.
    pub(crate) fn start(
        &self,
        model: &str,
        keep_alive: Option<KeepAlive>,
        targets: &Targets,
    ) -> Result<Vec<Job>> {
        self.each(model, targets, |node| {
            let keep_alive = keep_alive.clone();
            self.spawn(
                JobKind::Start,
                model,
                node,
                move |jobs, model, node, mut ctx| async move {
                    let lifecycle = jobs.0.lifecycle.on(node.client().clone());
                    ctx.status("loading");
                    match lifecycle.warm(&model, keep_alive.clone()).await {
                        Err(e) if e.is_not_found() => {
                            tracing::info!(model = %model, node = node.name(), "not installed; pulling before loading");
                            jobs.pull_with(&node, &model, &mut ctx).await?;
                            jobs.refresh(&node, &[Probe::Installed]).await;
                            ctx.status("loading");
                            lifecycle.warm(&model, keep_alive).await?;
                        }
                        other => other?,
                    }
                    jobs.refresh(&node, &[Probe::Running]).await;
                    Ok(())
                },
            )
        })
    }

    /// Deletes `model` in the background on each node of `targets`, unloading it first.
    pub(crate) fn delete(&self, model: &str, targets: &Targets) -> Result<Vec<Job>> {
        self.each(model, targets, |node| {
            self.spawn(
                JobKind::Delete,
                model,
                node,
                |jobs, model, node, mut ctx| async move {
                    let live = &jobs.0.live;
                    let primary = node.name() == jobs.0.primary;
                    ctx.status("unloading");
                    jobs.0
                        .lifecycle
                        .on(node.client().clone())
                        .stop(&model)
                        .await?;
                    ctx.status("deleting");
                    let digest = live.installed().filter(|_| primary).and_then(|list| {
                        list.iter()
                            .find(|m| same_model(&m.name, &model))
                            .map(|m| m.digest.clone())
                    });
                    node.client()
                        .delete(&DeleteRequest {
                            model: model.clone(),
                        })
                        .await
                        .map_err(|e| classify(&model, e))?;
                    if let Some(digest) = digest {
                        live.forget_show(&digest);
                    }
                    jobs.refresh(&node, &[Probe::Installed, Probe::Running])
                        .await;
                    Ok(())
                },
            )
        })
    }

    /// Unloads `model` on each node of `targets` (by default every node: an unload is harmless
    /// where it is not loaded) and waits until it has left each one's `/api/ps`. Not a job: it
    /// answers when every node has; the first failure is the answer.
    pub(crate) async fn stop(
        &self,
        model: &str,
        targets: &Targets,
    ) -> Result<Vec<(String, StopOutcome)>> {
        check_name(model)?;
        let nodes = self.0.fleet.targets(targets, true)?;
        let stops = nodes.iter().map(|node| async move {
            let outcome = self
                .0
                .lifecycle
                .on(node.client().clone())
                .stop(model)
                .await?;
            if outcome.was_loaded {
                self.refresh(node, &[Probe::Running]).await;
            }
            Ok::<_, Error>((node.name().to_owned(), outcome))
        });
        futures_util::future::join_all(stops)
            .await
            .into_iter()
            .collect()
    }

    fn model_of(&self, id: &str) -> String {
        self.lock()
            .get(id)
            .map(|e| e.job.model.clone())
            .unwrap_or_default()
    }

    async fn pull_with(&self, node: &Node, model: &str, ctx: &mut Ctx) -> Result<()> {
        let mut stream = node
            .client()
            .pull_stream(&PullRequest {
                model: model.to_owned(),
                ..Default::default()
            })
            .await
            .map_err(|e| classify(model, e))?;
        let mut tracker = PullTracker::default();
        while let Some(line) = stream.next().await {
            let line = line.map_err(|e| classify(model, e))?;
            ctx.progress(tracker.update(&line, Instant::now()));
        }
        Ok(())
    }

    /// A job by id: this run's, else the stored one.
    pub(crate) async fn get(&self, id: &str) -> Result<Job> {
        if let Some(entry) = self.lock().get(id) {
            return Ok(entry.job.clone());
        }
        let key = id.to_owned();
        self.0
            .store
            .call(move |conn| {
                conn.query_row("SELECT * FROM jobs WHERE id = ?1", params![key], row_to_job)
                    .optional()
            })
            .await?
            .ok_or_else(|| Error::NotFound(format!("job {id}")))
    }

    /// The latest jobs, newest first (this run's live state over the stored rows).
    pub(crate) async fn list(&self, limit: usize) -> Result<Vec<Job>> {
        let limit = i64::try_from(limit.clamp(1, 1000)).unwrap_or(100);
        let mut stored = self
            .0
            .store
            .call(move |conn| {
                let mut stmt =
                    conn.prepare("SELECT * FROM jobs ORDER BY created_at DESC, id DESC LIMIT ?1")?;
                let rows = stmt.query_map(params![limit], row_to_job)?;
                rows.collect::<rusqlite::Result<Vec<Job>>>()
            })
            .await?;
        let live = self.lock();
        for job in &mut stored {
            if let Some(entry) = live.get(&job.id) {
                *job = entry.job.clone();
            }
        }
        for entry in live.values() {
            if !stored.iter().any(|j| j.id == entry.job.id) {
                stored.push(entry.job.clone());
            }
        }
        stored.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        stored.truncate(usize::try_from(limit).unwrap_or(100));
        Ok(stored)
    }

    /// Cancels a running job (a pull stops downloading; Ollama keeps what it has).
    pub(crate) async fn cancel(&self, id: &str) -> Result<Job> {
        let token = self.lock().get(id).map(|e| (e.cancel.clone(), e.job.state));
        match token {
            Some((cancel, JobState::Running)) => {
                cancel.cancel();
                Ok(self.get(id).await?)
            }
            Some(_) => Err(Error::Conflict(format!("job {id} is not running"))),
            None => {
                let job = self.get(id).await?;
                Err(Error::Conflict(format!(
                    "job {id} is not running (it is {})",
                    job.state.as_str()
                )))
            }
        }
    }

    /// Starts a job again that did not finish (interrupted, cancelled or failed pull/start).
    pub(crate) async fn resume(&self, id: &str) -> Result<Job> {
        let job = self.get(id).await?;
        if !job.resumable() {
            return Err(Error::Conflict(format!(
                "job {id} ({:?}, {}) cannot be resumed",
                job.kind,
                job.state.as_str()
            )));
        }
        // On the node it ran on; a job from before jobs named their node ran on the primary.
        let targets = Targets::Named(vec![job.node.unwrap_or_else(|| self.0.primary.clone())]);
        let again = match job.kind {
            JobKind::Start => self.start(&job.model, None, &targets)?,
            _ => self.pull(&job.model, &targets)?,
        };
        again
            .into_iter()
            .next()
            .ok_or_else(|| Error::NotFound(format!("the node of job {id}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(digest: &str, total: u64, completed: Option<u64>) -> ProgressResponse {
        ProgressResponse {
            status: format!("pulling {digest}"),
            digest: Some(digest.to_owned()),
            total: Some(total),
            completed,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pull_progress_sums_layers_and_measures_speed_and_eta() {
        let mut t = PullTracker::default();
        let p = t.update(
            &ProgressResponse {
                status: "pulling manifest".into(),
                ..Default::default()
            },
            Instant::now(),
        );
        assert_eq!((p.total, p.percent, p.bytes_per_sec), (0, None, None));
        let p = t.update(&line("a", 1000, None), Instant::now());
        assert_eq!((p.completed, p.total, p.percent), (0, 1000, Some(0.0)));
        t.update(&line("b", 3000, Some(0)), Instant::now());
        tokio::time::advance(Duration::from_secs(1)).await;
        let p = t.update(&line("a", 1000, Some(1000)), Instant::now());
        assert_eq!((p.completed, p.total), (1000, 4000));
        assert_eq!(p.percent, Some(25.0));
        assert_eq!(p.bytes_per_sec, Some(1000.0));
        assert_eq!(p.eta_secs, Some(3.0));
        // A layer reporting more than its total is capped.
        let p = t.update(&line("b", 3000, Some(9000)), Instant::now());
        assert_eq!(p.percent, Some(100.0));
    }
}
