//! Plugins through the HTTP API, against the simulator: the examples' flags and metrics end to
//! end, hostile plugins while requests keep working, hot reload by `POST /api/plugins/reload`.

use std::time::Duration;

use http::StatusCode;
use http_body_util::BodyExt;
use ollama_dash_core::Event;
use ollama_dash_tests::plugin_paths as wasm;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{TOKEN, TestHost, assert_error_shape, authed, sim};

fn install(host: &TestHost, built: &str, file: &str) {
    std::fs::copy(built, host.plugins.dir().join(file)).expect("copying a plugin");
}

fn plugin<'a>(listing: &'a Value, name: &str) -> &'a Value {
    listing["plugins"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no plugin {name} in {listing}"))
}

fn flags(detected: &Value) -> Vec<(String, String)> {
    detected["plugin_flags"]
        .as_array()
        .expect("plugin_flags")
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().expect("string").to_owned();
            (s("flag"), s("plugin"))
        })
        .collect()
}

fn pair(flag: &str, plugin: &str) -> (String, String) {
    (flag.to_owned(), plugin.to_owned())
}

/// Creates `qwen2.5-coder:0.5b` in the simulator: a code model with a fill-in-middle template.
async fn create_coder(sim_url: &str) {
    let template = "{{- if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>{{- else }}{{ .Prompt }}{{- end }}";
    let response = reqwest::Client::new()
        .post(format!("{sim_url}/api/create"))
        .json(&json!({"model": "qwen2.5-coder:0.5b", "from": "qwen2.5:0.5b", "template": template, "stream": false}))
        .send()
        .await
        .expect("create");
    assert!(
        response.status().is_success(),
        "{:?}",
        response.text().await
    );
}

#[tokio::test]
async fn the_examples_flags_and_metrics_reach_the_api() {
    let sim = sim().await;
    create_coder(&sim.url()).await;
    let host = TestHost::new(&sim.url(), &[]).await;
    install(&host, wasm::CODE_MODELS, "code_models.wasm");
    install(&host, wasm::VRAM_HEADROOM, "vram_headroom.wasm");
    let mut events = host.dashboard.subscribe();

    let (status, reloaded) = host.call("POST", "/api/plugins/reload", None).await;
    assert_eq!(status, StatusCode::OK, "{reloaded}");
    assert_eq!(reloaded["loaded"], json!(["code-models", "vram-headroom"]));
    let loaded = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(Event::PluginsChanged { loaded, .. }) = events.recv().await {
                return loaded;
            }
        }
    })
    .await
    .expect("a PluginsChanged event");
    assert_eq!(loaded, ["code-models", "vram-headroom"]);

    let (status, detected) = host
        .call("GET", "/api/plugins/detect/qwen2.5-coder:0.5b", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{detected}");
    assert_eq!(
        flags(&detected),
        [
            pair("code", "code-models"),
            pair("fill-in-middle", "code-models")
        ]
    );
    let (_, plain) = host
        .call("GET", "/api/plugins/detect/llama3.2:1b", None)
        .await;
    assert_eq!(flags(&plain), []);
    assert!(
        plain["capabilities"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    );

    let (status, collected) = host.call("POST", "/api/plugins/collect", None).await;
    assert_eq!(status, StatusCode::OK, "{collected}");
    let (_, available) = host.call("GET", "/api/models/available", None).await;
    let largest = available["models"]
        .as_array()
        .expect("models")
        .iter()
        .max_by_key(|m| m["size"].as_u64())
        .expect("a model");
    let bytes = collected["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .find(|m| m["name"] == "largest_model_bytes")
        .unwrap_or_else(|| panic!("{collected}"));
    assert_eq!(bytes["plugin"], "vram-headroom");
    assert_eq!(bytes["value"].as_f64(), largest["size"].as_f64());
    assert_eq!(bytes["labels"][0], json!(["model", largest["name"]]));
    let event = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(Event::PluginMetrics { metrics }) = events.recv().await {
                return metrics;
            }
        }
    })
    .await
    .expect("a PluginMetrics event");
    assert!(event.iter().any(|m| m.name == "largest_model_bytes"));

    let (_, latest) = host.call("GET", "/api/plugins/metrics", None).await;
    assert_eq!(latest["metrics"], collected["metrics"]);
    let (_, stats) = host.call("GET", "/api/stats", None).await;
    assert_eq!(
        stats["plugins"], collected["metrics"],
        "plugin metrics in the stats"
    );
    let request = authed("GET", "/metrics", None, Some(TOKEN));
    let response = host
        .router
        .clone()
        .oneshot(request)
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let text = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8(text.to_vec()).expect("utf-8");
    let series = format!(
        "ollama_dash_plugin_largest_model_bytes{{plugin=\"vram-headroom\",model=\"{}\"}} ",
        largest["name"].as_str().expect("name"),
    );
    let value: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .unwrap_or_else(|| panic!("{series} not in\n{text}"))
        .parse()
        .expect("a number");
    assert_eq!(Some(value), largest["size"].as_f64());
    assert!(text.contains("# TYPE ollama_dash_plugin_largest_model_bytes gauge"));

    // The detector joined the capability chain: the flags show on the model, with their source.
    let (_, available) = host.call("GET", "/api/models/available", None).await;
    let coder = available["models"]
        .as_array()
        .expect("models")
        .iter()
        .find(|m| m["name"] == "qwen2.5-coder:0.5b")
        .unwrap_or_else(|| panic!("{available}"));
    for flag in ["code", "fill-in-middle"] {
        assert!(
            coder["capabilities"]
                .as_array()
                .expect("capabilities")
                .contains(&json!({"name": flag, "source": "detector:code-models"})),
            "{flag} in {coder}"
        );
    }

    let (_, listing) = host.call("GET", "/api/plugins", None).await;
    let code = plugin(&listing, "code-models");
    assert_eq!(code["state"], "active");
    assert_eq!(code["provides"], json!(["detector"]));
    assert!(code["calls"].as_u64().is_some_and(|n| n >= 2), "{code}");
    assert_eq!(code["failures"], 0);
    assert!(code["p50_us"].as_f64().is_some() && code["p99_us"].as_f64().is_some());
    assert_eq!(
        plugin(&listing, "vram-headroom")["provides"],
        json!(["collector"])
    );
}

