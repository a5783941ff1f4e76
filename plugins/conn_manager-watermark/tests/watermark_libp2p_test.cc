// watermark on libp2p connections: go-libp2p's BasicConnMgr rules (p2p/net/connmgr), each in
// its own case, in the spirit of go-libp2p's connmgr_test.go.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "boxcar/conn_manager.h"
#include "boxcar_plugins/testing/conns.h"
#include "plugin_harness.h"

namespace {

using boxcar::ConnDirection;
using boxcar::ConnInfo;
using boxcar::testing::PluginUnderTest;
using boxcar_plugins::testing::kNow;
using boxcar_plugins::testing::kSecond;
using boxcar_plugins::testing::PeerConn;

constexpr ConnDirection kIn = ConnDirection::kInbound;
constexpr ConnDirection kOut = ConnDirection::kOutbound;

// No grace and no silence, so each case sees only the rule it tests.
std::string Params(int high, int low, int grace_ms = 0, const std::string& extra = "") {
  return R"({"high_water": )" + std::to_string(high) + R"(, "low_water": )" + std::to_string(low) +
         R"(, "grace_period_ms": )" + std::to_string(grace_ms) + R"(, "silence_period_ms": 0)" +
         extra + "}";
}

std::string Peer(int n) { return "12D3KooWPeer" + std::to_string(n); }

// n peers with one idle outbound connection each, ids 1..n, all tagged `tag`.
std::vector<ConnInfo> Peers(int n, int64_t tag = 0) {
  std::vector<ConnInfo> conns;
  for (int i = 1; i <= n; ++i) conns.push_back(PeerConn(i, Peer(i), tag));
  return conns;
}

}  // namespace

TEST_CASE("watermark libp2p: Kubo's values trim 96 connections down to 32") {
  PluginUnderTest<boxcar::ConnManager> m(
      R"({"low_water": 32, "high_water": 96, "grace_period_ms": 20000,
          "silence_period_ms": 10000})");
  CHECK(m->SelectTrim(Peers(95), kNow, {}).empty());
  CHECK(m->SelectTrim(Peers(96), kNow, {}).size() == 64);
}

TEST_CASE("watermark libp2p: the lowest tag sum goes first") {
  PluginUnderTest<boxcar::ConnManager> m(Params(4, 2));
  const std::vector<ConnInfo> conns = {PeerConn(1, Peer(1), 30), PeerConn(2, Peer(2), -5),
                                       PeerConn(3, Peer(3), 10), PeerConn(4, Peer(4), 0)};
  CHECK(m->SelectTrim(conns, kNow, {}) == std::vector<uint64_t>{2, 4});
}

TEST_CASE("watermark libp2p: among equal tags, peers with no open stream go first") {
  PluginUnderTest<boxcar::ConnManager> m(Params(4, 2));
  // Streams matter only among equal tag sums: peer 4 has none but the highest value.
  const std::vector<ConnInfo> conns = {PeerConn(1, Peer(1), 0, 3), PeerConn(2, Peer(2), 0, 0),
                                       PeerConn(3, Peer(3), 0, 1), PeerConn(4, Peer(4), 9, 0)};
  CHECK(m->SelectTrim(conns, kNow, {}) == std::vector<uint64_t>{2, 3});
}

TEST_CASE("watermark libp2p: then inbound before outbound, then fewer streams first") {
  PluginUnderTest<boxcar::ConnManager> m(Params(4, 1));
  const std::vector<ConnInfo> conns = {
      PeerConn(1, Peer(1), 0, 1, kOut), PeerConn(2, Peer(2), 0, 5, kIn),
      PeerConn(3, Peer(3), 0, 2, kIn), PeerConn(4, Peer(4), 0, 3, kOut)};
  CHECK(m->SelectTrim(conns, kNow, {}) == std::vector<uint64_t>{3, 2, 1});
}

TEST_CASE("watermark libp2p: a peer is trimmed with all its connections") {
  PluginUnderTest<boxcar::ConnManager> m(Params(5, 3));
  // Peer 1 has three connections and the lowest value: closing it overshoots to 2 remaining.
  const std::vector<ConnInfo> conns = {PeerConn(1, Peer(1), 0), PeerConn(2, Peer(1), 0),
                                       PeerConn(3, Peer(1), 0), PeerConn(4, Peer(2), 5),
                                       PeerConn(5, Peer(3), 5)};
  CHECK(m->SelectTrim(conns, kNow, {}) == std::vector<uint64_t>{1, 2, 3});
}

