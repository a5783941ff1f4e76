// PeerIDs (libp2p peer-ids spec): the multihash of a serialized public key. Keys that serialize
// to at most 42 bytes (Ed25519) use the identity multihash, so an Ed25519 PeerID's base58btc
// text starts with "12D3KooW"; larger keys use sha2-256 ("Qm...").
//
// Thread safety: a value type.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "boxcar/status.h"

namespace boxcar::p2p {

class PeerId {
 public:
  PeerId() = default;
  // The PeerID of a serialized libp2p PublicKey.
  static PeerId FromPublicKeyProto(std::string_view public_key_proto);
  // From the binary multihash (identity or sha2-256 only); errors say what is wrong.
  static Status FromBytes(std::string_view multihash, PeerId* out);
  // From text: base58btc ("12D3KooW...", "Qm...") or the CIDv1 libp2p-key form (multibase, codec
  // 0x72, e.g. "bafz..." or "k51..."). Errors name the text and the reason.
  static Status Parse(std::string_view text, PeerId* out);

  const std::string& bytes() const { return multihash_; }  // the binary multihash
  std::string ToString() const;                            // base58btc
  bool empty() const { return multihash_.empty(); }
  // The public key inlined in an identity-multihash PeerID; "" for sha2-256 PeerIDs.
  std::string_view InlinedPublicKey() const;

  friend bool operator==(const PeerId& a, const PeerId& b) { return a.multihash_ == b.multihash_; }
  friend bool operator!=(const PeerId& a, const PeerId& b) { return !(a == b); }
  friend bool operator<(const PeerId& a, const PeerId& b) { return a.multihash_ < b.multihash_; }

 private:
  std::string multihash_;
};

}  // namespace boxcar::p2p

template <>
struct std::hash<boxcar::p2p::PeerId> {
  size_t operator()(const boxcar::p2p::PeerId& id) const noexcept {
    return std::hash<std::string>()(id.bytes());
  }
};
