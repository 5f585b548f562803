#!/usr/bin/env python3
"""What one request costs the server (issue 14): CPU time and context switches per request, by
thread, for one route under wrk at one connection — several builds side by side, rounds
interleaved.

    benches/cost.py [--route translated|passthrough|tags] [--rounds 3] [--secs 5] BIN [BIN ...]

Each BIN serves against one shared upstream (`sim --token-delay-ms 0` from the first BIN, or
UPSTREAM_BIN). Per round and build: wrk -c1 for SECS, and the server's threads read from /proc
before and after (utime + stime, voluntary + involuntary switches). Printed per build: the
median over rounds of req/s, server CPU µs per request (all threads, then by thread name) and
switches per request. Needs wrk.
"""

import argparse
import json
import os
import re
import socket
import statistics as st
import subprocess
import sys
import tempfile
import time
import urllib.request

TOKEN = "cost-bench-token-0123456789"
HZ = os.sysconf("SC_CLK_TCK")
MESSAGES = '[{"role":"user","content":"Say hi"}]'
ROUTES = {
    "translated": ("POST", "/v1/chat/completions",
                   '{"model":"llama3.2:1b","messages":%s,"max_tokens":4}' % MESSAGES),
    "passthrough": ("POST", "/ollama/api/chat",
                    '{"model":"llama3.2:1b","messages":%s,"stream":false,'
                    '"options":{"num_predict":4}}' % MESSAGES),
    "tags": ("GET", "/ollama/api/tags", ""),
}


def port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url):
    for _ in range(400):
        try:
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
            urllib.request.urlopen(request, timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"not up: {url}")


def threads(pid):
    """Per thread name (digits folded: http-0 and http-1 are `http-N`): [cpu seconds, switches]."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                status = f.read()
        except OSError:
            continue
        name = re.sub(r"\d+", "N", stat[stat.index("(") + 1:stat.rindex(")")])
        fields = stat[stat.rindex(")") + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / HZ
        switches = sum(int(v) for v in re.findall(r"ctxt_switches:\s+(\d+)", status))
        acc = out.setdefault(name, [0.0, 0])
        acc[0] += cpu
        acc[1] += switches
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--route", default="translated", choices=ROUTES)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--secs", type=int, default=5)
    parser.add_argument("bins", nargs="+")
    args = parser.parse_args()
    method, path, body = ROUTES[args.route]
    work = tempfile.mkdtemp()
    procs = []
    try:
        up = port()
        upstream = os.environ.get("UPSTREAM_BIN", args.bins[0])
        procs.append(subprocess.Popen(
            [upstream, "sim", "--listen", f"127.0.0.1:{up}", "--token-delay-ms", "0",
             "--preload", "llama3.2:1b"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_up(f"http://127.0.0.1:{up}/api/version")
        servers = []
        for i, binary in enumerate(args.bins):
            p = port()
            env = dict(os.environ, DATA_PATH=f"{work}/data{i}", AUTH_TOKEN=TOKEN,
                       OLLAMA_HOST=f"127.0.0.1:{up}", RUST_LOG="warn")
            proc = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{p}"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(proc)
            wait_up(f"http://127.0.0.1:{p}/api/health")
            servers.append((binary, proc.pid, f"http://127.0.0.1:{p}{path}"))
        script = f"{work}/req.lua"
        with open(script, "w") as f:
            f.write(f'wrk.method = "{method}"\nwrk.headers["Content-Type"] = "application/json"\n'
                    f'wrk.headers["Authorization"] = "Bearer {TOKEN}"\nwrk.body = [[{body}]]\n')

        def wrk(url, secs):
            text = subprocess.run(["wrk", "-t1", "-c1", f"-d{secs}s", "-s", script, url],
                                  capture_output=True, text=True, check=True).stdout
            if "Non-2xx" in text:
                sys.exit(f"non-2xx answers:\n{text}")
            return int(re.search(r"(\d+) requests in", text).group(1))

        for _, _, url in servers:
            wrk(url, 1)  # warm
        results = {b: [] for b, _, _ in servers}
        for _ in range(args.rounds):
            for binary, pid, url in servers:
                before = threads(pid)
                n = wrk(url, args.secs)
                after = threads(pid)
                per = {k: [(v[0] - before.get(k, [0, 0])[0]) * 1e6 / n,
                           (v[1] - before.get(k, [0, 0])[1]) / n] for k, v in after.items()}
                results[binary].append((n / args.secs, per))
        for binary, rounds in results.items():
            rps = st.median(r for r, _ in rounds)
            names = sorted({k for _, per in rounds for k in per})
            by = {k: (st.median(per.get(k, [0, 0])[0] for _, per in rounds),
                      st.median(per.get(k, [0, 0])[1] for _, per in rounds)) for k in names}
            cpu = st.median(sum(v[0] for v in per.values()) for _, per in rounds)
            sw = st.median(sum(v[1] for v in per.values()) for _, per in rounds)
            print(f"{binary}  {args.route} c=1: {rps:.0f} req/s, server CPU {cpu:.0f} µs "
                  f"and {sw:.2f} switches per request")
            for k, (c, s) in sorted(by.items(), key=lambda kv: -kv[1][0]):
                if c >= 1 or s >= 0.05:
                    print(f"    {k:<18} {c:6.0f} µs  {s:5.2f} switches")
            print(json.dumps({"bin": binary, "route": args.route, "rps": rps, "cpu_us": cpu,
                              "switches": sw}))
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()
        subprocess.run(["rm", "-rf", work], check=False)


if __name__ == "__main__":
    main()
