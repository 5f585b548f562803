"""The official `openai` and `ollama` clients against the real binary; each generation is then
found in /v1/traces with the fields the gateway promises."""

import json

import ollama
import openai
import pytest
import requests


CHAT_MODEL = "llama3.2:1b"
TOOLS_MODEL = "qwen3:0.6b"
EMBED_MODEL = "nomic-embed-text:latest"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture(scope="module")
def oai(server):
    return openai.OpenAI(base_url=server.url("/v1"), api_key=server.token, max_retries=0)


@pytest.fixture(scope="module")
def oll(server):
    return ollama.Client(host=server.url("/ollama"), headers={"Authorization": f"Bearer {server.token}"})


def trace_of(server, completion_id: str) -> dict:
    """The trace behind an OpenAI answer: its id carries the trace id without dashes."""
    hex_id = completion_id.split("-", 1)[1]
    trace_id = "-".join([hex_id[:8], hex_id[8:12], hex_id[12:16], hex_id[16:20], hex_id[20:]])
    response = server.get(f"/v1/traces/{trace_id}")
    assert response.status_code == 200, response.text
    return response.json()


def newest_trace(server, **filters) -> dict:
    page = server.get("/v1/traces", params={"limit": 1, **filters}).json()
    assert page["data"], f"no trace matches {filters}"
    return server.get(f"/v1/traces/{page['data'][0]['id']}").json()


def assert_usage_matches(trace: dict, usage) -> None:
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert trace["prompt_tokens"] == usage.prompt_tokens
    assert trace["completion_tokens"] == usage.completion_tokens
    assert trace["total_tokens"] == usage.total_tokens


def test_chat_non_stream(server, oai):
    answer = oai.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "Say hello"}],
        max_tokens=12,
        temperature=0.2,
        seed=7,
    )
    text = answer.choices[0].message.content
    assert answer.object == "chat.completion" and text
    assert answer.choices[0].finish_reason in ("stop", "length")
    trace = trace_of(server, answer.id)
    assert trace["status"] == "ok" and trace["http_status"] == 200
    assert trace["endpoint"] == "/v1/chat/completions" and trace["model"] == CHAT_MODEL
    assert trace["api_key"] == "admin" and trace["client_addr"] == "127.0.0.1"
    assert trace["stream"] is False
    assert trace["output"] == text
    assert json.loads(trace["input"])[0]["content"] == "Say hello"
    assert trace["duration_ms"] > 0 and trace["eval_ns"] > 0
    assert_usage_matches(trace, answer.usage)


def test_chat_stream_with_usage(server, oai):
    chunks = list(
        oai.chat.completions.create(
            model=CHAT_MODEL,
            messages=[{"role": "user", "content": "Count to five"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"] or finishes == ["length"]
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    trace = trace_of(server, chunks[0].id)
    assert trace["stream"] is True and trace["status"] == "ok"
    assert trace["output"] == text
    assert 0 < trace["ttft_ms"] <= trace["duration_ms"]
    assert_usage_matches(trace, usage_chunk.usage)


def test_tool_call_round_trip(server, oai):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = oai.chat.completions.create(model=TOOLS_MODEL, messages=messages, tools=[WEATHER_TOOL])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)  # a JSON string, as OpenAI sends it
    assert isinstance(arguments, dict)
    trace = trace_of(server, first.id)
    assert "get_weather" in trace["tool_calls"]

    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp_c": 21})})
    second = oai.chat.completions.create(model=TOOLS_MODEL, messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].finish_reason in ("stop", "tool_calls", "length")
    sent = json.loads(trace_of(server, second.id)["input"])
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == arguments
    assert sent[2]["role"] == "tool" and sent[2]["tool_name"] == "get_weather"


def test_json_schema_output(server, oai):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    answer = oai.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "Describe a person"}],
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
    )
    person = json.loads(answer.choices[0].message.content)
    assert isinstance(person["name"], str) and isinstance(person["age"], int)
    assert trace_of(server, answer.id)["status"] == "ok"


def test_embeddings(server, oai):
    result = oai.embeddings.create(model=EMBED_MODEL, input=["first text", "second text"])
    assert len(result.data) == 2 and result.data[1].index == 1
    vector = result.data[0].embedding
    assert len(vector) > 8 and abs(sum(v * v for v in vector) - 1.0) < 1e-3
    assert result.usage.prompt_tokens > 0
    trace = newest_trace(server, model=EMBED_MODEL)
    assert trace["endpoint"] == "/v1/embeddings" and trace["status"] == "ok"
    assert trace["prompt_tokens"] == result.usage.prompt_tokens


def test_models_list_and_one(server, oai):
    ids = [m.id for m in oai.models.list()]
    assert CHAT_MODEL in ids and EMBED_MODEL in ids
    assert oai.models.retrieve(CHAT_MODEL).id == CHAT_MODEL
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve("no/such-model:tag")


