// tuner: the control loop's policy. It reads metrics and proposes new values for tunable params.
//
// Who calls what: the host's control thread calls Tick every `control.interval_ms` with a
// snapshot of the node's metrics and of every registered tunable. Proposals are applied by the
// host, clamped to each tunable's bounds (and rounded for integer ones); proposals naming an
// unknown tunable are ignored and counted. Tick runs on one thread at a time; it may take a few
// milliseconds but must not block on I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "boxcar/plugin.h"

namespace boxcar {

struct MetricSample {
  std::string name;    // Prometheus name, e.g. "boxcar_requests_total"
  std::string labels;  // canonical form: k1="v1",k2="v2" sorted by key; empty when none
  double value = 0;    // counters are cumulative; histograms appear as _count, _sum and quantiles
};

struct TunableInfo {
  std::string name;  // "<slot>.<param>", e.g. "prioritizer.quantum_bytes", or a host param
  double value = 0;
  double min = 0;
  double max = 0;
  bool integer = false;
};

struct Proposal {
  std::string name;
  double value = 0;
  std::string reason;  // logged with the change
};

template <class Impl>
class TunerGuard;

class Tuner : public Plugin {
 public:
  static constexpr PluginKind kKind = PluginKind::kTuner;
  template <class Impl>
  using Guard = TunerGuard<Impl>;

  virtual std::vector<Proposal> Tick(int64_t now_ns, const std::vector<MetricSample>& metrics,
                                     const std::vector<TunableInfo>& tunables) = 0;
};

template <class Impl>
class TunerGuard final : public detail::GuardedPlugin<Impl> {
 public:
  using detail::GuardedPlugin<Impl>::GuardedPlugin;
  std::vector<Proposal> Tick(int64_t now_ns, const std::vector<MetricSample>& metrics,
                             const std::vector<TunableInfo>& tunables) override {
    return detail::Contain(this->hs(), "Tick", std::vector<Proposal>(),
                           [&] { return Impl::Tick(now_ns, metrics, tunables); });
  }
};

}  // namespace boxcar
