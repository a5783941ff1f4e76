#!/usr/bin/env bash
# Installs the kubo-rpc-client interop test's pinned npm dependencies from package-lock.json into
# tests/interop/kubo-rpc/node_modules (npm ci), with the project's own Node.js.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"

node="$("$root/tools/install-node.sh")"
export PATH="$(dirname "$node"):$PATH"
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi
cd "$here"
npm ci --prefer-offline --no-audit --no-fund
echo "install.sh: kubo-rpc-client ready in $here"
