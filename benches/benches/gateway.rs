//! Gateway overhead: the same load straight at the simulator and through ollama-dash, in one
//! run, with traces on. Needs `wrk` (Debian: `apt-get install wrk`).
//!
//! - latency at concurrency 1 (wrk `--latency`, p50/p99) and the difference host − direct;
//! - throughput at concurrency 64 and the ratio host / direct;
//! - time to first token of streams (first content line or SSE delta), host − direct.
//!
//! Run: `cargo bench -p ollama-dash-benches --bench gateway` (`BENCH_SECS`, default 10, sets
//! each wrk run's length). Prints a Markdown table for `benches/RESULTS.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark")]

use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ollama_dash_core::DashboardConfig;
use ollama_dash_host::config::{Config, HostConfig};
use ollama_dash_host::server::Server;
use ollama_dash_host::sim::{SimConfig, Simulator};
use serde_json::{Value, json};

const TOKEN: &str = "bench-token-0123456789";
const MODEL: &str = "llama3.2:1b";
const TTFT_SAMPLES: usize = 300;

/// One wrk run: p50 and p99 latency (ms) and requests per second.
#[derive(Debug, Clone, Copy)]
struct Wrk {
    p50: f64,
    p90: f64,
    p99: f64,
    rps: f64,
}

fn wrk(url: &str, body: &Value, connections: u32, secs: u64) -> Wrk {
    let script = tempfile::NamedTempFile::new().unwrap();
    let lua = format!(
        "wrk.method = \"POST\"\nwrk.body = [==[{body}]==]\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = \"Bearer {TOKEN}\"\n"
    );
    std::fs::write(script.path(), lua).unwrap();
    let threads = connections.min(2);
    let out = Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c", &connections.to_string()])
        .args(["-d", &format!("{secs}s"), "--latency", "-s"])
        .arg(script.path())
        .arg(url)
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("Non-2xx") && !text.contains("Socket errors"),
        "wrk saw errors against {url}:\n{text}"
    );
    let value = |prefix: &str| -> f64 {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in wrk output:\n{text}"));
        let field = line.split_whitespace().nth(1).unwrap();
        let (number, unit) = field.split_at(
            field
                .find(|c: char| c.is_alphabetic())
                .unwrap_or(field.len()),
        );
        let n: f64 = number.parse().unwrap();
        match unit {
            "us" => n / 1000.0,
            "ms" | "" => n,
            "s" => n * 1000.0,
            other => panic!("unit {other}"),
        }
    };
    Wrk {
        p50: value("50%"),
        p90: value("90%"),
        p99: value("99%"),
        rps: value("Requests/sec:"),
    }
}

