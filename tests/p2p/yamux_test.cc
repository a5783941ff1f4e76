#include "p2p/yamux.h"

#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

using boxcar::p2p::yamux::DecodeHeader;
using boxcar::p2p::yamux::EncodeHeader;
using boxcar::p2p::yamux::FrameHeader;
using boxcar::p2p::yamux::FrameType;
using boxcar::p2p::yamux::kAck;
using boxcar::p2p::yamux::kFin;
using boxcar::p2p::yamux::kHeaderSize;
using boxcar::p2p::yamux::kInitialWindow;
using boxcar::p2p::yamux::kRst;
using boxcar::p2p::yamux::kSyn;
using boxcar::p2p::yamux::Session;
using boxcar::p2p::yamux::SessionHandler;
using boxcar::p2p::yamux::SessionLimits;

int64_t fake_now_ns = 0;
int64_t FakeClock() { return fake_now_ns; }

std::string Frame(FrameType type, uint16_t flags, uint32_t id, uint32_t length,
                  std::string_view payload = {}) {
  char header[kHeaderSize];
  EncodeHeader({0, type, flags, id, length}, header);
  return std::string(header, kHeaderSize) + std::string(payload);
}

std::vector<FrameHeader> Headers(std::string_view wire) {
  std::vector<FrameHeader> headers;
  while (wire.size() >= kHeaderSize) {
    FrameHeader header;
    REQUIRE(DecodeHeader(wire, &header).ok());
    headers.push_back(header);
    const size_t size = kHeaderSize + (header.type == FrameType::kData ? header.length : 0);
    REQUIRE(wire.size() >= size);
    wire.remove_prefix(size);
  }
  CHECK(wire.empty());
  return headers;
}

// Records events; consumes what it receives unless told not to.
struct Recorder : SessionHandler {
  Session* session = nullptr;
  bool consume = true;
  std::vector<uint32_t> opened, fins, resets, writable, refused, goaways;
  std::map<uint32_t, std::string> data;
  std::map<uint32_t, size_t> data_bytes;
  bool keep_data = true;
  int64_t rtt = 0;

  void OnStreamOpened(uint32_t id) override { opened.push_back(id); }
  void OnStreamData(uint32_t id, std::string_view bytes) override {
    if (keep_data) data[id].append(bytes);
    data_bytes[id] += bytes.size();
    if (consume) session->Consumed(id, bytes.size());
  }
  void OnStreamFin(uint32_t id) override { fins.push_back(id); }
  void OnStreamReset(uint32_t id) override { resets.push_back(id); }
  void OnStreamWritable(uint32_t id) override { writable.push_back(id); }
  void OnStreamRefused(uint32_t id) override { refused.push_back(id); }
  void OnPingRtt(int64_t rtt_ns) override { rtt = rtt_ns; }
  void OnGoAway(uint32_t code) override { goaways.push_back(code); }
};

// One session and its recorder, fed frames by hand.
struct Lone {
  Recorder events;
  Session session;
  explicit Lone(bool client, SessionLimits limits = {})
      : session(client, limits, &events, &FakeClock) {
    events.session = &session;
  }
};

// A client and a server wired to each other in memory.
struct Pair {
  Recorder client_events, server_events;
  Session client;
  Session server;
  explicit Pair(SessionLimits limits = {})
      : client(true, limits, &client_events, &FakeClock),
        server(false, limits, &server_events, &FakeClock) {
    client_events.session = &client;
    server_events.session = &server;
  }
  // Moves output both ways until both are quiet; every chunk is checked by the receiver.
  void Pump(size_t chunk = 64 * 1024) {
    for (int round = 0; round < 100000 && (client.HasOutput() || server.HasOutput()); ++round) {
      std::string wire;
      client.TakeOutput(&wire, chunk);
      REQUIRE(server.Feed(wire).ok());
      wire.clear();
      server.TakeOutput(&wire, chunk);
      REQUIRE(client.Feed(wire).ok());
    }
  }
};

