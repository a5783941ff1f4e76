#!/usr/bin/env bash
# libp2p Noise (bench-noise) next to the OpenSSL primitives it is built from, in one run on this
# machine: Ed25519 and X25519 operations per second and ChaCha20-Poly1305 throughput from
# `openssl speed`. Prints each figure and the ratios.
#
# Per side, a libp2p Noise XX handshake costs 5 X25519 operations (2 key generations, 3 DH), one
# Ed25519 signature and one verification; the "primitive bound" is the handshake rate those
# alone allow on one core, so the ratio to it is the share of time spent in the primitives.
# With a shared static key (NoiseStaticKey) a side skips one key generation and the signature.
#
#   tools/bench/noise-vs-openssl.sh [--build-dir DIR] [--seconds S]
#
# Needs a Release build (tools/dev.sh build).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$root/build"
seconds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build="$(cd "$2" && pwd)"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    *) echo "usage: $0 [--build-dir DIR] [--seconds S]" >&2; exit 2 ;;
  esac
done
bench="$build/bin/bench-noise"
[ -x "$bench" ] || { echo "$bench is missing: run tools/dev.sh build" >&2; exit 2; }

# One core for everything, so each figure is per core.
pin=(taskset -c 0)
command -v taskset >/dev/null || pin=()

echo "== bench-noise (${seconds}s per measure)" >&2
noise=$("${pin[@]}" "$bench" --seconds "$seconds")
echo "== openssl speed ed25519 ecdhx25519 (X25519)" >&2
pkey=$("${pin[@]}" openssl speed -seconds "$seconds" ed25519 ecdhx25519 2>/dev/null)
echo "== openssl speed -evp chacha20-poly1305" >&2
aead=$("${pin[@]}" openssl speed -seconds "$seconds" -evp chacha20-poly1305 2>/dev/null)

value() { awk -v k="$1" '$1 == k { print $2 }' <<<"$noise"; }
x25519=$(awk '/ecdh \(X25519\)/ { print $NF }' <<<"$pkey")
ed_sign=$(awk '/EdDSA \(Ed25519\)/ { print $(NF-1) }' <<<"$pkey")
ed_verify=$(awk '/EdDSA \(Ed25519\)/ { print $NF }' <<<"$pkey")
# The 16384-byte column, in 1000s of bytes per second.
chacha_k=$(awk '/^ChaCha20-Poly1305/ { v = $NF; sub(/k$/, "", v); print v }' <<<"$aead")

awk -v hs="$(value handshakes_per_s)" -v ini="$(value initiator_per_s)" \
    -v resp="$(value responder_per_s)" -v enc="$(value encrypt_mb_per_s)" \
    -v shs="$(value shared_handshakes_per_s)" -v sini="$(value shared_initiator_per_s)" \
    -v sresp="$(value shared_responder_per_s)" \
    -v dec="$(value decrypt_mb_per_s)" -v x="$x25519" -v sign="$ed_sign" -v verify="$ed_verify" \
    -v chacha_k="$chacha_k" 'BEGIN {
  side_bound = 1 / (5 / x + 1 / sign + 1 / verify)
  shared_bound = 1 / (4 / x + 1 / verify)
  chacha = chacha_k * 1000 / 1e6
  printf "openssl X25519 ops/s                  %10.0f\n", x
  printf "openssl Ed25519 sign/s, verify/s      %10.0f %10.0f\n", sign, verify
  printf "openssl ChaCha20-Poly1305 MB/s (16K)  %10.1f\n", chacha
  printf "primitive bound, handshakes/s per side %9.0f (both sides on one core: %.0f)\n", side_bound, side_bound / 2
  printf "Noise XX handshakes/s, both sides     %10.0f  (%.0f%% of the bound; goal 3000)\n", hs, 100 * hs / (side_bound / 2)
  printf "Noise XX handshakes/s, initiator side %10.0f  (%.0f%% of the bound)\n", ini, 100 * ini / side_bound
  printf "Noise XX handshakes/s, responder side %10.0f  (%.0f%% of the bound)\n", resp, 100 * resp / side_bound
  printf "shared static key: bound per side   %10.0f\n", shared_bound
  printf "  handshakes/s, both sides            %10.0f  (%.0f%% of the bound; goal 3000)\n", shs, 100 * shs / (shared_bound / 2)
  printf "  handshakes/s, initiator side        %10.0f  (%.0f%% of the bound)\n", sini, 100 * sini / shared_bound
  printf "  handshakes/s, responder side        %10.0f  (%.0f%% of the bound)\n", sresp, 100 * sresp / shared_bound
  printf "NoiseCipher encrypt MB/s (65519 B)    %10.1f  (%.0f%% of openssl)\n", enc, 100 * enc / chacha
  printf "NoiseCipher decrypt MB/s (65519 B)    %10.1f  (%.0f%% of openssl)\n", dec, 100 * dec / chacha
}'
