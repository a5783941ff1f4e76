// conn_manager "watermark": go-libp2p's BasicConnMgr. Once at least high_water connections are
// open, a trim closes the least useful until low_water of the trimmable ones remain: lowest
// peer tag sum first, then those without open streams, then inbound before outbound. Protected
// peers and connections within their grace period are never trimmed, and no trim runs within a
// silence period of the last, so the closed connections drain before the count is judged again.
// libp2p connections are judged per peer (boxcar_plugins/conn_trim.h). Admission is a hard cap.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "boxcar/conn_manager.h"
#include "boxcar_plugins/conn_trim.h"
#include "boxcar_plugins/tunables.h"

namespace {

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "high_water": {
      "type": "integer",
      "description": "A trim starts when this many connections are open (go-libp2p HighWater).",
      "default": 900, "minimum": 1, "maximum": 1000000, "tunable": true
    },
    "low_water": {
      "type": "integer",
      "description": "A trim closes connections until this many of the trimmable ones (unprotected, past their grace period) remain (go-libp2p LowWater).",
      "default": 600, "minimum": 0, "maximum": 1000000, "tunable": true
    },
    "grace_period_ms": {
      "type": "integer",
      "description": "Connections younger than this are never trimmed; for libp2p, a peer whose first connection is younger.",
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
      "description": "Peers whose connections are never trimmed: HTTP client addresses or libp2p PeerIDs.",
      "default": []
    }
  }
})json";

// The params that only change through Reconfigure; the watermarks are tunables and read live.
struct Settings : boxcar_plugins::TrimSettings {
  size_t max_conns = 0;
};

std::shared_ptr<const Settings> ParseSettings(const boxcar::Params& params) {
  boxcar_plugins::CheckWatermarks(params);
  const int64_t high = params.GetInt("high_water");
  const int64_t max_conns = params.GetInt("max_conns");
  if (high > max_conns) {
    throw std::invalid_argument("high_water (" + std::to_string(high) +
                                ") must not exceed max_conns (" + std::to_string(max_conns) +
                                "): connections beyond max_conns are refused, so no trim would "
                                "ever start");
  }
  auto settings = std::make_shared<Settings>();
  boxcar_plugins::ReadTrimSettings(params, settings.get());
  settings->max_conns = static_cast<size_t>(max_conns);
  return settings;
}

size_t ReadCount(const std::atomic<double>& tunable) {
  return static_cast<size_t>(std::max<long long>(0, std::llround(tunable.load())));
}

class WatermarkConnManager : public boxcar::ConnManager {
 public:
  explicit WatermarkConnManager(const boxcar::CreateContext& ctx)
      : high_water_(boxcar_plugins::BindTunable(*ctx.host, "high_water")),
        low_water_(boxcar_plugins::BindTunable(*ctx.host, "low_water")),
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
    if (!boxcar_plugins::ReachedHighWater(conns.size(), high)) return {};

    const std::shared_ptr<const Settings> settings = settings_.load();
    if (!pacer_.TryStart(now_ns, settings->silence_ns)) return {};
    return boxcar_plugins::PickVictims(conns, low, now_ns, *settings);
  }

  boxcar::Status Reconfigure(const boxcar::Params& params) override {
    return boxcar_plugins::ReplaceSettings(settings_, params, ParseSettings);
  }

 private:
  const std::atomic<double>& high_water_;
  const std::atomic<double>& low_water_;
  std::atomic<std::shared_ptr<const Settings>> settings_;
  boxcar_plugins::TrimPacer pacer_;
};

}  // namespace

BOXCAR_PLUGIN(WatermarkConnManager, "watermark", "1.1.0",
              "go-libp2p's connection manager: trims from high_water down to low_water, lowest "
              "tag sum, idle and inbound first; hard cap on admission",
              kSchema, boxcar::kThreadSafe | boxcar::kReconfigure);
