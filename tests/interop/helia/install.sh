#!/usr/bin/env bash
# Installs the Helia interop client's pinned npm dependencies from
# package-lock.json into tests/interop/helia/node_modules (npm ci).
set -euo pipefail
script="${BASH_SOURCE[0]}"
here="$(cd "${script%/*}" 2>/dev/null && pwd || pwd)"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "install.sh: '$tool' not found on PATH; install Node.js >= 20 with npm (e.g. apt-get install nodejs npm)" >&2
    exit 1
  fi
done
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "install.sh: Node.js $(node --version) is too old; the Helia interop client needs Node.js >= 20" >&2
  exit 1
fi

cd "$here"
# --prefer-offline reuses the npm cache when it already holds the locked tarballs;
# --engine-strict=false: a few locked packages declare node >= 22 but run on 20.
npm ci --prefer-offline --no-audit --no-fund --engine-strict=false
echo "install.sh: Helia interop client ready in $here"
