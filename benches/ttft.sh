#!/usr/bin/env bash
# Time to first token through ollama-dash builds, side by side in one run (issue 11's "before and
# after"): one simulated Ollama, reached directly (streamed POST /api/chat) and through each build
# (streamed POST /v1/chat/completions), rounds interleaved (every target once, then again).
#
#   benches/ttft.sh BIN [BIN…]     (ROUNDS=3 N=300; UPSTREAM_BIN defaults to the first BIN)
#
# TTFT is the time from sending the request to the first chunk that carries text, read on a
# kept-alive connection, one request at a time. "added" is a build's median minus the direct
# median of the same round; the table gives the medians of those over the rounds, and p99s.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 BIN [BIN…]" >&2; exit 2; }
UPSTREAM_BIN=${UPSTREAM_BIN:-$1}
ROUNDS=${ROUNDS:-3}
N=${N:-300}
TOKEN=ttft-bench-token-0123456789
# shellcheck source=benches/lib.sh
source benches/lib.sh

up=$(port)
"$UPSTREAM_BIN" sim --listen "127.0.0.1:$up" --token-delay-ms 0 --preload llama3.2:1b >/dev/null 2>&1 & pids+=($!)
wait_up "http://127.0.0.1:$up/api/version"
targets=("direct=http://127.0.0.1:$up")
for i in $(seq $#); do
  bin=${!i}; p=$(port)
  DATA_PATH="$work/data$i" AUTH_TOKEN=$TOKEN OLLAMA_HOST="127.0.0.1:$up" RUST_LOG=warn \
    "$bin" serve --listen "127.0.0.1:$p" >"$work/serve$i.log" 2>&1 & pids+=($!)
  wait_up "http://127.0.0.1:$p/api/health"
  targets+=("$(basename "$bin")=http://127.0.0.1:$p")
done

python3 - "$ROUNDS" "$N" "$TOKEN" "${targets[@]}" <<'EOF'
import http.client, json, statistics as st, sys, time
rounds, n, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
targets = [t.split("=", 1) for t in sys.argv[4:]]
messages = [{"role": "user", "content": "Say hi"}]

def request(name):
    if name == "direct":
        return "/api/chat", {"model": "llama3.2:1b", "messages": messages, "stream": True,
                             "options": {"num_predict": 4}}
    return "/v1/chat/completions", {"model": "llama3.2:1b", "messages": messages, "stream": True,
                                    "max_tokens": 4}

def ttft(conn, name):
    path, body = request(name)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    began = time.perf_counter()
    conn.request("POST", path, json.dumps(body), headers)
    answer = conn.getresponse()
    first = None
    for line in answer:  # NDJSON lines, or SSE `data:` lines
        line = line.strip()
        if first is None and line and b'"content":"' in line and b'"content":""' not in line:
            first = time.perf_counter() - began
    assert answer.status == 200 and first is not None, (name, answer.status)
    return first * 1000

added50, p99s = {}, {}
for r in range(rounds):
    med = {}
    for name, url in targets:
        conn = http.client.HTTPConnection(url.removeprefix("http://"))
        for _ in range(20):
            ttft(conn, name)  # warm
        samples = sorted(ttft(conn, name) for _ in range(n))
        conn.close()
        med[name] = st.median(samples)
        p99s.setdefault(name, []).append(samples[int(len(samples) * 0.99) - 1])
        print(f"round {r + 1}  {name:<22} TTFT p50 {med[name]:.3f} ms  p99 {p99s[name][-1]:.3f} ms")
    for name, _ in targets[1:]:
        added50.setdefault(name, []).append(med[name] - med["direct"])
print()
print("| build | added TTFT p50 (ms, median of rounds) | TTFT p99 (ms, median of rounds) |")
print("|---|---|---|")
print(f"| direct | — | {st.median(p99s['direct']):.3f} |")
for name, _ in targets[1:]:
    print(f"| {name} | {st.median(added50[name]):+.3f} | {st.median(p99s[name]):.3f} |")
EOF
