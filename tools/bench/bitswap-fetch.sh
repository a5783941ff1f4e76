#!/usr/bin/env bash
# A DAG fetched over Bitswap between two boxcar nodes on 127.0.0.1, against the same DAG as a CAR
# over HTTP from the holder's gateway (issue 12: >= 0.5x). Node A imports a dag-pb root linking
# --blocks raw blocks of --size bytes (100 MiB by default); node B connects to A and runs
# `pin/add`, which fetches every block through the Bitswap client and pins the root. Prints the
# MiB/s of both, their ratio, and B's RSS after the fetch.
#
#   tools/bench/bitswap-fetch.sh [--build-dir DIR] [--blocks N] [--size BYTES]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$root/build"
blocks=400
size=262144
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build="$(cd "$2" && pwd)"; shift 2 ;;
    --blocks) blocks="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    *) echo "usage: $0 [--build-dir DIR] [--blocks N] [--size BYTES]" >&2; exit 2 ;;
  esac
done
for tool in "$build/bin/boxcar" "$build/bin/bench-gateway-data"; do
  [ -x "$tool" ] || { echo "missing $tool: build first (tools/dev.sh build)" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "jq is missing: run tools/install-deps.sh --bench" >&2; exit 2; }

work="$(mktemp -d /tmp/boxcar-bitswap-bench.XXXXXX)"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# config NAME: a node with p2p and rpc on ephemeral loopback ports, in $work/NAME.json.
config() {
  cat >"$work/$1.json" <<JSON
{
  "admin": {"listen": "127.0.0.1:0"},
  "gateway": {"listen": "127.0.0.1:0", "io_threads": 2},
  "plugins": {"path": ["$build/lib/boxcar/plugins"]},
  "strategies": {"prioritizer": {"plugin": "fair"}, "batcher": {"plugin": "fixed"},
                 "conn_manager": {"plugin": "watermark"}, "tuner": {"plugin": "static"}},
  "store": {"path": "$work/$1-data",
            "tiers": [{"plugin": "lru", "params": {"capacity_bytes": 268435456}}, {"plugin": "leveldb"}]},
  "p2p": {"listen": ["/ip4/127.0.0.1/tcp/0"]},
  "rpc": {"listen": "127.0.0.1:0"},
  "log": {"level": "warn"},
  "reload": {"watch_config": false}
}
JSON
}

# start NAME: runs the node; its ready file is $work/NAME.ready.
start() {
  "$build/bin/boxcar" run --config "$work/$1.json" --ready-file "$work/$1.ready" \
    >"$work/$1.log" 2>&1 &
  pids+=("$!")
  eval "${1}_pid=$!"
  local _
  for _ in $(seq 100); do [ -f "$work/$1.ready" ] && break; sleep 0.1; done
  [ -f "$work/$1.ready" ] || { cat "$work/$1.log" >&2; echo "node $1 did not start" >&2; exit 1; }
}

"$build/bin/bench-gateway-data" --blocks "$blocks" --size "$size" --out "$work/set" >/dev/null
dag_root="$(cat "$work/set/root.txt")"
bytes=$((blocks * size))
config a
config b
# The CAR is larger than the admin endpoint takes: imported offline, before A starts.
"$build/bin/boxcar" import --config "$work/a.json" --pin "$work/set/blocks.car" >/dev/null
start a
start b

http_s=$(curl -sf -o /dev/null -w '%{time_total}' \
  "http://$(jq -r .gateway "$work/a.ready")/ipfs/$dag_root?format=car")
b_rpc="http://$(jq -r .rpc "$work/b.ready")/api/v0"
a_addr="$(jq -r '.p2p[0]' "$work/a.ready")"
curl -sf -X POST "$b_rpc/swarm/connect?arg=$a_addr" >/dev/null
start_ns=$(date +%s%N)
curl -sf -X POST "$b_rpc/pin/add?arg=$dag_root" >/dev/null
bitswap_s=$(awk -v ns=$(( $(date +%s%N) - start_ns )) 'BEGIN { printf "%.3f", ns / 1e9 }')
b_rss_kib=$(awk '/VmRSS/{print $2}' "/proc/$b_pid/status")

awk -v bytes="$bytes" -v h="$http_s" -v b="$bitswap_s" -v rss="$b_rss_kib" -v n="$blocks" \
  -v size="$size" 'BEGIN {
    http = bytes / 1048576 / h; bs = bytes / 1048576 / b
    printf "DAG: %d blocks of %d bytes (%.1f MiB)\n", n, size, bytes / 1048576
    printf "CAR over HTTP from A: %.3f s, %.1f MiB/s\n", h, http
    printf "Bitswap pin/add on B: %.3f s, %.1f MiB/s\n", b, bs
    printf "ratio Bitswap/HTTP: %.2f\n", bs / http
    printf "B RSS after the fetch: %.1f MiB\n", rss / 1024
  }'