TEST_CASE("yamux: the frame header codec matches the spec's layout") {
  char bytes[kHeaderSize];
  EncodeHeader({0, FrameType::kWindowUpdate, kSyn | kAck, 0x01020304, 0x00040000}, bytes);
  CHECK(std::string(bytes, kHeaderSize) ==
        std::string("\x00\x01\x00\x03\x01\x02\x03\x04\x00\x04\x00\x00", kHeaderSize));
  FrameHeader header;
  REQUIRE(DecodeHeader(std::string("\x00\x02\x00\x01\x00\x00\x00\x00\xff\xff\xff\xfe", 12), &header)
              .ok());
  CHECK(header.type == FrameType::kPing);
  CHECK(header.flags == kSyn);
  CHECK(header.length == 0xfffffffe);
  CHECK_FALSE(
      DecodeHeader(std::string("\x01\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00", 12), &header)
          .ok());
  CHECK_FALSE(
      DecodeHeader(std::string("\x00\x04\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00", 12), &header)
          .ok());
  CHECK_FALSE(DecodeHeader(std::string(11, '\0'), &header).ok());
}

TEST_CASE("yamux: client and server move data both ways; the client opens odd ids") {
  Pair pair;
  const uint32_t from_client = pair.client.OpenStream();
  const uint32_t from_server = pair.server.OpenStream();
  CHECK(from_client == 1);
  CHECK(from_server == 2);
  CHECK(pair.client.OpenStream() == 3);
  // Data is written before any ACK arrives.
  CHECK(pair.client.Write(from_client, "hello server") == 12);
  CHECK(pair.server.Write(from_server, "hello client") == 12);
  std::string first;
  pair.client.TakeOutput(&first, 1 << 20);
  const auto headers = Headers(first);
  REQUIRE(headers.size() == 3);
  CHECK(headers[0].flags == kSyn);
  CHECK(headers[0].type == FrameType::kWindowUpdate);
  CHECK(headers[2].type == FrameType::kData);
  REQUIRE(pair.server.Feed(first).ok());
  pair.Pump();
  CHECK(pair.server_events.opened == std::vector<uint32_t>{1, 3});
  CHECK(pair.client_events.opened == std::vector<uint32_t>{2});
  CHECK(pair.server_events.data[1] == "hello server");
  CHECK(pair.client_events.data[2] == "hello client");
}

TEST_CASE("yamux: a SYN of the wrong parity is a protocol error") {
  Lone lone_server(false);
  Session& server = lone_server.session;
  const boxcar::Status status = server.Feed(Frame(FrameType::kWindowUpdate, kSyn, 2, 0));
  CHECK_FALSE(status.ok());
  CHECK(status.message().find("parity") != std::string::npos);
  CHECK_FALSE(server.Feed(Frame(FrameType::kPing, kSyn, 0, 1)).ok());  // the error sticks
  Lone client(true);
  CHECK_FALSE(client.session.Feed(Frame(FrameType::kWindowUpdate, kSyn, 1, 0)).ok());
  Lone fresh(true);
  CHECK_FALSE(fresh.session.Feed(Frame(FrameType::kData, 0, 7, 1, "x")).ok());  // never opened
}

TEST_CASE("yamux: a ping SYN is echoed exactly; our own pings measure the RTT") {
  Pair pair;
  REQUIRE(pair.server.Feed(Frame(FrameType::kPing, kSyn, 0, 0xdeadbeef)).ok());
  std::string out;
  pair.server.TakeOutput(&out, 1 << 16);
  CHECK(out == Frame(FrameType::kPing, kAck, 0, 0xdeadbeef));
  fake_now_ns = 1'000'000;
  pair.client.SendPing();
  std::string ping;
  pair.client.TakeOutput(&ping, 1 << 16);
  REQUIRE(pair.server.Feed(ping).ok());
  std::string pong;
  pair.server.TakeOutput(&pong, 1 << 16);
  fake_now_ns = 3'500'000;
  REQUIRE(pair.client.Feed(pong).ok());
  CHECK(pair.client.last_rtt_ns() == 2'500'000);
  CHECK(pair.client_events.rtt == 2'500'000);
}

TEST_CASE("yamux: a ping ACK we did not ask for is ignored, as go-yamux does") {
  Lone client(true);
  CHECK(client.session.Feed(Frame(FrameType::kPing, kAck, 0, 42)).ok());
  CHECK(client.session.Feed(Frame(FrameType::kPing, kSyn, 0, 7)).ok());  // still alive
  CHECK(client.session.last_rtt_ns() == 0);
}

TEST_CASE("yamux: pings from a peer that never reads the pongs end in a protocol error") {
  Lone server(false);
  boxcar::Status status;
  int sent = 0;
  for (; sent < 100000 && status.ok(); ++sent) {
    status = server.session.Feed(Frame(FrameType::kPing, kSyn, 0, static_cast<uint32_t>(sent)));
  }
  CHECK_FALSE(status.ok());
  CHECK(sent <= 256 * 1024 / 12 + 2);  // the backlog is checked before each pong
}

