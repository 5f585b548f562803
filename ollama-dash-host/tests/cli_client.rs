//! The real `ollama-dash` binary as a client (`list`, `pull`, `upload`, `run`, `traces`, …)
//! against the real binary serving `serve --simulate` on a temporary `DATA_PATH`.
//!
//! Here (not in `tests/`) because only here does cargo give the binary's path.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Output, Stdio};

use ollama_dash_core::gguf::sample_model;
use serde_json::Value;
use support::{Served, serve_simulated};

const BIN: &str = env!("CARGO_BIN_EXE_ollama-dash");
const TOKEN: &str = "cli-client-test-token-0123";

/// A simulated server on a fresh `DATA_PATH` (kept alive by the returned directory).
fn serve() -> (Served, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let served = serve_simulated(Command::new(BIN), data.path(), TOKEN, |c| {
        c.env("OLLAMA_DASH_UPLOAD_RESERVE_BYTES", "0");
    });
    (served, data)
}

/// `ollama-dash ARGS…` as a client of `served`, with the test token and nothing else from the
/// environment that could pick a server, a token or a state file.
fn client(served: &Served, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("OLLAMA_DASH_URL", &served.base)
        .env("OLLAMA_DASH_TOKEN", TOKEN)
        .env_remove("AUTH_TOKEN")
        .env_remove("DATA_PATH")
        .env_remove("OLLAMA_DASH_UPLOAD_CHUNK")
        .stdin(Stdio::null());
    command
}

/// Runs `command` to its end.
fn output(mut command: Command) -> Output {
    command.output().unwrap()
}

/// Runs a client command that must succeed; its stdout.
fn ok(served: &Served, args: &[&str]) -> String {
    let out = output(client(served, args));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a client command whose stdout is JSON.
fn json(served: &Served, args: &[&str]) -> Value {
    let stdout = ok(served, args);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

/// The names in `list --json`.
fn names(served: &Served) -> Vec<String> {
    json(served, &["list", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The line of `text` that starts with `name` and a space.
fn row<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no row for {name} in\n{text}"))
}

/// The columns of a table line (separated by two or more spaces).
fn columns(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// Reads `stderr` lines until one satisfies `wanted`; every line read.
fn read_until(stderr: &mut BufReader<ChildStderr>, wanted: impl Fn(&str) -> bool) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).unwrap();
        assert!(n > 0, "stderr ended before the line wanted: {lines:?}");
        let done = wanted(&line);
        lines.push(line.trim_end().to_owned());
        if done {
            return lines;
        }
    }
}

/// GET `path` on the server with the test token.
async fn api(served: &Served, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", served.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Kills and reaps a child (SIGKILL: no clean-up of any kind).
fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn list_ps_show_cp_rm_print_ollamas_tables() {
    let (served, _data) = serve();

    let models = json(&served, &["list", "--json"]);
    let llama = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "llama3.2:1b")
        .expect("the simulator has llama3.2:1b")
        .clone();
    let list = ok(&served, &["list"]);
    assert_eq!(
        columns(list.lines().next().unwrap()),
        ["NAME", "ID", "SIZE", "MODIFIED"],
        "{list}"
    );
    let cells = columns(row(&list, "llama3.2:1b"));
    assert_eq!(cells[1], &llama["digest"].as_str().unwrap()[..12], "{list}");
    assert_eq!(cells[2], "1.3 GB", "{list}");
    assert!(cells[3].ends_with("ago"), "{list}");
    assert_eq!(list.lines().count(), models.as_array().unwrap().len() + 1);

    let ps = ok(&served, &["ps"]);
    assert_eq!(
        columns(ps.lines().next().unwrap()),
        ["NAME", "ID", "SIZE", "PROCESSOR", "UNTIL"],
        "{ps}"
    );
    let cells = columns(row(&ps, "llama3.2:1b"));
    assert_eq!(cells[3], "100% GPU", "{ps}");
    assert!(
        cells[4].ends_with("from now") || cells[4] == "Forever",
        "{ps}"
    );
    let running = json(&served, &["ps", "--json"]);
    assert_eq!(running[0]["name"], "llama3.2:1b", "{running}");

    let show = ok(&served, &["show", "llama3.2:1b"]);
    for wanted in [
        "  Model\n",
        "    architecture        llama\n",
        "  Capabilities\n",
        "    completion",
        "    tools",
        "  Parameters\n",
        "    stop",
    ] {
        assert!(show.contains(wanted), "{wanted:?} missing in\n{show}");
    }
    let show_json = json(&served, &["show", "llama3.2:1b", "--json"]);
    assert!(show_json["template"].is_string(), "{show_json}");

    assert_eq!(
        ok(&served, &["cp", "llama3.2:1b", "mine:copy"]),
        "copied 'llama3.2:1b' to 'mine:copy'\n"
    );
    assert!(names(&served).contains(&"mine:copy".to_owned()));
    assert_eq!(ok(&served, &["rm", "mine:copy"]), "deleted 'mine:copy'\n");
    assert!(!names(&served).contains(&"mine:copy".to_owned()));
    // The same with --json: the server's answer, and the finished delete jobs.
    assert_eq!(
        json(&served, &["cp", "llama3.2:1b", "mine:json", "--json"]),
        serde_json::json!({ "source": "llama3.2:1b", "destination": "mine:json" })
    );
    let jobs = json(&served, &["rm", "mine:json", "--json"]);
    assert_eq!(
        (&jobs[0]["kind"], &jobs[0]["model"], &jobs[0]["state"]),
        (&"delete".into(), &"mine:json".into(), &"done".into()),
        "{jobs}"
    );
    assert_eq!(jobs.as_array().unwrap().len(), 1, "{jobs}");
    assert!(!names(&served).contains(&"mine:json".to_owned()));

    let missing = output(client(&served, &["show", "nope:1b"]));
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.starts_with("Error: ") && stderr.contains("not found") && !stderr.contains('{'),
        "the server's message, plainly: {stderr}"
    );

    let mut wrong = client(&served, &["list"]);
    wrong.env("OLLAMA_DASH_TOKEN", "not-the-right-token-at-all");
    let wrong = output(wrong);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("the token was refused"),
        "{wrong:?}"
    );
}