def test_unknown_model_is_a_404_the_sdk_understands(server, oai):
    with pytest.raises(openai.NotFoundError) as error:
        oai.chat.completions.create(model="nope:latest", messages=[{"role": "user", "content": "hi"}])
    assert error.value.body["code"] == "model_not_found"
    trace = newest_trace(server, model="nope:latest")
    assert trace["status"] == "error" and trace["http_status"] == 404


def test_wrong_key_is_an_authentication_error(server):
    bad = openai.OpenAI(base_url=server.url("/v1"), api_key="wrong-key-0123456789", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_ollama_chat_streaming(server, oll):
    parts = list(oll.chat(model=CHAT_MODEL, messages=[{"role": "user", "content": "Hi there"}], stream=True))
    assert len(parts) > 1 and parts[-1].done
    text = "".join(p.message.content for p in parts)
    trace = newest_trace(server, model=CHAT_MODEL, q="Hi there")
    assert trace["endpoint"] == "/ollama/api/chat" and trace["stream"] is True
    assert trace["status"] == "ok" and trace["output"] == text
    assert trace["completion_tokens"] == parts[-1].eval_count
    assert trace["load_ns"] is not None or parts[-1].load_duration in (None, 0)


def test_ollama_list_and_ps(server, oll):
    names = [m.model for m in oll.list().models]
    assert CHAT_MODEL in names
    running = [m.model for m in oll.ps().models]
    assert CHAT_MODEL in running


def test_ollama_pull_progress(server, oll):
    statuses = [p.status for p in oll.pull(EMBED_MODEL, stream=True)]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert any(s.startswith("pulling ") and s != "pulling manifest" for s in statuses)


def test_a_pull_or_delete_through_ollama_shows_at_once(server, oll):
    """The live cache is refreshed before the client sees the end of the answer, whole or streamed."""
    model = "hf.co/unsloth/SmolLM2-135M-GGUF:Q8_0"
    available = lambda: {m["name"] for m in server.get("/api/models/available").json()["models"]}  # noqa: E731
    assert oll.pull(model, stream=False).status == "success"
    assert model in available()
    oll.delete(model)
    assert model not in available()
    assert [p.status for p in oll.pull(model, stream=True)][-1] == "success"
    assert model in available()
    oll.delete(model)


def test_ollama_client_with_wrong_key(server):
    bad = ollama.Client(host=server.url("/ollama"), headers={"Authorization": "Bearer nope-nope-nope-1234"})
    with pytest.raises(ollama.ResponseError) as error:
        bad.list()
    assert error.value.status_code == 401


def test_viewer_reads_but_cannot_generate_or_delete(server):
    created = server.post("/api/keys", json={"name": "e2e-viewer", "role": "viewer"})
    assert created.status_code == 201, created.text
    viewer = {"Authorization": f"Bearer {created.json()['key']}"}
    assert requests.get(server.url("/v1/traces"), headers=viewer, timeout=10).status_code == 200
    chat = requests.post(
        server.url("/v1/chat/completions"),
        headers=viewer,
        json={"model": CHAT_MODEL, "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert chat.status_code == 403 and chat.json()["error"]["type"] == "permission_error"
    delete = requests.delete(server.url("/ollama/api/delete"), headers=viewer, json={"model": CHAT_MODEL}, timeout=10)
    assert delete.status_code == 403


def test_user_key_sees_only_its_own_traces(server):
    created = server.post("/api/keys", json={"name": "e2e-user", "role": "user"}).json()
    user = openai.OpenAI(base_url=server.url("/v1"), api_key=created["key"], max_retries=0)
    answer = user.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": "mine"}])
    mine = requests.get(
        server.url("/v1/traces"), headers={"Authorization": f"Bearer {created['key']}"}, timeout=10
    ).json()["data"]
    assert mine and {t["api_key"] for t in mine} == {"e2e-user"}
    assert trace_of(server, answer.id)["api_key"] == "e2e-user"


def test_trace_export_and_stats(server, oai):
    oai.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": "export me"}])
    lines = server.get("/v1/traces/export", params={"format": "jsonl", "q": "export me"}).text.splitlines()
    assert lines and json.loads(lines[0])["model"] == CHAT_MODEL
    csv = server.get("/v1/traces/export", params={"format": "csv", "q": "export me"}).text
    assert csv.splitlines()[0].startswith("id,created_at,endpoint,model")
    stats = server.get("/v1/traces/stats").json()
    chat = next(m for m in stats["models"] if m["model"] == CHAT_MODEL)
    assert chat["count"] >= 1 and chat["p50_latency_ms"] > 0 and chat["completion_tokens"] > 0
    health = server.get("/api/health").json()
    assert health["store"]["size_bytes"] > 0 and "retention" in health["traces"]