TEST_CASE("yamux: RST carries an error code in its length, never a window delta") {
  Pair pair;
  const uint32_t id = pair.client.OpenStream();
  pair.Pump();
  REQUIRE(pair.client.Feed(Frame(FrameType::kWindowUpdate, kRst, id, 0x7fffffff)).ok());
  CHECK(pair.client_events.resets == std::vector<uint32_t>{id});
  CHECK(pair.client.stats().open_streams == 0);
  CHECK(pair.client.Write(id, "late") == 0);
  // A late frame for the reset stream is ignored, not an error.
  CHECK(pair.client.Feed(Frame(FrameType::kWindowUpdate, 0, id, 10)).ok());
}

TEST_CASE("yamux: FIN half-closes; the stream goes once both sides closed") {
  Pair pair;
  const uint32_t id = pair.client.OpenStream();
  pair.client.Write(id, "request");
  pair.client.CloseWrite(id);
  pair.Pump();
  CHECK(pair.server_events.data[id] == "request");
  CHECK(pair.server_events.fins == std::vector<uint32_t>{id});
  CHECK(pair.server.Write(id, "response") == 8);  // the server can still write
  pair.server.CloseWrite(id);
  pair.Pump();
  CHECK(pair.client_events.data[id] == "response");
  CHECK(pair.client_events.fins == std::vector<uint32_t>{id});
  CHECK(pair.client.stats().open_streams == 0);
  CHECK(pair.server.stats().open_streams == 0);
}

TEST_CASE("yamux: GoAway both ways stops new streams") {
  Pair pair;
  pair.client.GoAway(boxcar::p2p::yamux::kNormal);
  CHECK(pair.client.OpenStream() == 0);
  pair.Pump();
  CHECK(pair.server_events.goaways == std::vector<uint32_t>{0});
  CHECK(pair.server.remote_went_away());
  CHECK(pair.server.OpenStream() == 0);
}

TEST_CASE("yamux: SYNs past max_inbound_streams get RST and are counted as refused") {
  SessionLimits limits;
  limits.max_inbound_streams = 2;
  Pair pair(limits);
  for (int i = 0; i < 3; ++i) pair.client.OpenStream();
  pair.Pump();
  CHECK(pair.server_events.opened == std::vector<uint32_t>{1, 3});
  CHECK(pair.server_events.refused == std::vector<uint32_t>{5});
  CHECK(pair.client_events.resets == std::vector<uint32_t>{5});
  CHECK(pair.server.stats().inbound_streams == 2);
}

TEST_CASE("yamux: un-ACKed outbound streams are bounded") {
  SessionLimits limits;
  limits.max_unacked_outbound = 2;
  Lone lone(true, limits);
  Session& client = lone.session;
  CHECK(client.OpenStream() == 1);
  CHECK(client.OpenStream() == 3);
  CHECK(client.OpenStream() == 0);
  REQUIRE(client.Feed(Frame(FrameType::kWindowUpdate, kAck, 1, 0)).ok());
  CHECK(client.OpenStream() == 5);
  // js-yamux ACKs lazily: its first frame for the stream counts, with or without the flag.
  REQUIRE(client.Feed(Frame(FrameType::kWindowUpdate, 0, 3, 100)).ok());
  CHECK(client.OpenStream() == 7);
}

TEST_CASE("yamux: a peer reusing a stream id is a protocol error") {
  Lone lone(false);
  Session& server = lone.session;
  REQUIRE(server.Feed(Frame(FrameType::kWindowUpdate, kSyn, 5, 0)).ok());
  REQUIRE(server.Feed(Frame(FrameType::kWindowUpdate, kRst, 5, 0)).ok());
  CHECK_FALSE(server.Feed(Frame(FrameType::kWindowUpdate, kSyn, 3, 0)).ok());
}

TEST_CASE("yamux: control frames leave ahead of queued data") {
  Pair pair;
  const uint32_t id = pair.client.OpenStream();
  pair.Pump();
  pair.client.Write(id, std::string(100 * 1024, 'd'));
  pair.client.SendPing();
  std::string out;
  pair.client.TakeOutput(&out, 1 << 20);
  const auto headers = Headers(out);
  REQUIRE(headers.size() >= 2);
  CHECK(headers[0].type == FrameType::kPing);
  for (size_t i = 1; i < headers.size(); ++i) CHECK(headers[i].type == FrameType::kData);
  CHECK(headers[1].length == SessionLimits{}.max_data_frame);
  CHECK(kHeaderSize + headers[1].length == 65519);  // one Noise frame's plaintext
}