#[tokio::test]
async fn pull_runs_to_completion_or_detaches() {
    let (served, _data) = serve();

    let job = json(&served, &["pull", "qwen2.5:0.5b", "--json"]);
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["model"], "qwen2.5:0.5b", "{job}");
    assert_eq!(job["progress"]["percent"], 100.0, "{job}");
    assert!(names(&served).contains(&"qwen2.5:0.5b".to_owned()));

    let plain = output(client(&served, &["pull", "all-minilm:latest"]));
    assert!(plain.status.success(), "{plain:?}");
    assert_eq!(String::from_utf8_lossy(&plain.stdout), "success\n");
    let progress = String::from_utf8_lossy(&plain.stderr);
    assert!(
        progress.contains("pulling all-minilm:latest (job ") && progress.contains("100%"),
        "plain progress lines when stderr is not a terminal: {progress}"
    );

    let id = ok(&served, &["pull", "smollm2:135m", "--detach"]);
    let id = id.trim();
    assert_eq!(id.len(), 36, "a job id: {id:?}");
    let job = api(&served, &format!("/api/jobs/{id}")).await;
    assert_eq!(job["kind"], "pull", "{job}");
    assert_eq!(job["model"], "smollm2:135m", "{job}");
    // The pull goes on without the client: wait for it on the server's own answer.
    let mut job = job;
    while job["state"] == "running" {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        job = api(&served, &format!("/api/jobs/{id}")).await;
    }
    assert_eq!(job["state"], "done", "{job}");

    let failed = output(client(&served, &["pull", "nope:1b"]));
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("does not exist"),
        "{failed:?}"
    );
}

#[tokio::test]
async fn ctrl_c_cancels_the_pull_job() {
    let (served, _data) = serve();
    // Not installed, so every layer is downloaded (the simulator paces them).
    let model = "hf.co/test/qwen-1.5B-GGUF:Q4_K_M";
    let mut child = client(&served, &["pull", model])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let started = read_until(&mut stderr, |l| l.contains("(job "));
    let id = started
        .last()
        .unwrap()
        .rsplit("(job ")
        .next()
        .unwrap()
        .trim_end_matches(')')
        .to_owned();
    // The line after the first progress line comes from inside the loop that watches Ctrl-C.
    read_until(&mut stderr, |_| true);
    read_until(&mut stderr, |_| true);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(rest.contains("cancelled"), "{rest}");
    let job = api(&served, &format!("/api/jobs/{id}")).await;
    assert_eq!(job["state"], "cancelled", "{job}");
    assert!(!names(&served).contains(&model.to_owned()));
}

