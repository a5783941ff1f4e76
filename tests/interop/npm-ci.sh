#!/usr/bin/env bash
# Installs one interop client's pinned npm dependencies from its package-lock.json (npm ci) into
# DIR/node_modules, with the project's own Node.js from tools/install-node.sh, which the tests
# run on too.
#
#   tests/interop/npm-ci.sh DIR
set -euo pipefail
dir="$(cd "$1" && pwd)"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

node="$("$root/tools/install-node.sh")"
export PATH="$(dirname "$node"):$PATH"
# Node.js trusts only its own CA list; npm reaches the registry through the system's trust (a
# local CA, on machines whose egress goes through one), as apt and curl do.
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi
cd "$dir"
# --prefer-offline reuses the npm cache when it already holds the locked tarballs.
npm ci --prefer-offline --no-audit --no-fund
