#!/usr/bin/env bash
# Upload throughput and peak memory of the real server (release build) over loopback, against
# `dd` writing the same number of bytes to the same disk. Both end with the data fsynced.
#   bash benches/upload.sh [GiB]        (default 4)
set -euo pipefail
cd "$(dirname "$0")/.."
gib=${1:-4}
bytes=$((gib * 1024 * 1024 * 1024))
data=$(mktemp -d "${TMPDIR:-/tmp}/ollama-dash-upload-bench.XXXXXX")
token=upload-bench-token-0123456789
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT

cargo build --release -p ollama-dash-host --quiet
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DATA_PATH="$data" AUTH_TOKEN="$token" OLLAMA_HOST=127.0.0.1:9 RUST_LOG=warn \
  target/release/ollama-dash serve --listen "127.0.0.1:$port" > "$data/server.log" 2>&1 &
pid=$!
until curl -sf "http://127.0.0.1:$port/ping" > /dev/null; do :; done
base="http://127.0.0.1:$port"

sync
start=$(date +%s.%N)
dd if=/dev/zero of="$data/dd.bin" bs=1M count=$((gib * 1024)) conv=fdatasync status=none
dd_s=$(echo "$(date +%s.%N) - $start" | bc)
rm -f "$data/dd.bin"
sync

location=$(curl -sf -D - -o /dev/null -X POST "$base/v1/uploads" -H "Authorization: Bearer $token" \
  -H "Tus-Resumable: 1.0.0" -H "Upload-Length: $bytes" | tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
start=$(date +%s.%N)
head -c "$bytes" /dev/zero | curl -sf -X PATCH -T - "$base$location" -H "Authorization: Bearer $token" \
  -H "Tus-Resumable: 1.0.0" -H "Upload-Offset: 0" -H "Content-Type: application/offset+octet-stream" \
  -H "Expect:" -o /dev/null
up_s=$(echo "$(date +%s.%N) - $start" | bc)
state=$(curl -sf "$base$location" -H "Authorization: Bearer $token")
hwm=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")

mb() { echo "scale=1; $bytes / 1048576 / $1" | bc; }
echo "size:            $gib GiB"
echo "dd (fdatasync):  ${dd_s}s  $(mb "$dd_s") MiB/s"
echo "tus upload:      ${up_s}s  $(mb "$up_s") MiB/s  ($(echo "scale=1; 100 * $dd_s / $up_s" | bc)% of dd)"
echo "server VmHWM:    $((hwm / 1024)) MiB"
echo "upload state:    $(echo "$state" | python3 -c 'import json,sys; u=json.load(sys.stdin); print(u["state"], u["sha256"])')"