#[tokio::test]
async fn run_answers_and_traces_show_the_runs() {
    let (served, _data) = serve();
    let prompt = "say hi to the tests";
    let expected: Value = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", served.base))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "model": "llama3.2:1b",
            "messages": [{"role": "user", "content": prompt}],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected = expected["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!expected.is_empty());

    let answer = ok(
        &served,
        &["run", "llama3.2:1b", "say", "hi", "to", "the", "tests"],
    );
    assert_eq!(answer, format!("{expected}\n"), "the simulator's answer");
    // --json: the same answer as one JSON line, nothing else on stdout.
    let line = ok(
        &served,
        &[
            "run",
            "--json",
            "llama3.2:1b",
            "say",
            "hi",
            "to",
            "the",
            "tests",
        ],
    );
    let parsed: Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert_eq!(
        (
            parsed["model"].as_str(),
            parsed["message"]["content"].as_str()
        ),
        (Some("llama3.2:1b"), Some(expected.as_str()))
    );

    let mut chat = client(&served, &["run", "llama3.2:1b"]);
    chat.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = chat.spawn().unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        b"hello\n\nand again\n/bye\nthis is never sent\n",
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let turns = String::from_utf8(out.stdout).unwrap();
    assert_eq!(turns.lines().count(), 2, "two answers: {turns}");

    // 2 answers + the direct call + 2 turns. Traces are written off the request path: wait
    // (on the server's own answer) until they are all in.
    let mut traces = json(&served, &["traces", "--json"]);
    while traces.as_array().unwrap().len() < 5 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        traces = json(&served, &["traces", "--json"]);
    }
    let traces = traces.as_array().unwrap().clone();
    assert_eq!(traces.len(), 5, "the line after /bye was never sent");
    assert!(
        traces
            .iter()
            .all(|t| t["model"] == "llama3.2:1b" && t["status"] == "ok"),
        "{traces:?}"
    );
    let newest = traces[0]["id"].as_str().unwrap();

    let table = ok(&served, &["traces", "--limit", "2"]);
    assert_eq!(
        columns(table.lines().next().unwrap()),
        [
            "ID", "CREATED", "MODEL", "ENDPOINT", "STATUS", "TOKENS", "DURATION", "TTFT"
        ],
        "{table}"
    );
    assert_eq!(table.lines().count(), 3, "--limit 2: {table}");
    let cells = columns(row(&table, newest));
    assert_eq!(cells[2..5], ["llama3.2:1b", "/v1/chat/completions", "ok"]);
    assert_eq!(
        ok(&served, &["traces", "--model", "llava:7b"])
            .lines()
            .count(),
        1,
        "the model filter reaches the server"
    );
    assert_eq!(
        json(&served, &["traces", "--status", "error", "--json"]),
        serde_json::json!([])
    );

    let mut follow = client(
        &served,
        &["traces", "--follow", "--json", "--interval", "0.05"],
    );
    let mut follower = follow.stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(follower.stdout.take().unwrap()).lines();
    let mut ids: Vec<String> = (0..5)
        .map(|_| {
            let line = lines.next().unwrap().unwrap();
            serde_json::from_str::<Value>(&line).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.last().map(String::as_str), Some(newest), "oldest first");
    ok(&served, &["run", "llama3.2:1b", "one more"]);
    let line = lines.next().unwrap().unwrap();
    let next: Value = serde_json::from_str(&line).unwrap();
    assert!(
        !ids.contains(&next["id"].as_str().unwrap().to_owned()),
        "{next}"
    );
    assert_eq!(next["model"], "llama3.2:1b");
    ids.push(next["id"].as_str().unwrap().to_owned());
    kill(follower);
}

#[test]
fn nodes_lists_the_fleet_and_token_prints_json() {
    let data = tempfile::tempdir().unwrap();
    let served = serve_simulated(Command::new(BIN), data.path(), TOKEN, |c| {
        c.args(["--nodes", "2"]);
    });
    let nodes = json(&served, &["nodes", "--json"]);
    let nodes = nodes.as_array().unwrap();
    let names: Vec<&str> = nodes.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["sim-1", "sim-2"], "{nodes:?}");
    for key in [
        "url",
        "state",
        "loaded",
        "vram_used",
        "in_flight",
        "queued",
        "served",
    ] {
        assert!(
            nodes[0].get(key).is_some(),
            "the server's JSON, whole: {key}"
        );
    }

    let table = ok(&served, &["nodes"]);
    assert_eq!(
        columns(table.lines().next().unwrap()),
        [
            "NAME",
            "URL",
            "STATE",
            "VERSION",
            "LOADED",
            "VRAM",
            "IN-FLIGHT",
            "QUEUED"
        ],
        "{table}"
    );
    assert_eq!(
        table.lines().count(),
        3,
        "a header and one row per node:\n{table}"
    );
    for node in nodes {
        let name = node["name"].as_str().unwrap();
        let cells = columns(row(&table, name));
        assert_eq!(cells.len(), 8, "{table}");
        assert_eq!(cells[1], node["url"].as_str().unwrap(), "{table}");
        assert!(["up", "down", "draining"].contains(&cells[2]), "{table}");
        // The simulated nodes have a VRAM size: used / total, in bytes made human.
        let total = node["vram_total"].as_u64().unwrap();
        assert!(
            cells[5].contains(" / ") && cells[5].ends_with("GB") && total > 0,
            "{table}"
        );
        assert!(cells[6].parse::<u64>().is_ok() && cells[7].parse::<u64>().is_ok());
    }

    let token = json(&served, &["token", "--json"]);
    assert_eq!(
        token,
        serde_json::json!({
            "url": served.base,
            "link": format!("{}/#token={TOKEN}", served.base),
            "token": TOKEN,
            "name": "admin",
            "role": "admin",
        })
    );
}

