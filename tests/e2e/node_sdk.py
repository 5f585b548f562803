"""Runs a script of tests/e2e/node with the pinned Node SDKs (target/e2e-node, made by
scripts/test.sh with `npm ci` from tests/e2e/node/package-lock.json)."""

import json
import os
import shutil
import subprocess

import pytest

from conftest import ROOT

NODE_DIR = ROOT / "target" / "e2e-node"


def run_node(server, script: str) -> dict:
    """Runs `script` against `server`; its last stdout line is its JSON result."""
    if shutil.which("node") is None:
        pytest.fail("node is not installed: the Node SDK tests need node 20+")
    if not (NODE_DIR / "node_modules").is_dir():
        pytest.fail(f"{NODE_DIR}/node_modules is missing: run scripts/test.sh (npm ci)")
    env = dict(os.environ, BASE_URL=server.base_url, API_KEY=server.token, NODE_PATH=str(NODE_DIR / "node_modules"))
    done = subprocess.run(
        ["node", str(ROOT / "tests" / "e2e" / "node" / script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    # A promise that never settles lets node exit 0 with nothing printed (e.g. a stream that
    # never ends): say so instead of failing on an empty list.
    assert lines, f"{script} printed no result (did a stream never end?)\n{done.stderr}"
    return json.loads(lines[-1])
