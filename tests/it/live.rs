//! The live dashboard against the simulator: cached reads, every lifecycle action (and its
//! failures), jobs (progress, cancel, interrupted → resume), names with `/` and `:`, settings,
//! catalogue, stats, history, snapshots, metrics, the event stream, the unmanaged service.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use ollama_dash_core::fleet::Targets;
use ollama_dash_core::jobs::{Job, JobState};
use ollama_dash_core::live::config::LiveConfig;
use ollama_dash_core::{Dashboard, DashboardConfig, ErrorKind, Event};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{TOKEN, TestHost, assert_error_shape, sim, sim_with_preload};

const HF: &str = "hf.co/org/model:Q4_K_M";

/// A dashboard whose collector stays quiet after its first round (intervals of an hour), so
/// the simulator's `fail_next` is consumed by the action under test and nothing else.
async fn quiet_dashboard(url: &str, dir: &std::path::Path) -> Dashboard {
    let mut config = DashboardConfig::with_data_path(dir);
    config.ollama_host = url.to_owned();
    config.request_timeout_secs = 5;
    config.live = LiveConfig {
        system_interval_secs: 3600.0,
        gpu_interval_secs: 3600.0,
        ps_interval_secs: 3600.0,
        tags_interval_secs: 3600.0,
        version_interval_secs: 3600.0,
        ..LiveConfig::default()
    };
    let dashboard = Dashboard::new(config).await.expect("dashboard");
    dashboard.refresh_all().await;
    dashboard
}

/// Waits for the job's final event (subscribe before starting the job); returns it, the job's
/// earlier events, and every other event seen meanwhile.
async fn finished_all(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    id: &str,
) -> (Job, Vec<Job>, Vec<Event>) {
    let mut seen = Vec::new();
    let mut others = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), events.recv()).await {
            Ok(Ok(Event::Job(job))) if job.id == id => {
                if job.state != JobState::Running {
                    return (job, seen, others);
                }
                seen.push(job);
            }
            Ok(Ok(other)) => others.push(other),
            Ok(Err(e)) => panic!("event stream: {e}"),
            Err(_) => panic!("job {id} did not finish; saw {seen:?}"),
        }
    }
}

async fn finished(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    id: &str,
) -> (Job, Vec<Job>) {
    let (job, seen, _) = finished_all(events, id).await;
    (job, seen)
}

fn names(list: &[impl AsRef<str>]) -> Vec<&str> {
    list.iter().map(AsRef::as_ref).collect()
}

fn running_names(d: &Dashboard) -> Vec<String> {
    d.running_models()
        .value
        .expect("running")
        .iter()
        .map(|m| m.name.clone())
        .collect()
}

fn installed_names(d: &Dashboard) -> Vec<String> {
    d.list_models()
        .value
        .expect("installed")
        .iter()
        .map(|m| m.name.clone())
        .collect()
}

#[tokio::test]
async fn start_warms_a_model_and_stop_unloads_it_and_confirms() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let d = quiet_dashboard(&sim.url(), dir.path()).await;
    assert!(running_names(&d).is_empty());
    let mut events = d.subscribe();
    let job = d
        .start_model("llama3.2:1b", None, &Targets::Default)
        .expect("job")
        .remove(0);
    assert_eq!(
        job.state,
        JobState::Running,
        "returned at once, still running"
    );
    let (done, _) = finished(&mut events, &job.id).await;
    assert_eq!(done.state, JobState::Done, "{done:?}");
    assert_eq!(
        running_names(&d),
        ["llama3.2:1b"],
        "the action refreshed the cache"
    );
    assert_eq!(
        sim.control().request_count("/api/generate"),
        1,
        "one empty-prompt load"
    );

    let (_, outcome) = d
        .stop_model("llama3.2:1b", &Targets::Default)
        .await
        .expect("stop")
        .remove(0);
    assert!(outcome.was_loaded);
    assert!(running_names(&d).is_empty());
    let (_, again) = d
        .stop_model("llama3.2", &Targets::Default)
        .await
        .expect("stop again")
        .remove(0);
    assert!(
        !again.was_loaded,
        "stopping what is not loaded is fine and says so"
    );
}

