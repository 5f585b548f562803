//! The fleet against real simulators on loopback: routing to the resident node, failover from
//! a dead node, admission with a full queue, and nodes added and removed at run time.

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
    let d = open(dir.path(), nodes, probe_secs).await;
    (dir, d)
}

/// A dashboard over `nodes` on the data path `dir` (opened again by a restart).
async fn open(dir: &std::path::Path, nodes: Vec<NodeConfig>, probe_secs: f64) -> Dashboard {
    let mut config = DashboardConfig::with_data_path(dir);
    config.ollama_host = nodes[0].url.clone();
    config.live.ps_interval_secs = probe_secs;
    config.live.tags_interval_secs = probe_secs;
    config.max_queue = 1;
    config.nodes = nodes;
    Dashboard::new(config).await.unwrap()
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

/// Three nodes, probed: `cold` (the model installed, not loaded), `warm` (loaded there) and
/// `dead` (nothing listens).
struct ColdWarmDead {
    _cold: SimHandle,
    warm: SimHandle,
    _dir: tempfile::TempDir,
    d: Dashboard,
}

async fn cold_warm_dead() -> ColdWarmDead {
    let cold = sim(&[], Duration::ZERO).await;
    let warm = sim(&[MODEL], Duration::ZERO).await;
    let nodes = vec![
        NodeConfig::new("cold", cold.url()),
        NodeConfig::new("warm", warm.url()),
        NodeConfig::new("dead", dead_url()),
    ];
    let (dir, d) = fleet(nodes, 0.1).await;
    until(&d, "the warm node's residency, the dead node down", |s| {
        s[1].loaded.iter().any(|m| m == MODEL) && s[0].version.is_some() && s[2].state == "down"
    })
    .await;
    ColdWarmDead {
        _cold: cold,
        warm,
        _dir: dir,
        d,
    }
}

#[tokio::test]
async fn a_request_goes_where_the_model_is_loaded_and_its_trace_says_so() {
    let nodes = cold_warm_dead().await;
    let d = &nodes.d;
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
    let nodes = cold_warm_dead().await;
    let (d, warm) = (&nodes.d, &nodes.warm);
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

fn pinned(node: &str) -> Origin {
    Origin {
        node: Some(node.to_owned()),
        ..origin()
    }
}

fn named<'a>(status: &'a [NodeStatus], name: &str) -> Option<&'a NodeStatus> {
    status.iter().find(|n| n.name == name)
}

#[tokio::test]
async fn a_node_added_at_run_time_is_probed_and_takes_requests() {
    let cold = sim(&[], Duration::ZERO).await;
    let warm = sim(&[MODEL], Duration::ZERO).await;
    // One configured node: no probe loop of its own until the fleet has several.
    let (_dir, d) = fleet(vec![NodeConfig::new("cold", cold.url())], 0.1).await;
    let added = d
        .add_node(NodeConfig {
            labels: [("gpu".to_owned(), "a100".to_owned())].into(),
            ..NodeConfig::new("warm", warm.url())
        })
        .await
        .unwrap();
    assert_eq!(
        (
            added.name.as_str(),
            added.source,
            added.labels["gpu"].as_str()
        ),
        ("warm", Source::Api, "a100")
    );
    // Both get probe loops now: the added node and the configured one.
    until(
        &d,
        "both nodes probed, the model resident on the added one",
        |s| s.len() == 2 && s[0].version.is_some() && s[1].loaded.iter().any(|m| m == MODEL),
    )
    .await;
    for turn in 0..2 {
        let generation = d.chat(origin(), chat(&format!("question {turn}")));
        let placement = generation.placement();
        generation.answer().await.unwrap();
        assert_eq!(
            placement.get(),
            Some(("warm".to_owned(), Reason::Resident)),
            "turn {turn}"
        );
    }
    assert_eq!(cold.control().request_count("/api/chat"), 0);
}

