// Identify: whatever decodes re-encodes and decodes to the same message, and merging it into
// another message keeps the decoder's view of it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "p2p/identify_message.h"

using namespace boxcar::p2p;

namespace {

bool Same(const IdentifyMessage& a, const IdentifyMessage& b) {
  return a.public_key == b.public_key && a.listen_addrs == b.listen_addrs &&
         a.protocols == b.protocols && a.observed_addr == b.observed_addr &&
         a.protocol_version == b.protocol_version && a.agent_version == b.agent_version &&
         a.signed_peer_record == b.signed_peer_record;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  IdentifyMessage message;
  if (!DecodeIdentify(in, &message).ok()) return 0;
  const std::string encoded = EncodeIdentify(message);
  IdentifyMessage again;
  if (!DecodeIdentify(encoded, &again).ok() || !Same(message, again)) std::abort();
  if (EncodeIdentify(again) != encoded) std::abort();
  IdentifyMessage merged;
  merged.agent_version = "before";
  merged.protocols = {"/old"};
  MergeIdentify(message, &merged);
  if (message.agent_version && merged.agent_version != message.agent_version) std::abort();
  if (!message.protocols.empty() && merged.protocols != message.protocols) std::abort();
  if (message.protocols.empty() && merged.protocols != std::vector<std::string>{"/old"}) {
    std::abort();
  }
  return 0;
}
