#!/usr/bin/env bash
# Runs every test of ollama-dash: the README's test command.
#   1. cargo tests (unit, integration, CLI process test, doc tests, examples built; the
#      wasm32-wasip2 target is added for the plugins the tests build)
#   2. the end-to-end suite (tests/e2e): the real binary driven by the official clients,
#      in a virtualenv made here from pinned requirements, and the Node SDKs from a pinned
#      lock file (npm ci into target/e2e-node).
set -euo pipefail
cd "$(dirname "$0")/.."

# The plugin tests load WebAssembly components that tests/build.rs builds from source.
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi

cargo test --workspace --locked

# The browser tests drive Debian's chromium through its chromedriver (nothing is downloaded by
# the test runner itself).
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium and chromium-driver for the browser tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 chromium chromium-driver >/dev/null
  else
    echo "the browser tests need chromium and chromedriver; run as root:" >&2
    echo "  apt-get update && apt-get install -y chromium chromium-driver" >&2
    exit 1
  fi
fi

# `cargo test` already built target/debug/ollama-dash (the CLI test runs it).
venv=target/e2e-venv
if [ ! -x "$venv/bin/python" ] || ! cmp -s tests/e2e/requirements.txt "$venv/requirements.txt"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
  cp tests/e2e/requirements.txt "$venv/requirements.txt"
fi
# The Node SDKs (npm @premai/prem-sdk, openai) the suite drives, from a pinned lock file.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "the Node SDK tests need node 20+ and npm" >&2
  exit 1
fi
node_dir=target/e2e-node
if [ ! -d "$node_dir/node_modules" ] || ! cmp -s tests/e2e/node/package-lock.json "$node_dir/package-lock.json"; then
  rm -rf "$node_dir"
  mkdir -p "$node_dir"
  cp tests/e2e/node/package.json tests/e2e/node/package-lock.json "$node_dir/"
  (cd "$node_dir" && npm ci --quiet --no-audit --no-fund)
fi
OLLAMA_DASH_BIN="$PWD/target/debug/ollama-dash" "$venv/bin/python" -m pytest tests/e2e -q -p no:cacheprovider
