#!/usr/bin/env bash
# boxcar's gateway against nginx serving the same blocks as static files, with the same load
# from tools/loadgen and from wrk, in one run on this machine (both on 127.0.0.1). Reports req/s,
# p50, p99 and RSS for each, and their ratio; then CAR streaming in blocks/s, the memory of
# 10,000 idle connections, and p99 before and during strategy hot swaps.
#
#   tools/bench/gateway-vs-nginx.sh [--build-dir DIR] [--duration S] [--json FILE]
#
# Needs a Release build (tools/dev.sh build) and nginx (tools/install-deps.sh --bench).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
duration=8
# shellcheck source=tools/bench/lib.sh
source "$root/tools/bench/lib.sh"
bench_parse_args "$@"
bench_require_boxcar
for tool in nginx wrk; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: run tools/install-deps.sh --bench" >&2; exit 2; }
done
bench_workdir

# A port for nginx (boxcar picks its own and reports it in the ready file).
free_port() { shuf -i 20000-60000 -n 1; }

echo "== data" >&2
"$build/bin/bench-gateway-data" --blocks 3000 --size 1024 --out "$work/k1" >/dev/null
"$build/bin/bench-gateway-data" --blocks 200 --size 262144 --out "$work/k256" --seed 2 >/dev/null
mkdir -p "$work/www"
cp -rl "$work/k1/www/ipfs" "$work/www/"
find "$work/k256/www/ipfs" -type f -exec cp -l -t "$work/www/ipfs/" {} +

gw_port=0
admin_port=0
ng_port=$(free_port)
write_config() { # prioritizer batcher
  bench_write_config "$1" "$2" '"max_pipeline": 64, ' '{"queue_limit": 100000}' \
    '{"max_conns": 19000, "high_water": 18000, "low_water": 17000}'
  # The prioritizer's params of configs/default.json (for fair: its per-peer outstanding bytes).
  jq --slurpfile d "$root/configs/default.json" \
    'if .strategies.prioritizer.plugin == $d[0].strategies.prioritizer.plugin
     then .strategies.prioritizer.params = $d[0].strategies.prioritizer.params else . end' \
    "$work/boxcar.json" >"$work/boxcar.json.new"
  mv "$work/boxcar.json.new" "$work/boxcar.json"
}
write_config fair adaptive
bench_start_boxcar
write_config fair adaptive  # the reload config keeps the ports the node bound
for set in k1 k256; do bench_import "$work/$set/blocks.car"; done

mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 2;
daemon off;
error_log $work/nginx/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections 20000; }
worker_rlimit_nofile 20000;  # this machine's hard limit
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  # Holds every file open (3,200): with fewer entries than files (5,000 for 20,200 files before
  # issue 10) most requests open, fstat and close their file, a third of nginx's throughput.
  # fds per worker: 3,200 files + up to 10,000 connections < 20,000.
  open_file_cache max=5000 inactive=600s;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  default_type application/vnd.ipld.raw;
  server {
    listen 127.0.0.1:$ng_port reuseport backlog=4096;
    location /ipfs/ { root $work/www; }
  }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
pids+=("$nginx_pid")
sleep 0.5

