#!/usr/bin/env bash
# End to end: a third party's path from an installed boxcar to a loadable plugin of each kind.
#
#   tests/e2e/new_plugin_test.sh BUILD_DIR
#
# Installs BUILD_DIR to a temporary prefix; then, for each of the five kinds, generates a plugin
# with new-plugin, builds it and its unit test against the prefix (as an outside project would),
# and checks that the installed `boxcar plugins --json` lists it as compatible and that
# `boxcar check-config` accepts a config using it next to the bundled plugins. Finally checks
# that new-plugin refuses bad usage. Set BOXCAR_E2E_KEEP=1 to keep the temporary directory.
set -euo pipefail

if (($# != 1)); then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/boxcar-new-plugin-e2e.XXXXXX")
cleanup() {
  if [[ "${BOXCAR_E2E_KEEP:-}" == 1 ]]; then
    echo "kept $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
# The host reports plugin files by normalized absolute paths; compare like with like.
tmp=$(cd "$tmp" && pwd -P)

passed=0
failed=0
pass() {
  passed=$((passed + 1))
  echo "PASS: $1"
}
fail() {
  failed=$((failed + 1))
  echo "FAIL: $1"
}
# Runs a step with a time limit, its output in LOG; shows the end of LOG when it fails.
step() {
  local log=$1 limit=$2
  shift 2
  if timeout "$limit" "$@" >"$log" 2>&1; then
    return 0
  fi
  echo "--- last lines of $log:"
  tail -n 40 "$log"
  return 1
}

# A plugin must be built like the host (build type, compiler, sanitizers) or the ABI check
# refuses it, so the generated projects take those from the host's build.
cache_value() {
  sed -n "s/^$1:[A-Z]*=//p" "$build_dir/CMakeCache.txt" | head -n 1
}
plugin_cmake_args=()
build_type=$(cache_value CMAKE_BUILD_TYPE)
[[ -n "$build_type" ]] && plugin_cmake_args+=("-DCMAKE_BUILD_TYPE=$build_type")
compiler=$(cache_value CMAKE_CXX_COMPILER)
[[ -n "$compiler" ]] && plugin_cmake_args+=("-DCMAKE_CXX_COMPILER=$compiler")
sanitize=$(cache_value BOXCAR_SANITIZE)
if [[ -n "$sanitize" ]]; then
  flags="-fsanitize=$sanitize"
  plugin_cmake_args+=("-DCMAKE_CXX_FLAGS=$flags" "-DCMAKE_MODULE_LINKER_FLAGS=$flags"
    "-DCMAKE_EXE_LINKER_FLAGS=$flags")
fi

prefix="$tmp/prefix"
if step "$tmp/install.log" 300 cmake --install "$build_dir" --prefix "$prefix"; then
  pass "cmake --install to a temporary prefix"
else
  fail "cmake --install to a temporary prefix"
  echo "$passed passed, $failed failed"
  exit 1
fi
boxcar="$prefix/bin/boxcar"
bundled_dir=$(find "$prefix" -type d -path '*/boxcar/plugins' | head -n 1)
# The installed generator is what third parties run; fall back to the source tree's copy.
new_plugin="$prefix/bin/boxcar-new-plugin"
[[ -x "$new_plugin" ]] || new_plugin="$source_dir/tools/new-plugin"
echo "generator: $new_plugin; bundled plugins: $bundled_dir"

# Prints "<compatible> <status>" for FILE from `boxcar plugins --json` output on stdin. The
# output is nlohmann::json's dump(2): one key per line, keys sorted, so "compatible" and "status"
# of an entry surround its "file".
plugin_status() {
  awk -v file="$1" '
    /^  \{/ { compatible = ""; status = ""; path = "" }
    /"compatible":/ { compatible = ($2 ~ /^true/) ? "true" : "false" }
    /"file":/ { line = $0; sub(/^[^:]*: "/, "", line); sub(/",?$/, "", line); path = line }
    /"status":/ { line = $0; sub(/^[^:]*: "/, "", line); sub(/",?$/, "", line); status = line }
    /^  \}/ { if (path == file) print compatible, status }
  '
}

# Writes a config that fills every slot with a bundled plugin except the one of KIND. The memory
# tier sits above a leveldb tier, since the last tier must be persistent.
write_config() {
  local kind=$1 name=$2 plugin_dir=$3 file=$4
  local prioritizer=fifo batcher=fixed conn_manager=watermark tuner=static tier=lru
  case "$kind" in
    prioritizer) prioritizer=$name ;;
    batcher) batcher=$name ;;
    conn_manager) conn_manager=$name ;;
    tuner) tuner=$name ;;
    cache_tier) tier=$name ;;
  esac
  cat >"$file" <<EOF
{
  "admin": {"listen": "127.0.0.1:0"},
  "gateway": {"listen": "127.0.0.1:0"},
  "plugins": {"path": ["$bundled_dir", "$plugin_dir"]},
  "strategies": {
    "prioritizer": {"plugin": "$prioritizer"},
    "batcher": {"plugin": "$batcher"},
    "conn_manager": {"plugin": "$conn_manager"},
    "tuner": {"plugin": "$tuner"}
  },
  "store": {"path": "./data", "tiers": [{"plugin": "$tier"}, {"plugin": "leveldb"}]}
}
EOF
}