#[tokio::test]
async fn a_removed_node_takes_no_new_request_while_its_running_call_finishes() {
    let stays = sim(&[MODEL], Duration::ZERO).await;
    let goes = sim(&[MODEL], Duration::from_millis(30)).await;
    let (_dir, d) = fleet(vec![NodeConfig::new("stays", stays.url())], 0.1).await;
    d.add_node(NodeConfig::new("goes", goes.url()))
        .await
        .unwrap();
    until(&d, "both nodes probed", |s| {
        s.len() == 2 && s.iter().all(|n| n.version.is_some())
    })
    .await;
    // A streamed call runs on the node about to go.
    let mut running = d
        .chat(pinned("goes"), chat("a long one"))
        .stream()
        .await
        .unwrap();
    assert_eq!(running.node(), Some("goes"));
    let first = running.next().await.unwrap().unwrap();
    assert!(!first.done);

    d.remove_node("goes").await.unwrap();
    assert!(named(&d.fleet().status(), "goes").is_none());
    // New calls go to the node that stays; naming the removed one is an unknown node.
    for turn in 0..4 {
        let generation = d.chat(origin(), chat(&format!("after {turn}")));
        let placement = generation.placement();
        generation.answer().await.unwrap();
        assert_eq!(placement.get().map(|p| p.0), Some("stays".to_owned()));
    }
    let unknown = d
        .chat(pinned("goes"), chat("x"))
        .answer()
        .await
        .unwrap_err();
    assert_eq!(unknown.kind(), ErrorKind::Invalid, "{unknown}");
    assert_eq!(goes.control().request_count("/api/chat"), 1);
    // Its probe loop stopped, though the running call still holds the node: the probe count
    // settles (one may have been under way at the removal), where a live loop probes every 0.1 s.
    let mut settled = false;
    for _ in 0..20 {
        let probes = goes.control().request_count("/api/ps");
        tokio::time::sleep(Duration::from_millis(350)).await;
        if goes.control().request_count("/api/ps") == probes {
            settled = true;
            break;
        }
    }
    assert!(settled, "the removed node is still probed");
    // The running call still ends in full.
    let mut done = false;
    while let Some(line) = running.next().await {
        done |= line.unwrap().done;
    }
    assert!(done, "the call on the removed node finished");
    // Removing it again: it is gone.
    let again = d.remove_node("goes").await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::NotFound, "{again}");
}

#[tokio::test]
async fn a_call_waiting_for_a_slot_on_a_removed_node_is_routed_again() {
    let stays = sim(&[MODEL], Duration::ZERO).await;
    let goes = sim(&[MODEL], Duration::from_millis(30)).await;
    let (_dir, d) = fleet(vec![NodeConfig::new("stays", stays.url())], 0.1).await;
    // The node that stays is drained for now: only the added one takes calls.
    d.drain_node("stays", true).await.unwrap();
    d.add_node(NodeConfig {
        max_parallel: Some(1),
        ..NodeConfig::new("goes", goes.url())
    })
    .await
    .unwrap();
    until(&d, "both nodes probed", |s| {
        s.len() == 2 && s.iter().all(|n| n.version.is_some())
    })
    .await;
    let running = d
        .chat(origin(), chat("holds the slot"))
        .stream()
        .await
        .unwrap();
    assert_eq!(running.node(), Some("goes"));
    let waiting = {
        let d = d.clone();
        tokio::spawn(async move {
            let generation = d.chat(origin(), chat("waits"));
            let placement = generation.placement();
            generation.answer().await.map(|_| placement.get())
        })
    };
    until(&d, "the second call queued", |s| {
        named(s, "goes").is_some_and(|n| n.queued == 1)
    })
    .await;
    d.drain_node("stays", false).await.unwrap();
    d.remove_node("goes").await.unwrap();
    let placed = waiting.await.unwrap().unwrap();
    assert_eq!(placed.map(|p| p.0), Some("stays".to_owned()));
    drop(running);
}