results="$work/results.jsonl"
: >"$results"
# run NAME TARGET_PID PORT LOADGEN_ARGS...: one loadgen run, its JSON plus the server's RSS.
run() {
  local name=$1 pid=$2 port=$3
  shift 3
  "$build/bin/loadgen" --target "127.0.0.1:$port" --threads 2 --warmup 1 --json "$work/run.json" "$@" \
    >/dev/null 2>"$work/loadgen.err" || true
  local rss
  rss=$(rss_kib "$pid")
  jq -c --arg name "$name" --argjson rss "$rss" \
    '{name: $name, rps, p50_us: .latency_us.p50, p99_us: .latency_us.p99, failures, rss_kib: $rss, status}' \
    "$work/run.json" | tee -a "$results"
}
# run_wrk NAME TARGET_PID PORT CIDS CONNECTIONS: one wrk run (2 threads, $duration s) with the
# requests loadgen sends (tools/bench/random-cid.lua), reported in the shape of run's lines.
run_wrk() {
  local name=$1 pid=$2 port=$3 cids=$4 conns=$5
  CIDS="$cids" wrk -t2 -c"$conns" -d"${duration}s" --latency -s "$root/tools/bench/random-cid.lua" \
    "http://127.0.0.1:$port" >"$work/wrk.out" 2>&1 || true
  local rss
  rss=$(rss_kib "$pid")
  # wrk prints latencies as 512.00us, 1.20ms or 1.05s; errors as "Non-2xx or 3xx responses: N"
  # and "Socket errors: connect A, read B, write C, timeout D".
  awk -v name="$name" -v rss="$rss" '
    function us(v) { if (v ~ /ms$/) return v * 1000; if (v ~ /us$/) return v + 0; return v * 1e6 }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = us($2) }
    $1 == "99%" { p99 = us($2) }
    /Non-2xx/ { failures += $NF }
    /Socket errors/ { gsub(/,/, ""); failures += $4 + $6 + $8 + $10 }
    END { printf "{\"name\":\"%s\",\"rps\":%s,\"p50_us\":%d,\"p99_us\":%d,\"failures\":%d,\"rss_kib\":%d}\n",
          name, rps + 0, p50, p99, failures, rss }' "$work/wrk.out" | tee -a "$results"
}
compare() { # NAME CIDS CONNECTIONS LOADGEN_ARGS...: the same load against nginx and boxcar
  local name=$1 cids=$2 conns=$3
  shift 3
  echo "== $name" >&2
  run "nginx/$name" "$nginx_pid" "$ng_port" --cids "$cids" --connections "$conns" "$@"
  run "boxcar/$name" "$boxcar_pid" "$gw_port" --cids "$cids" --connections "$conns" "$@"
}
compare_wrk() { # NAME CIDS CONNECTIONS: wrk against boxcar, then nginx (the other order)
  echo "== wrk $1" >&2
  run_wrk "wrk/boxcar/$1" "$boxcar_pid" "$gw_port" "$2" "$3"
  run_wrk "wrk/nginx/$1" "$nginx_pid" "$ng_port" "$2" "$3"
}

# Idle connections first, so neither server has memory left over from earlier runs to reuse.
echo "== idle connections" >&2
idle() { # NAME PID PORT: RSS growth while 10,000 connections are open and nearly idle
  local before during
  before=$(rss_kib "$2")
  "$build/bin/loadgen" --target "127.0.0.1:$3" --cids "$work/k1/cids.txt" --connections 10000 \
    --connect-burst 512 --rate 200 --duration 6 --threads 1 --json "$work/idle.json" >/dev/null 2>&1 &
  local lg=$!
  sleep 5
  during=$(rss_kib "$2")
  wait "$lg" || true
  jq -cn --arg name "$1" --argjson b "$before" --argjson d "$during" \
    '{name: $name, rss_before_kib: $b, rss_with_10k_kib: $d, bytes_per_conn: (($d - $b) * 1024 / 10000)}' |
    tee -a "$results"
}
idle nginx/idle-10k "$nginx_pid" "$ng_port"
idle boxcar/idle-10k "$boxcar_pid" "$gw_port"

k1="$work/k1/cids.txt"
k256="$work/k256/cids.txt"
load="--mix raw=100 --duration $duration"
compare 1k-c64 "$k1" 64 $load
compare_wrk 1k-c64 "$k1" 64
compare 1k-c256 "$k1" 256 $load
compare_wrk 1k-c256 "$k1" 256
compare 256k-c64 "$k256" 64 $load
compare_wrk 256k-c64 "$k256" 64
compare 256k-c256 "$k256" 256 $load
compare_wrk 256k-c256 "$k256" 256
compare 1k-c64-pipelined-d16 "$k1" 64 $load --depth 16
compare 1k-10k-conns "$k1" 10000 $load --connect-burst 512 --timeout-ms 30000

