"""The container files under packaging/ (the example config and the systemd unit are checked by
ollama-dash-host/tests/packaging.rs): hadolint, pinned in requirements.txt, on the Dockerfile,
and the promises the Dockerfile and compose file make."""

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PACKAGING = ROOT / "packaging"


def hadolint() -> str:
    found = Path(sys.executable).parent / "hadolint"
    return str(found) if found.exists() else shutil.which("hadolint") or "hadolint"


def test_dockerfile_passes_hadolint():
    done = subprocess.run(
        [hadolint(), "--no-color", str(PACKAGING / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_runs_unprivileged_with_a_volume_and_a_health_check():
    text = (PACKAGING / "Dockerfile").read_text()
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert len(stages) == 2 and stages[0].endswith(" AS build"), stages
    assert "-slim" in stages[1]
    assert "USER 10001:10001" in text
    assert 'VOLUME ["/data"]' in text and "DATA_PATH=/data" in text
    assert "HEALTHCHECK" in text and "http://127.0.0.1:8700/ping" in text
    assert "--locked" in text, "the image builds from Cargo.lock"


def test_compose_runs_ollama_beside_ollama_dash():
    text = (PACKAGING / "compose.yaml").read_text()
    assert "image: ollama/ollama" in text
    assert "dockerfile: packaging/Dockerfile" in text
    assert "OLLAMA_HOST: http://ollama:11434" in text
    assert "ollama-dash:/data" in text