#[tokio::test]
async fn added_nodes_and_drains_survive_a_restart_and_the_configuration_wins() {
    let a = sim(&[MODEL], Duration::ZERO).await;
    let b = sim(&[MODEL], Duration::ZERO).await;
    let c = sim(&[MODEL], Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let configured = vec![NodeConfig::new("a", a.url())];
    let d = open(dir.path(), configured.clone(), 0.1).await;
    d.add_node(NodeConfig {
        weight: 2.0,
        max_parallel: Some(3),
        ..NodeConfig::new("b", b.url())
    })
    .await
    .unwrap();
    d.add_node(NodeConfig::new("c", c.url())).await.unwrap();
    d.drain_node("a", true).await.unwrap();
    d.drain_node("b", true).await.unwrap();
    d.drain_node("b", false).await.unwrap();
    d.shutdown().await.unwrap();
    drop(d);

    // The same data path: configured nodes first, then the added ones, as they were.
    let d = open(dir.path(), configured, 0.1).await;
    let nodes = d.fleet().nodes();
    let seen: Vec<(&str, Source, f64, Option<usize>)> = nodes
        .iter()
        .map(|n| {
            (
                n.name(),
                n.source(),
                n.config().weight,
                n.config().max_parallel,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("a", Source::Config, 1.0, None),
            ("b", Source::Api, 2.0, Some(3)),
            ("c", Source::Api, 1.0, None),
        ]
    );
    let status = d.fleet().status();
    let states: Vec<&str> = status.iter().map(|n| n.state).collect();
    until(&d, "the added nodes probed", |s| {
        s.iter().all(|n| n.version.is_some())
    })
    .await;
    assert_eq!(states[0], "draining", "{status:?}");
    assert_ne!(states[1], "draining", "{status:?}");
    // Routing uses them: a is drained, so b or c answers.
    let generation = d.chat(origin(), chat("after the restart"));
    let placement = generation.placement();
    generation.answer().await.unwrap();
    assert!(matches!(placement.get(), Some((n, _)) if n == "b" || n == "c"));
    d.remove_node("c").await.unwrap();
    d.shutdown().await.unwrap();
    drop(d);

    // Now the configuration names b too: the configured b wins, the stored one is skipped.
    let configured = vec![NodeConfig::new("a", a.url()), NodeConfig::new("b", c.url())];
    let d = open(dir.path(), configured, 3600.0).await;
    let nodes = d.fleet().nodes();
    let seen: Vec<(&str, Source, String)> = nodes
        .iter()
        .map(|n| (n.name(), n.source(), n.config().url.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            ("a", Source::Config, a.url()),
            ("b", Source::Config, c.url())
        ],
        "c was removed; b is the configured one"
    );
}

#[tokio::test]
async fn bad_or_taken_nodes_are_refused_and_configured_ones_stay() {
    let a = sim(&[], Duration::ZERO).await;
    let (_dir, d) = fleet(vec![NodeConfig::new("a", a.url())], 3600.0).await;
    let field_of = |e: &Error| match e {
        Error::InvalidField { field, .. } => field.clone(),
        other => panic!("not a field error: {other:?}"),
    };
    let url = d
        .add_node(NodeConfig::new("x", "ftp://h"))
        .await
        .unwrap_err();
    assert_eq!(
        (url.kind(), field_of(&url).as_str()),
        (ErrorKind::Invalid, "url")
    );
    assert!(url.to_string().contains("url: "), "{url}");
    let name = d
        .add_node(NodeConfig::new("a b", a.url()))
        .await
        .unwrap_err();
    assert_eq!(field_of(&name), "name");
    let weight = d
        .add_node(NodeConfig {
            weight: 0.0,
            ..NodeConfig::new("x", a.url())
        })
        .await
        .unwrap_err();
    assert_eq!(field_of(&weight), "weight");
    // A configured name, an added one.
    let configured = d.add_node(NodeConfig::new("a", a.url())).await.unwrap_err();
    assert_eq!(configured.kind(), ErrorKind::Conflict, "{configured}");
    assert!(
        configured.to_string().contains("configured"),
        "{configured}"
    );
    d.add_node(NodeConfig::new("x", a.url())).await.unwrap();
    let twice = d.add_node(NodeConfig::new("x", a.url())).await.unwrap_err();
    assert_eq!(twice.kind(), ErrorKind::Conflict, "{twice}");
    // A configured node is not removed at run time (a restart would bring it back).
    let kept = d.remove_node("a").await.unwrap_err();
    assert_eq!(kept.kind(), ErrorKind::Conflict, "{kept}");
    assert!(kept.to_string().contains("remove it there"), "{kept}");
    let unknown = d.remove_node("nope").await.unwrap_err();
    assert_eq!(unknown.kind(), ErrorKind::NotFound, "{unknown}");
    let drained = d.drain_node("nope", true).await.unwrap_err();
    assert_eq!(drained.kind(), ErrorKind::NotFound, "{drained}");
    let names: Vec<String> = d.fleet().status().into_iter().map(|n| n.name).collect();
    assert_eq!(names, ["a", "x"]);
}

#[tokio::test]
async fn calls_routed_while_a_node_comes_and_goes_all_answer() {
    let a = sim(&[MODEL], Duration::from_millis(2)).await;
    let b = sim(&[MODEL], Duration::from_millis(2)).await;
    let extra = sim(&[MODEL], Duration::from_millis(2)).await;
    let nodes = vec![NodeConfig::new("a", a.url()), NodeConfig::new("b", b.url())];
    let (_dir, d) = fleet(nodes, 0.1).await;
    until(&d, "both nodes probed", |s| {
        s.iter().all(|n| n.version.is_some())
    })
    .await;
    let calls: Vec<_> = (0..24)
        .map(|i| {
            let d = d.clone();
            tokio::spawn(async move {
                let generation = d.chat(origin(), chat(&format!("call {i}")));
                let placement = generation.placement();
                generation.answer().await.map(|_| placement.get())
            })
        })
        .collect();
    for _ in 0..10 {
        d.add_node(NodeConfig::new("extra", extra.url()))
            .await
            .unwrap();
        tokio::task::yield_now().await;
        d.remove_node("extra").await.unwrap();
    }
    for call in calls {
        let placed = call.await.unwrap().unwrap();
        assert!(placed.is_some());
    }
    let names: Vec<String> = d.fleet().status().into_iter().map(|n| n.name).collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn every_turn_of_a_conversation_shares_its_affinity_key_from_the_first() {
    let say = |role: &str, text: &str| Message {
        role: role.into(),
        content: text.into(),
        ..Message::default()
    };
    let key = |messages: &[Message]| Hints::chat(MODEL, messages, None).conversation;
    for system in [None, Some(say("system", "be brief"))] {
        let mut turns: Vec<Message> = system.into_iter().collect();
        turns.push(say("user", "first question"));
        let first = key(&turns);
        assert!(first.is_some());
        for turn in 2..5 {
            turns.push(say("assistant", &format!("answer {turn}")));
            turns.push(say("user", &format!("question {turn}")));
            assert_eq!(key(&turns), first, "turn {turn}");
        }
    }
    // Another first question, model or system prompt is another conversation.
    let base = key(&[say("user", "first question")]);
    assert_ne!(key(&[say("user", "another question")]), base);
    assert_ne!(
        Hints::chat("qwen3:0.6b", &[say("user", "first question")], None).conversation,
        base
    );
    assert_ne!(
        key(&[say("system", "x"), say("user", "first question")]),
        base
    );
    assert_eq!(key(&[say("system", "only a system prompt")]), None);
}

/// A dashboard over `nodes` that queues up to 16 calls for 30 s.
async fn queueing(nodes: Vec<NodeConfig>, probe_secs: f64) -> (tempfile::TempDir, Dashboard) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = DashboardConfig::with_data_path(dir.path());
    config.ollama_host = nodes[0].url.clone();
    config.live.ps_interval_secs = probe_secs;
    config.live.tags_interval_secs = probe_secs;
    config.max_queue = 16;
    config.queue_timeout_secs = 30;
    config.nodes = nodes;
    let d = Dashboard::new(config).await.unwrap();
    (dir, d)
}

fn keyed(key: &str) -> Hints {
    Hints {
        key: Some(key.to_owned()),
        ..Hints::default()
    }
}

#[tokio::test]
async fn a_freed_slot_goes_to_the_next_key_in_turn_not_to_the_key_that_queued_first() {
    let node = sim(&[MODEL], Duration::ZERO).await;
    let (_dir, d) = queueing(
        vec![NodeConfig {
            max_parallel: Some(1),
            ..NodeConfig::new("only", node.url())
        }],
        3600.0,
    )
    .await;
    let fleet = d.fleet().clone();
    let held = fleet.route(MODEL, &keyed("a"), &[]).await.unwrap();
    // Key a queues five calls, then key b one, then an anonymous caller one: in that order.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let line = [
        ("a1", Some("a")),
        ("a2", Some("a")),
        ("a3", Some("a")),
        ("a4", Some("a")),
        ("a5", Some("a")),
        ("b", Some("b")),
        ("anonymous", None),
    ];
    for (queued, (who, key)) in line.into_iter().enumerate() {
        let (fleet, tx) = (fleet.clone(), tx.clone());
        tokio::spawn(async move {
            let hints = Hints {
                key: key.map(str::to_owned),
                ..Hints::default()
            };
            let routed = fleet.route(MODEL, &hints, &[]).await;
            tx.send((who, routed)).unwrap();
        });
        until(&d, "the call queued", |s| s[0].queued == queued + 1).await;
    }
    drop(held);
    let mut served = Vec::new();
    for _ in 0..line.len() {
        let (who, routed) = rx.recv().await.unwrap();
        served.push(who);
        drop(routed.unwrap()); // frees the slot for the next one
    }
    // First come first served would make b wait for all five of a's.
    assert_eq!(served, ["a1", "b", "anonymous", "a2", "a3", "a4", "a5"]);
    assert_eq!(d.fleet().status()[0].queued, 0);
}

/// The node changes announced on `events` so far, as (name, state, loaded).
fn changes(
    events: &mut tokio::sync::broadcast::Receiver<crate::Event>,
) -> Vec<(String, &'static str, Vec<String>)> {
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let crate::Event::NodeChanged(n) = event {
            seen.push((n.name, n.state, n.loaded));
        }
    }
    seen
}

