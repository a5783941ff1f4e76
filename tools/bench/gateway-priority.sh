#!/usr/bin/env bash
# Interactive latency while bulk work floods the node. Raw block requests (interactive) run at a
# fixed open-loop rate from one peer: alone, then during two floods from a second peer:
#   shed flood: 512 connections asking for one-block CARs as fast as they can, ignoring
#               Retry-After; the queue passes 75% of engine.queue_limit and bulk is shed (503);
#   byte flood: 64 connections streaming a 20,001-block CAR each (about 21 MB).
# Reports the interactive p50/p99 of each phase and the flood's outcome, once with the `fair`
# prioritizer (strict classes) and once with `fifo` (no classes).
#
# The flood clients run at nice 10. All processes share this machine's 2 cores, and without it
# the figure measures how the kernel schedules two load generators rather than how the node
# orders work (at nice 0 the byte flood's client alone raised the interactive p99 about 4x).
#
#   tools/bench/gateway-priority.sh [--build-dir DIR] [--duration S] [--rate R] [--json FILE]
#
# Needs a Release build (tools/dev.sh build) and jq (tools/install-deps.sh --bench).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
duration=8
rate=2000
# shellcheck source=tools/bench/lib.sh
source "$root/tools/bench/lib.sh"
bench_parse_args "$@"
bench_require_boxcar
bench_workdir

echo "== data" >&2
"$build/bin/bench-gateway-data" --blocks 20000 --size 1024 --out "$work/k1" >/dev/null

gw_port=0
admin_port=0
write_config() { # prioritizer
  bench_write_config "$1" adaptive '"peer_header": "X-Peer", ' '{"queue_limit": 256}' '{"max_conns": 4096}'
}
write_config fair
bench_start_boxcar
bench_import "$work/k1/blocks.car"

results="$work/results.jsonl"
: >"$results"
interactive() { # NAME: raw requests at $rate/s from the peer "interactive"
  "$build/bin/loadgen" --target "127.0.0.1:$gw_port" --cids "$work/k1/cids.txt" --mix raw=100 \
    --connections 32 --rate "$rate" --duration "$duration" --warmup 1 --header "X-Peer: interactive" \
    --json "$work/interactive.json" >/dev/null 2>&1 || true
  jq -c --arg name "$1" \
    '{name: $name, rps, p50_us: .latency_us.p50, p99_us: .latency_us.p99, failures, status}' \
    "$work/interactive.json" | tee -a "$results"
}
shed_bulk() { bench_metric 'boxcar_engine_tasks_total{class="bulk",outcome="shed"}'; }
flood() { # NAME CIDS CONNECTIONS: a bulk flood around an interactive run
  local shed_before
  shed_before=$(shed_bulk)
  nice -n 10 "$build/bin/loadgen" --target "127.0.0.1:$gw_port" --cids "$2" --mix car=100 \
    --connections "$3" --duration $((duration + 2)) --header "X-Peer: bulk" --ok-status 429,503 \
    --timeout-ms 60000 --json "$work/bulk.json" >/dev/null 2>&1 &
  local bulk=$!
  sleep 1
  interactive "$1"
  wait "$bulk" || true
  jq -c --arg name "$1/bulk" --argjson shed "$(($(shed_bulk) - shed_before))" \
    '{name: $name, cars_per_s: .rps, rx_mb_per_s: (.rx_bytes_per_s / 1e6), status, bulk_tasks_shed: $shed}' \
    "$work/bulk.json" | tee -a "$results"
}

for prioritizer in fair fifo; do
  write_config "$prioritizer"
  curl -sf -X POST "http://127.0.0.1:$admin_port/admin/reload" >/dev/null
  echo "== $prioritizer" >&2
  interactive "$prioritizer/alone"
  flood "$prioritizer/shed-flood" "$work/k1/cids.txt" 512
  flood "$prioritizer/byte-flood" "$work/k1/root.txt" 64
done

echo >&2
echo "| prioritizer | phase | interactive p50/p99 ms | errors | flood CARs/s | flood MB/s | bulk tasks shed | flood statuses |"
echo "|---|---|---|---|---|---|---|---|"
for prioritizer in fair fifo; do
  for phase in alone shed-flood byte-flood; do
    jq -rs --arg n "$prioritizer/$phase" --arg p "$prioritizer" --arg ph "$phase" '
      (map(select(.name == $n))[0]) as $i | (map(select(.name == $n + "/bulk"))[0]) as $b |
      "| \($p) | \($ph) | \($i.p50_us/10|floor/100)/\($i.p99_us/10|floor/100) | \($i.failures) | " +
      (if $b then "\($b.cars_per_s|floor) | \($b.rx_mb_per_s|floor) | \($b.bulk_tasks_shed) | \($b.status|tostring) |"
       else "- | - | - | - |" end)' "$results"
  done
done
[ -z "$json_out" ] || cp "$results" "$json_out"