echo "== CAR streaming" >&2
blocks_per_car=$(($(wc -l <"$work/k1/cids.txt") + 1))
"$build/bin/loadgen" --target "127.0.0.1:$gw_port" --cids "$work/k1/root.txt" --mix car=100 \
  --connections 4 --threads 2 --duration "$duration" --warmup 1 --json "$work/car.json" >/dev/null 2>&1 || true
jq -c --argjson n "$blocks_per_car" \
  '{name: "boxcar/car-stream", cars_per_s: .rps, blocks_per_s: (.rps * $n), rx_mb_per_s: (.rx_bytes_per_s / 1e6), failures}' \
  "$work/car.json" | tee -a "$results"

echo "== p99 before and during hot swaps" >&2
swap_run() { # NAME: open loop at 15k req/s; p99 is corrected for coordinated omission
  "$build/bin/loadgen" --target "127.0.0.1:$gw_port" --cids "$work/k1/cids.txt" --connections 64 \
    --threads 2 --rate 15000 --duration "$duration" --warmup 1 --json "$work/swap.json" >/dev/null 2>&1 || true
  jq -c --arg name "$1" '{name: $name, rps, p50_us: .latency_us.p50, p99_us: .latency_us.p99, failures}' \
    "$work/swap.json" | tee -a "$results"
}
swap_run boxcar/steady-15k
(
  i=0
  end=$((SECONDS + duration + 2))
  while [ $SECONDS -lt $end ]; do
    if [ $((i % 2)) -eq 0 ]; then write_config fifo fixed; else write_config fair adaptive; fi
    curl -sf -X POST "http://127.0.0.1:$admin_port/admin/reload" >/dev/null
    i=$((i + 1))
    sleep 1
  done
  echo "$i" >"$work/swaps"
) &
swapper=$!
swap_run boxcar/during-swaps-15k
wait "$swapper"
echo "swaps: $(cat "$work/swaps")" >&2

echo >&2
echo "| tool | run | nginx req/s | boxcar req/s | ratio | nginx p50/p99 ms | boxcar p50/p99 ms | nginx RSS MiB | boxcar RSS MiB |"
echo "|---|---|---|---|---|---|---|---|---|"
row() { # TOOL PREFIX NAME
  jq -rs --arg t "$1" --arg p "$2" --arg n "$3" '
    (map(select(.name == $p + "nginx/" + $n))[0]) as $a | (map(select(.name == $p + "boxcar/" + $n))[0]) as $b |
    "| \($t) | \($n) | \($a.rps|floor) | \($b.rps|floor) | \(($b.rps / $a.rps * 100 | floor) / 100)x | " +
    "\($a.p50_us/1000*100|floor/100)/\($a.p99_us/1000*100|floor/100) | " +
    "\($b.p50_us/1000*100|floor/100)/\($b.p99_us/1000*100|floor/100) | " +
    "\($a.rss_kib/1024|floor) | \($b.rss_kib/1024|floor) |"' "$results"
}
for name in 1k-c64 1k-c256 256k-c64 256k-c256 1k-c64-pipelined-d16 1k-10k-conns; do
  row loadgen "" "$name"
done
for name in 1k-c64 1k-c256 256k-c64 256k-c256; do row wrk wrk/ "$name"; done
jq -rs '
  (map(select(.name == "boxcar/steady-15k"))[0].p99_us) as $s |
  (map(select(.name == "boxcar/during-swaps-15k"))[0].p99_us) as $d |
  "\np99 steady \($s/1000) ms, during swaps \($d/1000) ms: \(($d / $s * 100 | floor) / 100)x"' "$results"
[ -z "$json_out" ] || cp "$results" "$json_out"
