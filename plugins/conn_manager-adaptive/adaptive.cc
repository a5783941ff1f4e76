// conn_manager "adaptive": watermarks that shrink under resource pressure.
//
// Pressure is the larger of fd use (open_fds / fd_limit) and memory use (rss / memory limit).
// Up to pressure_threshold the base watermarks apply unchanged; above it both are scaled down
// linearly, reaching min_scale at full use, so the node sheds connections before it runs out of
// descriptors or memory instead of after. Past reject_above, new connections are refused outright
// unless their peer is protected. Trims otherwise follow the watermark manager, which is
// go-libp2p's: per libp2p peer, never protected or young ones, lowest tag sum, idle and inbound
// first, and a silence period between trims.

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
      "description": "Without pressure, a trim starts when this many connections are open.",
      "default": 900, "minimum": 1, "maximum": 1000000, "tunable": true
    },
    "low_water": {
      "type": "integer",
      "description": "Without pressure, a trim closes connections until this many of the trimmable ones remain.",
      "default": 600, "minimum": 0, "maximum": 1000000, "tunable": true
    },
    "pressure_threshold": {
      "type": "number",
      "description": "Resource use (fraction of the fd or memory limit) above which the watermarks shrink.",
      "default": 0.7, "minimum": 0.0, "maximum": 0.99
    },
    "min_scale": {
      "type": "number",
      "description": "Fraction of the base watermarks that remains at full resource use.",
      "default": 0.25, "minimum": 0.01, "maximum": 1.0
    },
    "reject_above": {
      "type": "number",
      "description": "Resource use above which new connections from unprotected peers are refused.",
      "default": 0.95, "minimum": 0.0, "maximum": 1.0
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
    "protected_peers": {
      "type": "array", "items": {"type": "string"},
      "description": "Peers whose connections are never trimmed nor refused: HTTP client addresses or libp2p PeerIDs.",
      "default": []
    }
  }
})json";

// The params that only change through Reconfigure; the base watermarks are tunables.
struct Settings : boxcar_plugins::TrimSettings {
  double pressure_threshold = 0;
  double min_scale = 1;
  double reject_above = 1;
};

std::shared_ptr<const Settings> ParseSettings(const boxcar::Params& params) {
  boxcar_plugins::CheckWatermarks(params);
  auto settings = std::make_shared<Settings>();
  settings->pressure_threshold = params.GetDouble("pressure_threshold");
  settings->min_scale = params.GetDouble("min_scale");
  settings->reject_above = params.GetDouble("reject_above");
  if (settings->reject_above < settings->pressure_threshold) {
    throw std::invalid_argument(
        "reject_above (" + std::to_string(settings->reject_above) +
        ") must not be below pressure_threshold (" + std::to_string(settings->pressure_threshold) +
        "): connections would be refused before the watermarks start to shrink");
  }
  boxcar_plugins::ReadTrimSettings(params, settings.get());
  return settings;
}

// A limit of 0 means the host does not know it, so that resource cannot be judged.
double PressureOf(const boxcar::ResourcePressure& p) {
  const double fd_use =
      p.fd_limit > 0 ? static_cast<double>(p.open_fds) / static_cast<double>(p.fd_limit) : 0.0;
  const double memory_use = p.memory_limit_bytes > 0 ? static_cast<double>(p.rss_bytes) /
                                                           static_cast<double>(p.memory_limit_bytes)
                                                     : 0.0;
  return std::max(fd_use, memory_use);
}

double ScaleFor(double pressure, const Settings& settings) {
  if (pressure <= settings.pressure_threshold) return 1.0;
  const double excess =
      std::min(1.0, (pressure - settings.pressure_threshold) / (1.0 - settings.pressure_threshold));
  return 1.0 - excess * (1.0 - settings.min_scale);
}

size_t Scaled(const std::atomic<double>& base, double scale) {
  return static_cast<size_t>(std::max<long long>(0, std::llround(base.load() * scale)));
}

class AdaptiveConnManager : public boxcar::ConnManager {
 public:
  explicit AdaptiveConnManager(const boxcar::CreateContext& ctx)
      : high_water_(boxcar_plugins::BindTunable(*ctx.host, "high_water")),
        low_water_(boxcar_plugins::BindTunable(*ctx.host, "low_water")),
        settings_(ParseSettings(*ctx.params)),
        effective_high_gauge_(ctx.host->metrics().GetGauge(
            "effective_high_water", "High watermark after scaling for resource pressure")),
        effective_low_gauge_(ctx.host->metrics().GetGauge(
            "effective_low_water", "Low watermark after scaling for resource pressure")),
        pressure_gauge_(ctx.host->metrics().GetGauge(
            "resource_pressure", "Larger of fd and memory use, as a fraction of the limit")) {}

  bool Admit(const boxcar::ConnInfo& conn, size_t /*open_conns*/,
             const boxcar::ResourcePressure& pressure) override {
    const std::shared_ptr<const Settings> settings = settings_.load();
    return PressureOf(pressure) <= settings->reject_above || settings->IsProtected(conn);
  }

  std::vector<uint64_t> SelectTrim(const std::vector<boxcar::ConnInfo>& conns, int64_t now_ns,
                                   const boxcar::ResourcePressure& pressure) override {
    const std::shared_ptr<const Settings> settings = settings_.load();
    const double use = PressureOf(pressure);
    const double scale = ScaleFor(use, *settings);
    const size_t high = Scaled(high_water_, scale);
    // The tuner moves the two watermarks independently, so they may cross for a moment.
    const size_t low = std::min(Scaled(low_water_, scale), high);
    pressure_gauge_->Set(use);
    effective_high_gauge_->Set(static_cast<double>(high));
    effective_low_gauge_->Set(static_cast<double>(low));
    if (!boxcar_plugins::ReachedHighWater(conns.size(), high)) return {};

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
  boxcar::Gauge* effective_high_gauge_;
  boxcar::Gauge* effective_low_gauge_;
  boxcar::Gauge* pressure_gauge_;
  boxcar_plugins::TrimPacer pacer_;
};

}  // namespace

BOXCAR_PLUGIN(AdaptiveConnManager, "adaptive", "1.1.0",
              "Watermark trimming whose watermarks shrink as fd or memory use rises; refuses "
              "unprotected peers near exhaustion",
              kSchema, boxcar::kThreadSafe | boxcar::kReconfigure);
