// conn_manager "adaptive": watermarks that shrink under resource pressure.
//
// Pressure is the larger of fd use (open_fds / fd_limit) and memory use (rss / memory limit).
// Up to pressure_threshold the base watermarks apply unchanged; above it both are scaled down
// linearly, reaching min_scale at full use, so the node sheds connections before it runs out of
// descriptors or memory instead of after. Past reject_above, new connections are refused outright
// unless their peer is protected. Trims otherwise follow the watermark manager: never protected
// or young connections, idle ones first, and a silence period between trims.

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
      "description": "Without pressure, a trim starts when more connections than this are open.",
      "default": 900, "minimum": 1, "maximum": 1000000, "tunable": true
    },
    "low_water": {
      "type": "integer",
      "description": "Without pressure, a trim closes connections until this many remain.",
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
      "description": "Connections younger than this are never trimmed.",
      "default": 20000, "minimum": 0, "maximum": 86400000
    },
    "silence_period_ms": {
      "type": "integer",
      "description": "Minimum time between two trims.",
      "default": 10000, "minimum": 0, "maximum": 86400000
    },
    "protected_peers": {
      "type": "array", "items": {"type": "string"},
      "description": "Peers whose connections are never trimmed nor refused.",
      "default": []
    }
  }
})json";

constexpr int64_t kNsPerMs = 1'000'000;

// The params that only change through Reconfigure; the base watermarks are tunables.
struct Settings {
  double pressure_threshold = 0;
  double min_scale = 1;
  double reject_above = 1;
  int64_t grace_ns = 0;
  int64_t silence_ns = 0;
  std::unordered_set<std::string> protected_peers;

  bool IsProtected(const boxcar::ConnInfo& conn) const {
    return conn.is_protected || protected_peers.contains(conn.peer);
  }
};

std::shared_ptr<const Settings> ParseSettings(const boxcar::Params& params) {
  const int64_t high = params.GetInt("high_water");
  const int64_t low = params.GetInt("low_water");
  if (low > high) {
    throw std::invalid_argument("low_water (" + std::to_string(low) +
                                ") must not exceed high_water (" + std::to_string(high) + ")");
  }
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
  settings->grace_ns = params.GetInt("grace_period_ms") * kNsPerMs;
  settings->silence_ns = params.GetInt("silence_period_ms") * kNsPerMs;
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

class AdaptiveConnManager : public boxcar::ConnManager {
 public:
  explicit AdaptiveConnManager(const boxcar::CreateContext& ctx)
      : high_water_(BindTunable(*ctx.host, "high_water")),
        low_water_(BindTunable(*ctx.host, "low_water")),
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
    if (conns.size() <= high) return {};

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
  boxcar::Gauge* effective_high_gauge_;
  boxcar::Gauge* effective_low_gauge_;
  boxcar::Gauge* pressure_gauge_;

  std::mutex trim_mutex_;
  std::optional<int64_t> last_trim_ns_;  // guarded by trim_mutex_
};

}  // namespace

BOXCAR_PLUGIN(AdaptiveConnManager, "adaptive", "1.0.0",
              "Watermark trimming whose watermarks shrink as fd or memory use rises; refuses "
              "unprotected peers near exhaustion",
              kSchema, boxcar::kThreadSafe | boxcar::kReconfigure);
