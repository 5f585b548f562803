"""The web page's chat: sessions with a streaming send that stores both sides and links the
trace, and the seed's one-shot `POST /api/chat`."""

import json

import requests

CHAT_MODEL = "llama3.2:1b"


def sse_events(response) -> list[dict]:
    return [
        json.loads(line[len("data: "):])
        for line in response.iter_lines(decode_unicode=True)
        if line and line.startswith("data: ")
    ]


def test_session_lifecycle_and_streaming_send(server):
    session = server.post("/api/sessions", json={"title": "Trip", "model": CHAT_MODEL}).json()
    sid = session["id"]
    with requests.post(
        server.url(f"/api/sessions/{sid}/messages"),
        headers=server.headers(),
        json={"content": "Plan a day in Lyon", "options": {"temperature": 0.3}},
        stream=True,
        timeout=30,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "user" and kinds[-1] == "done" and "delta" in kinds
    done = events[-1]
    streamed = "".join(e["content"] for e in events if e["type"] == "delta")
    assert done["message"]["content"] == streamed

    messages = server.get(f"/api/sessions/{sid}/messages").json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == "Plan a day in Lyon"
    assert messages[0]["options"] == {"temperature": 0.3}
    assert messages[1]["content"] == streamed and messages[1]["model"] == CHAT_MODEL
    trace = server.get(f"/v1/traces/{messages[1]['trace_id']}").json()
    assert trace["status"] == "ok" and trace["output"] == streamed
    assert messages[1]["completion_tokens"] == trace["completion_tokens"]

    renamed = requests.patch(
        server.url(f"/api/sessions/{sid}"), headers=server.headers(), json={"title": "Lyon"}, timeout=10
    ).json()
    assert renamed["title"] == "Lyon"
    assert sid in [s["id"] for s in server.get("/api/sessions").json()["sessions"]]
    deleted = requests.delete(server.url(f"/api/sessions/{sid}"), headers=server.headers(), timeout=10)
    assert deleted.status_code == 204
    assert server.get(f"/api/sessions/{sid}").status_code == 404


def test_seed_api_chat_streams_and_answers_whole(server):
    whole = server.post("/api/chat", json={"model": CHAT_MODEL, "prompt": "Hello"}).json()
    assert whole["done"] is True and whole["response"]
    with requests.post(
        server.url("/api/chat"),
        headers=server.headers(),
        json={"model": CHAT_MODEL, "prompt": "Hello", "stream": True},
        stream=True,
        timeout=30,
    ) as response:
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(l) for l in response.iter_lines() if l.strip()]
    assert len(lines) > 2 and lines[-1]["done"] is True
    assert "".join(l["response"] for l in lines) == whole["response"]
    trace = server.get(f"/v1/traces/{lines[-1]['trace_id']}").json()
    assert trace["endpoint"] == "/api/chat" and trace["stream"] is True
