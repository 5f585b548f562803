//! `pull MODEL`: starts the server's pull job and follows it on the event stream (polling the
//! job as well, so a dropped stream or a lagging subscriber never hangs the bar). Ctrl-C cancels
//! the job; `--detach` prints its id and leaves it running.

use std::time::Duration;

use crate::api::Job;
use crate::client::Client;
use crate::connect::ConnectArgs;
use crate::error::{Error, Result};
use crate::output;
use crate::progress::{Progress, Step};
use crate::sse::SseStream;
use crate::target::NodeArgs;

/// Arguments of `pull`.
#[derive(Debug, Clone, clap::Args)]
pub struct PullArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The model, e.g. llama3.2:1b or hf.co/org/repo:Q4_K_M.
    model: String,
    #[command(flatten)]
    nodes: NodeArgs,
    /// Print the job id and return at once; the pull goes on in the server.
    #[arg(long)]
    detach: bool,
    /// Print the job as JSON (the finished one, or the started one with --detach; a list when
    /// --node names several).
    #[arg(long)]
    json: bool,
}

/// How often the job is read even while events arrive.
const SAFETY_POLL: Duration = Duration::from_secs(1);

/// `pull`.
pub(crate) async fn pull(args: PullArgs) -> Result<()> {
    let mut interrupt = super::interrupt();
    let client = args.connect.client()?;
    // Subscribe before starting the job, so none of its events can be missed.
    let mut events = if args.detach {
        None
    } else {
        client.events().await.ok()
    };
    let jobs = client.pull(&args.model, args.nodes.field()).await?;
    if args.detach {
        if args.json {
            return print_jobs(&jobs);
        }
        for job in &jobs {
            output::line(&job.id)?;
        }
        return Ok(());
    }
    // One node after another (they all pull at once on the server); Ctrl-C cancels the one
    // shown and every one after it; a failed one is said and the rest still followed.
    let mut done = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let on = super::models::on(job);
        output::note(&format!("pulling {}{on} (job {})", job.model, job.id));
        let followed = match follow(&client, job.clone(), &mut events, &mut interrupt).await {
            Ok(job) => job,
            Err(e) => {
                for rest in &jobs[i + 1..] {
                    client.cancel_job(&rest.id).await?;
                }
                return Err(e);
            }
        };
        match super::job_outcome(followed) {
            Ok(job) => done.push(job),
            Err(e) if jobs.len() == 1 => return Err(e),
            Err(e) => output::note(&format!("{e}")),
        }
    }
    if done.len() < jobs.len() {
        let failed = jobs.len() - done.len();
        return Err(Error::Failed(format!(
            "{failed} of {} pulls failed",
            jobs.len()
        )));
    }
    if args.json {
        print_jobs(&done)
    } else {
        output::line("success")
    }
}

/// One job as JSON, or several as a list.
fn print_jobs(jobs: &[Job]) -> Result<()> {
    match jobs {
        [one] => output::json(one),
        all => output::json(&all),
    }
}

/// Shows the job's progress until it is no longer running; Ctrl-C cancels it.
async fn follow(
    client: &Client,
    job: Job,
    events: &mut Option<SseStream>,
    ctrl_c: &mut super::Interrupt,
) -> Result<Job> {
    let mut job = job;
    let mut progress = Progress::new(false);
    let mut poll = tokio::time::interval(SAFETY_POLL);
    loop {
        progress.update(&step(&job));
        if !job.is_running() {
            progress.finish();
            return Ok(job);
        }
        tokio::select! {
            _ = &mut *ctrl_c => {
                progress.finish();
                let cancelled = client.cancel_job(&job.id).await?;
                return Err(Error::Interrupted(format!(
                    "pull of {} cancelled (job {} is {})",
                    cancelled.model, cancelled.id, cancelled.state
                )));
            }
            update = next_update(events, &job.id) => match update {
                Some(update) => job = update,
                // The stream ended or broke: the poll below carries on alone.
                None => *events = None,
            },
            _ = poll.tick() => job = client.job(&job.id).await?,
        }
    }
}

/// The next `job` event about job `id`; `None` once the stream is gone (never, without one).
async fn next_update(events: &mut Option<SseStream>, id: &str) -> Option<Job> {
    let Some(stream) = events else {
        return std::future::pending().await;
    };
    loop {
        let event = stream.next().await.ok()??;
        if event.event != "job" {
            continue;
        }
        if let Ok(job) = serde_json::from_str::<Job>(&event.data)
            && job.id == id
        {
            return Some(job);
        }
    }
}

/// The job's progress as a [`Step`].
fn step(job: &Job) -> Step {
    let p = &job.progress;
    Step {
        status: if p.status.is_empty() {
            job.state.clone()
        } else {
            p.status.clone()
        },
        done: p.completed,
        total: p.total,
        bytes_per_sec: p.bytes_per_sec,
        eta_secs: p.eta_secs,
    }
}
