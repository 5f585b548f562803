#!/usr/bin/env bash
# What ollama-dash adds above one loopback hop (issue 14), side by side in one run.
#
#   benches/overhead.sh [BIN]      (default target/release/ollama-dash; ROUNDS=3 SECS=5)
#   UPSTREAM_BIN=OTHER benches/overhead.sh BIN   runs the upstream simulator from OTHER, so two
#                                    builds compared before/after face the same upstream
#
# One upstream (the simulator, `ollama-dash sim --token-delay-ms 0`), reached five ways, each
# with wrk at one connection, rounds interleaved (every target once, then again):
#   direct       POST /api/chat straight to the upstream
#   hop          the same through a bare socat relay (what one extra loopback hop costs here)
#   translated   POST /v1/chat/completions through ollama-dash (auth, translation, trace)
#   passthrough  POST /ollama/api/chat through ollama-dash (auth, byte copy, trace)
#   tags         GET /ollama/api/tags through ollama-dash (untraced), against GET /api/tags direct
# then 64 connections, direct and translated, for the throughput ratio, and the connections
# ollama-dash still holds to the upstream afterwards; and the same ratio against a second
# upstream that takes SLOW_TOKEN_MS (default 5) per token, as a model does (a second ollama-dash
# in front of it), where the upstream, not the CPU of a 2-core machine, sets the pace. Medians over the rounds; "added" is the
# target minus direct in the same round. Needs wrk and socat (Debian: apt-get install wrk socat).
# Its last line: `added p50 … ms, added p99 … ms, c64 ratio …` (the translated route).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/ollama-dash}
UPSTREAM_BIN=${UPSTREAM_BIN:-$BIN}
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-5}
TOKEN=overhead-bench-token-0123456789
# shellcheck source=benches/lib.sh
source benches/lib.sh

up=$(port); hop=$(port); dash=$(port); slow=$(port); dash_slow=$(port)
"$UPSTREAM_BIN" sim --listen "127.0.0.1:$up" --token-delay-ms 0 --preload llama3.2:1b >/dev/null 2>&1 & pids+=($!)
"$UPSTREAM_BIN" sim --listen "127.0.0.1:$slow" --token-delay-ms "${SLOW_TOKEN_MS:-5}" --preload llama3.2:1b >/dev/null 2>&1 & pids+=($!)
socat "TCP-LISTEN:$hop,fork,reuseaddr,backlog=1024" "TCP:127.0.0.1:$up" & pids+=($!)
DATA_PATH="$work/data" AUTH_TOKEN=$TOKEN OLLAMA_HOST="127.0.0.1:$up" RUST_LOG=warn \
  "$BIN" serve --listen "127.0.0.1:$dash" >"$work/serve.log" 2>&1 & pids+=($!)
serve=$!
DATA_PATH="$work/data_slow" AUTH_TOKEN=$TOKEN OLLAMA_HOST="127.0.0.1:$slow" RUST_LOG=warn \
  "$BIN" serve --listen "127.0.0.1:$dash_slow" >"$work/serve_slow.log" 2>&1 & pids+=($!)
wait_up "http://127.0.0.1:$up/api/version"
wait_up "http://127.0.0.1:$hop/api/version"
wait_up "http://127.0.0.1:$dash/api/health"
wait_up "http://127.0.0.1:$dash_slow/api/health"

messages='[{"role":"user","content":"Say hi"}]'
lua() { # name method body
  cat >"$work/$1.lua" <<EOF
wrk.method = "$2"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.body = [[$3]]
EOF
}
lua ollama POST "{\"model\":\"llama3.2:1b\",\"messages\":$messages,\"stream\":false,\"options\":{\"num_predict\":4}}"
lua openai POST "{\"model\":\"llama3.2:1b\",\"messages\":$messages,\"max_tokens\":4}"
lua get GET ""
declare -A url script
url[direct]="http://127.0.0.1:$up/api/chat";        script[direct]=ollama
url[hop]="http://127.0.0.1:$hop/api/chat";          script[hop]=ollama
url[translated]="http://127.0.0.1:$dash/v1/chat/completions"; script[translated]=openai
url[passthrough]="http://127.0.0.1:$dash/ollama/api/chat";    script[passthrough]=ollama
url[tags_direct]="http://127.0.0.1:$up/api/tags";   script[tags_direct]=get
url[tags]="http://127.0.0.1:$dash/ollama/api/tags"; script[tags]=get
url[slow_direct]="http://127.0.0.1:$slow/api/chat"; script[slow_direct]=ollama
url[slow_translated]="http://127.0.0.1:$dash_slow/v1/chat/completions"; script[slow_translated]=openai
targets=(direct hop translated passthrough tags_direct tags)