#[tokio::test]
async fn hostile_plugins_end_disabled_while_requests_keep_working() {
    let sim = sim().await;
    create_coder(&sim.url()).await;
    let host = TestHost::new(&sim.url(), &[]).await;
    install(&host, wasm::CODE_MODELS, "code_models.wasm");
    for (built, file) in [
        (wasm::SPIN, "spin.wasm"),
        (wasm::HOG, "hog.wasm"),
        (wasm::PANICKY, "panicky.wasm"),
        (wasm::BAD_SHAPE, "bad_shape.wasm"),
        (wasm::SNOOP, "snoop.wasm"),
    ] {
        install(&host, built, file);
    }
    let (_, reloaded) = host.call("POST", "/api/plugins/reload", None).await;
    assert_eq!(reloaded["failed"][0]["file"], "snoop.wasm", "{reloaded}");

    for _ in 0..4 {
        let (status, detected) = host
            .call("GET", "/api/plugins/detect/qwen2.5-coder:0.5b", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{detected}");
        assert!(flags(&detected).contains(&pair("code", "code-models")));
        let (status, health) = host.call("GET", "/api/health", None).await;
        assert_eq!(status, StatusCode::OK, "{health}");
        let (status, _) = host.call("GET", "/api/models/available", None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, listing) = host.call("GET", "/api/plugins", None).await;
    for (name, error) in [
        ("spin", "timeout"),
        ("hog", "trap"),
        ("panicky", "trap"),
        ("bad-shape", "malformed"),
    ] {
        let p = plugin(&listing, name);
        assert_eq!(p["state"], "disabled", "{p}");
        assert_eq!(p["failures"], 3, "{p}");
        assert!(
            p["last_error"]
                .as_str()
                .is_some_and(|e| e.starts_with(error)),
            "{p}"
        );
    }
    let snoop = plugin(&listing, "snoop");
    assert_eq!(snoop["state"], "failed");
    assert_eq!(plugin(&listing, "code-models")["state"], "active");

    // A reload loads it afresh (new counters); the capability chain then runs every detector
    // on every model again, so the runaway one is disabled again by real calls.
    let (_, reloaded) = host.call("POST", "/api/plugins/reload", None).await;
    let spin = plugin(&reloaded, "spin");
    assert_eq!(spin["state"], "disabled", "{spin}");
    assert_eq!(spin["failures"], 3, "{spin}");
    let (status, _) = host.call("GET", "/api/models/available", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn hot_reload_through_the_api() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let detect = || host.call("GET", "/api/plugins/detect/llama3.2:1b", None);

    install(&host, wasm::ECHO_V1, "echo.wasm");
    host.call("POST", "/api/plugins/reload", None).await;
    assert_eq!(flags(&detect().await.1), [pair("echo-v1", "echo")]);

    install(&host, wasm::ECHO_V2, "echo.wasm");
    host.call("POST", "/api/plugins/reload", None).await;
    assert_eq!(flags(&detect().await.1), [pair("echo-v2", "echo")]);
    let (_, listing) = host.call("GET", "/api/plugins", None).await;
    assert_eq!(plugin(&listing, "echo")["version"], "2.0.0");

    std::fs::remove_file(host.plugins.dir().join("echo.wasm")).expect("delete");
    let (_, reloaded) = host.call("POST", "/api/plugins/reload", None).await;
    assert_eq!(reloaded["removed"], json!(["echo.wasm"]));
    assert_eq!(reloaded["plugins"], json!([]));
    assert_eq!(flags(&detect().await.1), []);
}

#[tokio::test]
async fn unknown_models_and_missing_tokens_get_json_errors() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let (status, body) = host
        .call("GET", "/api/plugins/detect/no-such-model:1b", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error_shape(&body, "not_found_error");
    // Bad percent-encoding in a path parameter: our JSON error, not axum's plain text.
    for path in [
        "/api/plugins/detect/%FF",
        "/api/models/show/%FF",
        "/v1/traces/%FF",
    ] {
        let (status, body) = host.call("GET", path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_error_shape(&body, "invalid_request_error");
    }
    for (method, path) in [("GET", "/api/plugins"), ("POST", "/api/plugins/reload")] {
        let (status, _, body) = host.send(authed(method, path, None, None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error_shape(&body, "authentication_error");
    }
}

#[tokio::test]
async fn collectors_run_on_the_live_collectors_schedule() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    install(&host, wasm::VRAM_HEADROOM, "vram_headroom.wasm");
    host.plugins.reload(false).await;
    let mut events = host.dashboard.subscribe();
    host.plugins.collect_on_schedule(&host.dashboard);
    // Nobody asks for a collection: the next system sample of the live collector triggers it.
    let metrics = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Ok(Event::PluginMetrics { metrics }) = events.recv().await {
                return metrics;
            }
        }
    })
    .await
    .expect("a scheduled collection round");
    assert!(metrics.iter().any(|m| m.name == "installed_models_fitting"));
    let memory = metrics
        .iter()
        .find(|m| m.name == "installed_models_fitting")
        .expect("metric");
    assert_eq!(memory.plugin, "vram-headroom");
    host.plugins.stop();
}

#[tokio::test]
async fn collectors_see_the_recent_traces() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let mut generated = 0;
    for model in ["llama3.2:1b", "llama3.2:1b", "no-such-model:1b"] {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "Hello"}]});
        let (status, answer) = host.call("POST", "/v1/chat/completions", Some(body)).await;
        generated += answer["usage"]["completion_tokens"].as_u64().unwrap_or(0);
        assert_eq!(status.is_success(), model != "no-such-model:1b", "{answer}");
    }
    assert!(generated > 0);
    host.dashboard.flush_writes().await.expect("flush");
    install(&host, wasm::ECHO_V1, "echo.wasm");
    host.plugins.reload(false).await;
    let (_, collected) = host.call("POST", "/api/plugins/collect", None).await;
    let metric = |name: &str| {
        collected["metrics"]
            .as_array()
            .and_then(|all| all.iter().find(|m| m["name"] == name))
            .unwrap_or_else(|| panic!("no {name} in {collected}"))
            .clone()
    };
    let requests = metric("echo_trace_requests");
    assert_eq!(requests["value"], 3.0, "{requests}");
    assert_eq!(requests["labels"], json!([["window_seconds", "300"]]));
    assert_eq!(
        metric("echo_trace_completion_tokens")["value"],
        generated as f64
    );
}

#[tokio::test]
async fn a_new_detector_announces_the_changed_model_list() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    host.dashboard
        .refresh(&[ollama_dash_core::Probe::Installed])
        .await;
    let mut events = host.dashboard.subscribe();
    install(&host, wasm::ECHO_V1, "echo.wasm");
    host.call("POST", "/api/plugins/reload", None).await;
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    assert!(seen.contains(&Event::ModelsChanged), "{seen:?}");
    let (_, available) = host.call("GET", "/api/models/available", None).await;
    let caps = &available["models"][0]["capabilities"];
    assert!(
        caps.as_array()
            .expect("capabilities")
            .contains(&json!({"name": "echo-v1", "source": "detector:echo"})),
        "{caps}"
    );
}
