#!/usr/bin/env bash
# libp2p figures of issue 11, each beside what bounds it, in one run:
#   - one stream's throughput over Noise + Yamux on loopback (two in-process swarms), against
#     OpenSSL's single-core ChaCha20-Poly1305 (16 KiB blocks) from `openssl speed`;
#   - Noise handshakes per second against the running binary (client and node share the 2
#     cores; also per second of the node's own CPU), beside `openssl speed` for X25519 and
#     Ed25519;
#   - connection setup latency p50/p99: TCP connect to yamux ready, and to identify done;
#   - the node's RSS per idle connection with --idle (2,000) connected peers.
#
#   tools/bench/libp2p.sh [--build-dir DIR] [--idle N] [--json FILE]
#
# Needs a Release build (tools/dev.sh build) and jq (tools/install-deps.sh --bench).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$root/build"
idle=2000
json_out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build="$(cd "$2" && pwd)"; shift 2 ;;
    --idle) idle="$2"; shift 2 ;;
    --json) json_out="$2"; shift 2 ;;
    *) echo "usage: $0 [--build-dir DIR] [--idle N] [--json FILE]" >&2; exit 2 ;;
  esac
done
# shellcheck source=tools/bench/lib.sh
source "$root/tools/bench/lib.sh"
for tool in "$build/bin/boxcar" "$build/bin/bench-p2p"; do
  [ -x "$tool" ] || { echo "missing $tool: build first (tools/dev.sh build)" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "jq is missing: run tools/install-deps.sh --bench" >&2; exit 2; }
bench_workdir
# The node and the idle-connection client each hold one fd per connection.
ulimit -n "$(ulimit -Hn)"
results="$work/results.jsonl"

echo "== openssl speed (single core)" >&2
# The 16384-byte column, in 1000s of bytes per second, as MiB/s.
chacha=$(openssl speed -seconds 3 -evp chacha20-poly1305 2>/dev/null |
  awk '/^ChaCha20-Poly1305/ || /^chacha20-poly1305/ { v = $NF } END { sub(/k$/, "", v); printf "%.1f", v * 1000 / 1048576 }')
asym=$(openssl speed -seconds 2 ecdhx25519 ed25519 2>/dev/null)
x25519=$(echo "$asym" | awk '/ecdh \(X25519\)/ { print $NF }')
ed25519_sign=$(echo "$asym" | awk '/253 bits EdDSA \(Ed25519\)/ { print $(NF-1) }')
ed25519_verify=$(echo "$asym" | awk '/253 bits EdDSA \(Ed25519\)/ { print $NF }')
jq -nc --argjson mibs "$chacha" --arg x "$x25519" --arg s "$ed25519_sign" --arg v "$ed25519_verify" \
  '{name: "openssl", chacha20_poly1305_mib_per_s: $mibs, x25519_ops: $x, ed25519_sign_ops: $s, ed25519_verify_ops: $v}' |
  tee -a "$results"

echo "== one stream over Noise + Yamux (in-process swarms)" >&2
"$build/bin/bench-p2p" throughput --mib 512 | jq -c '{name: "throughput"} + .' | tee -a "$results"

echo "== the node" >&2
mkdir -p "$work/store"
cat >"$work/boxcar.json" <<JSON
{
  "admin": {"listen": "127.0.0.1:0"},
  "gateway": {"listen": "127.0.0.1:0", "io_threads": 1},
  "strategies": {"prioritizer": {"plugin": "fifo"}, "batcher": {"plugin": "fixed"},
                 "conn_manager": {"plugin": "watermark"}, "tuner": {"plugin": "static"}},
  "store": {"path": "$work/store", "tiers": [{"plugin": "lru"}, {"plugin": "leveldb"}]},
  "p2p": {"listen": ["/ip4/127.0.0.1/tcp/0"], "max_pending_handshakes": 256,
          "conn_manager": {"plugin": "watermark", "params": {"low_water": 3000, "high_water": 4000}}},
  "rpc": {"listen": "127.0.0.1:0"},
  "log": {"level": "warn"}
}
JSON
bench_start_boxcar
p2p_target=$(jq -r '.p2p[0]' "$work/ready" | awk -F/ '{ print $3 ":" $5 }')

"$build/bin/bench-p2p" handshakes --target "$p2p_target" --pid "$boxcar_pid" --seconds 5 \
  --threads 2 | jq -c '{name: "handshakes"} + .' | tee -a "$results"
"$build/bin/bench-p2p" setup --target "$p2p_target" --count 1000 |
  jq -c '{name: "setup"} + .' | tee -a "$results"
"$build/bin/bench-p2p" idle --target "$p2p_target" --pid "$boxcar_pid" --count "$idle" |
  jq -c '{name: "idle"} + .' | tee -a "$results"

[ -z "$json_out" ] || cp "$results" "$json_out"
