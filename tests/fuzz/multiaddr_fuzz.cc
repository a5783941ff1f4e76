// Multiaddrs: the input as text and as binary. Whatever parses round-trips through the other
// form unchanged, and the accessors never fail on it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "p2p/multiaddr.h"

namespace {

using boxcar::p2p::Multiaddr;

void CheckRoundTrips(const Multiaddr& addr) {
  Multiaddr from_bytes, from_text;
  if (!Multiaddr::FromBytes(addr.ToBytes(), &from_bytes).ok() || !(from_bytes == addr)) {
    std::abort();
  }
  const std::string text = addr.ToString();
  if (!Multiaddr::Parse(text, &from_text).ok() || !(from_text == addr)) std::abort();
  if (from_text.ToString() != text) std::abort();
  (void)addr.Tcp();
  // WithPeer replaces the trailing /p2p/ID, so putting back the same one changes nothing.
  if (const auto peer = addr.Peer()) {
    if (!(addr.WithPeer(*peer) == addr)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Multiaddr addr;
  if (Multiaddr::Parse(input, &addr).ok()) CheckRoundTrips(addr);
  if (Multiaddr::FromBytes(input, &addr).ok()) {
    if (addr.ToBytes() != input) std::abort();  // the binary form is canonical
    CheckRoundTrips(addr);
  }
  return 0;
}
