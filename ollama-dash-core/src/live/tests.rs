//! The collector's timing with paused tokio time and scripted sources: intervals, backoff,
//! recovery, staleness, independence of probes, events, and the capability cache.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Mutex;

use super::*;
use crate::ollama::types::{ListModel, ProcessModel};

#[derive(Debug, Default)]
struct Script {
    ps_fails: bool,
    /// `/api/tags` and `/api/version` fail too (Ollama down).
    others_fail: bool,
    ps_delay: Duration,
    ps_models: Vec<&'static str>,
    calls: HashMap<&'static str, Vec<Duration>>,
    shows: Vec<String>,
}

#[derive(Debug)]
struct Fake {
    start: Instant,
    script: Mutex<Script>,
}

impl Fake {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            script: Mutex::new(Script {
                ps_models: vec!["llama3.2:1b"],
                ..Script::default()
            }),
        })
    }
    fn record(&self, what: &'static str) {
        let at = Instant::now() - self.start;
        lock(&self.script).calls.entry(what).or_default().push(at);
    }
    fn calls(&self, what: &'static str) -> Vec<u64> {
        lock(&self.script)
            .calls
            .get(what)
            .map(|v| v.iter().map(|d| d.as_secs()).collect())
            .unwrap_or_default()
    }
    fn set(&self, f: impl FnOnce(&mut Script)) {
        f(&mut lock(&self.script));
    }
}

fn down() -> Error {
    Error::Unreachable {
        url: "http://127.0.0.1:1".into(),
        message: "connection refused".into(),
    }
}

#[async_trait::async_trait]
impl Sources for Fake {
    async fn system(&self) -> Result<SystemStats> {
        self.record("system");
        Ok(SystemStats {
            taken_at: Utc::now(),
            hostname: None,
            cpu_percent: Some(12.5),
            per_core_percent: vec![12.5],
            cores: 1,
            load_average: None,
            memory: system::MemoryStats {
                total: 10,
                used: 5,
                available: 5,
            },
            swap: system::MemoryStats {
                total: 0,
                used: 0,
                available: 0,
            },
            disks: Vec::new(),
            network: system::NetworkStats {
                received_total: 0,
                transmitted_total: 0,
                received_per_sec: None,
                transmitted_per_sec: None,
            },
        })
    }
    async fn gpu(&self) -> Result<GpuReport> {
        self.record("gpu");
        Ok(GpuReport::none("no GPU: test".into()))
    }
    async fn ps(&self) -> Result<PsResponse> {
        self.record("ps");
        let (fails, delay, models) = {
            let s = lock(&self.script);
            (s.ps_fails, s.ps_delay, s.ps_models.clone())
        };
        tokio::time::sleep(delay).await;
        if fails {
            return Err(down());
        }
        Ok(PsResponse {
            models: models
                .into_iter()
                .map(|name| ProcessModel {
                    name: name.into(),
                    digest: format!("digest-{name}"),
                    size: 100,
                    size_vram: Some(100),
                    ..Default::default()
                })
                .collect(),
        })
    }
    async fn tags(&self) -> Result<TagsResponse> {
        self.record("tags");
        if lock(&self.script).others_fail {
            return Err(down());
        }
        Ok(TagsResponse {
            models: vec![ListModel {
                name: "llama3.2:1b".into(),
                digest: "digest-llama3.2:1b".into(),
                ..Default::default()
            }],
        })
    }
    async fn version(&self) -> Result<String> {
        self.record("version");
        if lock(&self.script).others_fail {
            return Err(down());
        }
        Ok("0.12.6".into())
    }
    async fn show(&self, model: &str) -> Result<ShowResponse> {
        lock(&self.script).shows.push(model.to_owned());
        Ok(ShowResponse {
            capabilities: Some(vec!["completion".into(), "tools".into()]),
            ..Default::default()
        })
    }
}

fn start(fake: &Arc<Fake>) -> (Live, broadcast::Receiver<Event>) {
    let (events, rx) = broadcast::channel(1024);
    let live = Live::with_sources(
        config::LiveConfig::default(),
        Arc::clone(fake) as Arc<dyn Sources>,
        None,
        events,
    );
    (live, rx)
}

