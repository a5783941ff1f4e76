#!/usr/bin/env bash
# Installs the Debian 12 packages boxcar needs to build and test, and only those that are
# missing, so it is cheap to run before every build. Needs root (or sudo) only when something is
# missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libboost-dev            # Asio, Beast, DLL (header-only)
  nlohmann-json3-dev libspdlog-dev prometheus-cpp-dev doctest-dev
  libssl-dev              # SHA-256 (SHA-NI through OpenSSL)
  libleveldb-dev libzstd-dev
  clang-format
  clang libclang-rt-14-dev  # libFuzzer for the parser fuzzers (tools/fuzz.sh)
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
