//! Routing policies side by side on one simulated fleet (#12): the same seeded workload —
//! three models of different sizes with skewed popularity, three-turn conversations, bursts —
//! replayed once per policy against four simulated Ollamas that schedule as Ollama does (VRAM
//! budgets of 3–6 GiB, loads at 4 GB/s, 2 slots per model, LRU eviction), each policy on a
//! fresh fleet, rounds interleaved (every policy once, then again). Then the same with one node
//! killed a third of the way through. Reports cold loads (traces whose load took over 50 ms),
//! p50/p99 time to first token, p99 end to end, throughput, 429s, requests lost before their
//! first byte (the goal is 0: failover) and answers cut mid-stream. Prints Markdown tables and
//! writes every TTFT sample to `target/bench-fleet/ttft.csv` (`benches/plot_fleet.py` draws it).
//!
//! Run: `cargo bench -p ollama-dash-benches --bench fleet` (`FLEET_CONVERSATIONS`, default 40;
//! `FLEET_ROUNDS`, default 2).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ollama_dash_core::fleet::{NodeConfig, Policy};
use ollama_dash_core::ollama::types::{ChatRequest, Message};
use ollama_dash_core::{Dashboard, DashboardConfig, ErrorKind, Origin};
use ollama_dash_host::sim::{Fleet, SimConfig};

const GIB: u64 = 1 << 30;
const VRAM: [u64; 4] = [3 * GIB, 4 * GIB, 5 * GIB, 6 * GIB];
/// Models and how often a conversation picks each.
const MODELS: [(&str, u32); 3] = [("llama3.2:1b", 55), ("qwen3:0.6b", 30), ("llava:7b", 15)];
const TURNS: usize = 3;
const CONCURRENCY: usize = 6;

/// A small deterministic generator: the same workload for every policy.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
}

/// One conversation: its model and whether it arrives in a burst (no pause before it).
fn workload(conversations: usize) -> Vec<(&'static str, bool)> {
    let mut rng = Lcg(7);
    (0..conversations)
        .map(|_| {
            let roll = rng.next() % 100;
            let mut acc = 0;
            let model = MODELS
                .iter()
                .find(|(_, w)| {
                    acc += w;
                    roll < acc
                })
                .map_or(MODELS[0].0, |(m, _)| m);
            (model, rng.next().is_multiple_of(4))
        })
        .collect()
}