# wrk's latency distribution in ms: "p50 p99 req/s"
measure() { # target connections
  local threads=$(( $2 > 1 ? 2 : 1 ))
  wrk -t"$threads" -c"$2" -d"${SECS}s" --latency -s "$work/${script[$1]}.lua" "${url[$1]}" |
    python3 -c '
import re, sys
text = sys.stdin.read()
def ms(label):
    m = re.search(r"^\s*" + label + r"%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if errors: sys.exit(f"non-2xx answers: {errors.group(1)}\n{text}")
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
print("%.4f %.4f %.1f" % (ms("50"), ms("99"), rps))'
}

# Warm up every path once (first connections, the model resident, the store's first writes).
for t in "${targets[@]}"; do SECS=1 measure "$t" 1 >/dev/null; done
for t in slow_direct slow_translated; do SECS=1 measure "$t" 64 >/dev/null; done

declare -A p50 p99 rps
for r in $(seq "$ROUNDS"); do
  for t in "${targets[@]}"; do
    read -r a b c < <(measure "$t" 1)
    p50[$t]+="$a "; p99[$t]+="$b "; rps[$t]+="$c "
    printf 'round %s  %-12s c=1  p50 %8.3f ms  p99 %8.3f ms  %8.1f req/s\n' "$r" "$t" "$a" "$b" "$c"
  done
  for t in direct translated slow_direct slow_translated; do
    read -r a b c < <(measure "$t" 64)
    rps["${t}_64"]+="$c "
    printf 'round %s  %-12s c=64 p50 %8.3f ms  p99 %8.3f ms  %8.1f req/s\n' "$r" "$t" "$a" "$b" "$c"
  done
done
held=$(ss -Htn state established "( dport = :$up )" | wc -l)
# The trace writer's work over the whole run: traces a transaction, and the store thread's CPU.
traces=$(curl -fsS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$dash/v1/traces?page=1&limit=1" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])') || traces=0
curl -fsS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$dash/api/health" | python3 -c '
import json, sys
b, traces = json.load(sys.stdin)["store"]["batches"], int(sys.argv[1])
print(f"store: {traces} traces in {b} transactions ({traces / max(b, 1):.1f} a transaction)")' "$traces" || true
for task in /proc/"$serve"/task/*; do
  if [ "$(cat "$task/comm")" = ollama-dash-sto ] || [ "$(cat "$task/comm")" = ollama-dash-store ]; then
    awk -v hz="$(getconf CLK_TCK)" '{printf "store thread CPU: %.2f s (user+system)\n", ($14 + $15) / hz}' "$task/stat"
  fi
done

python3 - "$held" <<EOF
import statistics as st, sys
p50 = {k: list(map(float, v.split())) for k, v in {$(for t in "${targets[@]}"; do printf '"%s": "%s", ' "$t" "${p50[$t]}"; done)}.items()}
p99 = {k: list(map(float, v.split())) for k, v in {$(for t in "${targets[@]}"; do printf '"%s": "%s", ' "$t" "${p99[$t]}"; done)}.items()}
rps64 = {k: list(map(float, v.split())) for k, v in {"direct": "${rps[direct_64]}", "translated": "${rps[translated_64]}", "slow_direct": "${rps[slow_direct_64]}", "slow_translated": "${rps[slow_translated_64]}"}.items()}
def added(t, base, table):
    return st.median(a - b for a, b in zip(table[t], table[base]))
print()
print("| path | added p50 (ms) | added p99 (ms) |")
print("|---|---|---|")
for t, base in [("hop", "direct"), ("translated", "direct"), ("passthrough", "direct"), ("tags", "tags_direct")]:
    print(f"| {t} | {added(t, base, p50):+.3f} | {added(t, base, p99):+.3f} |")
ratio = st.median(a / b for a, b in zip(rps64["translated"], rps64["direct"]))
slow = st.median(a / b for a, b in zip(rps64["slow_translated"], rps64["slow_direct"]))
print(f"\nc=64 throughput, translated / direct: {ratio:.2f}; connections held to the upstream after the c=64 rounds: {sys.argv[1]}")
print(f"c=64 throughput against the upstream at ${SLOW_TOKEN_MS:-5} ms per token, translated / direct: {slow:.2f} "
      f"({st.median(rps64['slow_translated']):.0f} / {st.median(rps64['slow_direct']):.0f} req/s)")
print(f"added p50 {added('translated', 'direct', p50):.3f} ms, added p99 {added('translated', 'direct', p99):.3f} ms, c64 ratio {ratio:.2f}")
EOF
