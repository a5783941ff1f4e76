// Yamux behaviour that js-libp2p's yamux (@chainsafe/libp2p-yamux 8) depends on, found by the
// interop tests against it (tests/e2e/libp2p_swarm_echo_test.cc).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "p2p/yamux.h"

namespace {

using namespace boxcar::p2p::yamux;

struct NullHandler : SessionHandler {
  void OnStreamOpened(uint32_t) override {}
  void OnStreamData(uint32_t, std::string_view) override {}
  void OnStreamFin(uint32_t) override {}
  void OnStreamReset(uint32_t) override {}
  void OnStreamWritable(uint32_t) override {}
  void OnStreamRefused(uint32_t) override {}
  void OnPingRtt(int64_t) override {}
  void OnGoAway(uint32_t) override {}
};

std::vector<FrameHeader> Frames(std::string_view wire) {
  std::vector<FrameHeader> frames;
  while (wire.size() >= kHeaderSize) {
    FrameHeader header;
    REQUIRE(DecodeHeader(wire, &header).ok());
    frames.push_back(header);
    wire.remove_prefix(kHeaderSize + (header.type == FrameType::kData ? header.length : 0));
  }
  return frames;
}

}  // namespace

// js-yamux applies a data frame's flags before its payload (stream.ts handleData: processFlags,
// then onData), so a FIN on a data frame closes the read side first and the payload is dropped:
// js echoed 0 of 4,096 bytes, and the last frame of a 64 MiB transfer went missing.
TEST_CASE("yamux: FIN never rides on a data frame with payload") {
  NullHandler handler;
  Session session(/*client=*/true, SessionLimits{}, &handler);
  const uint32_t id = session.OpenStream();
  REQUIRE(id != 0);
  const std::string data(100000, 'x');  // two data frames
  REQUIRE(session.Write(id, data) == data.size());
  session.CloseWrite(id);
  std::string wire;
  while (session.HasOutput()) session.TakeOutput(&wire, 1 << 20);

  size_t payload = 0;
  bool fin_seen = false;
  for (const FrameHeader& frame : Frames(wire)) {
    if (frame.stream_id != id) continue;
    if (frame.type == FrameType::kData) payload += frame.length;
    if (frame.flags & kFin) {
      CHECK_MESSAGE(frame.length == 0, "a FIN frame carrying ", frame.length, " bytes");
      CHECK(payload == data.size());  // the FIN comes after every byte
      fin_seen = true;
    }
  }
  CHECK(payload == data.size());
  CHECK(fin_seen);
}
