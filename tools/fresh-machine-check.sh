#!/usr/bin/env bash
# Proves the README's two quick-start commands on a fresh Debian 12, which this machine is not:
# it has packages, a Node.js and caches that a new machine lacks, and a green test run here can
# hide a missing install step. The check builds a bookworm minbase root with mmdebstrap, clones
# the committed tree (HEAD) into it, and runs, with chroot, as root:
#   1. the run command, `tools/dev.sh run`: it must install what is missing, build, and bring the
#      node up on configs/default.json so that GET /healthz answers on its admin port;
#   2. the test command, `tools/dev.sh test`: every test must pass.
# The run command goes first so that it, too, starts from nothing: both commands share
# install-deps.sh and the same full build, so the test command then proves the tests.
#
# The root gets this machine's CA trust (the system bundle and the local CA certificates), as a
# new machine here has it, because the package registries are reached through those CAs; and the
# host's compiler cache, which changes how long the build takes but not what it needs. Every
# process the check starts is stopped by its PID and every mount is undone, also on failure or
# Ctrl-C. It prints one line with the result and where the logs are, and exits 0 only on success.
#
#   tools/fresh-machine-check.sh [--keep-root]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
keep_root=0
case "${1:-}" in
  "") ;;
  --keep-root) keep_root=1 ;;
  *) echo "usage: tools/fresh-machine-check.sh [--keep-root]" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "fresh-machine-check: needs root (mmdebstrap, chroot, mounts)" >&2; exit 2; }

# The node's default ports: the run command uses configs/default.json as written.
admin_port=9180
gateway_port=8080
for port in $admin_port $gateway_port; do
  if ss -Hltn "sport = :$port" | grep -q .; then
    echo "fresh-machine-check: port $port is in use on this machine; stop what listens there" >&2
    exit 2
  fi
done

work=$(mktemp -d /var/tmp/boxcar-fresh.XXXXXX)
root="$work/root"
logs="$work/logs"
mkdir -p "$logs"
started=()

# Stops every process whose root is the chroot (whatever started it), then the ones we started,
# by PID, and undoes the mounts in reverse order.
cleanup() {
  local pid link
  for link in /proc/[0-9]*/root; do
    pid=${link#/proc/}
    pid=${pid%/root}
    [ "$(readlink "$link" 2>/dev/null)" = "$root" ] && kill -KILL "$pid" 2>/dev/null
  done
  for pid in "${started[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  # Every mount below the root, deepest first: ours, and any an interrupted mmdebstrap left.
  local target
  for target in $(awk -v prefix="$root/" 'index($2, prefix) == 1 { print $2 }' /proc/mounts |
    sort -r); do
    umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null || true
  done
  if [ $keep_root -eq 0 ] && ! grep -qF " $root/" /proc/mounts; then rm -rf "$root"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

finish() {  # result detail
  echo "fresh-machine-check: $1: $2 (logs in $logs)"
  [ "$1" = "PASS" ] && exit 0
  exit 1
}

command -v mmdebstrap >/dev/null 2>&1 || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap \
    >"$logs/mmdebstrap-install.log" 2>&1 || finish FAIL "could not install mmdebstrap"
}

# 1. A minbase bookworm root from the same Debian mirror this machine uses.
mirror="http://deb.debian.org/debian"
if ! timeout 900 mmdebstrap --variant=minbase bookworm "$root" \
  "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
  "deb http://deb.debian.org/debian-security bookworm-security main" \
  >"$logs/mmdebstrap.log" 2>&1; then
  finish FAIL "mmdebstrap could not build the Debian 12 root"
fi

# 2. This machine's CA trust and name resolution, the kernel file systems, the compiler cache.
mkdir -p "$root/usr/local/share/ca-certificates" "$root/etc/ssl/certs"
cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount_into() {  # mount args... target
  local target=${*: -1}
  mkdir -p "$target"
  mount "$@"
}
mount_into -t proc proc "$root/proc"
mount_into --bind /sys "$root/sys"
mount_into --bind /dev "$root/dev"
mount_into -t devpts devpts "$root/dev/pts"
mount_into -t tmpfs tmpfs "$root/dev/shm"
ccache_dir=$(ccache -k cache_dir 2>/dev/null || true)
if [ -n "$ccache_dir" ] && [ -d "$ccache_dir" ]; then
  mount_into --bind "$ccache_dir" "$root/root/.cache/ccache"
fi

# 3. The committed tree, as a fresh clone sees it.
git clone -q "$repo" "$root/root/boxcar" >"$logs/clone.log" 2>&1 ||
  finish FAIL "could not clone $repo"
commit=$(git -C "$root/root/boxcar" rev-parse --short HEAD)

# Runs a command in the root, as its own process group, recording its PID.
in_root() {  # log command
  local log=$1
  shift
  setsid chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 CCACHE_DIR=/root/.cache/ccache \
    /bin/bash -c "cd /root/boxcar && $*" >"$log" 2>&1 &
  started+=($!)
}

# 4. The run command: it installs, builds, then execs the node, which keeps the PID.
in_root "$logs/run.log" "exec tools/dev.sh run"
node_pid=${started[-1]}
healthy=0
deadline=$((SECONDS + 1800))
while [ $SECONDS -lt $deadline ] && kill -0 "$node_pid" 2>/dev/null; do
  if [ "$(readlink "/proc/$node_pid/exe" 2>/dev/null)" = "$root/root/boxcar/build/bin/boxcar" ] &&
    curl -fsS --max-time 2 "http://127.0.0.1:$admin_port/healthz" >"$logs/healthz.txt" 2>&1; then
    healthy=1
    break
  fi
  sleep 2
done
kill -TERM "$node_pid" 2>/dev/null || true
wait "$node_pid" 2>/dev/null || true
[ $healthy -eq 1 ] || finish FAIL "the run command did not bring the node up on $commit (run.log)"

# 5. The test command.
in_root "$logs/test.log" "tools/dev.sh test"
test_pid=${started[-1]}
if ! wait "$test_pid"; then
  summary=$(grep -E 'tests passed|tests failed' "$logs/test.log" | tail -n 1)
  finish FAIL "the test command failed on $commit: ${summary:-see test.log}"
fi
summary=$(grep -E 'tests passed' "$logs/test.log" | tail -n 1)
finish PASS "both README commands work on a fresh Debian 12 at $commit: ${summary}"
