#!/usr/bin/env bash
# Where ollama-dash spends a request (issue 14): a flame graph and the syscalls per request of
# one route under wrk, against the simulator with no token delay.
#
#   benches/profile.sh [BIN] [ROUTE] [CONNECTIONS]
#     BIN          default target/release/ollama-dash (build it with line tables and unpacked
#                  debug info: CARGO_PROFILE_RELEASE_SPLIT_DEBUGINFO=off cargo build --release)
#     ROUTE        translated | passthrough | tags   (default translated)
#     CONNECTIONS  wrk connections (default 1)
#   OUT=benches/flame-ROUTE-cN.svg SECS=10 FOLDED=path (keeps the folded stacks there)
#
# Needs wrk, perf (Debian: linux-perf) and inferno (cargo install inferno). It prints the
# requests per second under perf, the syscalls per request of the server (perf trace -s, a
# separate run), and writes the SVG.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/ollama-dash}
ROUTE=${2:-translated}
CONN=${3:-1}
SECS=${SECS:-10}
OUT=${OUT:-benches/flame-$ROUTE-c$CONN.svg}
TOKEN=profile-bench-token-0123456789
# shellcheck source=benches/lib.sh
source benches/lib.sh

up=$(port); dash=$(port)
"$BIN" sim --listen "127.0.0.1:$up" --token-delay-ms 0 --preload llama3.2:1b >/dev/null 2>&1 & pids+=($!)
DATA_PATH="$work/data" AUTH_TOKEN=$TOKEN OLLAMA_HOST="127.0.0.1:$up" RUST_LOG=warn \
  "$BIN" serve --listen "127.0.0.1:$dash" >"$work/serve.log" 2>&1 & pids+=($!)
serve=$!
wait_up "http://127.0.0.1:$up/api/version"
wait_up "http://127.0.0.1:$dash/api/health"

messages='[{"role":"user","content":"Say hi"}]'
case $ROUTE in
  translated) path=/v1/chat/completions; method=POST
    body="{\"model\":\"llama3.2:1b\",\"messages\":$messages,\"max_tokens\":4}" ;;
  passthrough) path=/ollama/api/chat; method=POST
    body="{\"model\":\"llama3.2:1b\",\"messages\":$messages,\"stream\":false,\"options\":{\"num_predict\":4}}" ;;
  tags) path=/ollama/api/tags; method=GET; body="" ;;
  *) echo "unknown route $ROUTE" >&2; exit 2 ;;
esac
cat >"$work/req.lua" <<EOF
wrk.method = "$method"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.body = [[$body]]
EOF
threads=$(( CONN > 1 ? 2 : 1 ))
run_wrk() { wrk -t"$threads" -c"$CONN" -d"$1s" -s "$work/req.lua" "http://127.0.0.1:$dash$path"; }
requests() { sed -n 's/^ *\([0-9]*\) requests in.*/\1/p'; }

run_wrk 2 >/dev/null # warm

# Syscalls per request: perf trace's summary over a fixed window, divided by wrk's count.
perf trace -s -p "$serve" -o "$work/trace.txt" & tracer=$!
sleep 0.5
n=$(run_wrk 5 | requests)
kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
python3 - "$work/trace.txt" "$n" <<'EOF'
import re, sys
text, n = open(sys.argv[1]).read(), int(sys.argv[2])
calls = {}
for m in re.finditer(r"^\s+(\w+)\s+(\d+)\s+\d+\s+[\d.]+", text, re.M):
    calls[m.group(1)] = calls.get(m.group(1), 0) + int(m.group(2))
total = sum(calls.values())
top = sorted(calls.items(), key=lambda kv: -kv[1])[:8]
print(f"syscalls per request: {total / n:.1f} over {n} requests (" +
      ", ".join(f"{k} {v / n:.1f}" for k, v in top) + ")")
EOF

# The flame graph: on-CPU samples of every server thread, DWARF call stacks.
perf record -q -F 2999 -g --call-graph dwarf,32768 -p "$serve" -o "$work/perf.data" -- sleep "$SECS" &
recorder=$!
sleep 0.3
wrk_out=$(run_wrk "$SECS")
wait "$recorder" || true
echo "$wrk_out" | grep -E "Requests/sec|Latency"
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf --all > "$work/folded"
if [ -n "${FOLDED:-}" ]; then cp "$work/folded" "$FOLDED"; fi
# Frames under 0.1 % of the width are left out: the SVG stays ~2 MB instead of ~6.
inferno-flamegraph --minwidth 0.1 --title "ollama-dash $ROUTE, wrk c=$CONN (on-CPU)" < "$work/folded" > "$OUT"
echo "wrote $OUT"