/// Time to the first generated text of a stream, per request, in ms.
async fn ttft(client: &reqwest::Client, url: &str, body: &Value, sse: bool) -> Vec<f64> {
    let mut samples = Vec::with_capacity(TTFT_SAMPLES);
    for _ in 0..TTFT_SAMPLES {
        let started = Instant::now();
        let response = client
            .post(url)
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        let mut stream = response.bytes_stream();
        let mut seen = Vec::new();
        'read: while let Some(chunk) = stream.next().await {
            seen.extend_from_slice(&chunk.unwrap());
            for line in seen.split(|b| *b == b'\n') {
                let text = String::from_utf8_lossy(line);
                let json = if sse {
                    text.strip_prefix("data: ")
                } else {
                    Some(text.as_ref())
                };
                let Some(v) = json.and_then(|j| serde_json::from_str::<Value>(j).ok()) else {
                    continue;
                };
                let content = if sse {
                    v.pointer("/choices/0/delta/content")
                } else {
                    v.pointer("/message/content")
                };
                if content
                    .and_then(Value::as_str)
                    .is_some_and(|c| !c.is_empty())
                {
                    samples.push(started.elapsed().as_secs_f64() * 1000.0);
                    break 'read;
                }
            }
        }
        // Read the rest so the connection is reused.
        while stream.next().await.is_some() {}
    }
    samples
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn p99(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // run by `cargo bench` only (it passes --bench), not by `cargo test --benches`
    }
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (sim, base) = rt.block_on(async {
        let sim = Simulator::start(SimConfig {
            token_delay: Duration::ZERO,
            load_delay: Duration::ZERO,
            preload: vec![MODEL.to_owned()],
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let mut dashboard = DashboardConfig::with_data_path(dir.path());
        dashboard.ollama_host = sim.url();
        let host: HostConfig = serde_json::from_value(json!({
            "listen": "127.0.0.1:0",
            "auth_token": TOKEN,
            "auth_failures_per_minute": 1_000_000,
        }))
        .unwrap();
        let server = Server::bind(Config { dashboard, host }).await.unwrap();
        let base = format!("http://{}", server.local_addr().unwrap());
        tokio::spawn(server.run(std::future::pending()));
        (sim, base)
    });
    let sim_url = sim.url();
    if let Ok(secs) = std::env::var("BENCH_SERVE_SECS") {
        // Profiling aid: keep both servers up and say where they are.
        println!("simulator {sim_url}\nhost {base}\ntoken {TOKEN}");
        let secs = secs.parse().unwrap_or(60);
        rt.block_on(async { tokio::time::sleep(Duration::from_secs(secs)).await });
        return;
    }
    let options = json!({ "num_predict": 16, "seed": 1 });
    let native = json!({
        "model": MODEL, "stream": false, "options": options,
        "messages": [{"role": "user", "content": "Say something short."}],
    });
    let openai = json!({
        "model": MODEL, "max_tokens": 16, "seed": 1,
        "messages": [{"role": "user", "content": "Say something short."}],
    });
    println!("## gateway overhead (wrk, {secs} s per run, traces on)\n");
    println!(
        "| path | c=1 direct p50 / p90 / p99 (ms) | c=1 via host p50 / p90 / p99 (ms) | added p50 / p90 / p99 (ms) | c=64 rps direct → host (ratio), 0 ms/token | c=64 rps direct → host (ratio), 1 ms/token |"
    );
    println!("|---|---|---|---|---|---|");
    let cases = [
        (
            "/ollama/api/chat (passthrough)",
            format!("{base}/ollama/api/chat"),
            native.clone(),
        ),
        (
            "/v1/chat/completions (translated)",
            format!("{base}/v1/chat/completions"),
            openai.clone(),
        ),
    ];
    let direct_url = format!("{sim_url}/api/chat");
    for (name, via_url, via_body) in cases {
        sim.control().set_token_delay(Duration::ZERO);
        let d1 = wrk(&direct_url, &native, 1, secs);
        let h1 = wrk(&via_url, &via_body, 1, secs);
        let d64 = wrk(&direct_url, &native, 64, secs);
        let h64 = wrk(&via_url, &via_body, 64, secs);
        sim.control().set_token_delay(Duration::from_millis(1));
        let d64s = wrk(&direct_url, &native, 64, secs);
        let h64s = wrk(&via_url, &via_body, 64, secs);
        let ms = |w: Wrk| format!("{:.3} / {:.3} / {:.3}", w.p50, w.p90, w.p99);
        let added = format!(
            "{:+.3} / {:+.3} / {:+.3}",
            h1.p50 - d1.p50,
            h1.p90 - d1.p90,
            h1.p99 - d1.p99
        );
        let rps = |d: Wrk, h: Wrk| format!("{:.0} → {:.0} ({:.2})", d.rps, h.rps, h.rps / d.rps);
        println!(
            "| {name} | {} | {} | {added} | {} | {} |",
            ms(d1),
            ms(h1),
            rps(d64, h64),
            rps(d64s, h64s)
        );
    }
    sim.control().set_token_delay(Duration::ZERO);
    let (direct, passthrough, gateway) = rt.block_on(async {
        let client = reqwest::Client::new();
        let mut stream_native = native.clone();
        stream_native["stream"] = true.into();
        let mut stream_openai = openai.clone();
        stream_openai["stream"] = true.into();
        let direct = ttft(
            &client,
            &format!("{sim_url}/api/chat"),
            &stream_native,
            false,
        )
        .await;
        let passthrough = ttft(
            &client,
            &format!("{base}/ollama/api/chat"),
            &stream_native,
            false,
        )
        .await;
        let gateway = ttft(
            &client,
            &format!("{base}/v1/chat/completions"),
            &stream_openai,
            true,
        )
        .await;
        (direct, passthrough, gateway)
    });
    println!("\n## time to first token, streams ({TTFT_SAMPLES} sequential requests each)\n");
    println!("| path | p50 (ms) | p99 (ms) | added p50 (ms) |");
    println!("|---|---|---|---|");
    let (mut d, mut p, mut g) = (direct, passthrough, gateway);
    let dm = median(&mut d);
    println!(
        "| simulator /api/chat (direct) | {dm:.3} | {:.3} | — |",
        p99(&mut d)
    );
    let pm = median(&mut p);
    println!(
        "| host /ollama/api/chat | {pm:.3} | {:.3} | {:+.3} |",
        p99(&mut p),
        pm - dm
    );
    let gm = median(&mut g);
    println!(
        "| host /v1/chat/completions | {gm:.3} | {:.3} | {:+.3} |",
        p99(&mut g),
        gm - dm
    );
    rt.block_on(sim.shutdown());
}
