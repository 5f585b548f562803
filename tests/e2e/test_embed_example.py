"""`ollama-dash sim` as a standalone process, and the core crate's embedding example against it."""

import os
import subprocess
import threading
from pathlib import Path

import requests

from conftest import ROOT, binary, free_port


def test_standalone_sim_and_embed_example():
    example = ROOT / "target" / "debug" / "examples" / "embed"
    assert example.exists(), "cargo test builds the examples"
    port = free_port()
    sim = subprocess.Popen(
        [binary(), "sim", "--listen", f"127.0.0.1:{port}", "--token-delay-ms", "0", "--preload", "qwen3:0.6b"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RUST_LOG": "info"},
    )
    try:
        # The sim logs "Listening on ADDR" once it accepts connections.
        for line in sim.stderr:
            if "Listening on" in line:
                break
        threading.Thread(target=lambda: sim.stderr.read(), daemon=True).start()
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=10).text == "Ollama is running"
        env = {**os.environ, "OLLAMA_HOST": f"127.0.0.1:{port}"}
        out = subprocess.run([str(example)], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "Ollama " in out.stdout
        assert "llava:7b" in out.stdout and "nomic-embed-text:latest" in out.stdout
        loaded = out.stdout.split("loaded:")[1]
        assert "qwen3:0.6b" in loaded
    finally:
        sim.terminate()
        assert sim.wait(timeout=30) == 0
