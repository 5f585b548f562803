# Shared by the load scripts in benches/: a scratch directory and background processes that go
# away with the script, a free loopback port, and a wait until a URL answers.
# Source it after setting TOKEN (the bearer token wait_up sends).
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 200); do curl -fs -o /dev/null "$1" -H "Authorization: Bearer $TOKEN" && return; sleep 0.05; done; echo "not up: $1" >&2; exit 1; }
