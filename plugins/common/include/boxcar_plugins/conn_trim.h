// The trimming rules of watermark-style connection managers, as go-libp2p's BasicConnMgr has
// them (p2p/net/connmgr): once at least high_water connections are open, close the least useful
// ones until low_water of the trimmable ones remain, never protected or young ones, and then no
// trim for a silence period, so the closed connections have time to drain before the count is
// judged again.
//
// libp2p connections (ConnInfo::peer_id set) are judged and closed per peer: all of a peer's
// connections go together, the peer's grace period runs from its first connection, and one
// protected connection protects the peer. Each HTTP connection (no peer_id) is its own unit.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "boxcar/conn_manager.h"
#include "boxcar/params.h"

namespace boxcar_plugins {

inline constexpr int64_t kNsPerMs = 1'000'000;

// The trim params that only change through Reconfigure; the watermarks are tunables.
struct TrimSettings {
  int64_t grace_ns = 0;
  int64_t silence_ns = 0;
  std::unordered_set<std::string> protected_peers;

  // protected_peers names HTTP client addresses or libp2p PeerIDs.
  bool IsProtected(const boxcar::ConnInfo& conn) const {
    return conn.is_protected || protected_peers.contains(conn.peer) ||
           (!conn.peer_id.empty() && protected_peers.contains(conn.peer_id));
  }
};

// Throws std::invalid_argument when low_water exceeds high_water.
inline void CheckWatermarks(const boxcar::Params& params) {
  const int64_t high = params.GetInt("high_water");
  const int64_t low = params.GetInt("low_water");
  if (low > high) {
    throw std::invalid_argument("low_water (" + std::to_string(low) +
                                ") must not exceed high_water (" + std::to_string(high) + ")");
  }
}

inline void ReadTrimSettings(const boxcar::Params& params, TrimSettings* settings) {
  settings->grace_ns = params.GetInt("grace_period_ms") * kNsPerMs;
  settings->silence_ns = params.GetInt("silence_period_ms") * kNsPerMs;
  for (auto& peer : params.GetStrings("protected_peers")) {
    settings->protected_peers.insert(std::move(peer));
  }
}

// True when a trim is due: go-libp2p starts at HighWater, not above it.
inline bool ReachedHighWater(size_t open_conns, size_t high_water) {
  return open_conns >= high_water;
}

// What a trim judges and closes at once: a libp2p peer with all its connections, or one HTTP
// connection.
struct TrimUnit {
  std::vector<uint64_t> ids;
  int64_t first_opened_ns = 0;  // the unit's grace period runs from here
  int64_t last_active_ns = 0;
  int64_t value = 0;     // the peer's tag sum
  uint64_t streams = 0;  // open streams; for HTTP, requests in flight
  bool inbound = false;  // any of its connections was dialed by the remote
  bool is_protected = false;
};

inline uint64_t StreamsOf(const boxcar::ConnInfo& conn) {
  return conn.peer_id.empty() ? conn.inflight : conn.open_streams;
}

inline std::vector<TrimUnit> GroupIntoUnits(const std::vector<boxcar::ConnInfo>& conns,
                                            const TrimSettings& settings) {
  std::vector<TrimUnit> units;
  std::unordered_map<std::string_view, size_t> unit_of_peer;
  for (const boxcar::ConnInfo& conn : conns) {
    size_t index = units.size();
    if (!conn.peer_id.empty()) {
      index = unit_of_peer.emplace(conn.peer_id, units.size()).first->second;
    }
    if (index == units.size()) {
      units.emplace_back();
      units.back().first_opened_ns = conn.opened_ns;
      units.back().last_active_ns = conn.last_active_ns;
      units.back().value = conn.peer_tag_sum;
    }
    TrimUnit& unit = units[index];
    unit.ids.push_back(conn.id);
    unit.first_opened_ns = std::min(unit.first_opened_ns, conn.opened_ns);
    unit.last_active_ns = std::max(unit.last_active_ns, conn.last_active_ns);
    unit.value = std::max(unit.value, conn.peer_tag_sum);  // the same on every connection
    unit.streams += StreamsOf(conn);
    unit.inbound = unit.inbound || conn.direction == boxcar::ConnDirection::kInbound;
    unit.is_protected = unit.is_protected || settings.IsProtected(conn);
  }
  return units;
}

// go-libp2p's order (SortByValueAndStreams): the lowest tag sum first; then units with no open
// stream before busy ones; then inbound before outbound; then fewer streams first. Ties go to
// the longest idle, then the lowest id, so a trim is deterministic.
inline bool TrimsBefore(const TrimUnit& a, const TrimUnit& b) {
  if (a.value != b.value) return a.value < b.value;
  if (a.streams != b.streams && (a.streams == 0 || b.streams == 0)) return a.streams == 0;
  if (a.inbound != b.inbound) return a.inbound;
  if (a.streams != b.streams) return a.streams < b.streams;
  if (a.last_active_ns != b.last_active_ns) return a.last_active_ns < b.last_active_ns;
  return a.ids.front() < b.ids.front();
}

// go-libp2p's getConnsToClose: the ids of the connections to close so that `low_water` of the
// trimmable ones (unprotected and past their grace period) remain. Nothing when at most
// low_water connections are open, or when fewer than low_water are trimmable (trimming then
// would cut connections that have not had the time to prove useful). A peer is closed whole, so
// a trim may close a few more connections than the count asks for.
inline std::vector<uint64_t> PickVictims(const std::vector<boxcar::ConnInfo>& conns,
                                         size_t low_water, int64_t now_ns,
                                         const TrimSettings& settings) {
  if (conns.size() <= low_water) return {};
  std::vector<TrimUnit> candidates;
  size_t trimmable = 0;
  for (TrimUnit& unit : GroupIntoUnits(conns, settings)) {
    const bool in_grace = now_ns - unit.first_opened_ns < settings.grace_ns;
    if (unit.is_protected || in_grace) continue;
    trimmable += unit.ids.size();
    candidates.push_back(std::move(unit));
  }
  if (trimmable < low_water) return {};
  std::sort(candidates.begin(), candidates.end(), TrimsBefore);
  std::vector<uint64_t> victims;
  size_t remaining = trimmable - low_water;
  for (const TrimUnit& unit : candidates) {
    if (remaining == 0) break;
    victims.insert(victims.end(), unit.ids.begin(), unit.ids.end());
    remaining -= std::min(remaining, unit.ids.size());
  }
  return victims;
}

// Keeps trims at least a silence period apart, also when SelectTrim runs on several threads.
class TrimPacer {
 public:
  // True when a trim may run at `now_ns`; it then counts as the last trim.
  bool TryStart(int64_t now_ns, int64_t silence_ns) {
    std::lock_guard lock(mutex_);
    if (last_trim_ns_ && now_ns - *last_trim_ns_ < silence_ns) return false;
    last_trim_ns_ = now_ns;
    return true;
  }

 private:
  std::mutex mutex_;
  std::optional<int64_t> last_trim_ns_;  // guarded by mutex_
};

// Replaces the settings in `slot` with `parse(params)`; params that parse rejects with
// std::invalid_argument leave them unchanged.
template <class Settings, class Parse>
boxcar::Status ReplaceSettings(std::atomic<std::shared_ptr<const Settings>>& slot,
                               const boxcar::Params& params, Parse parse) {
  try {
    slot.store(parse(params));
  } catch (const std::invalid_argument& e) {
    return boxcar::Status::InvalidArgument(e.what());
  }
  return boxcar::Status::OK();
}

}  // namespace boxcar_plugins