#[tokio::test]
async fn start_of_a_model_not_installed_pulls_it_first_with_progress() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let d = quiet_dashboard(&sim.url(), dir.path()).await;
    assert!(!installed_names(&d).contains(&"smollm2:135m".to_owned()));
    let mut events = d.subscribe();
    let job = d
        .start_model("smollm2:135m", None, &Targets::Default)
        .unwrap()
        .remove(0);
    let (done, progress) = finished(&mut events, &job.id).await;
    assert_eq!(done.state, JobState::Done, "{done:?}");
    assert!(
        progress
            .iter()
            .any(|j| j.progress.total > 0 && j.progress.percent.is_some()),
        "pull progress was announced: {progress:?}"
    );
    assert_eq!(done.progress.percent, Some(100.0), "{done:?}");
    assert!(installed_names(&d).contains(&"smollm2:135m".to_owned()));
    assert_eq!(running_names(&d), ["smollm2:135m"]);
    let stored = d.job(&job.id).await.unwrap();
    assert_eq!(stored.state, JobState::Done);
}

#[tokio::test]
async fn start_failures_are_classified_with_matching_kinds() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let d = quiet_dashboard(&sim.url(), dir.path()).await;
    type Case<'a> = (Option<(u16, &'a str)>, &'a str, &'a str, ErrorKind);
    let cases: [Case<'_>; 4] = [
        (None, "ghost-model:1b", "not_found", ErrorKind::NotFound),
        (
            Some((
                500,
                "model requires more system memory (12.1 GiB) than is available (7.6 GiB)",
            )),
            "llama3.2:1b",
            "does_not_fit",
            ErrorKind::DoesNotFit,
        ),
        (
            Some((500, "llama runner process has terminated: signal: killed")),
            "llama3.2:1b",
            "runner_crashed",
            ErrorKind::UpstreamFailed,
        ),
        (
            Some((
                503,
                "server busy, please try again.  maximum pending requests exceeded",
            )),
            "llama3.2:1b",
            "other",
            ErrorKind::Upstream(503),
        ),
    ];
    for (fail, model, kind, status) in cases {
        if let Some((code, message)) = fail {
            sim.control().fail_next(1, code, message);
        }
        let mut events = d.subscribe();
        let job = d
            .start_model(model, None, &Targets::Default)
            .unwrap()
            .remove(0);
        let (done, _) = finished(&mut events, &job.id).await;
        assert_eq!(done.state, JobState::Failed, "{model}: {done:?}");
        let error = done.error.expect("error");
        assert_eq!(
            (error.kind.as_str(), error.error_kind),
            (kind, status),
            "{error:?}"
        );
    }
    sim.control().set_refuse_connections(true);
    let mut events = d.subscribe();
    let job = d
        .start_model("llama3.2:1b", None, &Targets::Default)
        .unwrap()
        .remove(0);
    let (done, _) = finished(&mut events, &job.id).await;
    let error = done.error.expect("error");
    assert_eq!(
        (error.kind.as_str(), error.error_kind),
        ("unreachable", ErrorKind::Unreachable)
    );
    let err = d
        .stop_model("llama3.2:1b", &Targets::Default)
        .await
        .unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
}

#[tokio::test]
async fn delete_unloads_first_and_the_list_changes() {
    let sim = sim_with_preload(&["qwen3:0.6b"]).await;
    let dir = tempfile::tempdir().unwrap();
    let d = quiet_dashboard(&sim.url(), dir.path()).await;
    assert_eq!(running_names(&d), ["qwen3:0.6b"]);
    let mut events = d.subscribe();
    let job = d
        .delete_model("qwen3:0.6b", &Targets::Default)
        .unwrap()
        .remove(0);
    let (done, steps, others) = finished_all(&mut events, &job.id).await;
    assert_eq!(done.state, JobState::Done, "{done:?}");
    let statuses: Vec<&str> = steps.iter().map(|j| j.progress.status.as_str()).collect();
    assert!(
        statuses.contains(&"unloading") && statuses.contains(&"deleting"),
        "{statuses:?}"
    );
    assert!(running_names(&d).is_empty(), "unloaded");
    assert!(
        !installed_names(&d).contains(&"qwen3:0.6b".to_owned()),
        "deleted"
    );
    assert!(
        others.contains(&Event::ModelsChanged),
        "ModelsChanged announced: {others:?}"
    );
    let mut events = d.subscribe();
    let job = d
        .delete_model("qwen3:0.6b", &Targets::Default)
        .unwrap()
        .remove(0);
    let (done, _) = finished(&mut events, &job.id).await;
    assert_eq!(done.error.map(|e| e.error_kind), Some(ErrorKind::NotFound));
}

