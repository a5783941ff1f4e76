// Test harness for plugin unit tests: loads the plugin under test through the real loader, with
// real host services (spdlog logger, prometheus-cpp registry, tunable registry) and a clock the
// test drives by hand. No part of the host is mocked.
//
//   boxcar::testing::PluginUnderTest<boxcar::Prioritizer> p(R"({"quantum_bytes": 4096})");
//   CHECK(p->Push(task).ok());
//   p.clock().Advance(1'000'000);
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "boxcar/cache_tier.h"
#include "boxcar/plugin.h"
#include "runtime/plugin_file.h"

namespace boxcar::testing {

class ManualClock : public Clock {
 public:
  int64_t NowNs() const override { return now_.load(std::memory_order_relaxed); }
  void Set(int64_t ns) { now_.store(ns, std::memory_order_relaxed); }
  void Advance(int64_t ns) { now_.fetch_add(ns, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> now_{1'000'000'000};
};

class HarnessState;  // defined in plugin_harness.cc

class PluginHarness {
 public:
  // Loads the plugin file (by default the one this test binary was built for).
  explicit PluginHarness(std::string path = DefaultPluginPath());
  ~PluginHarness();

  // Inline so it expands in the test binary, where BOXCAR_PLUGIN_UNDER_TEST is defined.
  static std::string DefaultPluginPath() {
#ifdef BOXCAR_PLUGIN_UNDER_TEST
    return BOXCAR_PLUGIN_UNDER_TEST;
#else
    return "";
#endif
  }

  const runtime::PluginInfo& info() const;
  ManualClock& clock();
  // cache_tier: where instances created after this call send evicted entries.
  void SetEvictionSink(EvictionSink* sink);
  // Persistent cache_tier: the CreateContext::data_dir of instances created after this call.
  void SetDataDir(std::string dir);

  // Validates `params_json` against the plugin's schema (defaults filled) and creates an
  // instance in slot "test". CHECK-fails the test on a validation or factory error.
  std::unique_ptr<Plugin> Create(std::string_view params_json = "{}");
  // The error a bad params object gets from the schema validator or the factory ("" if none).
  std::string CreateError(std::string_view params_json);
  // Validated params, for Plugin::Reconfigure.
  Params ParseParams(std::string_view params_json);

  // The tuner's view: set a tunable of the last created instance (clamped to its bounds), read it.
  void SetTunable(std::string_view param, double value);
  double Tunable(std::string_view param);

  // Exceptions the boundary guards reported, across every instance this harness created.
  uint64_t faults() const;
  // Prometheus text exposition of every metric the instances registered.
  std::string MetricsText() const;

 private:
  std::unique_ptr<HarnessState> state_;
};

// Typed convenience wrapper for one instance.
template <class Iface>
class PluginUnderTest {
 public:
  explicit PluginUnderTest(std::string_view params_json = "{}")
      : harness_(std::make_unique<PluginHarness>()),
        instance_(harness_->Create(params_json)),
        typed_(static_cast<Iface*>(instance_.get())) {}

  Iface* operator->() { return typed_; }
  Iface& operator*() { return *typed_; }
  Iface* get() { return typed_; }
  PluginHarness& harness() { return *harness_; }
  ManualClock& clock() { return harness_->clock(); }

  // A second instance of the same plugin from the same harness (for state handoff tests). It
  // must be destroyed before this wrapper, which keeps the library mapped.
  std::unique_ptr<Iface> Another(std::string_view params_json = "{}") {
    auto p = harness_->Create(params_json);
    return std::unique_ptr<Iface>(static_cast<Iface*>(p.release()));
  }

 private:
  std::unique_ptr<PluginHarness> harness_;
  std::unique_ptr<Plugin> instance_;
  Iface* typed_;
};

}  // namespace boxcar::testing
