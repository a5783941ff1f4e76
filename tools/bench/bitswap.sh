#!/usr/bin/env bash
# Bitswap figures of issue 12, each a ratio or a bound from one run on this machine:
#   - 1 KiB blocks, 64 peers: boxcar's blocks/s against a Helia node serving the same blocks;
#   - 1 KiB blocks, 64 peers: boxcar over Bitswap against boxcar's HTTP gateway
#     (/ipfs/CID?format=raw from tools/loadgen, checked once with wrk);
#   - 256 KiB blocks, 64 peers: MiB/s over Bitswap against the HTTP gateway;
#   - a new peer's first block, p99, while 64 peers each keep 1,024 wants outstanding;
#   - the node's RSS per idle Bitswap peer with --idle (2,000) peers that each sent a wantlist;
#   - the node's syscalls per served block at 1 KiB and 256 KiB (perf's raw_syscalls:sys_enter);
#   - a 100 MiB DAG (400 blocks of 256 KiB) fetched by a second node with `pin add` over Bitswap,
#     against a third node importing the DAG's CAR from the first one's gateway.
# The load is tools/bench/bitswap_bench.cc (bench-bitswap); every peer its own identity and
# connection, all on one client thread.
#
#   tools/bench/bitswap.sh [--build-dir DIR] [--duration S] [--idle N] [--json FILE]
#       [--helia-modules DIR | --no-helia]
#
# Helia needs the node packages of tests/interop/helia-bitswap (its install.sh); --helia-modules
# names another node_modules with the same packages; Node is tools/install-node.sh's. Needs a Release build, jq, perf and wrk.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$root/build"
duration=8
idle=2000
json_out=""
helia_modules="$root/tests/interop/helia-bitswap/node_modules"
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build="$(cd "$2" && pwd)"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --idle) idle="$2"; shift 2 ;;
    --json) json_out="$2"; shift 2 ;;
    --helia-modules) helia_modules="$2"; shift 2 ;;
    --no-helia) helia_modules=""; shift ;;
    *) echo "usage: $0 [--build-dir DIR] [--duration S] [--idle N] [--json FILE]" \
         "[--helia-modules DIR | --no-helia]" >&2; exit 2 ;;
  esac
done
# shellcheck source=tools/bench/lib.sh
source "$root/tools/bench/lib.sh"
bench_require_boxcar
for tool in "$build/bin/bench-bitswap" perf wrk; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
if [ -n "$helia_modules" ] && [ ! -d "$helia_modules/@helia/bitswap" ]; then
  echo "no Helia packages in $helia_modules: run tests/interop/helia-bitswap/install.sh," \
    "pass --helia-modules DIR, or --no-helia" >&2
  exit 2
fi
node=""
[ -z "$helia_modules" ] || node=$("$root/tools/install-node.sh")  # Helia needs Node 22
bench_workdir
ulimit -n "$(ulimit -Hn)"  # 2,000 idle peers: one fd each on both sides
results="$work/results.jsonl"
: >"$results"

echo "== data: 20,000 blocks of 1 KiB, 400 of 256 KiB" >&2
"$build/bin/bench-gateway-data" --blocks 20000 --size 1024 --out "$work/k1" >/dev/null
"$build/bin/bench-gateway-data" --blocks 400 --size 262144 --out "$work/k256" --seed 2 >/dev/null
k1="$work/k1/cids.txt"
k256="$work/k256/cids.txt"

cat >"$work/boxcar.json" <<JSON
{
  "admin": {"listen": "127.0.0.1:0"},
  "gateway": {"listen": "127.0.0.1:0", "io_threads": 2, "max_pipeline": 64},
  "engine": {"queue_limit": 100000},
  "plugins": {"path": ["$build/lib/boxcar/plugins"]},
  "strategies": {
    "prioritizer": $(jq -c .strategies.prioritizer "$root/configs/default.json"),
    "batcher": $(jq -c .strategies.batcher "$root/configs/default.json"),
    "conn_manager": {"plugin": "watermark", "params": {"max_conns": 19000, "high_water": 18000, "low_water": 17000}},
    "tuner": {"plugin": "static"}
  },
  "store": {
    "path": "$work/data",
    "tiers": [{"plugin": "lru", "params": {"capacity_bytes": 1073741824}}, {"plugin": "leveldb"}]
  },
  "p2p": {"listen": ["/ip4/127.0.0.1/tcp/0"], "max_pending_handshakes": 256, "io_threads": 2,
          "conn_manager": {"plugin": "watermark", "params": {"max_conns": 8000, "low_water": 5000, "high_water": 6000}}},
  "log": {"level": "warn"},
  "reload": {"watch_config": false}
}
JSON
"$build/bin/boxcar" import --config "$work/boxcar.json" "$work/k1/blocks.car" "$work/k256/blocks.car" >/dev/null
bench_start_boxcar
p2p_target=$(jq -r '.p2p[0]' "$work/ready" | awk -F/ '{ print $3 ":" $5 }')

