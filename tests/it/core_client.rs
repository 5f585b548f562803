//! `ollama-dash-core` against the simulator over real loopback HTTP: client, streams, errors,
//! dashboard lifecycle.

use ollama_dash_core::Error;
use ollama_dash_core::ollama::types::{
    ChatRequest, GenerateRequest, Message, PullRequest, ShowRequest,
};

use crate::support::{dashboard, sim, sim_with_preload};

#[tokio::test]
async fn dashboard_answers_version_models_running_and_health() {
    let sim = sim_with_preload(&["qwen3:0.6b"]).await;
    sim.control().set_version("0.12.6");
    let (_dir, dash) = dashboard(&sim.url()).await;
    assert_eq!(dash.version().await.expect("version"), "0.12.6");
    let models = dash.list_models().value.expect("tags");
    let llava = models
        .iter()
        .find(|m| m.name == "llava:7b")
        .expect("llava installed");
    assert_eq!(llava.format, "gguf");
    assert!(!llava.parameter_size.is_empty());
    assert!(llava.capabilities.has("vision"), "{:?}", llava.capabilities);
    let running = dash.running_models().value.expect("ps");
    assert_eq!(
        running.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        ["qwen3:0.6b"]
    );
    let health = dash.health().await;
    assert!(
        health.ok && health.store.alive && health.ollama.reachable,
        "{health:?}"
    );
    dash.shutdown().await.expect("shutdown");
    dash.shutdown().await.expect("shutdown twice is fine");
    assert!(!dash.health().await.store.alive);
}

#[tokio::test]
async fn show_returns_capabilities_and_unknown_models_are_not_found() {
    let sim = sim().await;
    let (_dir, dash) = dashboard(&sim.url()).await;
    let show = dash
        .ollama()
        .show(&ShowRequest {
            model: "qwen3:0.6b".into(),
            verbose: None,
        })
        .await
        .expect("show");
    let caps = show.capabilities.expect("capabilities");
    for cap in ["completion", "tools", "thinking"] {
        assert!(caps.iter().any(|c| c == cap), "{cap} missing in {caps:?}");
    }
    assert!(show.model_info.contains_key("general.architecture"));
    let err = dash
        .ollama()
        .show(&ShowRequest {
            model: "no-such-model".into(),
            verbose: None,
        })
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.kind(), ollama_dash_core::ErrorKind::NotFound);
}

#[tokio::test]
async fn generate_streams_deltas_then_metrics() {
    let sim = sim().await;
    let (_dir, dash) = dashboard(&sim.url()).await;
    let request = GenerateRequest {
        model: "llama3.2:1b".into(),
        prompt: "Why is the sky blue?".into(),
        ..Default::default()
    };
    let mut stream = dash
        .ollama()
        .generate_stream(&request)
        .await
        .expect("stream starts");
    let mut text = String::new();
    let mut last = None;
    while let Some(line) = stream.next().await {
        let line = line.expect("line");
        text.push_str(&line.response);
        last = Some(line);
    }
    let last = last.expect("a final line");
    assert!(last.done);
    assert!(!text.is_empty());
    assert!(last.metrics.eval_count.is_some_and(|n| n > 0));
    assert!(last.metrics.total_duration.is_some_and(|n| n > 0));
    // The same input gives the same text, streamed or not.
    let whole = dash.ollama().generate(&request).await.expect("non-stream");
    assert_eq!(whole.response, text);
}

