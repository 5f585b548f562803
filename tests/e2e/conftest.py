"""End-to-end fixtures: a real `ollama-dash serve --simulate` process on a free loopback port."""

import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "e2e-admin-token-0123456789"


@dataclass
class Server:
    base_url: str
    token: str
    data_path: Path
    output: list

    def url(self, path: str) -> str:
        return self.base_url + path

    def headers(self, token: str | None = None) -> dict:
        return {"Authorization": f"Bearer {token or self.token}"}

    def get(self, path: str, **kwargs):
        return requests.get(self.url(path), headers=self.headers(), timeout=30, **kwargs)

    def post(self, path: str, **kwargs):
        return requests.post(self.url(path), headers=self.headers(), timeout=30, **kwargs)


def binary() -> str:
    path = os.environ.get("OLLAMA_DASH_BIN") or str(ROOT / "target" / "debug" / "ollama-dash")
    if not Path(path).exists():
        raise RuntimeError(f"{path} not found: run `cargo build -p ollama-dash-host` first")
    return path


def free_port() -> int:
    """A loopback port nothing listens on (yet)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sim(port: int, *flags: str) -> subprocess.Popen:
    """A standalone `ollama-dash sim` on `port`, once it answers."""
    proc = subprocess.Popen(
        [binary(), "sim", "--listen", f"127.0.0.1:{port}", *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            requests.get(f"http://127.0.0.1:{port}/api/version", timeout=1)
            return proc
        except requests.RequestException:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"sim on {port} did not start")


def start_server(
    extra_env: dict | None = None,
    simulate: bool = True,
    listen: str = "127.0.0.1:0",
    config: Path | None = None,
    args: list[str] | None = None,
) -> tuple[subprocess.Popen, Server]:
    data = Path(tempfile.mkdtemp(prefix="ollama-dash-e2e-"))
    env = {k: v for k, v in os.environ.items() if k not in ("OLLAMA_HOST", "RUST_LOG")}
    env.update({"DATA_PATH": str(data), "AUTH_TOKEN": TOKEN, "RUST_LOG": "warn"})
    env.update(extra_env or {})
    proc = subprocess.Popen(
        [
            binary(),
            "serve",
            *(["--simulate"] if simulate else []),
            *(["--config", str(config)] if config else []),
            "--listen",
            listen,
            *(args or []),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    base_url = None
    for line in proc.stdout:
        output.append(line)
        match = re.search(r"listening on (http://\S+?)/?(\s|$)", line)
        if match:
            base_url = match.group(1)
            break
    if base_url is None:
        proc.kill()
        raise RuntimeError("server did not start:\n" + "".join(output))
    # Keep draining output so the pipe never fills up.
    threading.Thread(target=lambda: output.extend(proc.stdout), daemon=True).start()
    return proc, Server(base_url, TOKEN, data, output)


def stop_server(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@pytest.fixture(scope="session")
def server():
    proc, srv = start_server()
    yield srv
    code = stop_server(proc)
    assert code == 0, "server exited uncleanly:\n" + "".join(srv.output)


@pytest.fixture
def browser(server):
    """A fresh chromium (new profile) on the server's page. At the end, the browser console must
    hold no error or warning beyond those a test declared with `browser.expect_console(...)`."""
    from browser import Browser

    b = Browser(server.base_url)
    expected: list[str] = []
    b.expect_console = expected.append
    # A build without the plugin host answers /api/plugins with 404 and the Settings page says
    # "Plugins are not available in this build"; that 404 is then expected in the console.
    if requests.get(server.url("/api/plugins"), headers=server.headers(), timeout=30).status_code == 404:
        expected.append("/api/plugins - Failed to load resource: the server responded with a status of 404")
    try:
        yield b
        problems = [e for e in b.console_problems() if not any(p in e["message"] for p in expected)]
        assert not problems, "console errors:\n" + "\n".join(f"{e['level']} {e['message']}" for e in problems)
    finally:
        b.quit()
