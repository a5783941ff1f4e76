// The identify protobuf (libp2p/specs identify/README.md), fields 1-6 and 8. Encoding writes the
// present fields in field order; decoding skips unknown fields and names the bad field on error.
//
// Thread safety: value types and free functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "boxcar/status.h"

namespace boxcar::p2p {

inline constexpr size_t kIdentifyMaxMessage = 8 * 1024;  // what go and js accept
inline constexpr int kIdentifyMaxMessages = 10;          // per stream, merged

struct IdentifyMessage {
  std::optional<std::string> public_key;          // 1: serialized libp2p PublicKey
  std::vector<std::string> listen_addrs;          // 2: binary multiaddrs
  std::vector<std::string> protocols;             // 3
  std::optional<std::string> observed_addr;       // 4: binary multiaddr
  std::optional<std::string> protocol_version;    // 5: "ipfs/0.1.0"
  std::optional<std::string> agent_version;       // 6
  std::optional<std::string> signed_peer_record;  // 8: kept opaque
};

std::string EncodeIdentify(const IdentifyMessage& message);
Status DecodeIdentify(std::string_view bytes, IdentifyMessage* out);
// Merges a pushed or follow-up message: fields present in `update` replace those in `*into`
// (repeated fields are replaced as a whole when the update has any).
void MergeIdentify(const IdentifyMessage& update, IdentifyMessage* into);

}  // namespace boxcar::p2p
