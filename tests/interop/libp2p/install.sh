#!/usr/bin/env bash
# Installs the js-libp2p interop peers' pinned npm dependencies (npm ci from package-lock.json)
# on the project's own Node.js.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/../npm-ci.sh" "$here"
echo "install.sh: js-libp2p interop peers ready in $here"
