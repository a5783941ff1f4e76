// Yamux: a server session fed the input in chunks, with a handler that writes, consumes,
// resets and half-closes from inside the callbacks (the re-entrancy the swarm relies on). The
// session must never send a data frame past the window its peer granted, and its stream count
// stays within the limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "p2p/yamux.h"

using namespace boxcar::p2p::yamux;

namespace {

int64_t fake_now = 0;
int64_t FakeClock() { return fake_now += 1000; }

struct Meddler : SessionHandler {
  Session* session = nullptr;
  void OnStreamOpened(uint32_t id) override {
    if (id % 7 == 0) session->Reset(id);
  }
  void OnStreamData(uint32_t id, std::string_view data) override {
    switch (data[0] & 3) {
      case 0:
        session->Write(id, data);
        break;
      case 1:
        session->Reset(id);
        break;
      case 2:
        session->CloseWrite(id);
        break;
      default:
        session->OpenStream();
        break;
    }
    session->Consumed(id, data.size());
  }
  void OnStreamFin(uint32_t id) override { session->CloseWrite(id); }
  void OnStreamReset(uint32_t id) override { session->Write(id, "gone"); }
  void OnStreamWritable(uint32_t id) override { session->Write(id, "more"); }
  void OnStreamRefused(uint32_t) override {}
  void OnPingRtt(int64_t) override { session->SendPing(); }
  void OnGoAway(uint32_t) override { session->GoAway(kNormal); }
};

// Checks our output: valid headers, and data within what the input granted per stream.
void CheckOutput(std::string_view out, std::map<uint32_t, uint64_t>* sent) {
  while (!out.empty()) {
    FrameHeader header;
    if (out.size() < kHeaderSize || !DecodeHeader(out, &header).ok()) std::abort();
    size_t size = kHeaderSize;
    if (header.type == FrameType::kData) {
      size += header.length;
      (*sent)[header.stream_id] += header.length;
    }
    if (out.size() < size) std::abort();
    out.remove_prefix(size);
  }
}

// What the input grants each stream over its whole length: 256 KiB plus every window update
// (an upper bound on what the session may send, whatever prefix it got to process).
std::map<uint32_t, uint64_t> Granted(std::string_view in) {
  std::map<uint32_t, uint64_t> granted;
  while (in.size() >= kHeaderSize) {
    FrameHeader header;
    if (!DecodeHeader(in, &header).ok()) break;
    size_t size = kHeaderSize;
    if (header.type == FrameType::kData) size += header.length;
    if (header.type == FrameType::kWindowUpdate && !(header.flags & kRst)) {
      granted[header.stream_id] += header.length;
    }
    if (in.size() < size) break;
    in.remove_prefix(size);
  }
  return granted;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 128;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  SessionLimits limits;
  limits.max_inbound_streams = 8;
  limits.max_send_buffer_per_stream = 64;
  limits.max_data_frame = 16;
  Meddler meddler;
  Session session(false, limits, &meddler, &FakeClock);
  meddler.session = &session;
  std::map<uint32_t, uint64_t> sent;
  const std::map<uint32_t, uint64_t> granted = Granted(in);
  session.OpenStream();
  while (!in.empty()) {
    const std::string_view piece = in.substr(0, chunk);
    in.remove_prefix(piece.size());
    if (!session.Feed(piece).ok()) break;
    if (session.stats().inbound_streams > limits.max_inbound_streams) std::abort();
    std::string out;
    session.TakeOutput(&out, 1 + piece.size() * 4);
    CheckOutput(out, &sent);
  }
  std::string out;
  session.TakeOutput(&out, 1 << 20);
  CheckOutput(out, &sent);
  for (const auto& [id, bytes] : sent) {
    const auto it = granted.find(id);
    if (bytes > kInitialWindow + (it == granted.end() ? 0 : it->second)) std::abort();
  }
  return 0;
}
