#!/usr/bin/env bash
# Installs the Debian 12 packages boxcar needs to build and test, and only those that are
# missing, so it is cheap to run before every build; then the interop clients' pinned npm
# packages (tests/interop/helia, tests/interop/helia-bitswap, tests/interop/libp2p,
# tests/interop/kubo-rpc). With --bench, also nginx and wrk for tools/bench. Needs root (or
# sudo) only when something is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(
  build-essential cmake pkg-config
  libboost-dev            # Asio, Beast (header-only)
  nlohmann-json3-dev libspdlog-dev prometheus-cpp-dev doctest-dev
  libssl-dev              # SHA-256 (SHA-NI through OpenSSL)
  libleveldb-dev libsnappy-dev libzstd-dev  # LevelDB's CMake package links snappy
  libjemalloc-dev         # the node's allocator
  clang-format
  ccache                  # compiler cache: CI's three builds of an unchanged tree take seconds
  clang libclang-rt-14-dev  # libFuzzer for the parser fuzzers (tools/fuzz.sh)
  json-schema-test-suite  # the official JSON Schema tests, run against host/runtime/json_schema
)
packages+=(curl ca-certificates openssl)  # tools/install-node.sh: the pinned Node.js
[ "${1:-}" = "--bench" ] && packages+=(nginx wrk jq)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The project's own Node.js (Debian 12's is too old), then, only when the lockfile changed since
# the last install, the interop clients' npm packages.
"$root/tools/install-node.sh" >/dev/null
for client in helia helia-bitswap libp2p kubo-rpc; do
  dir="$root/tests/interop/$client"
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
    [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ] ||
    [ "$root/tools/install-node.sh" -nt "$dir/node_modules/.package-lock.json" ]; then
    bash "$dir/install.sh"
  fi
done
