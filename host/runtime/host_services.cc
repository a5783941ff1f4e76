#include "runtime/host_services.h"

#include <chrono>

#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include "obs/logging.h"

namespace boxcar::runtime {
namespace {

constexpr std::string_view kMetricPrefix = "boxcar_plugin_";
constexpr int64_t kFaultLogIntervalNs = 1'000'000'000;

class CounterAdapter final : public Counter {
 public:
  explicit CounterAdapter(prometheus::Counter* c) : c_(c) {}
  void Increment(double delta) override {
    if (c_ != nullptr && delta >= 0) c_->Increment(delta);
  }

 private:
  prometheus::Counter* c_;
};

class GaugeAdapter final : public Gauge {
 public:
  explicit GaugeAdapter(prometheus::Gauge* g) : g_(g) {}
  void Set(double value) override {
    if (g_ != nullptr) g_->Set(value);
  }
  void Add(double delta) override {
    if (g_ != nullptr) g_->Increment(delta);
  }

 private:
  prometheus::Gauge* g_;
};

class HistogramAdapter final : public Histogram {
 public:
  explicit HistogramAdapter(prometheus::Histogram* h) : h_(h) {}
  void Observe(double value) override {
    if (h_ != nullptr) h_->Observe(value);
  }

 private:
  prometheus::Histogram* h_;
};

prometheus::Labels ToLabels(const MetricLabels& labels) {
  prometheus::Labels out;
  for (const auto& [k, v] : labels) out.emplace(std::string(k), std::string(v));
  return out;
}

std::string Key(std::string_view name, const prometheus::Labels& labels) {
  std::string key(name);
  for (const auto& [k, v] : labels) key.append("\x1f").append(k).append("=").append(v);
  return key;
}

prometheus::Family<prometheus::Counter>& BuildFamily(prometheus::Registry& r,
                                                     const std::string& name,
                                                     const std::string& help,
                                                     prometheus::Counter*) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r);
}
prometheus::Family<prometheus::Gauge>& BuildFamily(prometheus::Registry& r, const std::string& name,
                                                   const std::string& help, prometheus::Gauge*) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r);
}
prometheus::Family<prometheus::Histogram>& BuildFamily(prometheus::Registry& r,
                                                       const std::string& name,
                                                       const std::string& help,
                                                       prometheus::Histogram*) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(r);
}

}  // namespace

PluginMetrics::PluginMetrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)) {}
PluginMetrics::~PluginMetrics() = default;

template <class Adapter, class Prom, class Builder, class... Extra>
Adapter* PluginMetrics::GetOrCreate(std::string_view name, std::string_view help,
                                    const MetricLabels& labels, Builder build, Extra&&... extra) {
  const std::string full = std::string(kMetricPrefix) + std::string(name);
  const prometheus::Labels prom_labels = ToLabels(labels);
  auto& table = [&]() -> auto& {
    if constexpr (std::is_same_v<Adapter, Counter>)
      return counters_;
    else if constexpr (std::is_same_v<Adapter, Gauge>)
      return gauges_;
    else
      return histograms_;
  }
  ();
  std::lock_guard lock(mu_);
  auto& slot = table[Key(full, prom_labels)];
  if (!slot) {
    // Invalid names or a type clash make prometheus-cpp throw; the plugin gets a no-op metric
    // rather than a failure, because metrics must never take a strategy down.
    try {
      auto& family = BuildFamily(*registry_, full, std::string(help), static_cast<Prom*>(nullptr));
      slot = build(&family.Add(prom_labels, std::forward<Extra>(extra)...));
    } catch (const std::exception&) {
      slot = build(nullptr);
    }
  }
  return slot.get();
}

Counter* PluginMetrics::GetCounter(std::string_view name, std::string_view help,
                                   const MetricLabels& labels) {
  return GetOrCreate<Counter, prometheus::Counter>(name, help, labels, [](prometheus::Counter* c) {
    return std::unique_ptr<Counter>(new CounterAdapter(c));
  });
}