helia_pid=""
if [ -n "$helia_modules" ]; then
  mkdir -p "$work/helia"
  cp "$root/tools/bench/helia-bitswap-server.mjs" "$work/helia/"
  ln -s "$(cd "$helia_modules" && pwd)" "$work/helia/node_modules"
  mkfifo "$work/helia/stdin"
  "$node" "$work/helia/helia-bitswap-server.mjs" "$work/k1/blocks.car" <"$work/helia/stdin" \
    >"$work/helia/out" 2>"$work/helia/err" &
  helia_pid=$!
  pids+=("$helia_pid")
  exec 3>"$work/helia/stdin"  # held open: Helia exits when it closes
  for _ in $(seq 300); do grep -q ready "$work/helia/out" 2>/dev/null && break; sleep 0.1; done
  grep -q ready "$work/helia/out" || { cat "$work/helia/err" >&2; echo "Helia did not start" >&2; exit 1; }
  helia_target=$(jq -r '.addrs[0]' "$work/helia/out" | awk -F/ '{ print $3 ":" $5 }')
fi

# bitswap NAME PID TARGET ARGS...: one bench-bitswap run, its JSON plus the server's RSS.
bitswap() {
  local name=$1 pid=$2 target=$3
  shift 3
  "$build/bin/bench-bitswap" "$@" --target "$target" --pid "$pid" >"$work/run.json" 2>"$work/run.err" ||
    { cat "$work/run.err" >&2; echo '{}' >"$work/run.json"; }
  jq -c --arg name "$name" --argjson rss "$(rss_kib "$pid")" '{name: $name} + . + {rss_kib: $rss}' \
    "$work/run.json" | tee -a "$results"
}
# http NAME CIDS CONNECTIONS: tools/loadgen on /ipfs/CID?format=raw, in the same shape.
http() {
  "$build/bin/loadgen" --target "127.0.0.1:$gw_port" --cids "$2" --connections "$3" --threads 2 \
    --mix raw=100 --duration "$duration" --warmup 1 --json "$work/http.json" >/dev/null 2>"$work/http.err" || true
  jq -c --arg name "$1" --argjson rss "$(rss_kib "$boxcar_pid")" \
    '{name: $name, blocks_per_s: .rps, mib_per_s: (.rx_bytes_per_s / 1048576),
      latency_ms: {p50: (.latency_us.p50 / 1000), p99: (.latency_us.p99 / 1000)}, failures, rss_kib: $rss}' \
    "$work/http.json" | tee -a "$results"
}
# wrk_check NAME CIDS CONNECTIONS: the same requests from wrk, to check loadgen's figure once.
wrk_check() {
  CIDS="$2" wrk -t2 -c"$3" -d"${duration}s" --latency -s "$root/tools/bench/random-cid.lua" \
    "http://127.0.0.1:$gw_port" >"$work/wrk.out" 2>&1 || true
  awk -v name="$1" '/Requests\/sec/ { rps = $2 }
    END { printf "{\"name\":\"%s\",\"blocks_per_s\":%s}\n", name, rps + 0 }' "$work/wrk.out" |
    tee -a "$results"
}
# Two client threads, as loadgen has, against the node's two p2p I/O threads (the gateway's two).
load="--seconds $duration --warmup 1 --threads 2"

# Idle peers first, so the node has no memory left over from the load to reuse.
echo "== $idle idle Bitswap peers" >&2
bitswap boxcar/idle "$boxcar_pid" "$p2p_target" idle --peers "$idle" --wants 8

