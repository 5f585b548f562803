//! One module per command (or family of commands), each with its clap arguments and its run.

pub mod completions;
pub mod models;
pub mod pull;
pub mod run;
pub mod token;
pub mod traces;
pub mod upload;

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
