#!/usr/bin/env bash
# Fails when docs/plugins.md differs from what the binary generates from the bundled plugins'
# descriptors, so the reference cannot drift from the code.
# Usage: plugins_doc_test.sh BOXCAR_BINARY DOCS_PLUGINS_MD
set -euo pipefail
binary="$1"
doc="$2"
generated=$(mktemp)
trap 'rm -f "$generated"' EXIT
"$binary" plugins --markdown > "$generated"
if ! diff -u "$doc" "$generated"; then
  echo "docs/plugins.md is stale: regenerate it with" >&2
  echo "  cmake --build build --target plugins-doc" >&2
  exit 1
fi
echo "docs/plugins.md matches the bundled plugins' descriptors"