Gauge* PluginMetrics::GetGauge(std::string_view name, std::string_view help,
                               const MetricLabels& labels) {
  return GetOrCreate<Gauge, prometheus::Gauge>(name, help, labels, [](prometheus::Gauge* g) {
    return std::unique_ptr<Gauge>(new GaugeAdapter(g));
  });
}

Histogram* PluginMetrics::GetHistogram(std::string_view name, std::string_view help,
                                       const std::vector<double>& bounds,
                                       const MetricLabels& labels) {
  return GetOrCreate<Histogram, prometheus::Histogram>(
      name, help, labels,
      [](prometheus::Histogram* h) { return std::unique_ptr<Histogram>(new HistogramAdapter(h)); },
      prometheus::Histogram::BucketBoundaries(bounds));
}

InstanceServices::InstanceServices(std::shared_ptr<HostContext> context, std::string slot,
                                   std::string plugin,
                                   std::map<std::string, std::shared_ptr<Tunable>> tunables)
    : context_(std::move(context)),
      slot_(std::move(slot)),
      plugin_(std::move(plugin)),
      tunables_(std::move(tunables)) {}

void InstanceServices::Log(LogLevel level, std::string_view message) {
  static constexpr spdlog::level::level_enum kLevels[] = {spdlog::level::debug, spdlog::level::info,
                                                          spdlog::level::warn, spdlog::level::err};
  context_->logger->log(kLevels[static_cast<int>(level)], "[{}/{}] {}", slot_, plugin_, message);
}

MetricLabels InstanceServices::WithIdentity(const MetricLabels& labels) const {
  MetricLabels out = labels;
  out.emplace_back("slot", slot_);
  out.emplace_back("plugin", plugin_);
  return out;
}

Counter* InstanceServices::GetCounter(std::string_view name, std::string_view help,
                                      const MetricLabels& labels) {
  return context_->metrics->GetCounter(name, help, WithIdentity(labels));
}

Gauge* InstanceServices::GetGauge(std::string_view name, std::string_view help,
                                  const MetricLabels& labels) {
  return context_->metrics->GetGauge(name, help, WithIdentity(labels));
}

Histogram* InstanceServices::GetHistogram(std::string_view name, std::string_view help,
                                          const std::vector<double>& bucket_bounds,
                                          const MetricLabels& labels) {
  return context_->metrics->GetHistogram(name, help, bucket_bounds, WithIdentity(labels));
}

const std::atomic<double>* InstanceServices::Bind(std::string_view param) {
  auto it = tunables_.find(std::string(param));
  return it == tunables_.end() ? nullptr : &it->second->value;
}

void InstanceServices::ReportFault(std::string_view operation, std::string_view what) noexcept {
  faults_.fetch_add(1);
  try {
    if (context_->faults != nullptr) {
      context_->faults
          ->Add({{"slot", slot_}, {"plugin", plugin_}, {"operation", std::string(operation)}})
          .Increment();
    }
    // One line a second at most per instance: a plugin failing on every call must not flood the
    // log; the counter carries the exact number.
    const int64_t now = context_->clock->NowNs();
    int64_t last = last_fault_log_ns_.load();
    if (now - last >= kFaultLogIntervalNs &&
        last_fault_log_ns_.compare_exchange_strong(last, now)) {
      context_->logger->error("[{}/{}] plugin fault in {}: {} ({} faults so far)", slot_, plugin_,
                              operation, what, faults_.load());
    }
  } catch (...) {
    // Reporting must not fail the call it reports on.
  }
}

int64_t SteadyClock::NowNs() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<HostContext> MakeHostContext(std::shared_ptr<prometheus::Registry> registry) {
  auto context = std::make_shared<HostContext>();
  context->logger = obs::Logger("plugin");
  context->metrics = std::make_shared<PluginMetrics>(registry);
  context->clock = std::make_shared<SteadyClock>();
  context->faults = &prometheus::BuildCounter()
                         .Name("boxcar_plugin_faults_total")
                         .Help("Exceptions contained at the plugin boundary, by operation")
                         .Register(*registry);
  return context;
}

}  // namespace boxcar::runtime
