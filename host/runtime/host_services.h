// The host's implementation of the services plugins reach through boxcar::HostServices.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>
#include <spdlog/logger.h>

#include "boxcar/host.h"
#include "runtime/tunables.h"

namespace boxcar::runtime {

// Metrics plugins register, shared by every instance of the process. Metric objects live as long
// as this object, which outlives every instance, so plugins may cache the pointers they get.
class PluginMetrics {
 public:
  explicit PluginMetrics(std::shared_ptr<prometheus::Registry> registry);
  ~PluginMetrics();

  // `labels` already include slot and plugin. Invalid names yield a shared no-op metric.
  Counter* GetCounter(std::string_view name, std::string_view help, const MetricLabels& labels);
  Gauge* GetGauge(std::string_view name, std::string_view help, const MetricLabels& labels);
  Histogram* GetHistogram(std::string_view name, std::string_view help,
                          const std::vector<double>& bounds, const MetricLabels& labels);

  prometheus::Registry& registry() { return *registry_; }

 private:
  template <class Adapter, class Prom, class Builder, class... Extra>
  Adapter* GetOrCreate(std::string_view name, std::string_view help, const MetricLabels& labels,
                       Builder build, Extra&&... extra);

  std::shared_ptr<prometheus::Registry> registry_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Counter>> counters_;
  std::map<std::string, std::unique_ptr<Gauge>> gauges_;
  std::map<std::string, std::unique_ptr<Histogram>> histograms_;
};

// Shared by all instances: where logs, metrics, time and faults go.
struct HostContext {
  std::shared_ptr<spdlog::logger> logger;
  std::shared_ptr<PluginMetrics> metrics;
  std::shared_ptr<const Clock> clock;
  prometheus::Family<prometheus::Counter>* faults = nullptr;  // boxcar_plugin_faults_total
};

// The production context: plugin logs through the "plugin" logger, metrics and faults into
// `registry`, the steady clock.
std::shared_ptr<HostContext> MakeHostContext(std::shared_ptr<prometheus::Registry> registry);

// The services one instance sees: its log lines, metrics and faults carry its slot and plugin
// name, and it can bind only its own tunables.
class InstanceServices final : public HostServices, Logger, Metrics, Tunables {
 public:
  InstanceServices(std::shared_ptr<HostContext> context, std::string slot, std::string plugin,
                   std::map<std::string, std::shared_ptr<Tunable>> tunables);

  Logger& logger() override { return *this; }
  Metrics& metrics() override { return *this; }
  const Clock& clock() override { return *context_->clock; }
  Tunables& tunables() override { return *this; }
  void ReportFault(std::string_view operation, std::string_view what) noexcept override;

  void Log(LogLevel level, std::string_view message) override;
  Counter* GetCounter(std::string_view name, std::string_view help,
                      const MetricLabels& labels) override;
  Gauge* GetGauge(std::string_view name, std::string_view help,
                  const MetricLabels& labels) override;
  Histogram* GetHistogram(std::string_view name, std::string_view help,
                          const std::vector<double>& bucket_bounds,
                          const MetricLabels& labels) override;
  const std::atomic<double>* Bind(std::string_view param) override;

  uint64_t faults() const { return faults_.load(); }
  const std::string& slot() const { return slot_; }
  const std::map<std::string, std::shared_ptr<Tunable>>& bound_tunables() const {
    return tunables_;
  }

 private:
  MetricLabels WithIdentity(const MetricLabels& labels) const;

  std::shared_ptr<HostContext> context_;
  std::string slot_;
  std::string plugin_;
  std::map<std::string, std::shared_ptr<Tunable>> tunables_;  // by param name
  std::atomic<uint64_t> faults_{0};
  std::atomic<int64_t> last_fault_log_ns_{0};
};

// A steady clock in nanoseconds.
class SteadyClock final : public Clock {
 public:
  int64_t NowNs() const override;
};

}  // namespace boxcar::runtime
