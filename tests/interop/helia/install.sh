#!/usr/bin/env bash
# Installs the Helia interop client's pinned npm dependencies (npm ci from package-lock.json)
# on the project's own Node.js from tools/install-node.sh, which the tests run on too.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/../npm-ci.sh" "$here"
echo "install.sh: Helia interop client ready in $here"
