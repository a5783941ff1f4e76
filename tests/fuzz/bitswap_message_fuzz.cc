// Bitswap messages: the input is a stream cut in two at a point its first byte picks, fed to a
// FrameReader. Each framed message that decodes is re-encoded for every protocol version and
// decoded again: 1.2.0 keeps everything the decoder kept, 1.1.0 and 1.0.0 keep exactly what
// their Encoder::Add* accepted.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "bitswap/message.h"

using namespace boxcar::bitswap;

namespace {

bool SameWant(const WantEntry& a, const WantEntry& b) {
  return a.cid == b.cid && a.priority == b.priority && a.cancel == b.cancel && a.type == b.type &&
         a.send_dont_have == b.send_dont_have;
}

// What `version` can carry of `message`, as the encoder documents it.
Message Expected(const Message& message, Version version) {
  Message expected;
  expected.has_wantlist = message.has_wantlist;
  expected.full = message.full;
  for (WantEntry want : message.wants) {
    if (version != Version::k120) {
      if (want.type == WantType::kHave) continue;
      want.send_dont_have = false;
    }
    expected.wants.push_back(want);
  }
  for (const ReceivedBlock& block : message.blocks) {
    if (version == Version::k100 && block.cid.version() != 0) continue;
    expected.blocks.push_back(block);
  }
  if (version == Version::k120) expected.presences = message.presences;
  expected.pending_bytes = message.pending_bytes;
  return expected;
}

std::string Encode(const Message& message, Version version) {
  Encoder encoder(version);
  if (message.has_wantlist) encoder.SetFull(message.full);
  for (const WantEntry& want : message.wants) {
    const bool carried = encoder.AddWant(want);
    if (carried != (version == Version::k120 || want.type == WantType::kBlock)) std::abort();
  }
  for (const ReceivedBlock& block : message.blocks) {
    const bool carried = encoder.AddBlock(block.cid, block.data);
    if (carried != (version != Version::k100 || block.cid.version() == 0)) std::abort();
  }
  for (const Presence& presence : message.presences) {
    if (encoder.AddPresence(presence.cid, presence.type) != (version == Version::k120)) {
      std::abort();
    }
  }
  encoder.SetPendingBytes(message.pending_bytes);
  const size_t body = encoder.size();
  std::string out;
  encoder.Finish(&out);
  if (out.size() < body || !encoder.empty()) std::abort();
  return out;
}

void CheckSame(const Message& got, const Message& want) {
  if (got.has_wantlist != want.has_wantlist || got.full != want.full ||
      got.wants.size() != want.wants.size() || got.blocks.size() != want.blocks.size() ||
      got.presences.size() != want.presences.size() || got.pending_bytes != want.pending_bytes) {
    std::abort();
  }
  for (size_t i = 0; i < got.wants.size(); ++i) {
    if (!SameWant(got.wants[i], want.wants[i])) std::abort();
  }
  for (size_t i = 0; i < got.blocks.size(); ++i) {
    if (got.blocks[i].cid != want.blocks[i].cid || got.blocks[i].data != want.blocks[i].data) {
      std::abort();
    }
  }
  for (size_t i = 0; i < got.presences.size(); ++i) {
    if (got.presences[i].cid != want.presences[i].cid ||
        got.presences[i].type != want.presences[i].type) {
      std::abort();
    }
  }
}

void RoundTrip(const Message& message, Version version) {
  const std::string framed = Encode(message, version);
  FrameReader reader;
  int frames = 0;
  Message again;
  const boxcar::Status status = reader.Feed(framed, [&](std::string_view body) {
    ++frames;
    return DecodeMessage(body, &again);
  });
  if (!status.ok() || frames != 1 || reader.buffered() != 0) std::abort();
  CheckSame(again, Expected(message, version));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t cut = std::min<size_t>(data[0], in.size());
  FrameReader reader;
  std::vector<std::string> bodies;
  const auto collect = [&](std::string_view body) {
    if (body.size() > kMaxMessageBytes) std::abort();
    bodies.emplace_back(body);
    return boxcar::Status::OK();
  };
  if (reader.Feed(in.substr(0, cut), collect).ok()) {
    (void)reader.Feed(in.substr(cut), collect);
  }
  // The whole input is also one message body.
  bodies.emplace_back(in);
  for (const std::string& body : bodies) {
    Message message;
    if (!DecodeMessage(body, &message).ok()) continue;
    for (const Version version : {Version::k120, Version::k110, Version::k100}) {
      RoundTrip(message, version);
    }
  }
  return 0;
}