echo "== 1 KiB blocks, 64 peers" >&2
bitswap boxcar/1k-p64 "$boxcar_pid" "$p2p_target" load --cids "$k1" --peers 64 --wants 32 $load
bitswap boxcar/1k-p64-have50 "$boxcar_pid" "$p2p_target" load --cids "$k1" --peers 64 --wants 32 \
  --want-have 50 $load
if [ -n "$helia_pid" ]; then
  bitswap helia/1k-p64 "$helia_pid" "$helia_target" load --cids "$k1" --peers 64 --wants 32 $load \
    --timeout-ms 30000
  exec 3>&-  # Helia's memory is no part of what follows
  wait "$helia_pid" 2>/dev/null || true
fi
http http/1k-c64 "$k1" 64
wrk_check wrk/1k-c64 "$k1" 64

echo "== 256 KiB blocks, 64 peers" >&2
bitswap boxcar/256k-p64 "$boxcar_pid" "$p2p_target" load --cids "$k256" --peers 64 --wants 4 $load
http http/256k-c64 "$k256" 64

echo "== a new peer's first block while 64 peers keep 1,024 wants each" >&2
# Loaded: the 64 peers replace every answered want (the node at full CPU). Held: their wants name
# blocks nobody has and sit in the ledger (65,536 wants, an idle node).
bitswap boxcar/new-peer "$boxcar_pid" "$p2p_target" new-peer --cids "$k1" --peers 64 --wants 1024 \
  --probes 100 --probe-gap-ms 50 --seconds "$duration" --warmup 1
bitswap boxcar/new-peer-held "$boxcar_pid" "$p2p_target" new-peer --hold-missing --cids "$k1" \
  --peers 64 --wants 1024 --probes 100 --probe-gap-ms 50 --seconds 2 --warmup 1

echo "== syscalls per served block" >&2
# syscalls NAME CIDS WANTS COUNT: the node's syscalls while bench-bitswap fetches COUNT blocks.
syscalls() {
  perf stat -x, -e raw_syscalls:sys_enter -p "$boxcar_pid" -o "$work/perf.out" &
  local perf_pid=$!
  sleep 0.3
  "$build/bin/bench-bitswap" load --target "$p2p_target" --cids "$2" --peers 64 --wants "$3" \
    --count "$4" --warmup 0 --seconds 120 >"$work/sys.json" 2>/dev/null || echo '{}' >"$work/sys.json"
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
  local calls
  calls=$(awk -F, '/raw_syscalls:sys_enter/ { print $1 }' "$work/perf.out")
  jq -c --arg name "$1" --argjson calls "${calls:-0}" \
    '{name: $name, blocks, syscalls: $calls, syscalls_per_block: ($calls / (if .blocks > 0 then .blocks else 1 end))}' \
    "$work/sys.json" | tee -a "$results"
}
syscalls boxcar/syscalls-1k "$k1" 32 200000
syscalls boxcar/syscalls-256k "$k256" 4 8000

echo "== a 100 MiB DAG from another boxcar: Bitswap pin add, and a CAR over HTTP" >&2
# second_node NAME: a fresh node with the same config and its own store and RPC; sets
# ${NAME}_rpc and ${NAME}_admin.
second_node() {
  mkdir -p "$work/$1"
  jq --arg s "$work/$1/data" '.store.path = $s | .rpc = {listen: "127.0.0.1:0"}' "$work/boxcar.json" \
    >"$work/$1/boxcar.json"
  "$build/bin/boxcar" run --config "$work/$1/boxcar.json" --ready-file "$work/$1/ready" \
    >"$work/$1/boxcar.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 100); do [ -f "$work/$1/ready" ] && break; sleep 0.1; done
  [ -f "$work/$1/ready" ] || { cat "$work/$1/boxcar.log" >&2; echo "node $1 did not start" >&2; exit 1; }
  printf -v "$1_rpc" '%s' "$(jq -r .rpc "$work/$1/ready")"
  printf -v "$1_admin" '%s' "$(jq -r .admin "$work/$1/ready")"
}
second_node bitswap_peer
second_node http_peer
dag_root=$(cat "$work/k256/root.txt")
dag_mib=$(du -m "$work/k256/blocks.car" | cut -f1)
curl -sf -X POST "http://$bitswap_peer_rpc/api/v0/swarm/connect?arg=$(jq -r '.p2p[0]' "$work/ready")" >/dev/null
t0=$(date +%s.%N)
curl -sf -X POST "http://$bitswap_peer_rpc/api/v0/pin/add?arg=$dag_root" >"$work/pin.out" || true
t1=$(date +%s.%N)
curl -sf "http://127.0.0.1:$gw_port/ipfs/$dag_root?format=car" |
  curl -sf -X POST --data-binary @- "http://$http_peer_admin/admin/import" >/dev/null || true
