"""The live dashboard through the real binary: `serve --simulate` streams stats, running models
and pull progress over /api/events (SSE), and answers cached reads and /metrics."""

import json
import time

import requests


def sse_events(response, deadline):
    """Yields (event, data) pairs from an SSE response until the deadline."""
    event, data = None, []
    for raw in response.iter_lines(decode_unicode=True):
        if time.monotonic() > deadline:
            raise AssertionError("timed out reading the event stream")
        if raw is None:
            continue
        if raw == "":
            if event is not None:
                yield event, json.loads("\n".join(data))
            event, data = None, []
        elif raw.startswith(":"):
            continue  # keep-alive comment
        elif raw.startswith("event:"):
            event = raw[len("event:"):].strip()
        elif raw.startswith("data:"):
            data.append(raw[len("data:"):].strip())


def test_events_show_live_stats_running_models_and_pull_progress(server):
    with requests.get(
        server.url("/api/events"), headers=server.headers(), stream=True, timeout=30
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        deadline = time.monotonic() + 60
        seen = set()
        job_id = None
        progress = []
        for event, data in sse_events(stream, deadline):
            seen.add(event)
            if event == "system_stats":
                assert data["memory"]["total"] > 0
            if event == "running_models":
                assert any(m["name"] == "llama3.2:1b" for m in data["models"]), data
            if job_id is None and {"system_stats", "running_models"} <= seen:
                started = server.post("/api/models/pull", json={"model": "smollm2:135m"})
                assert started.status_code == 202, started.text
                job_id = started.json()["job"]["id"]
            if event == "job" and data["id"] == job_id:
                progress.append(data)
                if data["state"] != "running":
                    break
        assert progress, seen
        final = progress[-1]
        assert final["state"] == "done", final
        assert any(p["progress"]["total"] > 0 and p["progress"]["percent"] is not None for p in progress)
        assert final["progress"]["percent"] == 100.0
        # The event is the job as /api/jobs/{id} answers it: resumable and url included.
        assert all(p["resumable"] is False and p["url"] == f"/api/jobs/{job_id}" for p in progress), progress
    job = server.get(f"/api/jobs/{job_id}").json()
    assert job["state"] == "done" and job["model"] == "smollm2:135m"
    available = server.get("/api/models/available").json()
    assert any(m["name"] == "smollm2:135m" for m in available["models"])


def test_cached_reads_and_metrics(server):
    running = server.get("/api/models/running").json()
    assert running["stale"] is False and isinstance(running["age_ms"], int)
    model = running["models"][0]
    assert model["expires"]["relative"].startswith("in ")
    assert 0 <= model["vram_percent"] <= 100
    health = server.get("/api/health").json()
    assert health["collector"]["alive"] is True
    assert set(health["collector"]["probes"]) == {"system", "gpu", "running", "installed", "version"}
    metrics = requests.get(server.url("/metrics"), headers=server.headers(), timeout=10)
    assert metrics.status_code == 200
    assert "ollama_up 1" in metrics.text
    assert "ollama_dash_http_requests_total" in metrics.text
    denied = requests.get(server.url("/metrics"), timeout=10)
    assert denied.status_code == 401
