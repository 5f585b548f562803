//! The fleet against real simulators on loopback: routing to the resident node, failover from
//! a dead node, and admission with a full queue.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::time::Duration;

use futures_util::StreamExt;
use ollama_dash_sim::{SimConfig, SimHandle, Simulator};

use super::*;
use crate::generation::Origin;
use crate::ollama::types::{ChatRequest, Message};
use crate::{Dashboard, DashboardConfig, ErrorKind};

const MODEL: &str = "llama3.2:1b";

async fn sim(preload: &[&str], token_delay: Duration) -> SimHandle {
    Simulator::start(SimConfig {
        preload: preload.iter().map(|m| (*m).to_owned()).collect(),
        token_delay,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

async fn fleet(nodes: Vec<NodeConfig>, probe_secs: f64) -> (tempfile::TempDir, Dashboard) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = DashboardConfig::with_data_path(dir.path());
    config.ollama_host = nodes[0].url.clone();
    config.live.ps_interval_secs = probe_secs;
    config.live.tags_interval_secs = probe_secs;
    config.max_queue = 1;
    config.nodes = nodes;
    (dir, Dashboard::new(config).await.unwrap())
}

fn chat(text: &str) -> ChatRequest {
    ChatRequest {
        model: MODEL.into(),
        messages: vec![Message {
            role: "user".into(),
            content: text.into(),
            ..Message::default()
        }],
        ..ChatRequest::default()
    }
}

fn origin() -> Origin {
    Origin {
        endpoint: "/test".into(),
        ..Origin::default()
    }
}

/// Waits (bounded) until `check` holds for the fleet's status.
async fn until(d: &Dashboard, what: &str, check: impl Fn(&[NodeStatus]) -> bool) {
    for _ in 0..200 {
        if check(&d.fleet().status()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}: {:?}", d.fleet().status());
}

fn dead_url() -> String {
    // A port nothing listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("127.0.0.1:{}", dead.local_addr().unwrap().port())
}

#[tokio::test]
async fn a_request_goes_where_the_model_is_loaded_and_its_trace_says_so() {
    let cold = sim(&[], Duration::ZERO).await;
    let warm = sim(&[MODEL], Duration::ZERO).await;
    let nodes = vec![
        NodeConfig::new("cold", cold.url()),
        NodeConfig::new("warm", warm.url()),
        NodeConfig::new("dead", dead_url()),
    ];
    let (_dir, d) = fleet(nodes, 0.1).await;
    until(&d, "the warm node's residency, the dead node down", |s| {
        s[1].loaded.iter().any(|m| m == MODEL) && s[0].version.is_some() && s[2].state == "down"
    })
    .await;
    for turn in 0..3 {
        let generation = d.chat(origin(), chat(&format!("question {turn}")));
        let placement = generation.placement();
        let id = generation.trace_id().to_owned();
        generation.answer().await.unwrap();
        assert_eq!(
            placement.get(),
            Some(("warm".to_owned(), Reason::Resident)),
            "turn {turn}"
        );
        d.flush_writes().await.unwrap();
        let trace = d.trace(&id).await.unwrap();
        assert_eq!(
            (trace.node.as_deref(), trace.route_reason.as_deref()),
            (Some("warm"), Some("resident"))
        );
    }
    let decisions = d.fleet().decisions();
    assert_eq!(decisions, [("warm".to_owned(), Reason::Resident, 3)]);
}

#[tokio::test]
async fn a_dead_node_is_skipped_before_the_answer_starts() {
    let alive = sim(&[MODEL], Duration::ZERO).await;
    let nodes = vec![
        NodeConfig::new("dead", dead_url()),
        NodeConfig::new("alive", alive.url()),
    ];
    // Probes far apart: routing knows nothing yet and tries the first node first.
    let (_dir, d) = fleet(nodes, 3600.0).await;
    for turn in 0..3 {
        let generation = d.chat(origin(), chat(&format!("q{turn}")));
        let placement = generation.placement();
        let mut lines = generation.stream().await.unwrap();
        let mut done = false;
        while let Some(line) = lines.next().await {
            done |= line.unwrap().done;
        }
        assert!(done, "turn {turn} answered in full");
        assert_eq!(placement.get().map(|p| p.0), Some("alive".to_owned()));
    }
    // Tried once; from then on the model is resident on the node that answered.
    let status = d.fleet().status();
    assert_eq!((status[0].errors, status[0].served), (1, 0), "{status:?}");
    assert!(
        status[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("unreachable")
    );
    assert_eq!((status[1].errors, status[1].served), (0, 3), "{status:?}");
}

#[tokio::test]
async fn past_every_slot_and_a_full_queue_the_answer_is_busy_with_a_retry_time() {
    let a = sim(&[MODEL], Duration::from_millis(20)).await;
    let b = sim(&[MODEL], Duration::from_millis(20)).await;
    let slot = |name: &str, url: String| NodeConfig {
        max_parallel: Some(1),
        ..NodeConfig::new(name, url)
    };
    let (_dir, d) = fleet(vec![slot("a", a.url()), slot("b", b.url())], 0.1).await;
    until(&d, "both nodes probed", |s| {
        s.iter().all(|n| n.version.is_some())
    })
    .await;
    // Two streams hold both slots while they are open.
    let first = d.chat(origin(), chat("one")).stream().await.unwrap();
    let second = d.chat(origin(), chat("two")).stream().await.unwrap();
    let mut nodes = [first.node().unwrap(), second.node().unwrap()];
    nodes.sort_unstable();
    assert_eq!(nodes, ["a", "b"], "one request per node");
    // A third waits in the queue (max_queue = 1)…
    let waiting = {
        let d = d.clone();
        tokio::spawn(async move { d.chat(origin(), chat("three")).answer().await })
    };
    until(&d, "the third request queued", |s| {
        s.iter().map(|n| n.queued).sum::<usize>() == 1
    })
    .await;
    // …and a fourth is refused at once.
    let refused = d.chat(origin(), chat("four")).answer().await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Busy, "{refused}");
    assert!(refused.retry_after_secs().is_some_and(|s| s >= 1));
    // A slot frees up: the queued one runs.
    drop(first);
    let answer = waiting.await.unwrap().unwrap();
    assert!(answer.done);
    drop(second);
}

#[tokio::test]
async fn a_pinned_call_runs_on_its_node_or_nowhere() {
    let cold = sim(&[], Duration::ZERO).await;
    let warm = sim(&[MODEL], Duration::ZERO).await;
    let nodes = vec![
        NodeConfig::new("cold", cold.url()),
        NodeConfig::new("warm", warm.url()),
        NodeConfig::new("dead", dead_url()),
    ];
    let (_dir, d) = fleet(nodes, 0.1).await;
    until(&d, "residency known, the dead node down", |s| {
        s[1].loaded.iter().any(|m| m == MODEL) && s[0].version.is_some() && s[2].state == "down"
    })
    .await;
    let pinned = |node: &str| Origin {
        node: Some(node.to_owned()),
        ..origin()
    };
    // Pinned to the node without the model loaded: it goes there anyway (and loads it), where
    // unpinned routing would pick the warm node.
    let generation = d.chat(pinned("cold"), chat("pinned"));
    let placement = generation.placement();
    let id = generation.trace_id().to_owned();
    generation.answer().await.unwrap();
    assert_eq!(placement.get(), Some(("cold".to_owned(), Reason::Pinned)));
    d.flush_writes().await.unwrap();
    let trace = d.trace(&id).await.unwrap();
    assert_eq!(
        (trace.node.as_deref(), trace.route_reason.as_deref()),
        (Some("cold"), Some("pinned"))
    );
    // Pinned to a node that is down: refused, never failed over to a node that is up.
    let refused = d
        .chat(pinned("dead"), chat("x"))
        .answer()
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unavailable, "{refused}");
    assert!(refused.to_string().contains("\"dead\""), "{refused}");
    assert_eq!(warm.control().request_count("/api/chat"), 0);
    // An unknown node is the caller's mistake, and says which nodes there are.
    let unknown = d
        .chat(pinned("nope"), chat("x"))
        .answer()
        .await
        .unwrap_err();
    assert_eq!(unknown.kind(), ErrorKind::Invalid, "{unknown}");
    assert!(
        unknown.to_string().contains("cold, warm, dead"),
        "{unknown}"
    );
}
