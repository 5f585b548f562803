"""A fleet of three simulated Ollamas (real `ollama-dash sim` processes) behind one
`ollama-dash serve`, driven with the official `openai` and `ollama` clients: routing to the node
that holds the model, the `X-Ollama-Dash-Node` header, 429 with `Retry-After` when every slot
and the queue are full, failover when a node is killed, and a pull on one named node."""

import tempfile
import time
from pathlib import Path

import ollama
import openai
import pytest
import requests

from conftest import TOKEN, free_port, start_server, start_sim, stop_server

MODEL = "llama3.2:1b"


# Slow tokens, so a stream holds its slot while the queue test looks.
SLOW = ("--token-delay-ms", "150")


@pytest.fixture(scope="module")
def fleet():
    ports = {name: free_port() for name in ("a", "b", "c")}
    sims = {
        "a": start_sim(ports["a"], *SLOW),
        "b": start_sim(ports["b"], *SLOW, "--preload", MODEL),
        "c": start_sim(ports["c"], *SLOW),
    }
    config = Path(tempfile.mkdtemp(prefix="ollama-dash-fleet-")) / "ollama-dash.toml"
    nodes = "".join(
        f'[[nodes]]\nname = "{n}"\nurl = "127.0.0.1:{p}"\nmax_parallel = 1\nvram_bytes = {16 << 30}\n\n'
        for n, p in ports.items()
    )
    config.write_text(f"max_queue = 1\nqueue_timeout_secs = 60\nps_interval_secs = 0.2\ntags_interval_secs = 0.2\n\n{nodes}")
    proc, srv = start_server(simulate=False, config=config, extra_env={"OLLAMA_HOST": f"127.0.0.1:{ports['a']}"})
    # Wait until the probes have seen every node and the model loaded on b.
    for _ in range(200):
        nodes = srv.get("/api/nodes").json()["nodes"]
        if all(n["version"] for n in nodes) and MODEL in nodes[1]["loaded"]:
            break
        time.sleep(0.05)
    else:
        raise RuntimeError(f"fleet not probed: {nodes}")
    yield srv, sims
    stop_server(proc)
    for sim in sims.values():
        sim.kill()


def oai(srv, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.url("/v1"), api_key=srv.token, max_retries=retries)


def ask(text: str) -> list:
    return [{"role": "user", "content": text}]


def test_requests_go_to_the_node_holding_the_model_and_say_so(fleet):
    srv, _ = fleet
    raw = oai(srv).chat.completions.with_raw_response.create(model=MODEL, messages=ask("hello"))
    assert raw.headers["x-ollama-dash-node"] == "b"
    assert raw.parse().choices[0].message.content
    trace = srv.get("/v1/traces?limit=1").json()["data"][0]
    assert (trace["node"], trace["route_reason"]) == ("b", "resident")
    # The official ollama client through the passthrough is routed too.
    client = ollama.Client(host=srv.url("/ollama"), headers={"Authorization": f"Bearer {TOKEN}"})
    answer = client.chat(model=MODEL, messages=ask("and you?"))
    assert answer.message.content
    nodes = {n["name"]: n for n in srv.get("/api/nodes").json()["nodes"]}
    assert nodes["b"]["served"] >= 2 and nodes["a"]["served"] == 0 == nodes["c"]["served"]
    # /metrics counts the decisions by node and reason, and shows each node.
    metrics = requests.get(srv.url("/metrics"), headers={**srv.headers(), "Accept": "text/plain"}, timeout=30).text
    decided = [l for l in metrics.splitlines() if l.startswith("ollama_dash_route_decisions_total{")]
    assert any('node="b"' in l and 'reason="resident"' in l for l in decided), decided
    assert 'ollama_dash_node_up{node="c"} 1' in metrics