#[tokio::test]
async fn a_pull_can_be_cancelled_and_resumed_and_survives_a_restart_as_interrupted() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let d = quiet_dashboard(&sim.url(), dir.path()).await;
    sim.control().set_token_delay(Duration::from_millis(500));
    let mut events = d.subscribe();
    let job = d.pull("smollm2:135m", &Targets::Default).unwrap().remove(0);
    assert_eq!(
        d.pull("smollm2:135m", &Targets::Default)
            .unwrap()
            .remove(0)
            .id,
        job.id,
        "one pull per model at a time"
    );
    // Wait until bytes are moving, then cancel.
    loop {
        match events.recv().await.unwrap() {
            Event::Job(j) if j.id == job.id && j.progress.total > 0 => break,
            _ => {}
        }
    }
    let cancelled = d.cancel_job(&job.id).await.unwrap();
    assert_eq!(cancelled.id, job.id);
    let (done, _) = finished(&mut events, &job.id).await;
    assert_eq!(done.state, JobState::Cancelled);
    let err = d.cancel_job(&job.id).await.unwrap_err();
    assert_eq!(err.kind(), ollama_dash_core::ErrorKind::Conflict);

    // Another pull, interrupted by a shutdown.
    let second = d.pull("gemma3:1b", &Targets::Default).unwrap().remove(0);
    loop {
        match events.recv().await.unwrap() {
            Event::Job(j) if j.id == second.id && j.progress.total > 0 => break,
            _ => {}
        }
    }
    d.shutdown().await.unwrap();
    drop(d);
    sim.control().set_token_delay(Duration::ZERO);
    let d = quiet_dashboard(&sim.url(), dir.path()).await;
    let stored = d.job(&second.id).await.unwrap();
    assert_eq!(stored.state, JobState::Interrupted, "{stored:?}");
    assert!(stored.resumable());
    assert!(stored.progress.total > 0, "progress was kept: {stored:?}");
    let listed = d.jobs(10).await.unwrap();
    assert_eq!(
        names(&listed.iter().map(|j| j.model.clone()).collect::<Vec<_>>()),
        ["gemma3:1b", "smollm2:135m"]
    );
    let mut events = d.subscribe();
    let resumed = d.resume_job(&second.id).await.unwrap();
    assert_ne!(resumed.id, second.id);
    let (done, _) = finished(&mut events, &resumed.id).await;
    assert_eq!(done.state, JobState::Done);
    assert!(installed_names(&d).contains(&"gemma3:1b".to_owned()));
    let err = d.resume_job(&resumed.id).await.unwrap_err();
    assert_eq!(
        err.kind(),
        ollama_dash_core::ErrorKind::Conflict,
        "a finished job is not resumable"
    );
    assert_eq!(
        d.job("nope").await.unwrap_err().kind(),
        ollama_dash_core::ErrorKind::NotFound
    );
}

