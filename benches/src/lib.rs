//! Benchmarks live in the `[[bench]]` targets; `upload.sh` measures uploads against `dd`.
//! `collector` measures the live collector's CPU time per tick with the helpers below;
//! `loadtest-host` is the target of the wrk runs (see RESULTS.md).
use std::time::Duration;

use nix::sys::resource::{UsageWho, getrusage};

fn cpu(who: UsageWho) -> Duration {
    getrusage(who).map_or(Duration::ZERO, |u| {
        let t = |tv: nix::sys::time::TimeVal| {
            Duration::from_secs(u64::try_from(tv.tv_sec()).unwrap_or(0))
                + Duration::from_micros(u64::try_from(tv.tv_usec()).unwrap_or(0))
        };
        t(u.user_time()) + t(u.system_time())
    })
}

/// User + system CPU time of the calling thread so far.
pub fn thread_cpu() -> Duration {
    cpu(UsageWho::RUSAGE_THREAD)
}

/// User + system CPU time of the whole process so far.
pub fn process_cpu() -> Duration {
    cpu(UsageWho::RUSAGE_SELF)
}