def test_a_full_queue_answers_429_with_retry_after(fleet):
    srv, _ = fleet
    body = {"model": MODEL, "messages": ask("a long answer please"), "stream": True}
    headers = {**srv.headers(), "Content-Type": "application/json"}
    # One stream holds b's only slot; a second waits in the queue (max_queue = 1).
    holding = requests.post(srv.url("/v1/chat/completions"), json=body, headers=headers, stream=True, timeout=60)
    assert holding.status_code == 200
    waiting = requests.Session()
    import threading

    queued = threading.Thread(
        target=lambda: waiting.post(srv.url("/v1/chat/completions"), json=body, headers=headers, timeout=60),
        daemon=True,
    )
    queued.start()
    for _ in range(200):
        if sum(n["queued"] for n in srv.get("/api/nodes").json()["nodes"]) == 1:
            break
        time.sleep(0.02)
    else:
        pytest.fail("the second request never queued")
    with pytest.raises(openai.RateLimitError) as refused:
        oai(srv).chat.completions.create(model=MODEL, messages=ask("third"))
    retry_after = refused.value.response.headers["retry-after"]
    assert int(retry_after) >= 1
    assert refused.value.response.json()["error"]["type"] == "rate_limit_error"
    holding.close()
    queued.join(timeout=60)


def test_a_killed_node_fails_over_before_the_first_byte_and_a_pull_lands_on_the_node_named(fleet):
    srv, sims = fleet
    sims["b"].kill()
    sims["b"].wait()
    raw = oai(srv).chat.completions.with_raw_response.create(model=MODEL, messages=ask("still there?"))
    assert raw.headers["x-ollama-dash-node"] in ("a", "c")
    assert raw.parse().choices[0].message.content
    # The probes mark it down within a few intervals, and health says so.
    for _ in range(200):
        health = srv.get("/api/health").json()
        if health["nodes"]["b"]["status"] == "down":
            break
        time.sleep(0.05)
    assert health["status"] == "degraded" and health["nodes"]["a"]["status"] == "up", health
    # A pull on node c only, through the official ollama client.
    on_c = ollama.Client(
        host=srv.url("/ollama"),
        headers={"Authorization": f"Bearer {TOKEN}", "X-Ollama-Dash-Node": "c"},
    )
    on_c.pull("smollm2:135m")
    names = [m.model for m in on_c.list().models]
    assert "smollm2:135m" in names
    on_a = requests.get(srv.url("/ollama/api/tags?node=a"), headers=srv.headers(), timeout=30).json()
    assert "smollm2:135m" not in [m["name"] for m in on_a["models"]]
    # Without a node, an admin call is refused with a message naming the nodes.
    refused = requests.get(srv.url("/ollama/api/tags"), headers=srv.headers(), timeout=30)
    assert refused.status_code == 400 and "a, b, c" in refused.json()["error"]


def test_a_request_pins_its_node_with_the_header(fleet):
    # Runs after the kill above: b is down; a and c are up.
    srv, _ = fleet
    for node in ("c", "a"):
        raw = oai(srv).chat.completions.with_raw_response.create(
            model=MODEL, messages=ask(f"on {node} please"), extra_headers={"X-Ollama-Dash-Node": node}
        )
        assert raw.headers["x-ollama-dash-node"] == node
        assert raw.parse().choices[0].message.content
        trace = srv.get("/v1/traces?limit=1").json()["data"][0]
        assert (trace["node"], trace["route_reason"]) == (node, "pinned")
    # Pinned to the node that is down: no failover to the ones that are up.
    with pytest.raises(openai.APIStatusError) as down:
        oai(srv).chat.completions.create(model=MODEL, messages=ask("x"), extra_headers={"X-Ollama-Dash-Node": "b"})
    assert down.value.status_code == 503 and '"b"' in down.value.response.json()["error"]["message"]
    # An unknown node is a 400 naming the nodes there are.
    with pytest.raises(openai.BadRequestError) as unknown:
        oai(srv).chat.completions.create(model=MODEL, messages=ask("x"), extra_headers={"X-Ollama-Dash-Node": "zz"})
    assert "a, b, c" in unknown.value.response.json()["error"]["message"]