/// The model's `nodes` in `list --json` (the server's merged list).
fn holders(served: &Served, model: &str) -> Vec<String> {
    let list = json(served, &["list", "--json"]);
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == model)
        .unwrap_or_else(|| panic!("{model} not listed: {list}"));
    serde_json::from_value(entry["nodes"].clone()).unwrap()
}

#[tokio::test]
async fn in_a_fleet_pull_rm_stop_and_run_take_node_and_nodes_changes_the_fleet() {
    let data = tempfile::tempdir().unwrap();
    let served = serve_simulated(Command::new(BIN), data.path(), TOKEN, |c| {
        c.args(["--nodes", "2"]);
    });
    let model = "qwen2.5:0.5b";

    // Several nodes and no --node: the server's 400, naming the nodes, on stderr.
    let refused = output(client(&served, &["pull", model]));
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("sim-1") && said.contains("sim-2"), "{said}");

    let job = json(&served, &["pull", model, "--node", "sim-2", "--json"]);
    assert_eq!(
        (&job["state"], &job["node"]),
        (&"done".into(), &"sim-2".into()),
        "{job}"
    );
    assert_eq!(holders(&served, model), ["sim-2"]);

    // Both at once: one job per node, each followed, a list with --json.
    let plain = output(client(&served, &["pull", "smollm2:135m", "--node", "all"]));
    assert!(plain.status.success(), "{plain:?}");
    let progress = String::from_utf8_lossy(&plain.stderr);
    assert!(
        progress.contains("pulling smollm2:135m on sim-1 (job ")
            && progress.contains("pulling smollm2:135m on sim-2 (job "),
        "{progress}"
    );
    assert_eq!(holders(&served, "smollm2:135m"), ["sim-1", "sim-2"]);

    // A turn pinned to a node is answered and traced there.
    let reply = ok(
        &served,
        &["run", "--node", "sim-2", model, "--json", "Hello"],
    );
    assert!(reply.contains("\"assistant\""), "{reply}");
    let traces = api(&served, "/v1/traces?limit=1").await;
    assert_eq!(traces["data"][0]["node"], "sim-2", "{traces}");

    let stopped = json(&served, &["stop", model, "--json"]);
    assert_eq!(stopped["was_loaded"], true, "{stopped}");
    let on: Vec<(&str, bool)> = stopped["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["node"].as_str().unwrap(),
                n["was_loaded"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(on.contains(&("sim-2", true)), "{stopped}");
    assert_eq!(
        ok(&served, &["stop", model, "--node", "sim-2"]),
        format!("'{model}' was not loaded\n")
    );

    let deleted = ok(&served, &["rm", "smollm2:135m", "--node", "sim-1"]);
    assert_eq!(deleted, "deleted 'smollm2:135m' on sim-1\n");
    assert_eq!(holders(&served, "smollm2:135m"), ["sim-2"]);

    // The nodes themselves: drain, undrain, add, remove.
    let drained = json(&served, &["nodes", "drain", "sim-1", "--json"]);
    let state = |nodes: &Value, name: &str| {
        nodes
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .map(|n| n["state"].clone())
    };
    assert_eq!(
        state(&drained, "sim-1"),
        Some("draining".into()),
        "{drained}"
    );
    let undrained = json(&served, &["nodes", "undrain", "sim-1", "--json"]);
    assert_ne!(
        state(&undrained, "sim-1"),
        Some("draining".into()),
        "{undrained}"
    );

    let url = drained[1]["url"].as_str().unwrap().to_owned();
    let added = json(
        &served,
        &[
            "nodes",
            "add",
            "spare",
            &url,
            "--max-parallel",
            "2",
            "--label",
            "rack=r9",
            "--json",
        ],
    );
    assert_eq!(added[0]["name"], "spare", "{added}");
    assert_eq!(added[0]["labels"]["rack"], "r9", "{added}");
    let listed = json(&served, &["nodes", "--json"]);
    assert!(state(&listed, "spare").is_some(), "{listed}");
    assert_eq!(
        ok(&served, &["nodes", "rm", "spare"]),
        "removed node spare\n"
    );
    let listed = json(&served, &["nodes", "--json"]);
    assert_eq!(state(&listed, "spare"), None, "{listed}");
    // A configured node stays: the server's 409 is the client's error.
    let kept = output(client(&served, &["nodes", "rm", "sim-1"]));
    assert_eq!(kept.status.code(), Some(1), "{kept:?}");
}

#[test]
fn token_prints_the_sign_in_link_read_from_data_path() {
    let data = tempfile::tempdir().unwrap();
    let served = serve_simulated(Command::new(BIN), data.path(), TOKEN, |c| {
        c.env_remove("AUTH_TOKEN");
    });
    let generated = std::fs::read_to_string(data.path().join("auth-token")).unwrap();
    let mut token = client(&served, &["token", "--data-path"]);
    token.arg(data.path()).env_remove("OLLAMA_DASH_TOKEN");
    let out = output(token);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("Open {}/#token={}\n", served.base, generated.trim())
    );

    let mut none = client(&served, &["list", "--data-path"]);
    none.arg(data.path().join("elsewhere"))
        .env_remove("OLLAMA_DASH_TOKEN");
    let none = output(none);
    assert_eq!(none.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("no token"),
        "{none:?}"
    );

    let script = ok(&served, &["completions", "bash"]);
    assert!(
        script.contains("ollama__dash") && script.contains("upload"),
        "{}",
        &script[..script.len().min(300)]
    );
}