check_kind() {
  local kind=$1
  local name="e2e-${kind//_/-}"
  local project="$tmp/$kind"
  local so="$project/build/$kind-$name.so"

  if step "$project.generate.log" 30 "$new_plugin" --kind "$kind" --name "$name" --out "$project"; then
    pass "$kind: new-plugin generates $name"
  else
    fail "$kind: new-plugin generates $name"
    return
  fi
  if step "$project.configure.log" 120 \
    cmake -S "$project" -B "$project/build" "-DCMAKE_PREFIX_PATH=$prefix" "${plugin_cmake_args[@]}" &&
    step "$project.build.log" 600 cmake --build "$project/build" -j2 &&
    [[ -f "$so" ]]; then
    pass "$kind: the project builds $kind-$name.so against the installed package"
  else
    fail "$kind: the project builds $kind-$name.so against the installed package"
    return
  fi
  if step "$project.ctest.log" 120 ctest --test-dir "$project/build" --output-on-failure; then
    pass "$kind: the generated unit test passes"
  else
    fail "$kind: the generated unit test passes"
  fi

  local config="$project/node.json"
  write_config "$kind" "$name" "$project/build" "$config"
  local listing=""
  if step "$project.plugins.log" 60 "$boxcar" plugins --config "$config" --json; then
    listing=$(plugin_status "$so" <"$project.plugins.log")
  fi
  if [[ "$listing" == "true compatible" ]]; then
    pass "$kind: boxcar plugins lists $name as compatible"
  else
    fail "$kind: boxcar plugins lists $name as compatible (found: '${listing:-no entry}')"
  fi
  if step "$project.check.log" 60 "$boxcar" check-config "$config"; then
    pass "$kind: boxcar check-config accepts a config using $name"
  else
    fail "$kind: boxcar check-config accepts a config using $name"
  fi
}

for kind in prioritizer batcher cache_tier conn_manager tuner; do
  check_kind "$kind"
done

# Bad usage exits 2 with a message; an occupied output directory is refused with 1.
expect_exit() {
  local expected=$1 what=$2
  shift 2
  local status=0
  "$new_plugin" "$@" >"$tmp/usage.out" 2>"$tmp/usage.err" || status=$?
  if [[ "$status" == "$expected" && -s "$tmp/usage.err" ]]; then
    pass "new-plugin $what exits $expected with a message"
  else
    fail "new-plugin $what exits $expected with a message (exit $status)"
  fi
}
expect_exit 2 "without arguments"
expect_exit 2 "with an unknown kind" --kind scheduler --name x --out "$tmp/bad-kind"
expect_exit 2 "with an invalid name" --kind tuner --name Bad.Name --out "$tmp/bad-name"
expect_exit 2 "with an unknown option" --kind tuner --name x --out "$tmp/bad-opt" --force
expect_exit 1 "into a non-empty directory" --kind tuner --name x --out "$tmp/prioritizer"
if [[ ! -e "$tmp/bad-kind" && ! -e "$tmp/bad-name" ]]; then
  pass "bad usage creates nothing"
else
  fail "bad usage creates nothing"
fi

echo "$passed passed, $failed failed"
((failed == 0))
