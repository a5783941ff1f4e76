// Helpers for the tests of conn_manager plugins.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "boxcar/conn_manager.h"

namespace boxcar_plugins::testing {

inline constexpr int64_t kSecond = 1'000'000'000;
inline constexpr int64_t kNow = 10'000 * kSecond;

// A connection opened `age_s` seconds ago whose last activity was `idle_s` seconds ago.
inline boxcar::ConnInfo Conn(uint64_t id, int64_t idle_s, uint32_t inflight = 0,
                             int64_t age_s = 3600) {
  boxcar::ConnInfo conn;
  conn.id = id;
  conn.peer = "10.0.0." + std::to_string(id);
  conn.opened_ns = kNow - age_s * kSecond;
  conn.last_active_ns = kNow - idle_s * kSecond;
  conn.inflight = inflight;
  return conn;
}

// Connections 1..n, connection i idle for i seconds, all past any grace period.
inline std::vector<boxcar::ConnInfo> IdleConns(uint64_t n) {
  std::vector<boxcar::ConnInfo> conns;
  for (uint64_t id = 1; id <= n; ++id) conns.push_back(Conn(id, static_cast<int64_t>(id)));
  return conns;
}

// A libp2p connection to `peer_id`, opened `age_s` seconds ago and active a second ago.
inline boxcar::ConnInfo PeerConn(uint64_t id, const std::string& peer_id, int64_t tag_sum = 0,
                                 uint32_t streams = 0,
                                 boxcar::ConnDirection direction = boxcar::ConnDirection::kOutbound,
                                 int64_t age_s = 3600) {
  boxcar::ConnInfo conn = Conn(id, 1, streams, age_s);
  conn.peer = peer_id;
  conn.peer_id = peer_id;
  conn.peer_tag_sum = tag_sum;
  conn.open_streams = streams;
  conn.direction = direction;
  return conn;
}

}  // namespace boxcar_plugins::testing
