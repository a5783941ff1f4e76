// Hostile peers against the real binary's libp2p listener, each played by a RawPeer (the wire
// library over a raw socket): garbage before and after the handshake, a stalled handshake, a
// forged signature, a replayed Noise frame, yamux floods, overruns and bogus lengths. Each must
// close that connection only and be counted, while a well-behaved peer connected all along keeps
// being served.
#include <doctest/doctest.h>

#include <functional>
#include <string>

#include <openssl/rand.h>

#include "support/node_process.h"
#include "support/p2p_node.h"
#include "support/raw_peer.h"
#include "support/temp_dir.h"

namespace boxcar::testing {
namespace {

using nlohmann::json;
namespace yamux = p2p::yamux;
using std::chrono::milliseconds;

constexpr milliseconds kCloseWithin{5000};

std::string RandomBytes(size_t size) {
  std::string bytes(size, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(size));
  return bytes;
}

// Appends one yamux frame header (a frame without payload) to `batch`.
void AppendHeader(yamux::FrameType type, uint16_t flags, uint32_t id, uint32_t length,
                  std::string* batch) {
  char header[yamux::kHeaderSize];
  yamux::EncodeHeader({0, type, flags, id, length}, header);
  batch->append(header, sizeof(header));
}

// A node with a short handshake timeout, and a well-behaved peer connected before any attack.
struct HostileFixture {
  TempDir dir;
  std::unique_ptr<NodeProcess> node;
  P2pEndpoints endpoints;
  RawPeer good;

  HostileFixture() {
    json config = P2pNodeConfig(dir);
    config["p2p"]["handshake_timeout_ms"] = 500;
    node = std::make_unique<NodeProcess>(dir.Write("boxcar.json", config.dump(2)));
    REQUIRE(node->WaitReady());
    endpoints = ReadP2pEndpoints(*node);
    REQUIRE(!endpoints.tcp.empty());
    const Status upgraded = good.Upgrade(endpoints.tcp);
    REQUIRE_MESSAGE(upgraded.ok(), upgraded.ToString());
    REQUIRE(good.Ping().ok());
  }

  double Failed(const std::string& result) {
    return MetricSum(*node, "boxcar_p2p_handshakes_total", "result=\"" + result + "\"");
  }
  // Upgraded connections closed for a protocol error: reason "decrypt" (the AEAD refused a
  // frame) or "yamux" (a frame broke the yamux rules).
  double ConnectionErrors(const std::string& reason) {
    return MetricSum(*node, "boxcar_p2p_connection_errors_total", "reason=\"" + reason + "\"");
  }

