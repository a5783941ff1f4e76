#!/usr/bin/env bash
# The README's two commands:
#   tools/dev.sh run [boxcar run options...]  install what is missing, build, run configs/default.json
#   tools/dev.sh test [ctest options...]      install what is missing, build, run every test
# BOXCAR_BUILD_DIR (default: build) and BOXCAR_CMAKE_ARGS select another build, e.g. a sanitizer
# one; BOXCAR_TARGETS limits what is built (CI's sanitizer runs build only what they test).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="${BOXCAR_BUILD_DIR:-$root/build}"
command="${1:-}"
shift || true

case "$command" in
  run|test|build) ;;
  *) echo "usage: tools/dev.sh run|test|build [args...]" >&2; exit 2 ;;
esac

"$root/tools/install-deps.sh"
# shellcheck disable=SC2086
cmake -S "$root" -B "$build" -DBOXCAR_WERROR=ON ${BOXCAR_CMAKE_ARGS:-} >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc)" ${BOXCAR_TARGETS:+--target $BOXCAR_TARGETS}

case "$command" in
  run) exec "$build/bin/boxcar" run --config "$root/configs/default.json" "$@" ;;
  test) exec ctest --test-dir "$build" --output-on-failure --timeout 600 -j"$(nproc)" "$@" ;;
  build) ;;
esac