TEST_CASE("yamux: the sender never passes the peer's window and counts the stall") {
  Pair pair;
  pair.server_events.consume = false;  // the server's application reads nothing
  const uint32_t id = pair.client.OpenStream();
  size_t written = 0;
  const std::string chunk(64 * 1024, 'w');
  for (int i = 0; i < 20; ++i) {
    written += pair.client.Write(id, chunk);
    pair.Pump();
  }
  CHECK(pair.server_events.data_bytes[id] == kInitialWindow);
  CHECK(pair.client.stats().window_stalls >= 1);
  CHECK(pair.client.stats().buffered_send_bytes == written - kInitialWindow);
  // Consuming half the window reopens it; the rest flows.
  pair.server.Consumed(id, kInitialWindow);
  pair.Pump();
  CHECK(pair.server_events.data_bytes[id] == std::min<size_t>(written, 2 * kInitialWindow));
}

TEST_CASE("yamux: a peer overrunning our window, or sending a frame larger than it, is an error") {
  Lone lone(false);
  lone.events.consume = false;
  Session& server = lone.session;
  const std::string full(kInitialWindow, 'x');
  REQUIRE(server.Feed(Frame(FrameType::kData, kSyn, 1, kInitialWindow, full)).ok());
  const boxcar::Status overrun = server.Feed(Frame(FrameType::kData, 0, 1, 1, "x"));
  CHECK_FALSE(overrun.ok());
  CHECK(overrun.message().find("overran") != std::string::npos);

  Lone lone_other(false);
  Session& other = lone_other.session;
  REQUIRE(other.Feed(Frame(FrameType::kWindowUpdate, kSyn, 1, 0)).ok());
  // Refused from the header alone, before the payload is buffered.
  const boxcar::Status oversized =
      other.Feed(Frame(FrameType::kData, 0, 1, kInitialWindow + 1).substr(0, kHeaderSize));
  CHECK_FALSE(oversized.ok());
  CHECK(oversized.message().find("larger than its window") != std::string::npos);
}

TEST_CASE("yamux: a window consumed within 4 x RTT doubles, up to max_window") {
  SessionLimits limits;
  limits.max_window = 1024 * 1024;
  limits.max_data_frame = 64 * 1024;
  Pair pair(limits);
  fake_now_ns = 10'000'000'000;
  pair.client.SendPing();
  pair.server.SendPing();
  pair.Pump();
  fake_now_ns += 1'000'000;  // RTT is 0 in this pump, so set it with a second ping
  pair.server.SendPing();
  std::string ping;
  pair.server.TakeOutput(&ping, 1 << 16);
  REQUIRE(pair.client.Feed(ping).ok());
  std::string pong;
  pair.client.TakeOutput(&pong, 1 << 16);
  fake_now_ns += 1'000'000;
  REQUIRE(pair.server.Feed(pong).ok());
  REQUIRE(pair.server.last_rtt_ns() == 1'000'000);

  const uint32_t id = pair.client.OpenStream();
  pair.Pump();
  std::vector<uint32_t> updates;
  // The server consumes at once (well within 4 x RTT): each update grows the window.
  const std::string chunk(64 * 1024, 'g');
  for (int i = 0; i < 64; ++i) {
    pair.client.Write(id, chunk);
    std::string wire;
    pair.client.TakeOutput(&wire, 1 << 20);
    REQUIRE(pair.server.Feed(wire).ok());
    std::string back;
    pair.server.TakeOutput(&back, 1 << 20);
    for (const FrameHeader& header : Headers(back)) {
      if (header.type == FrameType::kWindowUpdate && header.length > 0) {
        updates.push_back(header.length);
      }
    }
    REQUIRE(pair.client.Feed(back).ok());
  }
  REQUIRE(updates.size() >= 3);
  // 128 KiB consumed + 256 KiB growth, then 256 KiB + 512 KiB, then capped at 1 MiB.
  CHECK(updates[0] == 128 * 1024 + 256 * 1024);
  CHECK(updates[1] == 256 * 1024 + 512 * 1024);
  CHECK(updates.back() == 512 * 1024);
}

