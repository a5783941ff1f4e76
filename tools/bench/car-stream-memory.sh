#!/usr/bin/env bash
# The memory an open CAR stream holds in the node. N clients (64 by default), each its own peer,
# ask for the CAR of a dag-pb root that links 20,000 1 KiB blocks and then read nothing: every
# stream stays open with its traversal state (the root's pending links) and its unwritten chunk.
# Reports the node's RSS before, with the streams open, and the growth per stream.
#
#   tools/bench/car-stream-memory.sh [--build-dir DIR] [--duration S]
#
# --duration is how long the streams stay open before RSS is read (default 3 s). The socket
# buffers the stalled streams fill are kernel memory, outside RSS. Needs a Release build
# (tools/dev.sh build) and jq (tools/install-deps.sh --bench).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
duration=3
rate=0
streams=64
# shellcheck source=tools/bench/lib.sh
source "$root/tools/bench/lib.sh"
bench_parse_args "$@"
bench_require_boxcar
bench_workdir

"$build/bin/bench-gateway-data" --blocks 20000 --size 1024 --out "$work/k1" >/dev/null
gw_port=0
admin_port=0
bench_write_config fair adaptive '"peer_header": "X-Peer", ' '{}' '{}'
bench_start_boxcar
bench_import "$work/k1/blocks.car"
car_root=$(cat "$work/k1/root.txt")
# One stream first, read whole, so the caches and allocator pools every stream uses are warm.
curl -sf -o /dev/null "http://127.0.0.1:$gw_port/ipfs/$car_root?format=car"
sleep 1
before=$(rss_kib "$boxcar_pid")
fds=()
for i in $(seq "$streams"); do
  exec {fd}<>"/dev/tcp/127.0.0.1/$gw_port"
  printf 'GET /ipfs/%s?format=car HTTP/1.1\r\nHost: bench\r\nX-Peer: stream-%d\r\n\r\n' \
    "$car_root" "$i" >&"$fd"
  fds+=("$fd")
done
sleep "$duration"
during=$(rss_kib "$boxcar_pid")
open=$(bench_metric 'boxcar_gateway_connections')
for fd in "${fds[@]}"; do exec {fd}>&-; done
jq -n -c --argjson b "$before" --argjson d "$during" --argjson n "$streams" --argjson open "$open" \
  '{streams: $n, open_connections: $open, rss_before_kib: $b, rss_with_streams_kib: $d,
    kib_per_stream: ((($d - $b) / $n) | floor)}'
