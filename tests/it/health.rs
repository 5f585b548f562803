//! Health against a failing simulator: it follows every Ollama probe (not only the version
//! probe), turns degraded within about one `/api/ps` interval when Ollama dies or stalls, and
//! recovers as soon as a probe answers again; the cached lists recover together.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use http::StatusCode;
use http_body_util::BodyExt;
use ollama_dash_core::live::config::LiveConfig;
use ollama_dash_core::{Dashboard, DashboardConfig, Health, Probe};
use ollama_dash_host::auth::Authenticator;
use ollama_dash_host::http::{AppState, app};
use ollama_dash_host::plugins::{PluginHost, PluginsConfig};
use serde_json::Value;
use std::net::SocketAddr;
use tower::ServiceExt;

use crate::support::{TOKEN, authed, sim};

/// The `/api/ps` interval of these tests: every other Ollama probe waits an hour.
const PS_INTERVAL: f64 = 0.2;

async fn dashboard(url: &str, dir: &std::path::Path) -> Dashboard {
    let mut config = DashboardConfig::with_data_path(dir);
    config.ollama_host = url.to_owned();
    config.request_timeout_secs = 30;
    config.live = LiveConfig {
        system_interval_secs: 3600.0,
        gpu_interval_secs: 3600.0,
        ps_interval_secs: PS_INTERVAL,
        tags_interval_secs: 3600.0,
        version_interval_secs: 3600.0,
        ..LiveConfig::default()
    };
    Dashboard::new(config).await.expect("dashboard")
}

/// The host's router over `dashboard`, as `TestHost` builds it.
struct Host(axum::Router);

impl Host {
    fn new(dashboard: &Dashboard, dir: &std::path::Path) -> Self {
        let plugins = PluginHost::new(PluginsConfig::under(dir, None)).expect("plugin host");
        Self(app(
            AppState {
                dashboard: dashboard.clone(),
                auth: Arc::new(Authenticator::new(TOKEN.to_owned(), 1000)),
                plugins,
            },
            &[],
        ))
    }

    /// `GET path` with the test token: status and JSON body.
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let mut request = authed("GET", path, None, Some(TOKEN));
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4242))));
        let response = self.0.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, serde_json::from_slice(&bytes).expect("JSON body"))
    }
}

/// Polls health until `want` holds; how long that took. The deadline is many intervals: the
/// assertion is that it happens, not how fast to the millisecond.
async fn until(
    d: &Dashboard,
    what: &str,
    deadline: Duration,
    want: impl Fn(&Health) -> bool,
) -> Duration {
    let began = Instant::now();
    loop {
        let health = d.health().await;
        if want(&health) {
            return began.elapsed();
        }
        assert!(
            began.elapsed() < deadline,
            "{what}: not within {deadline:?}; health: {:?}",
            health.ollama
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn health_turns_degraded_within_a_ps_interval_when_ollama_dies_or_stalls_and_recovers() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dashboard(&sim.url(), dir.path()).await;
    let interval = Duration::from_secs_f64(PS_INTERVAL);
    until(&d, "first probes", Duration::from_secs(10), |h| h.ok).await;

    // Dead: connections refused. Only the ps probe runs in this window (the others wait an
    // hour), so health must follow it.
    sim.control().set_refuse_connections(true);
    let took = until(&d, "degraded when dead", interval * 25, |h| !h.ok).await;
    let health = d.health().await;
    assert!(!health.ollama.reachable);
    let error = health.ollama.error.unwrap_or_default();
    assert!(
        error.contains("running") && error.contains("unreachable"),
        "{error}"
    );
    eprintln!("dead: degraded after {took:?} (ps interval {interval:?})");

    // Back: the next ps attempt (after its backoff) answers and health is ok again.
    sim.control().set_refuse_connections(false);
    let took = until(&d, "recovered", Duration::from_secs(15), |h| h.ok).await;
    eprintln!("back: ok after {took:?}");
    assert!(d.health().await.ollama.error.is_none());

    // Stalled: every request waits 6 s (the request timeout is 30 s). A ps attempt running
    // longer than its interval (at least 1 s) counts as a failure.
    sim.control().set_response_delay(Duration::from_secs(6));
    let took = until(&d, "degraded when stalled", Duration::from_secs(5), |h| {
        !h.ok
    })
    .await;
    let error = d.health().await.ollama.error.unwrap_or_default();
    assert!(error.contains("has not answered"), "{error}");
    eprintln!("stalled: degraded after {took:?}");
    sim.control().set_response_delay(Duration::ZERO);
    let took = until(
        &d,
        "recovered from the stall",
        Duration::from_secs(15),
        |h| h.ok,
    )
    .await;
    eprintln!("unstalled: ok after {took:?}");
    d.shutdown().await.unwrap();
}

#[tokio::test]
async fn when_ollama_comes_back_every_list_recovers_at_once_and_errors_say_it_once() {
    let sim = sim().await;
    sim.control().set_refuse_connections(true);
    let dir = tempfile::tempdir().unwrap();
    let d = dashboard(&sim.url(), dir.path()).await;
    let host = Host::new(&d, dir.path());
    let failures = || {
        d.collector_health()
            .probes
            .iter()
            .find(|p| p.probe == Probe::Running)
            .map_or(0, |p| p.failures)
    };
    let wait_for_failures = |n: u32| async move {
        let began = Instant::now();
        while failures() < n {
            assert!(
                began.elapsed() < Duration::from_secs(10),
                "ps never failed {n} times"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    // Down from the start: nothing cached, so the list answers 502, saying so once.
    wait_for_failures(1).await;
    let (status, json) = host.get("/api/models/running").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{json}");
    let message = json["error"]["message"].as_str().unwrap_or_default();
    assert_eq!(
        message.matches("unreachable at").count(),
        1,
        "said once: {message}"
    );
    // Let the ps probe fail twice: its next attempt is 4 s away (backoff).
    wait_for_failures(2).await;
    sim.control().set_refuse_connections(false);
    // One probe sees Ollama back: the failing ones run again soon, not after their backoff.
    d.refresh(&[Probe::Version]).await;
    let began = Instant::now();
    loop {
        let (status, json) = host.get("/api/models/running").await;
        if status == StatusCode::OK {
            assert!(json["models"].is_array(), "{json}");
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(2),
            "/api/models/running still {status} {}s after Ollama came back: {json}",
            began.elapsed().as_secs_f64()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "running list back {:?} after the version probe",
        began.elapsed()
    );
    // The installed probe (an hour's interval, failing too) was asked to run again as well.
    until(&d, "health ok", Duration::from_secs(2), |h| h.ok).await;
    let (_, health) = host.get("/api/health").await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["ollama"]["error"], Value::Null);
    let (status, json) = host.get("/api/models/available").await;
    assert_eq!(status, StatusCode::OK, "{json}");
    d.shutdown().await.unwrap();
}
