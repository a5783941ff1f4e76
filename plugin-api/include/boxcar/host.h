// Services the host offers to plugins: logging, metrics, a clock and tunable parameters.
//
// The host implements these interfaces; a plugin only calls them. Every object reached through
// HostServices outlives the plugin instance that received it, so a plugin may cache the
// pointers it gets (a Counter*, a bound tunable) for its whole lifetime.
//
// Thread safety: every method here may be called from any thread, concurrently.
// None of them throws, and none blocks on I/O (logging is buffered by the host).
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace boxcar {

enum class LogLevel : unsigned char { kDebug, kInfo, kWarn, kError };

class Logger {
 public:
  virtual ~Logger() = default;
  // The host prefixes each line with the slot and plugin name.
  virtual void Log(LogLevel level, std::string_view message) = 0;
};

class Counter {
 public:
  virtual ~Counter() = default;
  virtual void Increment(double delta = 1.0) = 0;
};

class Gauge {
 public:
  virtual ~Gauge() = default;
  virtual void Set(double value) = 0;
  virtual void Add(double delta) = 0;
};

class Histogram {
 public:
  virtual ~Histogram() = default;
  virtual void Observe(double value) = 0;
};

using MetricLabels = std::vector<std::pair<std::string_view, std::string_view>>;

// Metric names are prefixed with "boxcar_plugin_" and labelled with the slot and plugin by the
// host, so two plugins cannot collide. Asking twice for the same name and labels returns the
// same object. Names must match [a-z_][a-z0-9_]*; an invalid name yields a metric that records
// nothing, rather than a failure.
class Metrics {
 public:
  virtual ~Metrics() = default;
  virtual Counter* GetCounter(std::string_view name, std::string_view help,
                              const MetricLabels& labels = {}) = 0;
  virtual Gauge* GetGauge(std::string_view name, std::string_view help,
                          const MetricLabels& labels = {}) = 0;
  // `bucket_bounds` are the upper bounds, ascending.
  virtual Histogram* GetHistogram(std::string_view name, std::string_view help,
                                  const std::vector<double>& bucket_bounds,
                                  const MetricLabels& labels = {}) = 0;
};

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic nanoseconds. Tests may give the plugin a clock they drive by hand.
  virtual int64_t NowNs() const = 0;
};

// Tunable params are the ones a plugin's schema marks "tunable": true. The tuner may move them
// within their schema bounds at any time, so a plugin reads them through the bound atomic on
// every use instead of copying the value at construction.
class Tunables {
 public:
  virtual ~Tunables() = default;
  // The live value of one of this plugin's tunable params, or nullptr when `param` is not a
  // tunable of this plugin. Integer params hold whole numbers.
  virtual const std::atomic<double>* Bind(std::string_view param) = 0;
};

class HostServices {
 public:
  virtual ~HostServices() = default;
  virtual Logger& logger() = 0;
  virtual Metrics& metrics() = 0;
  virtual const Clock& clock() = 0;
  virtual Tunables& tunables() = 0;
  // Called by the boundary guard when a plugin method threw. The host counts it in
  // boxcar_plugin_faults_total and logs it (at most once a second per instance). `operation`
  // names the method.
  virtual void ReportFault(std::string_view operation, std::string_view what) noexcept = 0;
};

}  // namespace boxcar
