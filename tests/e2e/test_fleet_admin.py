"""The node admin API against a real `ollama-dash serve` and real `ollama-dash sim` processes:
a node added at run time takes requests, survives a restart on the same DATA_PATH, and a
removed node takes no more; a configured node is not removed at run time."""

import tempfile
import time
from pathlib import Path

import requests

from conftest import free_port, start_server, start_sim, stop_server

MODEL = "llama3.2:1b"


def until_probed(srv, names: list[str]) -> list[dict]:
    for _ in range(200):
        nodes = srv.get("/api/nodes").json()["nodes"]
        if [n["name"] for n in nodes] == names and all(n["version"] for n in nodes):
            return nodes
        time.sleep(0.05)
    raise RuntimeError(f"nodes not probed: {nodes}")


def chat_node(srv) -> str:
    r = srv.post("/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    return r.headers["x-ollama-dash-node"]


def test_a_node_added_over_the_api_routes_survives_a_restart_and_goes_when_removed():
    ports = {"a": free_port(), "b": free_port()}
    sims = {"a": start_sim(ports["a"]), "b": start_sim(ports["b"], "--preload", MODEL)}
    config = Path(tempfile.mkdtemp(prefix="ollama-dash-fleet-admin-")) / "ollama-dash.toml"
    config.write_text(f'ps_interval_secs = 0.2\ntags_interval_secs = 0.2\n\n[[nodes]]\nname = "a"\nurl = "127.0.0.1:{ports["a"]}"\n')
    data = tempfile.mkdtemp(prefix="ollama-dash-fleet-admin-data-")
    env = {"DATA_PATH": data, "OLLAMA_HOST": f"127.0.0.1:{ports['a']}"}
    try:
        proc, srv = start_server(simulate=False, config=config, extra_env=env)
        try:
            added = srv.post("/api/nodes", json={"name": "b", "url": f"127.0.0.1:{ports['b']}", "labels": {"rack": "r2"}})
            assert added.status_code == 201, added.text
            assert added.json()["source"] == "api"
            assert srv.post("/api/nodes", json={"name": "b", "url": "127.0.0.1:1"}).status_code == 409
            bad = srv.post("/api/nodes", json={"name": "c", "url": "ftp://nowhere"})
            assert (bad.status_code, bad.json()["error"]["param"]) == (400, "url"), bad.text
            until_probed(srv, ["a", "b"])
            # The model is loaded on b only: routing sends the chat there.
            assert chat_node(srv) == "b"
            # A configured node stays.
            kept = requests.delete(srv.url("/api/nodes/a"), headers=srv.headers(), timeout=30)
            assert kept.status_code == 409, kept.text
        finally:
            assert stop_server(proc) == 0
        # The same DATA_PATH: b is back, after the configured a.
        proc, srv = start_server(simulate=False, config=config, extra_env=env)
        try:
            nodes = until_probed(srv, ["a", "b"])
            assert [(n["name"], n["source"], n["labels"].get("rack")) for n in nodes] == [("a", "config", None), ("b", "api", "r2")]
            assert chat_node(srv) == "b"
            gone = requests.delete(srv.url("/api/nodes/b"), headers=srv.headers(), timeout=30)
            assert gone.status_code == 204, gone.text
            assert chat_node(srv) == "a"
            assert requests.delete(srv.url("/api/nodes/b"), headers=srv.headers(), timeout=30).status_code == 404
        finally:
            assert stop_server(proc) == 0
    finally:
        for sim in sims.values():
            sim.kill()