/// A valid GGUF of about 8 MiB (the sample model plus one big F32 tensor).
fn write_gguf(path: &Path) -> u64 {
    sample_model("llama", 3)
        .tensor("pad.weight", [2 * 1024 * 1024], 0)
        .write_to(path)
        .unwrap();
    std::fs::metadata(path).unwrap().len()
}

#[tokio::test]
async fn an_interrupted_upload_resumes_where_the_server_stopped_and_imports() {
    let (served, _data) = serve();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny-llama.gguf");
    let length = write_gguf(&file);
    let cache = dir.path().join("cache");
    let upload = |json: bool| {
        let mut command = client(&served, &["upload", "--name", "uploaded:test"]);
        command
            .arg(&file)
            .env("OLLAMA_DASH_UPLOAD_CHUNK", "65536")
            .env("XDG_CACHE_HOME", &cache);
        if json {
            command.arg("--json");
        }
        command
    };

    // 128 requests of 64 KiB: killed once a tenth of them were acknowledged.
    let mut first = upload(false).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(first.stderr.take().unwrap());
    read_until(&mut stderr, |l| {
        l.starts_with("uploading: ") && !l.starts_with("uploading: 0%")
    });
    kill(first);

    let state_file = cache.join("ollama-dash").join("uploads.json");
    let state: Value = serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    let entries = state.as_object().unwrap();
    assert_eq!(entries.len(), 1, "{state}");
    let location = entries.values().next().unwrap()["location"]
        .as_str()
        .unwrap()
        .to_owned();
    let info: Value = reqwest::Client::new()
        .get(&location)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let offset = info["offset"].as_u64().unwrap();
    assert!(offset > 0 && offset < length, "part of it: {info}");

    let out = output(upload(true));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("resuming the upload"), "{stderr}");
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    let resumed_from = result["resumed_from"].as_u64().unwrap();
    let sent = result["bytes_sent"].as_u64().unwrap();
    assert!(resumed_from >= offset, "{result}");
    assert_eq!(sent, length - resumed_from, "{result}");
    assert!(sent < length, "fewer bytes re-sent than the file: {result}");
    assert_eq!(
        result["upload_url"],
        location.as_str(),
        "the same upload: {result}"
    );
    assert_eq!(result["import"]["state"], "ready", "{result}");
    assert_eq!(result["import"]["name"], "uploaded:test", "{result}");
    assert!(names(&served).contains(&"uploaded:test".to_owned()));
    let state: Value = serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    assert_eq!(
        state,
        serde_json::json!({}),
        "a finished upload is forgotten"
    );
}