#[tokio::test]
async fn chat_stream_mid_stream_error_and_dropped_connection_are_errors() {
    let sim = sim().await;
    let (_dir, dash) = dashboard(&sim.url()).await;
    let request = ChatRequest {
        model: "llama3.2:1b".into(),
        messages: vec![Message {
            role: "user".into(),
            content: "hello there".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    async fn drain(
        mut s: ollama_dash_core::ollama::NdjsonStream<
            ollama_dash_core::ollama::types::ChatResponse,
        >,
    ) -> (usize, Option<Error>) {
        let mut ok = 0;
        while let Some(line) = s.next().await {
            match line {
                Ok(_) => ok += 1,
                Err(e) => return (ok, Some(e)),
            }
        }
        (ok, None)
    }
    sim.control().die_mid_stream_after(Some(3));
    let (ok, err) = drain(dash.ollama().chat_stream(&request).await.expect("starts")).await;
    assert_eq!(ok, 3);
    assert!(matches!(err, Some(Error::StreamError(_))), "{err:?}");

    sim.control().die_mid_stream_after(None);
    // With no token delay hyper may still hold the first lines in its write buffer when the
    // connection is cut; a small delay lets them out first, as with a real model.
    sim.control()
        .set_token_delay(std::time::Duration::from_millis(5));
    sim.control().drop_connection_mid_stream_after(Some(2));
    let (ok, err) = drain(dash.ollama().chat_stream(&request).await.expect("starts")).await;
    assert!(ok >= 1, "lines before the cut arrive");
    assert!(matches!(err, Some(Error::StreamTruncated)), "{err:?}");

    sim.control().drop_connection_mid_stream_after(None);
    let (ok, err) = drain(dash.ollama().chat_stream(&request).await.expect("starts")).await;
    assert!(err.is_none() && ok > 1);
}

#[tokio::test]
async fn errors_before_the_stream_keep_ollamas_status() {
    let sim = sim().await;
    let (_dir, dash) = dashboard(&sim.url()).await;
    sim.control().fail_next(
        1,
        500,
        "llama runner process has terminated: signal: killed",
    );
    let request = GenerateRequest {
        model: "llama3.2:1b".into(),
        prompt: "hi".into(),
        ..Default::default()
    };
    let err = dash.ollama().generate_stream(&request).await.unwrap_err();
    assert!(
        matches!(&err, Error::Ollama { status: 500, message } if message.contains("terminated")),
        "{err:?}"
    );
    let missing = GenerateRequest {
        model: "ghost".into(),
        prompt: "hi".into(),
        ..Default::default()
    };
    let err = dash.ollama().generate(&missing).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test]
async fn pull_progress_streams_until_success_and_unknown_models_fail_mid_stream() {
    let sim = sim().await;
    let (_dir, dash) = dashboard(&sim.url()).await;
    let mut stream = dash
        .ollama()
        .pull_stream(&PullRequest {
            model: "smollm2:135m".into(),
            ..Default::default()
        })
        .await
        .expect("pull");
    let mut statuses = Vec::new();
    let mut saw_bytes = false;
    while let Some(line) = stream.next().await {
        let line = line.expect("progress");
        saw_bytes |= line.total.is_some_and(|t| t > 0) && line.completed.is_some();
        statuses.push(line.status);
    }
    assert_eq!(
        statuses.first().map(String::as_str),
        Some("pulling manifest")
    );
    assert_eq!(statuses.last().map(String::as_str), Some("success"));
    assert!(saw_bytes, "{statuses:?}");
    dash.refresh(&[ollama_dash_core::Probe::Installed]).await;
    assert!(
        dash.list_models()
            .value
            .expect("tags")
            .iter()
            .any(|m| m.name == "smollm2:135m")
    );

    let mut stream = dash
        .ollama()
        .pull_stream(&PullRequest {
            model: "does-not-exist".into(),
            ..Default::default()
        })
        .await
        .expect("starts with 200");
    let first = stream
        .next()
        .await
        .expect("a line")
        .expect("pulling manifest");
    assert_eq!(first.status, "pulling manifest");
    assert!(
        matches!(stream.next().await, Some(Err(Error::StreamError(m))) if m.contains("pull model manifest"))
    );
}

#[tokio::test]
async fn unreachable_ollama_is_classified() {
    // A port nothing listens on: bind, read the port, drop the listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let (_dir, dash) = dashboard(&format!("127.0.0.1:{port}")).await;
    let err = dash.version().await.unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    assert_eq!(err.kind(), ollama_dash_core::ErrorKind::Unreachable);
    let health = dash.health().await;
    assert!(!health.ok && !health.ollama.reachable && health.store.alive);
}