TEST_CASE("watermark libp2p: a peer's streams and direction are those of all its connections") {
  PluginUnderTest<boxcar::ConnManager> m(Params(4, 2));
  // Peer 1: two idle outbound connections. Peer 2: one idle, one inbound with a stream, so it
  // counts as busy. Peer 3: idle inbound.
  const std::vector<ConnInfo> conns = {
      PeerConn(1, Peer(1), 0, 0, kOut), PeerConn(2, Peer(1), 0, 0, kOut),
      PeerConn(3, Peer(2), 0, 0, kOut), PeerConn(4, Peer(2), 0, 1, kIn),
      PeerConn(5, Peer(3), 0, 0, kIn)};
  CHECK(m->SelectTrim(conns, kNow, {}) == std::vector<uint64_t>{5, 1, 2});
}

TEST_CASE("watermark libp2p: protected peers are never trimmed, by host flag or PeerID") {
  PluginUnderTest<boxcar::ConnManager> m(
      Params(4, 1, 0, R"(, "protected_peers": [")" + Peer(2) + R"("])"));
  std::vector<ConnInfo> conns = Peers(5);
  conns.push_back(PeerConn(6, Peer(1)));  // peer 1's second connection, marked by the host:
  conns.back().is_protected = true;       // the whole peer is protected (Kubo's Peering.Peers)
  CHECK(m->SelectTrim(conns, kNow, {}) == std::vector<uint64_t>{3, 4});
}

TEST_CASE("watermark libp2p: a peer's grace period runs from its first connection") {
  PluginUnderTest<boxcar::ConnManager> m(Params(4, 1, 20000));
  const std::vector<ConnInfo> conns = {
      PeerConn(1, Peer(1), 0, 0, kOut, 30), PeerConn(2, Peer(1), 0, 0, kOut, 1),  // old peer
      PeerConn(3, Peer(2), 0, 0, kOut, 19),                                       // young peer
      PeerConn(4, Peer(3), 0, 0, kOut, 20), PeerConn(5, Peer(4), 5, 0, kOut, 100)};
  // Trimmable: peers 1 (2 connections), 3 and 4; low_water 1 of them stays.
  CHECK(m->SelectTrim(conns, kNow, {}) == std::vector<uint64_t>{1, 2, 4});
}

TEST_CASE("watermark libp2p: no trim while fewer than low_water connections are past grace") {
  PluginUnderTest<boxcar::ConnManager> m(Params(10, 5, 20000));
  std::vector<ConnInfo> conns = Peers(12);
  for (size_t i = 0; i < 8; ++i) conns[i].opened_ns = kNow - 5 * kSecond;
  CHECK(m->SelectTrim(conns, kNow, {}).empty());  // 4 trimmable < 5
  conns[0].opened_ns = kNow - 20 * kSecond;
  CHECK(m->SelectTrim(conns, kNow, {}).empty());  // 5 trimmable: none beyond low_water
  conns[1].opened_ns = kNow - 20 * kSecond;
  CHECK(m->SelectTrim(conns, kNow, {}).size() == 1);
}

TEST_CASE("watermark libp2p: the silence period spaces trims, whatever they found") {
  PluginUnderTest<boxcar::ConnManager> m(
      R"({"high_water": 4, "low_water": 2, "grace_period_ms": 20000,
          "silence_period_ms": 10000})");
  std::vector<ConnInfo> conns = Peers(6);
  for (ConnInfo& conn : conns) conn.opened_ns = kNow - 15 * kSecond;
  // At high water but everyone in grace: the check runs, finds nothing, and still counts, as
  // go-libp2p's background ticker does.
  CHECK(m->SelectTrim(conns, kNow, {}).empty());
  CHECK(m->SelectTrim(conns, kNow + 6 * kSecond, {}).empty());  // past grace, but silent
  CHECK(m->SelectTrim(conns, kNow + 10 * kSecond, {}).size() == 4);
}

TEST_CASE("watermark libp2p: HTTP connections beside libp2p ones are judged one by one") {
  PluginUnderTest<boxcar::ConnManager> m(Params(4, 2));
  ConnInfo http = PeerConn(3, "", 0, 0);
  http.peer = "10.0.0.3";
  const std::vector<ConnInfo> conns = {PeerConn(1, Peer(1), 1), PeerConn(2, Peer(1), 1), http,
                                       PeerConn(4, Peer(2), 2)};
  // The HTTP connection has no tags (value 0), so it goes first; then peer 1 whole.
  CHECK(m->SelectTrim(conns, kNow, {}) == std::vector<uint64_t>{3, 1, 2});
}