TEST_CASE("yamux: handlers may write and reset from inside the callbacks") {
  struct Echo : Recorder {
    void OnStreamData(uint32_t id, std::string_view bytes) override {
      Recorder::OnStreamData(id, bytes);
      if (bytes == "reset me") {
        session->Reset(id);
      } else {
        session->Write(id, bytes);
      }
    }
  };
  Echo echo;
  Recorder client_events;
  Session client(true, {}, &client_events, &FakeClock);
  Session server(false, {}, &echo, &FakeClock);
  client_events.session = &client;
  echo.session = &server;
  const uint32_t kept = client.OpenStream();
  const uint32_t dropped = client.OpenStream();
  client.Write(kept, "ping");
  client.Write(dropped, "reset me");
  for (int i = 0; i < 4; ++i) {
    std::string wire;
    client.TakeOutput(&wire, 1 << 20);
    REQUIRE(server.Feed(wire).ok());
    wire.clear();
    server.TakeOutput(&wire, 1 << 20);
    REQUIRE(client.Feed(wire).ok());
  }
  CHECK(client_events.data[kept] == "ping");
  CHECK(client_events.resets == std::vector<uint32_t>{dropped});
  CHECK(server.stats().open_streams == 1);
}

TEST_CASE("yamux: a bounded send buffer reports writable once room reopens") {
  SessionLimits limits;
  limits.max_send_buffer_per_stream = 1000;
  Pair pair(limits);
  const uint32_t id = pair.client.OpenStream();
  CHECK(pair.client.Write(id, std::string(1500, 'b')) == 1000);
  CHECK(pair.client.Write(id, "more") == 0);
  pair.Pump();
  CHECK(pair.client_events.writable == std::vector<uint32_t>{id});
  CHECK(pair.server_events.data_bytes[id] == 1000);
}

TEST_CASE("yamux: frames split at every byte boundary are reassembled") {
  Pair pair;
  const uint32_t id = pair.client.OpenStream();
  pair.client.Write(id, "split across calls");
  pair.client.CloseWrite(id);
  std::string wire;
  pair.client.TakeOutput(&wire, 1 << 20);
  for (char c : wire) REQUIRE(pair.server.Feed(std::string_view(&c, 1)).ok());
  CHECK(pair.server_events.data[id] == "split across calls");
  CHECK(pair.server_events.fins == std::vector<uint32_t>{id});
}

TEST_CASE("yamux: 64 MiB through one stream, within the windows the whole way") {
  Pair pair;
  pair.server_events.keep_data = false;
  const uint32_t id = pair.client.OpenStream();
  const std::string chunk(256 * 1024, 'z');
  const size_t total = size_t{64} << 20;
  size_t written = 0;
  for (int round = 0; round < 100000 && pair.server_events.data_bytes[id] < total; ++round) {
    while (written < total) {
      const size_t accepted =
          pair.client.Write(id, std::string_view(chunk).substr(0, total - written));
      if (accepted == 0) break;
      written += accepted;
    }
    std::string wire;
    pair.client.TakeOutput(&wire, 1 << 20);
    REQUIRE(pair.server.Feed(wire).ok());  // an overrun would fail here
    wire.clear();
    pair.server.TakeOutput(&wire, 1 << 20);
    REQUIRE(pair.client.Feed(wire).ok());
  }
  CHECK(pair.server_events.data_bytes[id] == total);
}

// js-yamux applies a data frame's flags before its payload (stream.ts handleData: processFlags,
// then onData), so a FIN on a data frame closes the read side first and the payload is dropped:
// js echoed 0 of 4,096 bytes, and lost the last frame of a 64 MiB transfer
// (tests/e2e/libp2p_swarm_echo_test.cc).
TEST_CASE("yamux: FIN never rides on a data frame with payload (js-yamux drops that payload)") {
  Recorder events;
  Session session(/*client=*/true, SessionLimits{}, &events, &FakeClock);
  events.session = &session;
  const uint32_t id = session.OpenStream();
  REQUIRE(id != 0);
  const std::string data(100000, 'x');  // two data frames
  REQUIRE(session.Write(id, data) == data.size());
  session.CloseWrite(id);
  std::string wire;
  while (session.HasOutput()) session.TakeOutput(&wire, 1 << 20);

  size_t payload = 0;
  bool fin_seen = false;
  for (const FrameHeader& frame : Headers(wire)) {
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

}  // namespace
