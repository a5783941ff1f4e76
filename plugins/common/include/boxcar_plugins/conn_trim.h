// The trimming rules of watermark-style connection managers: once more connections are open than
// a high watermark, close the least useful ones until a low watermark remain, never protected or
// young connections, and then no trim for a silence period, so the closed connections have time
// to drain before the count is judged again.
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

  bool IsProtected(const boxcar::ConnInfo& conn) const {
    return conn.is_protected || protected_peers.contains(conn.peer);
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

// Idle connections go first, the longest idle first; busy ones only when no idle one is left,
// those with the least work in flight first, so a trim disturbs as few requests as possible.
inline bool TrimsBefore(const boxcar::ConnInfo* a, const boxcar::ConnInfo* b) {
  const bool a_idle = a->inflight == 0;
  const bool b_idle = b->inflight == 0;
  if (a_idle != b_idle) return a_idle;
  if (a->inflight != b->inflight) return a->inflight < b->inflight;
  if (a->last_active_ns != b->last_active_ns) return a->last_active_ns < b->last_active_ns;
  return a->id < b->id;
}

// The ids of the connections to close so that `keep` remain, as far as unprotected connections
// past their grace period allow.
inline std::vector<uint64_t> PickVictims(const std::vector<boxcar::ConnInfo>& conns, size_t keep,
                                         int64_t now_ns, const TrimSettings& settings) {
  std::vector<const boxcar::ConnInfo*> candidates;
  for (const auto& conn : conns) {
    const bool in_grace = now_ns - conn.opened_ns < settings.grace_ns;
    if (!settings.IsProtected(conn) && !in_grace) candidates.push_back(&conn);
  }
  const size_t wanted = std::min(conns.size() - keep, candidates.size());
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<ptrdiff_t>(wanted),
                    candidates.end(), TrimsBefore);
  std::vector<uint64_t> victims;
  victims.reserve(wanted);
  for (size_t i = 0; i < wanted; ++i) victims.push_back(candidates[i]->id);
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