  // The attack closes its connection, the counter read by `counted` grows, and the good peer is
  // still served.
  void ExpectClosedAndCounted(RawPeer& attacker, const std::function<double()>& counted,
                              double before) {
    CHECK_MESSAGE(attacker.WaitClosed(kCloseWithin), "the node kept the hostile connection");
    CHECK(Eventually([&] { return counted() > before; }, milliseconds(3000)));
    const Status served = good.Ping();
    CHECK_MESSAGE(served.ok(), "the well-behaved peer: ", served.ToString());
  }
};

}  // namespace

TEST_CASE("p2p hostile: garbage before the handshake") {
  HostileFixture f;
  SUBCASE("instead of multistream-select") {
    const double before = f.Failed("protocol_error");
    RawPeer attacker;
    REQUIRE(attacker.Connect(f.endpoints.tcp).ok());
    REQUIRE(attacker.SendRaw(RandomBytes(4096)).ok());
    f.ExpectClosedAndCounted(
        attacker, [&] { return f.Failed("protocol_error"); }, before);
  }
  SUBCASE("instead of the first Noise message") {
    const double before = f.Failed("protocol_error");
    RawPeer attacker;
    REQUIRE(attacker.Connect(f.endpoints.tcp).ok());
    REQUIRE(attacker.SelectPlain("/noise").ok());
    REQUIRE(attacker.SendRaw(std::string("\x00\x05", 2) + RandomBytes(5)).ok());
    f.ExpectClosedAndCounted(
        attacker, [&] { return f.Failed("protocol_error"); }, before);
  }
}

TEST_CASE("p2p hostile: garbage after the Noise handshake, before yamux, fails the upgrade") {
  HostileFixture f;
  RawPeer attacker;
  REQUIRE(attacker.Connect(f.endpoints.tcp).ok());
  REQUIRE(attacker.SelectPlain("/noise").ok());
  REQUIRE(attacker.NoiseHandshake({}).ok());
  const double before = f.Failed("protocol_error");
  SUBCASE("outside Noise framing: bytes that are no transport message") {
    REQUIRE(attacker.SendRaw(std::string("\x00\x20", 2) + RandomBytes(32)).ok());
  }
  SUBCASE("inside Noise framing: not multistream-select") {
    REQUIRE(attacker.SendEncrypted(RandomBytes(512)).ok());
  }
  f.ExpectClosedAndCounted(
      attacker, [&] { return f.Failed("protocol_error"); }, before);
}

TEST_CASE("p2p hostile: garbage on an upgraded connection") {
  HostileFixture f;
  RawPeer attacker;
  REQUIRE(attacker.Upgrade(f.endpoints.tcp).ok());
  SUBCASE("outside Noise framing: a frame that fails the AEAD") {
    const double before = f.ConnectionErrors("decrypt");
    REQUIRE(attacker.SendRaw(std::string("\x00\x20", 2) + RandomBytes(32)).ok());
    f.ExpectClosedAndCounted(
        attacker, [&] { return f.ConnectionErrors("decrypt"); }, before);
  }
  SUBCASE("inside Noise framing: a bad yamux header") {
    const double before = f.ConnectionErrors("yamux");
    REQUIRE(attacker.SendEncrypted(std::string("\x07\x09", 2) + RandomBytes(10)).ok());
    f.ExpectClosedAndCounted(
        attacker, [&] { return f.ConnectionErrors("yamux"); }, before);
  }
}

TEST_CASE("p2p hostile: a handshake that never completes is closed by the handshake timeout") {
  HostileFixture f;
  const double before = f.Failed("timeout");
  RawPeer attacker;
  REQUIRE(attacker.Connect(f.endpoints.tcp).ok());
  SUBCASE("silent after TCP connect") {}
  SUBCASE("silent after the first Noise message") {
    REQUIRE(attacker.SelectPlain("/noise").ok());
    RawPeer::HandshakeOptions stall;
    stall.stop_after_first_message = true;
    REQUIRE(attacker.NoiseHandshake(stall).ok());
  }
  const auto start = std::chrono::steady_clock::now();
  f.ExpectClosedAndCounted(
      attacker, [&] { return f.Failed("timeout"); }, before);
  CHECK(std::chrono::steady_clock::now() - start < milliseconds(3000));  // 500 ms configured
}

TEST_CASE("p2p hostile: a bad signature in the Noise payload") {
  HostileFixture f;
  const double before = f.Failed("bad_signature");
  RawPeer attacker;
  REQUIRE(attacker.Connect(f.endpoints.tcp).ok());
  REQUIRE(attacker.SelectPlain("/noise").ok());
  RawPeer::HandshakeOptions forged;
  forged.corrupt_signature = true;
  REQUIRE(attacker.NoiseHandshake(forged).ok());
  f.ExpectClosedAndCounted(
      attacker, [&] { return f.Failed("bad_signature"); }, before);
}

TEST_CASE("p2p hostile: a replayed transport frame (a reused nonce) fails the AEAD") {
  HostileFixture f;
  RawPeer attacker;
  REQUIRE(attacker.Upgrade(f.endpoints.tcp).ok());
  REQUIRE(attacker.Ping().ok());
  const double before = f.ConnectionErrors("decrypt");
  // The node's receive nonce is past this frame's: the same ciphertext under a reused nonce.
  REQUIRE(attacker.SendNoiseFrame(attacker.last_frame()).ok());
  f.ExpectClosedAndCounted(
      attacker, [&] { return f.ConnectionErrors("decrypt"); }, before);
}

TEST_CASE("p2p hostile: yamux abuse") {
  HostileFixture f;
  RawPeer attacker;
  REQUIRE(attacker.Upgrade(f.endpoints.tcp).ok());
  const double before = f.ConnectionErrors("yamux");

  SUBCASE("a data frame past the 256 KiB window (a window overrun)") {
    const uint32_t id = attacker.NextStreamId();
    const std::string payload = RandomBytes(yamux::kInitialWindow + 1);
    // The node may close before the last bytes are sent: the send's result does not matter.
    (void)attacker.SendYamux(yamux::FrameType::kData, yamux::kSyn, id,
                             static_cast<uint32_t>(payload.size()), payload);
    f.ExpectClosedAndCounted(
        attacker, [&] { return f.ConnectionErrors("yamux"); }, before);
  }
  SUBCASE("a bogus data length (an oversized frame) is refused without waiting for its bytes") {
    (void)attacker.SendYamux(yamux::FrameType::kData, yamux::kSyn, attacker.NextStreamId(),
                             0xfffffff0u, RandomBytes(100));
    f.ExpectClosedAndCounted(
        attacker, [&] { return f.ConnectionErrors("yamux"); }, before);
  }
  SUBCASE("10,000 streams: those past the limit are refused and counted") {
    auto refused = [&] {
      return MetricSum(*f.node, "boxcar_p2p_refused_total", "reason=\"streams_per_peer\"");
    };
    const double refused_before = refused();
    constexpr int kStreams = 10000;
    std::string batch;
    for (int i = 0; i < kStreams; ++i) {
      AppendHeader(yamux::FrameType::kWindowUpdate, yamux::kSyn, attacker.NextStreamId(), 0,
                   &batch);
    }
    REQUIRE(attacker.SendEncrypted(batch).ok());
    // Every SYN past the per-peer limit gets an RST (or the node drops the whole connection).
    attacker.set_timeout(milliseconds(3000));
    while (attacker.resets_received() < kStreams - 256 && attacker.Pump().ok()) {
    }
    CHECK(refused() - refused_before >= kStreams - 256);
    const Status served = f.good.Ping();
    CHECK_MESSAGE(served.ok(), "the well-behaved peer: ", served.ToString());
  }
}

TEST_CASE("p2p hostile: an inbound stream that never negotiates is reset after 10 s") {
  HostileFixture f;
  RawPeer attacker;
  REQUIRE(attacker.Upgrade(f.endpoints.tcp).ok());
  const uint32_t id = attacker.NextStreamId();
  REQUIRE(attacker.SendYamux(yamux::FrameType::kWindowUpdate, yamux::kSyn, id, 0, "").ok());
  // The node's keep-alive pings keep the socket busy: bound the wait by the clock.
  attacker.set_timeout(milliseconds(1000));
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(14000);
  auto ended = [&] {
    auto it = attacker.streams().find(id);
    return it != attacker.streams().end() && (it->second.reset || it->second.fin);
  };
  while (!ended() && std::chrono::steady_clock::now() < deadline) (void)attacker.Pump();
  REQUIRE_MESSAGE(ended(), "the node kept the silent stream past its 10 s negotiation timeout");
  CHECK(attacker.streams().at(id).reset);
  const Status served = f.good.Ping();
  CHECK_MESSAGE(served.ok(), "the well-behaved peer: ", served.ToString());
}

TEST_CASE("p2p hostile: SYNs after a GoAway with an error code leak no stream of the peer") {
  HostileFixture f;
  RawPeer attacker;
  REQUIRE(attacker.Upgrade(f.endpoints.tcp).ok());
  // A second connection of the same peer keeps its per-peer stream count alive.
  RawPeer same_peer(attacker.identity());
  REQUIRE(same_peer.Upgrade(f.endpoints.tcp).ok());
  REQUIRE(same_peer.Ping().ok());
  std::string batch;
  AppendHeader(yamux::FrameType::kGoAway, 0, 0, yamux::kProtocolError, &batch);
  // As many SYNs as the per-peer limit allows, in the same plaintext as the GoAway.
  for (int i = 0; i < 256; ++i) {
    AppendHeader(yamux::FrameType::kWindowUpdate, yamux::kSyn, attacker.NextStreamId(), 0, &batch);
  }
  REQUIRE(attacker.SendEncrypted(batch).ok());
  CHECK(attacker.WaitClosed(kCloseWithin));
  const Status served = same_peer.Ping();
  CHECK_MESSAGE(served.ok(), "the peer's other connection: ", served.ToString());
  const Status good = f.good.Ping();
  CHECK_MESSAGE(good.ok(), "the well-behaved peer: ", good.ToString());
}

}  // namespace boxcar::testing
