// conn_manager "watermark": keeps the number of open connections between two watermarks, in the
// manner of go-libp2p's BasicConnMgr. Once more than high_water connections are open, a trim
// closes the least useful ones until low_water remain, and then no trim runs for a silence
// period, so the closed connections have time to drain before the count is judged again.
// Admission is a plain hard cap.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "boxcar/conn_manager.h"

namespace {

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "high_water": {
      "type": "integer",
      "description": "A trim starts when more connections than this are open.",
      "default": 900, "minimum": 1, "maximum": 1000000, "tunable": true
    },
    "low_water": {
      "type": "integer",
      "description": "A trim closes connections until this many remain.",
      "default": 600, "minimum": 0, "maximum": 1000000, "tunable": true
    },
    "grace_period_ms": {
      "type": "integer",
      "description": "Connections younger than this are never trimmed.",
      "default": 20000, "minimum": 0, "maximum": 86400000
    },
    "silence_period_ms": {
      "type": "integer",
      "description": "Minimum time between two trims.",
      "default": 10000, "minimum": 0, "maximum": 86400000
    },
    "max_conns": {
      "type": "integer",
      "description": "Hard cap: new connections are refused while this many are open.",
      "default": 4096, "minimum": 1, "maximum": 10000000
    },
    "protected_peers": {
      "type": "array", "items": {"type": "string"},
      "description": "Peers whose connections are never trimmed.",
      "default": []
    }
  }
})json";

constexpr int64_t kNsPerMs = 1'000'000;

// The params that only change through Reconfigure; the watermarks are tunables and read live.
struct Settings {
  int64_t grace_ns = 0;
  int64_t silence_ns = 0;
  size_t max_conns = 0;
  std::unordered_set<std::string> protected_peers;
};

std::shared_ptr<const Settings> ParseSettings(const boxcar::Params& params) {
  const int64_t high = params.GetInt("high_water");
  const int64_t low = params.GetInt("low_water");
  const int64_t max_conns = params.GetInt("max_conns");
  if (low > high) {
    throw std::invalid_argument("low_water (" + std::to_string(low) +
                                ") must not exceed high_water (" + std::to_string(high) + ")");
  }
  if (high > max_conns) {
    throw std::invalid_argument("high_water (" + std::to_string(high) +
                                ") must not exceed max_conns (" + std::to_string(max_conns) +
                                "): connections beyond max_conns are refused, so no trim would "
                                "ever start");
  }
  auto settings = std::make_shared<Settings>();
  settings->grace_ns = params.GetInt("grace_period_ms") * kNsPerMs;
  settings->silence_ns = params.GetInt("silence_period_ms") * kNsPerMs;
  settings->max_conns = static_cast<size_t>(max_conns);
  for (auto& peer : params.GetStrings("protected_peers")) {
    settings->protected_peers.insert(std::move(peer));
  }
  return settings;
}

const std::atomic<double>& BindTunable(boxcar::HostServices& host, std::string_view param) {
  const std::atomic<double>* bound = host.tunables().Bind(param);
  if (bound == nullptr) {
    throw std::logic_error("the host did not bind tunable param '" + std::string(param) + "'");
  }
  return *bound;
}

size_t ReadCount(const std::atomic<double>& tunable) {
  return static_cast<size_t>(std::max<long long>(0, std::llround(tunable.load())));
}

// Idle connections go first, the longest idle first; busy ones only when no idle one is left,
// those with the least work in flight first, so a trim disturbs as few requests as possible.
bool TrimsBefore(const boxcar::ConnInfo* a, const boxcar::ConnInfo* b) {
  const bool a_idle = a->inflight == 0;
  const bool b_idle = b->inflight == 0;
  if (a_idle != b_idle) return a_idle;
  if (a->inflight != b->inflight) return a->inflight < b->inflight;
  if (a->last_active_ns != b->last_active_ns) return a->last_active_ns < b->last_active_ns;
  return a->id < b->id;
}

std::vector<uint64_t> PickVictims(const std::vector<boxcar::ConnInfo>& conns, size_t keep,
                                  int64_t now_ns, const Settings& settings) {
  std::vector<const boxcar::ConnInfo*> candidates;
  for (const auto& conn : conns) {
    const bool is_protected = conn.is_protected || settings.protected_peers.contains(conn.peer);
    const bool in_grace = now_ns - conn.opened_ns < settings.grace_ns;
    if (!is_protected && !in_grace) candidates.push_back(&conn);
  }
  const size_t wanted = std::min(conns.size() - keep, candidates.size());
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<ptrdiff_t>(wanted),
                    candidates.end(), TrimsBefore);
  std::vector<uint64_t> victims;
  victims.reserve(wanted);
  for (size_t i = 0; i < wanted; ++i) victims.push_back(candidates[i]->id);
  return victims;
}

class WatermarkConnManager : public boxcar::ConnManager {
 public:
  explicit WatermarkConnManager(const boxcar::CreateContext& ctx)
      : high_water_(BindTunable(*ctx.host, "high_water")),
        low_water_(BindTunable(*ctx.host, "low_water")),
        settings_(ParseSettings(*ctx.params)) {}

  bool Admit(const boxcar::ConnInfo& /*conn*/, size_t open_conns,
             const boxcar::ResourcePressure& /*pressure*/) override {
    return open_conns < settings_.load()->max_conns;
  }

  std::vector<uint64_t> SelectTrim(const std::vector<boxcar::ConnInfo>& conns, int64_t now_ns,
                                   const boxcar::ResourcePressure& /*pressure*/) override {
    const size_t high = ReadCount(high_water_);
    // The tuner moves the two watermarks independently, so they may cross for a moment.
    const size_t low = std::min(ReadCount(low_water_), high);
    if (conns.size() <= high) return {};

    const std::shared_ptr<const Settings> settings = settings_.load();
    std::lock_guard lock(trim_mutex_);
    if (last_trim_ns_ && now_ns - *last_trim_ns_ < settings->silence_ns) return {};
    last_trim_ns_ = now_ns;
    return PickVictims(conns, low, now_ns, *settings);
  }

  boxcar::Status Reconfigure(const boxcar::Params& params) override {
    try {
      settings_.store(ParseSettings(params));
    } catch (const std::invalid_argument& e) {
      return boxcar::Status::InvalidArgument(e.what());
    }
    return boxcar::Status::OK();
  }

 private:
  const std::atomic<double>& high_water_;
  const std::atomic<double>& low_water_;
  std::atomic<std::shared_ptr<const Settings>> settings_;

  std::mutex trim_mutex_;
  std::optional<int64_t> last_trim_ns_;  // guarded by trim_mutex_
};

}  // namespace

BOXCAR_PLUGIN(WatermarkConnManager, "watermark", "1.0.0",
              "Trims connections from high_water down to low_water, idle ones first; hard cap "
              "on admission",
              kSchema, boxcar::kThreadSafe | boxcar::kReconfigure);