/// Sends a request to the host's router; returns status, content type and the raw body.
async fn raw(
    host: &TestHost,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, String, String) {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {TOKEN}"));
    let body = match body {
        Some(json) => {
            builder = builder.header("content-type", "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    let mut request = builder.body(body).unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4242))));
    let response = host.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, kind, String::from_utf8_lossy(&bytes).into_owned())
}

async fn host_job(host: &TestHost, path: &str, body: Value) -> Job {
    let mut events = host.dashboard.subscribe();
    let (status, json) = host.call("POST", path, Some(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{path}: {json}");
    let id = json["job"]["id"].as_str().unwrap().to_owned();
    assert_eq!(json["job"]["url"], format!("/api/jobs/{id}"));
    finished(&mut events, &id).await.0
}

#[tokio::test]
async fn every_model_route_takes_names_with_slashes_and_colons() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let encoded = "hf.co%2Forg%2Fmodel%3AQ4_K_M";
    // Not there yet: show says 404 with the name intact.
    let (status, json) = host
        .call("GET", &format!("/api/models/show?name={encoded}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{json}");
    assert!(
        json["error"]["message"].as_str().unwrap().contains(HF),
        "{json}"
    );
    let (status, json) = host
        .call(
            "POST",
            "/api/models/copy",
            Some(json!({"source": "llama3.2:1b", "destination": HF})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let (status, json) = host
        .call("GET", &format!("/api/models/show?name={encoded}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["name"], HF);
    assert!(
        json["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "completion")
    );
    let (status, json) = host
        .call("GET", &format!("/api/models/show/{HF}"), None)
        .await;
    assert_eq!(
        (status, json["name"].as_str()),
        (StatusCode::OK, Some(HF)),
        "catch-all path"
    );
    let (_, json) = host.call("GET", "/api/models/available", None).await;
    assert!(
        json["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == HF),
        "{json}"
    );

    let job = host_job(
        &host,
        "/api/models/start",
        json!({"model": HF, "keep_alive": "10m"}),
    )
    .await;
    assert_eq!(job.state, JobState::Done, "{job:?}");
    let (_, json) = host.call("GET", "/api/models/running", None).await;
    let loaded = &json["models"][0];
    assert_eq!(loaded["name"], HF);
    assert!(
        loaded["expires"]["relative"]
            .as_str()
            .unwrap()
            .starts_with("in "),
        "{loaded}"
    );
    let (status, json) = host
        .call("POST", "/api/models/stop", Some(json!({"model": HF})))
        .await;
    assert_eq!(
        (status, json["was_loaded"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{json}"
    );

    let (status, json) = host
        .call(
            "PUT",
            &format!("/api/settings/model?name={encoded}"),
            Some(json!({"temperature": 0.3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["scope"], HF);

    let (status, json) = host
        .call("DELETE", &format!("/api/models?name={encoded}"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{json}");
    let id = json["job"]["id"].as_str().unwrap().to_owned();
    let mut job = host.dashboard.job(&id).await.unwrap();
    let mut events = host.dashboard.subscribe();
    if job.state == JobState::Running {
        job = finished(&mut events, &id).await.0;
    }
    assert_eq!(job.state, JobState::Done, "{job:?}");
    let (status, json) = host.call("GET", &format!("/api/jobs/{id}"), None).await;
    assert_eq!((status, json["model"].as_str()), (StatusCode::OK, Some(HF)));
    let (_, json) = host.call("GET", "/api/models/available", None).await;
    assert!(
        !json["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == HF)
    );

    for (method, path, body) in [
        ("POST", "/api/models/start", json!({})),
        (
            "POST",
            "/api/models/pull",
            json!({"model": "bad name with spaces"}),
        ),
        ("GET", "/api/models/show", Value::Null),
    ] {
        let body = (!body.is_null()).then_some(body);
        let (status, json) = host.call(method, path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {json}");
        assert_error_shape(&json, "invalid_request_error");
    }
}

#[tokio::test]
async fn settings_are_validated_per_field_stored_and_applied_to_requests_that_leave_them_out() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let (status, json) = host.call("GET", "/api/settings", None).await;
    assert_eq!(status, StatusCode::OK);
    let editable: Vec<&str> = json["editable"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["key"].as_str())
        .collect();
    assert_eq!(
        editable,
        [
            "temperature",
            "top_k",
            "top_p",
            "min_p",
            "num_ctx",
            "num_predict",
            "seed",
            "repeat_penalty",
            "stop",
            "keep_alive"
        ]
    );
    assert!(
        json["deployment"]["values"]["ollama_host"].is_string(),
        "deployment settings shown read-only"
    );

    let (status, json) = host
        .call("PUT", "/api/settings/global", Some(json!({"temperature": 7, "top_k": 1.5, "stop": "x", "ollama_host": "evil", "top_p": 0.9})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    let message = json["error"]["message"].as_str().unwrap();
    for field in ["temperature", "top_k", "stop", "ollama_host"] {
        assert!(message.contains(field), "{field} named in {message}");
    }
    assert!(!message.contains("top_p"), "valid fields are not errors");
    assert_eq!(
        host.dashboard.settings().global.top_p,
        None,
        "nothing stored when any field is bad"
    );

    let (status, _) = host
        .call(
            "PUT",
            "/api/settings/global",
            Some(json!({"temperature": 0.4, "num_ctx": 8192, "keep_alive": "30m"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = host
        .call(
            "PUT",
            "/api/settings/model?name=llama3.2:1b",
            Some(json!({"temperature": 0.9, "stop": ["###"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let d = &host.dashboard;
    let mut options = ollama_dash_core::ollama::types::ModelOptions {
        num_ctx: Some(2048),
        ..Default::default()
    };
    assert!(d.apply_defaults("llama3.2:1b", &mut options));
    assert_eq!(
        options.temperature,
        Some(0.9),
        "the model's default before the global one"
    );
    assert_eq!(options.num_ctx, Some(2048), "the request's own value wins");
    assert_eq!(options.stop.as_deref(), Some(&["###".to_owned()][..]));
    let mut other = ollama_dash_core::ollama::types::ModelOptions::default();
    d.apply_defaults("qwen3:0.6b", &mut other);
    assert_eq!((other.temperature, other.num_ctx), (Some(0.4), Some(8192)));
    assert_eq!(
        d.effective_setting("qwen3:0.6b", "keep_alive").map(|v| v.1),
        Some("global")
    );
    assert!(d.default_keep_alive("qwen3:0.6b").is_some());

    // A field set to null goes back to unset; model scopes can be dropped whole.
    let (_, json) = host
        .call(
            "PUT",
            "/api/settings/global",
            Some(json!({"num_ctx": null})),
        )
        .await;
    assert!(json["settings"].get("num_ctx").is_none(), "{json}");
    let (status, _) = host
        .call("DELETE", "/api/settings/model?name=llama3.2:1b", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(d.settings().models.is_empty());
}

#[tokio::test]
async fn settings_survive_a_restart() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let d = quiet_dashboard(&sim.url(), dir.path()).await;
    let patch = json!({"seed": 42, "stop": ["</s>"]});
    d.update_settings(Some("qwen3:0.6b"), patch.as_object().unwrap().clone())
        .await
        .unwrap();
    d.shutdown().await.unwrap();
    drop(d);
    let d = quiet_dashboard(&sim.url(), dir.path()).await;
    let view = d.settings();
    assert_eq!(view.models["qwen3:0.6b"].seed, Some(42));
}

#[tokio::test]
async fn stats_history_snapshots_catalogue_and_health_read_the_cache() {
    let sim = sim_with_preload(&["llama3.2:1b"]).await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let (status, json) = host.call("GET", "/api/stats", None).await;
    assert_eq!(status, StatusCode::OK);
    let system = &json["system"]["stats"];
    assert!(system["memory"]["total"].as_u64().unwrap() > 0, "{json}");
    assert!(
        !system["disks"].as_array().unwrap().is_empty(),
        "the DATA_PATH disk: {json}"
    );
    let gpu = &json["gpu"]["report"];
    // No GPU on the machines this runs on: said plainly, no made-up device.
    if gpu["source"] == "none" {
        assert!(gpu["devices"].as_array().unwrap().is_empty());
        assert!(gpu["note"].as_str().unwrap().starts_with("no GPU"), "{gpu}");
    }

    let (status, json) = host
        .call("GET", "/api/stats/history?window=10m", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!json["points"].as_array().unwrap().is_empty(), "{json}");
    let (status, _) = host
        .call("GET", "/api/stats/history?window=soon", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, json) = host
        .call("GET", "/api/models/downloadable?category=best", None)
        .await;
    let best = json["models"].as_array().unwrap().clone();
    let (_, json) = host
        .call("GET", "/api/models/downloadable?category=all", None)
        .await;
    let all = json["models"].as_array().unwrap();
    assert!(all.len() > best.len() && !best.is_empty());
    let llama = all.iter().find(|m| m["name"] == "llama3.2:1b").unwrap();
    assert_eq!(llama["installed"], true, "installed ones are marked");
    assert!(all.iter().any(|m| m["installed"] == false));
    let (status, json) = host
        .call("GET", "/api/models/downloadable?category=most", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");

    // The first probes recorded what was loaded and installed.
    host.dashboard.model_snapshots(None, 1).await.unwrap();
    let (_, json) = host
        .call("GET", "/api/models/snapshots?kind=running", None)
        .await;
    let snaps = json["snapshots"].as_array().unwrap();
    assert!(
        snaps
            .iter()
            .any(|s| s["models"][0]["name"] == "llama3.2:1b"),
        "{json}"
    );

    let (_, json) = host.call("GET", "/api/health", None).await;
    let collector = &json["collector"];
    assert_eq!(collector["alive"], true, "{json}");
    for probe in ["system", "gpu", "running", "installed", "version"] {
        let p = &collector["probes"][probe];
        assert!(p["age_ms"].is_u64(), "{probe}: {json}");
        assert_eq!(p["stale"], false, "{probe}");
        assert!(p["last_error"].is_null(), "{probe}");
    }
    assert_eq!(json["service"]["managed"], false);
}

#[tokio::test]
async fn the_service_routes_say_clearly_when_ollama_is_not_managed() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let (status, json) = host.call("GET", "/api/service/status", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (json["managed"].as_bool(), json["state"].as_str()),
        (Some(false), Some("not_managed"))
    );
    for action in ["start", "stop", "restart"] {
        let (status, json) = host
            .call("POST", &format!("/api/service/{action}"), None)
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{json}");
        assert!(
            json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not managed"),
            "{json}"
        );
    }
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_requests_latency_models_and_ollama_up() {
    let sim = sim_with_preload(&["llama3.2:1b"]).await;
    let host = TestHost::new(&sim.url(), &[]).await;
    host.call("GET", "/api/health", None).await;
    host.call("GET", "/api/models/running", None).await;
    let (status, kind, text) = raw(&host, "GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    for expected in [
        "ollama_up 1\n",
        "ollama_models_loaded 1\n",
        "ollama_model_vram_bytes{model=\"llama3.2:1b\"}",
        "ollama_dash_collector_up 1",
        "ollama_dash_http_requests_total{method=\"GET\",route=\"/api/health\",status=\"200\"} 1",
        "ollama_dash_http_request_duration_seconds_bucket{le=\"0.0001\",method=\"GET\",route=\"/api/models/running\"}",
        "ollama_dash_probe_stale{probe=\"running\"} 0",
        "# EOF",
    ] {
        assert!(text.contains(expected), "{expected} missing in\n{text}");
    }
    if host
        .dashboard
        .gpu_stats()
        .value
        .is_some_and(|g| g.devices.is_empty())
    {
        assert!(
            !text.contains("DCGM_FI_DEV"),
            "no GPU, no GPU series (never zeros)"
        );
    }
    sim.control().set_refuse_connections(true);
    host.dashboard.refresh_all().await;
    let (_, _, text) = raw(&host, "GET", "/metrics", None).await;
    assert!(text.contains("ollama_up 0"), "{text}");
    assert!(text.contains("ollama_dash_probe_failures{probe=\"version\"} 1"));
}

#[tokio::test(start_paused = true)]
async fn the_event_stream_starts_with_the_state_and_keeps_alive_with_comments() {
    // Ollama is nowhere and the probes are quiet: the stream still works, starts with the
    // state, and says something every 15 s so proxies keep it open.
    let dir = tempfile::tempdir().unwrap();
    let dashboard = quiet_dashboard("127.0.0.1:9", dir.path()).await;
    let auth = std::sync::Arc::new(ollama_dash_host::auth::Authenticator::new(
        TOKEN.to_owned(),
        5,
    ));
    let router = ollama_dash_host::http::app(
        ollama_dash_host::http::AppState {
            dashboard: dashboard.clone(),
            auth,
            plugins: ollama_dash_host::plugins::PluginHost::new(
                ollama_dash_host::plugins::PluginsConfig::under(dir.path(), None),
            )
            .unwrap(),
        },
        &[],
    );
    let mut request = crate::support::authed("GET", "/api/events", None, Some(TOKEN));
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4242))));
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let mut text = String::new();
    while !text.contains(": keep-alive") {
        let frame = body.frame().await.expect("stream open").unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
    }
    assert!(text.starts_with("event: system_stats\ndata: {"), "{text}");
    assert!(text.contains("event: gpu_stats"), "{text}");
    // A server shutting down ends the stream instead of waiting for the client.
    dashboard.begin_shutdown();
    let mut after = 0;
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap_or_default();
        after += 1;
        assert!(
            after < 5,
            "the stream goes on after shutdown began: {data:?}"
        );
    }
}

#[tokio::test]
async fn settings_reach_the_gateway_for_requests_that_leave_them_out() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let (status, _) = host
        .call(
            "PUT",
            "/api/settings/model?name=llama3.2:1b",
            Some(json!({"num_predict": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let chat = |max: Option<u32>| {
        let mut body = json!({"model": "llama3.2:1b", "messages": [{"role": "user", "content": "Tell me a long story about the sea"}]});
        if let Some(max) = max {
            body["max_tokens"] = json!(max);
        }
        body
    };
    let (status, json) = host
        .call("POST", "/v1/chat/completions", Some(chat(None)))
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(
        json["usage"]["completion_tokens"], 2,
        "the model's default applied: {json}"
    );
    assert_eq!(json["choices"][0]["finish_reason"], "length");
    let (_, json) = host
        .call("POST", "/v1/chat/completions", Some(chat(Some(5))))
        .await;
    assert_eq!(
        json["usage"]["completion_tokens"], 5,
        "the request's own value wins: {json}"
    );
}

#[tokio::test]
async fn a_recorded_generation_refreshes_the_running_models_soon() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    // Every probe is an hour apart: only the nudge can show the model loaded below.
    let d = quiet_dashboard(&sim.url(), dir.path()).await;
    assert!(running_names(&d).is_empty());
    let loaded = reqwest::Client::new()
        .post(format!("{}/api/generate", sim.url()))
        .json(&json!({"model": "llama3.2:1b"}))
        .send()
        .await
        .unwrap();
    assert!(loaded.status().is_success());
    let mut events = d.subscribe();
    let trace = d.start_trace(ollama_dash_core::TraceStart {
        endpoint: "/ollama/api/generate".into(),
        model: "llama3.2:1b".into(),
        api_key: None,
        client_addr: None,
        stream: false,
        input: None,
    });
    trace.succeed(200);
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(Event::RunningModels { models }) = events.recv().await {
                return models;
            }
        }
    })
    .await
    .expect("the running list changes without waiting for its interval");
    assert_eq!(running_names(&d), ["llama3.2:1b"]);
}

#[tokio::test]
async fn a_failed_job_answers_the_status_of_its_error_kind() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let (status, json) = host
        .call(
            "POST",
            "/api/models/start",
            Some(json!({"model": "ghost-model:1b"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{json}");
    let id = json["job"]["id"].as_str().unwrap().to_owned();
    let mut events = host.dashboard.subscribe();
    if host.dashboard.job(&id).await.unwrap().state == JobState::Running {
        finished(&mut events, &id).await;
    }
    let (status, json) = host.call("GET", &format!("/api/jobs/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let error = &json["error"];
    assert_eq!(
        (&error["kind"], &error["error_kind"], &error["status"]),
        (&json!("not_found"), &json!("not_found"), &json!(404)),
        "{json}"
    );
}
