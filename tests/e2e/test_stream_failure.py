"""A stream whose Ollama dies mid-answer ends with an error the OpenAI SDK raises (not a silent
cut), and its trace keeps what was produced. Ollama here is a standalone `ollama-dash sim`
process, killed for real."""

import os
import signal
import subprocess
import threading

import openai
import pytest

from conftest import binary, start_server, stop_server
from test_embed_example import free_port

MODEL = "llama3.2:1b"


@pytest.fixture()
def killable_ollama():
    port = free_port()
    sim = subprocess.Popen(
        [binary(), "sim", "--listen", f"127.0.0.1:{port}", "--token-delay-ms", "100", "--preload", MODEL],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RUST_LOG": "info"},
    )
    for line in sim.stderr:
        if "Listening on" in line:
            break
    threading.Thread(target=lambda: sim.stderr.read(), daemon=True).start()
    yield port, sim
    if sim.poll() is None:
        sim.kill()
    sim.wait(timeout=30)


def test_upstream_death_mid_stream_is_an_sdk_error_and_a_trace(killable_ollama):
    port, sim = killable_ollama
    proc, server = start_server({"OLLAMA_HOST": f"127.0.0.1:{port}"}, simulate=False)
    try:
        client = openai.OpenAI(base_url=server.url("/v1"), api_key=server.token, max_retries=0)
        stream = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Tell me a long story"}],
            max_tokens=200,
            stream=True,
        )
        received = ""
        with pytest.raises(openai.APIError) as error:
            for chunk in stream:
                text = chunk.choices[0].delta.content if chunk.choices else None
                if text:
                    received += text
                    if sim.poll() is None:
                        sim.send_signal(signal.SIGKILL)
        assert received, "tokens arrived before Ollama died"
        assert "stream" in str(error.value.message).lower() or "ollama" in str(error.value.message).lower()
        trace = server.get("/v1/traces", params={"limit": 1, "status": "error"}).json()["data"][0]
        detail = server.get(f"/v1/traces/{trace['id']}").json()
        assert detail["stream"] is True and detail["error"]
        assert detail["output"] == received
    finally:
        assert stop_server(proc) == 0
