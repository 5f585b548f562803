"""The official Prem SDKs, unmodified, against the real binary: Python `premai` (which calls
`/api/v1/…`) here, npm `@premai/prem-sdk` (trailing slashes, `event:` frames, `system_prompt`)
through a node script (tests/e2e/node/prem_smoke.cjs)."""

import json

import premai
import pytest

from node_sdk import run_node

CHAT_MODEL = "llama3.2:1b"


@pytest.fixture(scope="module")
def prem(server):
    return premai.PremAI(api_key=server.token, base_url=server.base_url, max_retries=0)


def newest_trace(server) -> dict:
    page = server.get("/v1/traces", params={"limit": 1}).json()
    return server.get(f"/v1/traces/{page['data'][0]['id']}").json()


def test_python_chat(server, prem):
    answer = prem.chat.completions(
        model=CHAT_MODEL,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}],
        max_completion_tokens=30,
        temperature=0.2,
    )
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.content
    assert answer.usage.completion_tokens > 0
    trace = newest_trace(server)
    assert trace["endpoint"] == "/v1/chat/completions"
    assert trace["output"] == answer.choices[0].message.content


def test_python_chat_stream_through_the_raw_response(prem):
    # premai 0.18's `completions(stream=True)` parses the answer as one JSON body; its
    # streaming-response wrapper is how the SDK reads an event stream.
    with prem.chat.with_streaming_response.completions(
        model=CHAT_MODEL, messages=[{"role": "user", "content": "Tell me a story"}], stream=True
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        data = [line[len("data: "):] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    text = "".join(json.loads(d)["choices"][0]["delta"].get("content", "") for d in data[:-1] if json.loads(d)["choices"])
    assert text


def test_python_models(prem):
    listed = prem.models.list()
    assert listed.object == "list"
    ids = [m.id for m in listed.data]
    assert CHAT_MODEL in ids
    loaded = prem.models.load(model=CHAT_MODEL)
    assert CHAT_MODEL in loaded.message
    unloaded = prem.models.unload(model=CHAT_MODEL)
    assert unloaded.message
    assert prem.models.check_status(model=CHAT_MODEL).status is False


def test_python_errors_are_sdk_errors(prem):
    with pytest.raises(premai.NotFoundError):
        prem.chat.completions(model="no-such-model:latest", messages=[{"role": "user", "content": "hi"}])


def test_npm_prem_sdk(server):
    result = run_node(server, "prem_smoke.cjs")
    assert result["chat"], result
    assert result["stream_chunks"] > 0 and result["stream_text"], result
    assert result["stream_trace_id"], result
    assert CHAT_MODEL in result["models"]
    assert result["model"] == CHAT_MODEL
    assert result["embedding_length"] > 0
    assert result["traces"] > 0
    trace = server.get(f"/v1/traces/{result['stream_trace_id']}").json()
    assert trace["stream"] is True
    assert trace["output"] == result["stream_text"]
    sent = json.loads(trace["input"])
    assert sent[0] == {"role": "system", "content": "You are a pirate."}, "system_prompt honoured"
