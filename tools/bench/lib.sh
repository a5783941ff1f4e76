# Shared by the gateway benchmarks: sourced, not run, after setting $root (the source tree),
# $duration and $rate (defaults that the options may change).

# bench_parse_args "$@": --build-dir DIR, --duration S, --rate R, --json FILE; sets build,
# duration, rate and json_out.
bench_parse_args() {
  build="$root/build"
  json_out=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --build-dir) build="$(cd "$2" && pwd)"; shift 2 ;;
      --duration) duration="$2"; shift 2 ;;
      --rate) rate="$2"; shift 2 ;;
      --json) json_out="$2"; shift 2 ;;
      *) echo "usage: $0 [--build-dir DIR] [--duration S] [--rate R] [--json FILE]" >&2; exit 2 ;;
    esac
  done
}

# bench_workdir: a scratch directory in $work, removed at exit after the processes in the pids
# array are stopped; the servers' logs of the last run stay in /tmp/boxcar-bench-logs.
bench_workdir() {
  work="$(mktemp -d /tmp/boxcar-bench.XXXXXX)"
  chmod 755 "$work"  # nginx's workers run as nobody
  pids=()
  trap bench_cleanup EXIT
}
bench_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf /tmp/boxcar-bench-logs
  mkdir -p /tmp/boxcar-bench-logs
  cp "$work"/boxcar.log "$work"/nginx/error.log /tmp/boxcar-bench-logs/ 2>/dev/null || true
  rm -rf "$work"
}

# bench_require_boxcar: the binaries every gateway benchmark runs.
bench_require_boxcar() {
  local tool
  for tool in "$build/bin/boxcar" "$build/bin/loadgen" "$build/bin/bench-gateway-data"; do
    [ -x "$tool" ] || { echo "missing $tool: build first (tools/dev.sh build)" >&2; exit 2; }
  done
  command -v jq >/dev/null || { echo "jq is missing: run tools/install-deps.sh --bench" >&2; exit 2; }
}

# rss_kib PID: the total VmRSS of a process and its children.
rss_kib() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '/VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# bench_start_boxcar: runs the node on $work/boxcar.json and waits for it; sets boxcar_pid,
# gw_port and admin_port, and appends the pid to the pids array the caller's cleanup kills.
bench_start_boxcar() {
  rm -f "$work/ready"
  "$build/bin/boxcar" run --config "$work/boxcar.json" --ready-file "$work/ready" \
    >"$work/boxcar.log" 2>&1 &
  boxcar_pid=$!
  pids+=("$boxcar_pid")
  local _
  for _ in $(seq 100); do [ -f "$work/ready" ] && break; sleep 0.1; done
  [ -f "$work/ready" ] || { cat "$work/boxcar.log" >&2; echo "boxcar did not start" >&2; exit 1; }
  gw_port=$(jq -r .gateway "$work/ready" | sed 's/.*://')
  admin_port=$(jq -r .admin "$work/ready" | sed 's/.*://')
}

# bench_import CAR: imports a CAR through the admin endpoint.
bench_import() {
  curl -sf -X POST --data-binary "@$1" "http://127.0.0.1:$admin_port/admin/import" >/dev/null
}

# bench_metric SERIES: one series' value in the node's Prometheus text (0 when absent).
bench_metric() {
  curl -sf "http://127.0.0.1:$admin_port/metrics" |
    awk -v s="$1" 'index($0, s " ") == 1 { v = $2 } END { print v + 0 }'
}

# bench_write_config PRIORITIZER BATCHER GATEWAY ENGINE CONN_PARAMS: writes $work/boxcar.json on
# $gw_port and $admin_port (0 before the first start; after it, the bound ports, so a reload
# keeps them). GATEWAY is extra members of the gateway section ("" or '"k": v, '), ENGINE and
# CONN_PARAMS are JSON objects.
bench_write_config() {
  cat >"$work/boxcar.json" <<JSON
{
  "admin": {"listen": "127.0.0.1:$admin_port"},
  "gateway": {$3"listen": "127.0.0.1:$gw_port", "io_threads": 2},
  "engine": $4,
  "plugins": {"path": ["$build/lib/boxcar/plugins"]},
  "strategies": {
    "prioritizer": {"plugin": "$1"},
    "batcher": {"plugin": "$2"},
    "conn_manager": {"plugin": "watermark", "params": $5},
    "tuner": {"plugin": "static"}
  },
  "store": {
    "path": "$work/data",
    "tiers": [{"plugin": "lru", "params": {"capacity_bytes": 1073741824}}, {"plugin": "leveldb"}]
  },
  "log": {"level": "warn"},
  "reload": {"watch_config": false}
}
JSON
}
