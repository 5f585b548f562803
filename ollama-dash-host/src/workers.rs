//! The threads that serve connections: each runs its own single-threaded tokio runtime, and a
//! connection stays on one thread for its whole life.
//!
//! On tokio's work-stealing runtime a proxied request woke the other worker 6–7 times (the
//! handler, the upstream connection's task, hyper's timers), each wake a futex call and a context
//! switch; one worker instead of two cut 45 µs off the median request (benches/RESULTS.md, issue
//! 14). Here a connection's server task, its handlers and the upstream connections they open run
//! on one thread (each thread has its own pool per node:
//! [`ollama_dash_core::ollama::serve_from_this_thread`]), so a request wakes no other thread but
//! the store's. Accepting, and the dashboard's background tasks, stay on the main runtime. This
//! is actix-web's design: one single-threaded runtime per core, an acceptor handing each
//! connection to the least busy one.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc;

/// How long a stopping thread waits for its blocking tasks (disk writes of uploads) to end.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// A future to run on a worker thread, made there (a socket must be registered with the
/// runtime that polls it).
type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// The connection threads; [`Workers::stop`] ends them.
#[derive(Debug)]
pub struct Workers {
    threads: Vec<Worker>,
}

#[derive(Debug)]
struct Worker {
    queue: mpsc::UnboundedSender<Job>,
    /// Futures handed to this thread and not yet finished: its open connections.
    busy: Arc<AtomicUsize>,
    thread: JoinHandle<()>,
}

/// Threads to start for `configured` (0: one per CPU the process may use).
pub fn thread_count(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

impl Workers {
    /// Starts `count` threads (at least one), each with a single-threaded runtime.
    pub fn start(count: usize) -> std::io::Result<Self> {
        let count = count.max(1);
        let threads = (0..count)
            .map(|i| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let (queue, mut jobs) = mpsc::unbounded_channel::<Job>();
                let thread = std::thread::Builder::new()
                    .name(format!("http-{i}"))
                    .spawn(move || {
                        // Upstream connections opened here stay here.
                        ollama_dash_core::ollama::serve_from_this_thread(count);
                        runtime.block_on(async move {
                            while let Some(job) = jobs.recv().await {
                                tokio::spawn(job());
                            }
                        });
                        runtime.shutdown_timeout(STOP_WAIT);
                    })?;
                Ok(Worker {
                    queue,
                    busy: Arc::new(AtomicUsize::new(0)),
                    thread,
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self { threads })
    }

    /// Runs `make` on the thread with the fewest futures in hand, and the future it returns
    /// there until it ends.
    pub fn spawn<F, Fut>(&self, make: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(worker) = self
            .threads
            .iter()
            .min_by_key(|w| w.busy.load(Ordering::Relaxed))
        else {
            return;
        };
        let busy = Arc::clone(&worker.busy);
        busy.fetch_add(1, Ordering::Relaxed);
        let job: Job = Box::new(move || {
            let future = make();
            Box::pin(async move {
                future.await;
                busy.fetch_sub(1, Ordering::Relaxed);
            })
        });
        if worker.queue.send(job).is_err() {
            tracing::warn!("a connection thread has ended; connection dropped");
        }
    }

    /// Ends the threads: what they still run (kept-alive jobs, connections past the grace
    /// period) is cancelled. Waits for them without blocking the runtime.
    pub async fn stop(self) {
        let threads: Vec<JoinHandle<()>> = self
            .threads
            .into_iter()
            .map(|w| {
                drop(w.queue);
                w.thread
            })
            .collect();
        let joined = tokio::task::spawn_blocking(move || {
            for thread in threads {
                if thread.join().is_err() {
                    tracing::warn!("a connection thread panicked");
                }
            }
        })
        .await;
        if let Err(e) = joined {
            tracing::warn!(error = %e, "waiting for the connection threads failed");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[tokio::test]
    async fn futures_run_on_the_named_threads_spread_by_load_and_stop_ends_them() {
        let workers = Workers::start(2).unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (release, hold) = tokio::sync::watch::channel(false);
        for _ in 0..4 {
            let tx = tx.clone();
            let mut hold = hold.clone();
            workers.spawn(move || async move {
                let name = std::thread::current().name().map(str::to_owned);
                tx.send(name).unwrap();
                let _ = hold.wait_for(|go| *go).await;
            });
        }
        let mut names = Vec::new();
        for _ in 0..4 {
            names.push(rx.recv().await.unwrap().unwrap());
        }
        names.sort();
        assert_eq!(names, ["http-0", "http-0", "http-1", "http-1"]);
        release.send(true).unwrap();
        drop(tx);
        workers.stop().await;
        assert!(rx.recv().await.is_none(), "every future has ended");
    }
}