#[derive(Debug, Default)]
struct Outcome {
    ttft_ms: Vec<f64>,
    e2e_ms: Vec<f64>,
    traces: Vec<String>,
    busy: usize,
    /// Failed before the client saw a byte of the answer: what failover must make 0.
    lost: usize,
    /// Failed after the first token (the node died under the stream).
    cut: usize,
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

async fn turn(d: &Dashboard, model: &str, history: &mut Vec<Message>, out: &Mutex<Outcome>) {
    history.push(Message {
        role: "user".into(),
        content: format!("question {} about {model}", history.len()),
        ..Message::default()
    });
    let request = ChatRequest {
        model: model.into(),
        messages: history.clone(),
        ..ChatRequest::default()
    };
    let origin = Origin {
        endpoint: "bench/fleet".into(),
        ..Origin::default()
    };
    let started = Instant::now();
    let generation = d.chat(origin, request);
    let id = generation.trace_id().to_owned();
    let mut lines = match generation.stream().await {
        Ok(lines) => lines,
        Err(e) => {
            let mut o = out.lock().unwrap();
            if e.kind() == ErrorKind::Busy {
                o.busy += 1;
            } else {
                o.lost += 1;
            }
            return;
        }
    };
    let mut first = None;
    let mut answer = String::new();
    let mut ok = false;
    while let Some(line) = lines.next().await {
        match line {
            Ok(line) => {
                if first.is_none() && !line.message.content.is_empty() {
                    first = Some(started.elapsed());
                }
                answer.push_str(&line.message.content);
                ok |= line.done;
            }
            Err(_) => break,
        }
    }
    let mut o = out.lock().unwrap();
    if !ok {
        match first {
            None => o.lost += 1,
            Some(_) => o.cut += 1,
        }
        return;
    }
    o.ttft_ms
        .push(first.unwrap_or_else(|| started.elapsed()).as_secs_f64() * 1000.0);
    o.e2e_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    o.traces.push(id);
    drop(o);
    history.push(Message {
        role: "assistant".into(),
        content: answer,
        ..Message::default()
    });
}

/// The node killed in the failover scenario, and after how many conversations began.
const KILLED: usize = 3;

async fn run(
    policy: Policy,
    work: Vec<(&'static str, bool)>,
    kill_after: Option<usize>,
    samples: &mut Vec<f64>,
) -> String {
    let sims = Fleet::start(
        VRAM.iter()
            .map(|&vram| SimConfig {
                vram_bytes: Some(vram),
                load_bytes_per_sec: Some(4_000_000_000),
                num_parallel: Some(2),
                token_delay: Duration::from_millis(3),
                ..SimConfig::default()
            })
            .collect(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = DashboardConfig::with_data_path(dir.path());
    config.ollama_host = sims.urls()[0].clone();
    config.live.ps_interval_secs = 0.25;
    config.live.tags_interval_secs = 0.25;
    config.routing = policy;
    config.nodes = sims
        .urls()
        .iter()
        .enumerate()
        .map(|(i, url)| NodeConfig {
            vram_bytes: Some(VRAM[i]),
            max_parallel: Some(2),
            ..NodeConfig::new(format!("n{i}"), url.clone())
        })
        .collect();
    let d = Dashboard::new(config).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await; // the first probes
    let out = Arc::new(Mutex::new(Outcome::default()));
    let queue = Arc::new(Mutex::new(work.into_iter().enumerate()));
    let killer = sims.node(KILLED).unwrap().control();
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (d, out, queue) = (d.clone(), Arc::clone(&out), Arc::clone(&queue));
            let killer = killer.clone();
            tokio::spawn(async move {
                loop {
                    let next = queue.lock().unwrap().next();
                    let Some((i, (model, burst))) = next else {
                        return;
                    };
                    if Some(i) == kill_after {
                        killer.kill();
                    }
                    if !burst {
                        tokio::time::sleep(Duration::from_millis(40)).await;
                    }
                    let mut history = Vec::new();
                    for _ in 0..TURNS {
                        turn(&d, model, &mut history, &out).await;
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let wall = started.elapsed().as_secs_f64();
    d.flush_writes().await.unwrap();
    let mut o = Arc::try_unwrap(out).unwrap().into_inner().unwrap();
    let mut cold = 0;
    for id in &o.traces {
        let t = d.trace(id).await.unwrap();
        if t.load_ns.unwrap_or(0) > 50_000_000 {
            cold += 1;
        }
    }
    let served = o.traces.len();
    samples.extend_from_slice(&o.ttft_ms);
    let row = format!(
        "| {policy:?} | {served} | {cold} | {:.0} | {:.0} | {:.0} | {:.1} | {} | {} | {} |",
        percentile(&mut o.ttft_ms, 0.5),
        percentile(&mut o.ttft_ms, 0.99),
        percentile(&mut o.e2e_ms, 0.99),
        served as f64 / wall,
        o.busy,
        o.lost,
        o.cut,
    );
    d.shutdown().await.unwrap();
    sims.shutdown().await;
    row
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let conversations = std::env::var("FLEET_CONVERSATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let rounds: usize = std::env::var("FLEET_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let work = workload(conversations);
    let policies = [
        Policy::Random,
        Policy::RoundRobin,
        Policy::LeastOutstanding,
        Policy::Resident,
    ];
    let mut csv = String::from("scenario,policy,round,ttft_ms\n");
    for (scenario, kill_after) in [("steady", None), ("node killed", Some(conversations / 3))] {
        println!(
            "\n{scenario}: {conversations} conversations × {TURNS} turns, concurrency \
             {CONCURRENCY}, 4 nodes (VRAM 3/4/5/6 GiB, 2 slots per model, loads at 4 GB/s){}\n",
            match kill_after {
                Some(n) => format!(", node n{KILLED} killed as conversation {n} begins"),
                None => String::new(),
            }
        );
        println!(
            "| policy | answered | cold loads | TTFT p50 (ms) | TTFT p99 (ms) | end-to-end p99 (ms) | answers/s | 429 | lost before the first byte | cut mid-stream |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for round in 1..=rounds {
            for policy in policies {
                let mut samples = Vec::new();
                println!(
                    "{}",
                    run(policy, work.clone(), kill_after, &mut samples).await
                );
                for ms in samples {
                    csv.push_str(&format!("{scenario},{policy:?},{round},{ms:.3}\n"));
                }
            }
        }
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-fleet");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ttft.csv"), csv).unwrap();
    println!("\nTTFT samples: {}", dir.join("ttft.csv").display());
}