async fn run_for(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

#[tokio::test(start_paused = true)]
async fn each_probe_runs_on_its_own_interval() {
    let fake = Fake::new();
    let (_live, _rx) = start(&fake);
    run_for(31).await;
    assert_eq!(
        fake.calls("system"),
        [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30]
    );
    assert_eq!(fake.calls("ps"), [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30]);
    assert_eq!(fake.calls("tags"), [0, 30]);
    assert_eq!(fake.calls("version"), [0, 30]);
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_from_2_s_doubling_to_32_s_then_recover_by_themselves() {
    let fake = Fake::new();
    fake.set(|s| s.ps_fails = true);
    let (live, _rx) = start(&fake);
    run_for(101).await;
    // 0, +2, +4, +8, +16, +32, +32
    assert_eq!(fake.calls("ps"), [0, 2, 6, 14, 30, 62, 94]);
    let status = live.shared.status(Probe::Running);
    assert_eq!(status.failures, 7);
    assert_eq!(status.last_error.as_ref().unwrap().kind, "unreachable");
    // Other probes were never slowed down by the failing one.
    assert_eq!(fake.calls("system").len(), 51);
    fake.set(|s| s.ps_fails = false);
    run_for(30).await; // t = 131: the attempt at 126 succeeds; then every 3 s
    let calls = fake.calls("ps");
    assert_eq!(&calls[7..], [126, 129]);
    let status = live.shared.status(Probe::Running);
    assert_eq!((status.failures, status.last_error.is_none()), (0, true));
}

#[tokio::test(start_paused = true)]
async fn values_age_turn_stale_after_twice_the_interval_and_keep_the_last_good_data() {
    let fake = Fake::new();
    let (live, _rx) = start(&fake);
    run_for(1).await;
    let fresh = live.shared.running.read();
    assert!(!fresh.stale && fresh.error.is_none());
    assert_eq!(fresh.value.as_ref().unwrap()[0].name, "llama3.2:1b");
    assert_eq!(fresh.age, Some(Duration::from_secs(1)));
    fake.set(|s| s.ps_fails = true);
    run_for(4).await; // the probe at 3 fails; the value is from 0
    let failing = live.shared.running.read();
    assert!(failing.error.is_some());
    assert!(!failing.stale, "5 s old, interval 3 s: not stale yet");
    assert_eq!(
        failing.value.as_ref().unwrap().len(),
        1,
        "last good value kept"
    );
    run_for(2).await;
    let stale = live.shared.running.read();
    assert!(stale.stale && stale.age.unwrap() > Duration::from_secs(6));
    assert!(stale.into_result("u").is_ok(), "stale data is still data");
}

#[tokio::test(start_paused = true)]
async fn a_slow_ollama_never_holds_up_readers_or_other_probes() {
    let fake = Fake::new();
    fake.set(|s| s.ps_delay = Duration::from_secs(20));
    let (live, _rx) = start(&fake);
    run_for(11).await;
    // ps is still in flight (it takes 20 s); reads answer at once, with nothing yet.
    let before = Instant::now();
    let running = live.shared.running.read();
    assert_eq!(Instant::now(), before);
    assert!(running.value.is_none() && running.stale);
    assert_eq!(fake.calls("ps"), [0], "no second ps while one is in flight");
    assert_eq!(fake.calls("system"), [0, 2, 4, 6, 8, 10]);
    run_for(10).await;
    assert!(live.shared.running.read().value.is_some());
}

#[tokio::test(start_paused = true)]
async fn events_announce_stats_running_changes_and_probe_failures_once() {
    let fake = Fake::new();
    let (_live, mut rx) = start(&fake);
    run_for(1).await;
    let mut seen = Vec::new();
    while let Ok(e) = rx.try_recv() {
        seen.push(e);
    }
    assert!(seen.iter().any(|e| matches!(e, Event::SystemStats(_))));
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::GpuStats(g) if g.devices.is_empty()))
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::RunningModels { models } if models.len() == 1))
    );
    fake.set(|s| s.ps_models = vec!["llama3.2:1b", "qwen3:0.6b"]);
    fake.set(|s| s.ps_fails = true);
    run_for(10).await;
    fake.set(|s| s.ps_fails = false);
    run_for(20).await;
    let mut probe_events = Vec::new();
    let mut running = Vec::new();
    while let Ok(e) = rx.try_recv() {
        match e {
            Event::ProbeChanged {
                probe: Probe::Running,
                ok,
                ..
            } => probe_events.push(ok),
            Event::RunningModels { models } => running.push(models.len()),
            _ => {}
        }
    }
    assert_eq!(
        probe_events,
        [false, true],
        "one failure event, one recovery event"
    );
    assert_eq!(
        running,
        [2],
        "announced once when it changed, not every probe"
    );
}

