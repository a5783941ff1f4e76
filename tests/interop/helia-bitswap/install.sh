#!/usr/bin/env bash
# Installs the Helia Bitswap interop peers' pinned npm dependencies (npm ci from
# package-lock.json) on the project's own Node.js from tools/install-node.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/../npm-ci.sh" "$here"
echo "install.sh: Helia Bitswap interop peers ready in $here"
