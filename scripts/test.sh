#!/usr/bin/env bash
# Runs every test of ollama-dash: the README's test command.
#   1. cargo tests (unit, integration, CLI process test, doc tests, examples built)
#   2. the end-to-end suite (tests/e2e): the real binary driven by the official clients,
#      in a virtualenv made here from pinned requirements.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked

# `cargo test` already built target/debug/ollama-dash (the CLI test runs it).
venv=target/e2e-venv
if [ ! -x "$venv/bin/python" ] || ! cmp -s tests/e2e/requirements.txt "$venv/requirements.txt"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
  cp tests/e2e/requirements.txt "$venv/requirements.txt"
fi
OLLAMA_DASH_BIN="$PWD/target/debug/ollama-dash" "$venv/bin/python" -m pytest tests/e2e -q -p no:cacheprovider
