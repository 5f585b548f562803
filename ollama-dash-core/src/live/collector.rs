//! The ONE collector task: every probe on its own schedule, failures backing off
//! (2 s · 2^n, capped at 32 s) and recovering by themselves. Probes run concurrently inside
//! this one task (a `FuturesUnordered`), so a slow Ollama never delays the system stats.

use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;

use super::cache::{Probe, Schedule};
use super::{REFRESH_SOON, Shared};

/// Marks the collector finished however it ends (even by a panic).
struct Finished<'a>(&'a Shared);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.mark_finished();
    }
}

pub(super) async fn run(shared: Arc<Shared>) {
    let _finished = Finished(&shared);
    let now = Instant::now();
    let mut schedules: Vec<Schedule> = Probe::ALL
        .iter()
        .map(|&p| Schedule::new(shared.config.interval(p), now))
        .collect();
    let mut busy = [false; 5];
    // Nudged while running: run again soon after (what it read may predate the change).
    let mut again = [false; 5];
    let mut running = FuturesUnordered::new();
    loop {
        shared.mark_round();
        let now = Instant::now();
        for probe in Probe::ALL {
            let i = probe.index();
            if !busy[i] && schedules[i].due <= now {
                busy[i] = true;
                shared.disarm(probe);
                // In flight from now (not from its first poll): a recovery seen meanwhile does
                // not ask for it again.
                shared.begin(probe, now);
                let shared = Arc::clone(&shared);
                running.push(async move { (probe, shared.probe(probe).await.is_ok()) });
            }
        }
        let next = Probe::ALL
            .iter()
            .filter(|p| !busy[p.index()])
            .map(|p| schedules[p.index()].due)
            .min();
        let wake = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shared.stopping().cancelled() => break,
            Some((probe, ok)) = running.next(), if !running.is_empty() => {
                let i = probe.index();
                busy[i] = false;
                let now = Instant::now();
                if ok {
                    schedules[i].succeeded(now);
                } else {
                    schedules[i].failed(now);
                }
                if std::mem::take(&mut again[i]) {
                    schedules[i].due = schedules[i].due.min(now + REFRESH_SOON);
                }
            }
            probes = shared.nudged() => {
                let soon = Instant::now() + REFRESH_SOON;
                for probe in probes {
                    let i = probe.index();
                    if busy[i] {
                        again[i] = true;
                    } else {
                        schedules[i].due = schedules[i].due.min(soon);
                    }
                }
            }
            () = wake => {}
        }
    }
    tracing::debug!("collector stopped");
}
