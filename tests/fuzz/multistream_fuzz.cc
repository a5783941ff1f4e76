// multistream-select: ReadMssMessage never reads past its input and re-encodes what it reads;
// both roles, fed the input in chunks whose sizes come from the input, never consume more than
// they were given and keep their selected protocol within the token cap.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "p2p/multistream.h"

using namespace boxcar::p2p;

namespace {

void CheckReader(std::string_view in) {
  while (!in.empty()) {
    size_t consumed = 0;
    std::string token;
    boxcar::Status error;
    const MssRead read = ReadMssMessage(in, &consumed, &token, &error);
    if (read != MssRead::kMessage) {
      if (read == MssRead::kError && error.ok()) std::abort();
      return;
    }
    if (consumed == 0 || consumed > in.size() || token.size() > kMssMaxToken) std::abort();
    std::string encoded;
    AppendMssMessage(token, &encoded);
    if (encoded != in.substr(0, consumed)) std::abort();
    in.remove_prefix(consumed);
  }
}

// Feeds `in` to `feed` in chunks: the first byte picks the chunk size, so byte-by-byte and
// whole-buffer deliveries are both explored.
template <typename Negotiator>
void FeedInChunks(Negotiator& negotiator, std::string_view in, size_t chunk) {
  std::string pending;
  std::string out;
  while (!in.empty()) {
    const size_t take = std::min(chunk, in.size());
    pending.append(in.substr(0, take));
    in.remove_prefix(take);
    size_t consumed = 0;
    if (!negotiator.Feed(pending, &consumed, &out).ok()) return;
    if (consumed > pending.size()) std::abort();
    pending.erase(0, consumed);
    if (negotiator.selected()) {
      if (negotiator.protocol().size() > kMssMaxToken) std::abort();
      size_t after = 1;
      if (!negotiator.Feed(pending, &after, &out).ok() || after != 0) std::abort();
      return;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  CheckReader(in);
  MssResponder responder(
      [](std::string_view protocol) { return protocol == "/noise" || protocol == "/yamux/1.0.0"; });
  FeedInChunks(responder, in, chunk);
  MssInitiator initiator({"/tls/1.0.0", "/noise"});
  std::string start;
  initiator.Start(&start);
  FeedInChunks(initiator, in, chunk);
  return 0;
}
