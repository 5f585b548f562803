//! One module per command (or family of commands), each with its clap arguments and its run.

pub mod completions;
pub mod models;
pub mod nodes;
pub mod pull;
pub mod run;
pub mod token;
pub mod traces;
pub mod upload;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::api::Job;
use crate::client::Client;
use crate::error::{Error, Result};

/// How often a job or an import is polled while waiting.
pub(crate) const POLL: Duration = Duration::from_millis(250);

/// Waits (polling) until job `id` is no longer running; an error unless it ended `done`.
pub(crate) async fn wait_for_job(client: &Client, job: Job) -> Result<Job> {
    let mut job = job;
    while job.is_running() {
        tokio::time::sleep(POLL).await;
        job = client.job(&job.id).await?;
    }
    job_outcome(job)
}

/// `Ok` for a `done` job; the job's own error otherwise.
pub(crate) fn job_outcome(job: Job) -> Result<Job> {
    match job.state.as_str() {
        "done" => Ok(job),
        "failed" => Err(Error::Failed(job.error.map_or_else(
            || format!("{} of {} failed", job.kind, job.model),
            |e| e.message,
        ))),
        state => Err(Error::Failed(format!(
            "{} of {} {state} (job {})",
            job.kind, job.model, job.id
        ))),
    }
}

/// Ctrl-C, as a future that counts every Ctrl-C from the moment it is made.
pub(crate) type Interrupt = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

/// Starts listening for Ctrl-C now. (Tokio installs its handler on the first poll, so a future
/// first polled later, after a line was printed, would miss a Ctrl-C sent after that line.)
pub(crate) fn interrupt() -> Interrupt {
    let mut ctrl_c: Interrupt = Box::pin(tokio::signal::ctrl_c());
    let waker = std::task::Waker::noop();
    match ctrl_c
        .as_mut()
        .poll(&mut std::task::Context::from_waker(waker))
    {
        std::task::Poll::Ready(done) => Box::pin(std::future::ready(done)),
        std::task::Poll::Pending => ctrl_c,
    }
}
