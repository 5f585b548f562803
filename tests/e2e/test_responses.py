"""The official `openai` client's Responses API (`client.responses`) against the real binary:
whole and streamed answers, function tools, `previous_response_id`, and the traces behind them."""

import json

import openai
import pytest

from node_sdk import run_node

CHAT_MODEL = "llama3.2:1b"
TOOLS_MODEL = "qwen3:0.6b"

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather of a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture(scope="module")
def oai(server):
    return openai.OpenAI(base_url=server.url("/v1"), api_key=server.token, max_retries=0)


def trace_of(server, response_id: str) -> dict:
    """The trace behind a response: `resp_<trace id without dashes>`."""
    hex_id = response_id.removeprefix("resp_")
    trace_id = "-".join([hex_id[:8], hex_id[8:12], hex_id[12:16], hex_id[16:20], hex_id[20:]])
    response = server.get(f"/v1/traces/{trace_id}")
    assert response.status_code == 200, response.text
    return response.json()


def test_create_returns_text_usage_and_a_trace(server, oai):
    response = oai.responses.create(
        model=CHAT_MODEL,
        instructions="Answer in one word.",
        input="Say hello",
        max_output_tokens=40,
        temperature=0.3,
    )
    assert response.object == "response"
    assert response.status in ("completed", "incomplete")
    assert response.output_text, response.model_dump_json()
    assert response.output[0].type == "message"
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    trace = trace_of(server, response.id)
    assert trace["endpoint"] == "/v1/responses"
    assert trace["status"] == "ok"
    assert trace["prompt_tokens"] == response.usage.input_tokens
    assert trace["completion_tokens"] == response.usage.output_tokens
    sent = json.loads(trace["input"])
    assert sent[0] == {"role": "system", "content": "Answer in one word."}
    assert sent[1]["role"] == "user" and sent[1]["content"] == "Say hello"
    assert response.output_text in trace["output"]


def test_stream_events_arrive_in_order_and_add_up(server, oai):
    events = list(oai.responses.create(model=CHAT_MODEL, input="Tell me a short story", stream=True))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed", types
    for expected in (
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ):
        assert expected in types, (expected, types)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    done = next(e for e in events if e.type == "response.output_text.done")
    assert deltas and deltas == done.text
    final = events[-1].response
    assert final.output_text == deltas
    assert final.usage.output_tokens > 0
    trace = trace_of(server, final.id)
    assert trace["stream"] is True and trace["status"] == "ok"
    assert trace["output"] == deltas


def test_stream_helper_accumulates_the_final_response(oai):
    with oai.responses.stream(model=CHAT_MODEL, input="Count to three") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text and final.output_text == text
    assert final.status == "completed"


def test_function_call_round_trip(server, oai):
    first = oai.responses.create(
        model=TOOLS_MODEL, input="What is the weather in Paris?", tools=[WEATHER_TOOL]
    )
    calls = [item for item in first.output if item.type == "function_call"]
    assert calls, first.model_dump_json()
    call = calls[0]
    assert call.name == "get_weather"
    arguments = json.loads(call.arguments)
    assert isinstance(arguments, dict)
    trace = trace_of(server, first.id)
    assert "get_weather" in trace["tool_calls"]

    # The tool's answer continues the stored conversation.
    second = oai.responses.create(
        model=TOOLS_MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": json.dumps({"temp_c": 21})}],
        tools=[WEATHER_TOOL],
    )
    assert second.previous_response_id == first.id
    assert second.status == "completed"
    sent = json.loads(trace_of(server, second.id)["input"])
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == arguments
    assert sent[2]["tool_name"] == "get_weather" and sent[2]["tool_call_id"] == call.call_id


def test_streamed_function_call(oai):
    events = list(
        oai.responses.create(model=TOOLS_MODEL, input="Weather in Oslo?", tools=[WEATHER_TOOL], stream=True)
    )
    added = [e for e in events if e.type == "response.output_item.added" and e.item.type == "function_call"]
    assert added, [e.type for e in events]
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert json.loads(done.arguments) is not None
    final = events[-1].response
    assert any(item.type == "function_call" and item.arguments == done.arguments for item in final.output)


def test_previous_response_id_continues_a_text_conversation(server, oai):
    first = oai.responses.create(model=CHAT_MODEL, input="My name is Ada.")
    second = oai.responses.create(model=CHAT_MODEL, previous_response_id=first.id, input="What is my name?")
    sent = json.loads(trace_of(server, second.id)["input"])
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"] == "My name is Ada."
    assert sent[1]["content"] == first.output_text
    assert sent[2]["content"] == "What is my name?"


def test_unknown_previous_response_is_a_clear_400(oai):
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model=CHAT_MODEL, previous_response_id="resp_" + "0" * 32, input="hi")
    error = caught.value.body
    assert error["param"] == "previous_response_id"
    assert error["code"] == "previous_response_not_found"


def test_bad_requests_name_the_field(oai):
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model=CHAT_MODEL, input="hi", tools=[{"type": "web_search"}])
    assert caught.value.body["param"] == "tools[0].type"
    with pytest.raises(openai.NotFoundError) as caught:
        oai.responses.create(model="no-such-model:latest", input="hi")
    assert caught.value.body["code"] == "model_not_found"


def test_node_openai_sdk(server):
    result = run_node(server, "openai_responses.cjs")
    assert result["whole_text"] and result["whole_id"].startswith("resp_")
    assert result["whole_usage"]["input_tokens"] > 0
    assert result["types"][0] == "response.created" and result["types"][-1] == "response.completed"
    assert result["deltas"] and result["deltas"] == result["final_text"]
    assert result["helper_text"]
    assert trace_of(server, result["final_id"])["output"] == result["deltas"]
    call = result["call"]
    assert call and call["name"] == "get_weather" and isinstance(json.loads(call["arguments"]), dict)
