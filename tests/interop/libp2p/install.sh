#!/usr/bin/env bash
# Installs the js-libp2p interop peers' pinned npm dependencies from package-lock.json into
# tests/interop/libp2p/node_modules (npm ci), with the project's own Node.js from
# tools/install-node.sh, which the tests run on too.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"

node="$("$root/tools/install-node.sh")"
export PATH="$(dirname "$node"):$PATH"
# Node.js trusts only its own CA list; npm reaches the registry through the system's trust (a
# local CA, on machines whose egress goes through one), as apt and curl do.
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi
cd "$here"
# --prefer-offline reuses the npm cache when it already holds the locked tarballs.
npm ci --prefer-offline --no-audit --no-fund
echo "install.sh: js-libp2p interop peers ready in $here"
