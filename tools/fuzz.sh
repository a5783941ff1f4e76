#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang in build-fuzz and runs each one for
# SECONDS seconds (default 10) over a temporary copy of its seed corpus in tests/fuzz/corpus, so
# runs never grow the repository. Fails, keeping the crashing inputs under
# build-fuzz/crashes/<fuzzer>/, if any fuzzer finds a crash, leak or timeout.
#
#   tools/fuzz.sh [SECONDS]
set -euo pipefail

seconds=${1:-10}
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: tools/fuzz.sh [seconds-per-target]" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build-fuzz"

# The build dependencies include clang and its libFuzzer/sanitizer runtime.
"$root/tools/install-deps.sh"

# Debug keeps assertions on; -O1 keeps the fuzzers fast enough.
mkdir -p "$build"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS=-O1 -DBOXCAR_FUZZ=ON -DBOXCAR_WERROR=ON >"$build/configure.log" 2>&1 || {
  cat "$build/configure.log" >&2
  exit 1
}
cmake --build "$build" -j2 --target fuzzers

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for corpus in "$root"/tests/fuzz/corpus/*/; do
  name=$(basename "$corpus")
  fuzzer="$build/bin/${name}_fuzz"
  [ -x "$fuzzer" ] || { echo "fuzz: no fuzzer for corpus $name" >&2; failed+=("$name"); continue; }
  mkdir -p "$work/$name/corpus" "$work/$name/artifacts"
  cp -r "$corpus". "$work/$name/corpus/"
  echo "fuzz: $name for ${seconds}s"
  if ! "$fuzzer" "$work/$name/corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$work/$name/artifacts/" -print_final_stats=1 >"$work/$name/log" 2>&1; then
    mkdir -p "$build/crashes/$name"
    cp -r "$work/$name/artifacts/." "$build/crashes/$name/"
    cp "$work/$name/log" "$build/crashes/$name/log"
    tail -n 40 "$work/$name/log" >&2
    echo "fuzz: $name FAILED; inputs and log in $build/crashes/$name" >&2
    failed+=("$name")
  else
    grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$work/$name/log" | tr '\n' ' '
    echo
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all fuzzers ran ${seconds}s without a finding"