#[tokio::test]
async fn node_changes_are_announced_once_each_and_not_on_every_probe() {
    let a = sim(&[MODEL], Duration::ZERO).await;
    let b = sim(&[], Duration::ZERO).await;
    let (_dir, d) = fleet(
        vec![NodeConfig::new("a", a.url()), NodeConfig::new("b", b.url())],
        0.1,
    )
    .await;
    let mut events = d.subscribe();
    until(&d, "both probed", |s| {
        s[0].loaded.len() == 1 && s[1].version.is_some()
    })
    .await;
    // Many probe rounds later, one change: a's loaded model.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        changes(&mut events),
        [("a".to_owned(), "up", vec![MODEL.to_owned()])]
    );
    d.drain_node("b", true).await.unwrap();
    d.drain_node("b", true).await.unwrap(); // no change, no event
    d.drain_node("b", false).await.unwrap();
    assert_eq!(
        changes(&mut events),
        [
            ("b".to_owned(), "draining", vec![]),
            ("b".to_owned(), "up", vec![])
        ]
    );
    // A node added: its first status; removed: its last, state `removed`.
    let c = sim(&[], Duration::ZERO).await;
    d.add_node(NodeConfig::new("c", c.url())).await.unwrap();
    d.remove_node("c").await.unwrap();
    let seen = changes(&mut events);
    assert_eq!(
        seen,
        [
            ("c".to_owned(), "up", vec![]),
            ("c".to_owned(), "removed", vec![])
        ]
    );
    // A node that dies: down, once.
    b.shutdown().await;
    until(&d, "b down", |s| s[1].state == "down").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(changes(&mut events), [("b".to_owned(), "down", vec![])]);
}

