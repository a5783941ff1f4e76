// The registry of every tunable param: plugin params whose schema marks them "tunable", and the
// host's own. The tuner proposes values through it; the registry clamps them to the declared
// bounds, so no tuner can push a param outside what its owner accepts.
//
// Thread safety: all methods may be called concurrently. Values are atomics that plugins read
// on every use; the map is guarded by a mutex that no hot path takes.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "boxcar/tuner.h"

namespace boxcar::runtime {

struct Tunable {
  std::string name;  // "<slot>.<param>" or a host param such as "control.interval_ms"
  double min = 0;
  double max = 0;
  bool integer = false;
  double configured = 0;  // the value the config asked for
  std::atomic<double> value{0};

  // `v` clamped to the bounds and rounded for integer params.
  double Clamp(double v) const;
};

class TunableRegistry {
 public:
  // A tunable for a new instance. It shares the live entry, and so keeps a tuned value, when the
  // name, bounds and configured value are unchanged; otherwise it is a fresh entry that becomes
  // visible at the next Publish. Instances hold the shared_ptr, so a retired instance keeps
  // reading a valid atomic.
  std::shared_ptr<Tunable> Prepare(const std::string& name, double min, double max, bool integer,
                                   double configured);

  // Makes exactly `entries` the registered set (the tunables of the generation just published).
  void Publish(std::vector<std::shared_ptr<Tunable>> entries);

  enum class SetResult { kApplied, kClamped, kUnknown };
  // Applies a proposal; `applied` receives the value actually stored.
  SetResult Set(const std::string& name, double value, double* applied = nullptr);

  std::vector<TunableInfo> List() const;
  std::shared_ptr<Tunable> Find(const std::string& name) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Tunable>> entries_;
};

}  // namespace boxcar::runtime