#[tokio::test(start_paused = true)]
async fn show_is_asked_once_per_digest_and_capabilities_carry_their_source() {
    let fake = Fake::new();
    let (live, _rx) = start(&fake);
    run_for(61).await;
    let shows = lock(&fake.script).shows.clone();
    assert_eq!(
        shows,
        ["llama3.2:1b"],
        "one show for one digest over 20 ps and 3 tags probes"
    );
    let running = live.shared.running.read().value.unwrap();
    let caps = &running[0].capabilities;
    assert!(caps.has("tools"));
    assert_eq!(caps.0[0].source, crate::capabilities::Source::Ollama);
    let installed = live.shared.installed.read().value.unwrap();
    assert_eq!(installed[0].capabilities, *caps);
}

#[tokio::test(start_paused = true)]
async fn ollama_reachability_follows_every_probe_not_only_the_version_probe() {
    let fake = Fake::new();
    let (live, _rx) = start(&fake);
    assert_eq!(
        live.shared.ollama_reachable(),
        Ok(false),
        "before any probe"
    );
    run_for(1).await;
    assert_eq!(live.shared.ollama_reachable(), Ok(true));
    // ps (every 3 s) fails at 3; version (every 30 s) last answered at 0.
    fake.set(|s| s.ps_fails = true);
    run_for(3).await;
    let (probe, error) = live.shared.ollama_reachable().unwrap_err();
    assert_eq!((probe, error.kind), (Probe::Running, "unreachable"));
    // Its next attempt (backoff: at 5) answers: reachable again at once.
    fake.set(|s| s.ps_fails = false);
    run_for(2).await;
    assert_eq!(live.shared.ollama_reachable(), Ok(true));
}

#[tokio::test(start_paused = true)]
async fn a_stalled_probe_counts_as_failing_once_it_runs_longer_than_its_interval() {
    let fake = Fake::new();
    let (live, _rx) = start(&fake);
    run_for(1).await;
    fake.set(|s| s.ps_delay = Duration::from_secs(20));
    run_for(4).await; // the attempt at 3 has run 2 s: not overdue yet
    assert_eq!(live.shared.ollama_reachable(), Ok(true));
    run_for(2).await; // 4 s now, interval 3 s
    let (probe, error) = live.shared.ollama_reachable().unwrap_err();
    assert_eq!((probe, error.kind), (Probe::Running, "timeout"));
    assert!(
        error.message.contains("has not answered"),
        "{}",
        error.message
    );
    fake.set(|s| s.ps_delay = Duration::ZERO);
    run_for(20).await; // the stalled attempt answers at 23
    assert_eq!(live.shared.ollama_reachable(), Ok(true));
}

#[tokio::test(start_paused = true)]
async fn when_one_ollama_probe_recovers_the_failing_ones_run_again_soon() {
    let fake = Fake::new();
    fake.set(|s| {
        s.ps_fails = true;
        s.others_fail = true;
    });
    let (live, _rx) = start(&fake);
    run_for(7).await; // failed at 0, 2 and 6: next attempts at 14
    assert_eq!(fake.calls("ps"), [0, 2, 6]);
    fake.set(|s| {
        s.ps_fails = false;
        s.others_fail = false;
    });
    live.shared.probe(Probe::Version).await.unwrap();
    run_for(1).await;
    assert_eq!(fake.calls("ps"), [0, 2, 6, 7], "ps ran again at once");
    assert_eq!(fake.calls("tags"), [0, 2, 6, 7], "tags too");
    assert!(live.shared.running.read().value.is_some());
    assert_eq!(live.shared.ollama_reachable(), Ok(true));
    // An error that comes back from the cache says "unreachable at" once.
    let error = ProbeError::from_error(&down()).to_error("http://127.0.0.1:1");
    assert_eq!(
        error.to_string().matches("unreachable at").count(),
        1,
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_the_live_state_stops_the_collector() {
    let fake = Fake::new();
    let (live, _rx) = start(&fake);
    run_for(5).await;
    let shared = Arc::clone(&live.shared);
    assert!(shared.collector_health().alive);
    drop(live);
    run_for(10).await;
    assert!(!shared.collector_health().alive);
    assert_eq!(fake.calls("system").len(), 3, "nothing after the drop");
}