t2=$(date +%s.%N)
jq -cn --arg pin "$(cat "$work/pin.out")" --argjson mib "$dag_mib" --argjson t0 "$t0" --argjson t1 "$t1" \
  --argjson t2 "$t2" '{name: "boxcar/dag-100m", mib: $mib, pinned: ($pin | test("Pins")),
  bitswap_seconds: ($t1 - $t0), http_car_seconds: ($t2 - $t1),
  bitswap_mib_per_s: ($mib / ($t1 - $t0)), http_car_mib_per_s: ($mib / ($t2 - $t1))}' | tee -a "$results"

echo >&2
jq -rs '
  def get($n): (map(select(.name == $n))[0] // {});
  def r($a; $b): if ($b // 0) > 0 then (($a // 0) / $b * 100 | floor) / 100 else "n/a" end;
  get("boxcar/1k-p64") as $b1 | get("helia/1k-p64") as $h1 | get("http/1k-c64") as $g1 |
  get("wrk/1k-c64") as $w1 | get("boxcar/256k-p64") as $b256 | get("http/256k-c64") as $g256 |
  get("boxcar/new-peer") as $np | get("boxcar/new-peer-held") as $nph | get("boxcar/idle") as $idle |
  get("boxcar/syscalls-1k") as $s1 | get("boxcar/syscalls-256k") as $s256 | get("boxcar/dag-100m") as $dag |
  "| measure | figure | goal |",
  "|---|---|---|",
  "| 1 KiB, 64 peers: boxcar \($b1.blocks_per_s|floor) blocks/s / Helia \($h1.blocks_per_s // 0|floor) | \(r($b1.blocks_per_s; $h1.blocks_per_s))x | >= 10x |",
  "| 1 KiB, 64 peers: Bitswap \($b1.blocks_per_s|floor) blocks/s / gateway \($g1.blocks_per_s|floor) req/s (wrk \($w1.blocks_per_s|floor)) | \(r($b1.blocks_per_s; $g1.blocks_per_s))x | >= 0.5x |",
  "| 256 KiB, 64 peers: Bitswap \($b256.mib_per_s*10|floor/10) MiB/s / gateway \($g256.mib_per_s*10|floor/10) MiB/s | \(r($b256.mib_per_s; $g256.mib_per_s))x | >= 0.7x |",
  "| new peer first block p99 (p50), 64 x 1,024 wants loaded | \($np.new_peer.first_block_ms.p99) ms (\($np.new_peer.first_block_ms.p50) ms) | <= 50 ms |",
  "| new peer first block p99 (p50), 64 x 1,024 wants held | \($nph.new_peer.first_block_ms.p99) ms (\($nph.new_peer.first_block_ms.p50) ms) | <= 50 ms |",
  "| \($idle.added) idle Bitswap peers | \($idle.kib_per_peer*10|floor/10) KiB each | <= 16 KiB |",
  "| \($dag.mib) MiB DAG from another boxcar: Bitswap pin add \($dag.bitswap_mib_per_s*10|floor/10) MiB/s / CAR over HTTP \($dag.http_car_mib_per_s*10|floor/10) MiB/s | \(r($dag.bitswap_mib_per_s; $dag.http_car_mib_per_s))x | >= 0.5x |",
  "| syscalls per block, 1 KiB / 256 KiB | \($s1.syscalls_per_block*100|floor/100) / \($s256.syscalls_per_block*100|floor/100) | measured |"
' "$results"
[ -z "$json_out" ] || cp "$results" "$json_out"