/// Serves `page` as `text/plain` on loopback (a 500 while it is `None`); its URL.
async fn metrics_page(page: Arc<Mutex<Option<String>>>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let page = lock(&page).clone();
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = socket.read(&mut head).await;
                let (status, body) = match page {
                    Some(body) => ("200 OK", body),
                    None => ("500 Internal Server Error", String::new()),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{addr}/metrics")
}

#[tokio::test]
async fn scraped_vram_is_what_routing_counts_and_a_failed_scrape_falls_back() {
    const MIB: u64 = 1024 * 1024;
    let page = Arc::new(Mutex::new(Some(
        "# TYPE DCGM_FI_DEV_FB_USED gauge\n\
         DCGM_FI_DEV_FB_USED{gpu=\"0\",UUID=\"GPU-0\"} 1024\n\
         DCGM_FI_DEV_FB_USED{gpu=\"1\",UUID=\"GPU-1\"} 3072\n\
         DCGM_FI_DEV_FB_FREE{gpu=\"0\",UUID=\"GPU-0\"} 7168\n\
         DCGM_FI_DEV_FB_FREE{gpu=\"1\",UUID=\"GPU-1\"} 5120\n"
            .to_owned(),
    )));
    let url = metrics_page(Arc::clone(&page)).await;
    let a = sim(&[], Duration::ZERO).await;
    let b = sim(&[], Duration::ZERO).await;
    let nodes = vec![
        NodeConfig {
            metrics_url: Some(url),
            vram_bytes: Some(1024 * MIB),
            ..NodeConfig::new("scraped", a.url())
        },
        NodeConfig {
            vram_bytes: Some(1024 * MIB),
            ..NodeConfig::new("configured", b.url())
        },
    ];
    let (_dir, d) = fleet(nodes, 0.1).await;
    until(&d, "the scrape", |s| s[0].vram_source == "metrics").await;
    let status = d.fleet().status();
    assert_eq!(
        (
            status[0].vram_total,
            status[0].vram_used,
            status[0].vram_free
        ),
        (Some(16384 * MIB), 4096 * MIB, Some(12288 * MIB)),
        "{status:?}"
    );
    assert_eq!(
        (status[1].vram_source, status[1].vram_free),
        ("config", Some(1024 * MIB))
    );
    // Routing's free-VRAM figure is the scraped one.
    let nodes = d.fleet().nodes();
    assert_eq!(
        nodes[0].candidate_and_size(MODEL, 0).0.free_vram,
        Some(12288 * MIB)
    );
    // The exporter fails: the node stays up, its figures fall back to its configuration, and
    // the error is shown.
    *lock(&page) = None;
    until(&d, "the fallback", |s| s[0].vram_source == "config").await;
    let status = d.fleet().status();
    assert_eq!(status[0].state, "up");
    assert_eq!(status[0].vram_free, Some(1024 * MIB));
    assert!(
        status[0]
            .metrics_error
            .as_deref()
            .is_some_and(|e| e.contains("status 500")),
        "{status:?}"
    );
    assert_eq!(
        nodes[0].candidate_and_size(MODEL, 0).0.free_vram,
        Some(1024 * MIB)
    );
    // It answers again: scraped again (after its backoff), the error cleared.
    *lock(&page) = Some("DCGM_FI_DEV_FB_USED 1\nDCGM_FI_DEV_FB_FREE 3\n".to_owned());
    until(&d, "the scrape again", |s| {
        s[0].vram_source == "metrics" && s[0].metrics_error.is_none()
    })
    .await;
    assert_eq!(d.fleet().status()[0].vram_total, Some(4 * MIB));
}
