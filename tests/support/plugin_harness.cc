#include "plugin_harness.h"

#include <doctest/doctest.h>

#include <mutex>
#include <vector>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "runtime/host_services.h"
#include "runtime/instance.h"
#include "runtime/json_schema.h"
#include "runtime/tunables.h"

namespace boxcar::testing {

class HarnessState {
 public:
  explicit HarnessState(const std::string& path) {
    registry = std::make_shared<prometheus::Registry>();
    auto logger =
        std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_level(spdlog::level::warn);
    context = std::make_shared<runtime::HostContext>();
    context->logger = logger;
    context->metrics = std::make_shared<runtime::PluginMetrics>(registry);
    context->clock = clock;
    context->faults = &prometheus::BuildCounter()
                           .Name("boxcar_plugin_faults_total")
                           .Help("Exceptions contained at the plugin boundary")
                           .Register(*registry);
    Status s = runtime::PluginLibrary::Open(path, std::nullopt, &library);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }

  Status Create(std::string_view params_json, runtime::CreatedPlugin* out) {
    nlohmann::json parsed = nlohmann::json::parse(params_json, nullptr, false);
    if (parsed.is_discarded()) return Status::InvalidArgument("params are not valid JSON");
    runtime::InstanceRequest request{library, "test",    "/params",     std::move(parsed),
                                     context, &tunables, eviction_sink, data_dir};
    return runtime::CreatePlugin(std::move(request), out);
  }

  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::shared_ptr<prometheus::Registry> registry;
  std::shared_ptr<runtime::HostContext> context;
  runtime::TunableRegistry tunables;
  EvictionSink* eviction_sink = nullptr;
  std::string data_dir;
  std::shared_ptr<runtime::PluginLibrary> library;
  // Services and params must outlive the plugins created with them; the harness outlives those.
  std::vector<std::shared_ptr<runtime::InstanceServices>> services;
  std::vector<std::unique_ptr<Params>> params;
};

PluginHarness::PluginHarness(std::string path) : state_(std::make_unique<HarnessState>(path)) {}
PluginHarness::~PluginHarness() = default;

const runtime::PluginInfo& PluginHarness::info() const { return state_->library->info(); }
ManualClock& PluginHarness::clock() { return *state_->clock; }
void PluginHarness::SetEvictionSink(EvictionSink* sink) { state_->eviction_sink = sink; }
void PluginHarness::SetDataDir(std::string dir) { state_->data_dir = std::move(dir); }

std::unique_ptr<Plugin> PluginHarness::Create(std::string_view params_json) {
  runtime::CreatedPlugin created;
  Status s = state_->Create(params_json, &created);
  INFO("params: ", std::string(params_json), " -> ", s.ToString());
  REQUIRE(s.ok());
  // The tunables of the newest instance are the ones SetTunable and Tunable address.
  std::vector<std::shared_ptr<runtime::Tunable>> live;
  for (const auto& [param, t] : created.services->bound_tunables()) live.push_back(t);
  state_->tunables.Publish(std::move(live));
  state_->services.push_back(std::move(created.services));
  state_->params.push_back(std::move(created.params));
  return std::move(created.plugin);
}

std::string PluginHarness::CreateError(std::string_view params_json) {
  runtime::CreatedPlugin created;
  Status s = state_->Create(params_json, &created);
  if (created.services) state_->services.push_back(std::move(created.services));
  return s.ok() ? "" : s.message();
}

Params PluginHarness::ParseParams(std::string_view params_json) {
  nlohmann::json params = nlohmann::json::parse(params_json, nullptr, false);
  REQUIRE_FALSE(params.is_discarded());
  Status s = runtime::ValidateParams(info(), "/params", &params);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return runtime::ToParams(params, info().params_schema);
}

void PluginHarness::SetTunable(std::string_view param, double value) {
  auto result = state_->tunables.Set("test." + std::string(param), value);
  INFO("tunable ", std::string(param));
  REQUIRE(result != runtime::TunableRegistry::SetResult::kUnknown);
}

double PluginHarness::Tunable(std::string_view param) {
  auto t = state_->tunables.Find("test." + std::string(param));
  INFO("tunable ", std::string(param));
  REQUIRE(t != nullptr);
  return t->value.load();
}

uint64_t PluginHarness::faults() const {
  uint64_t total = 0;
  for (const auto& s : state_->services) total += s->faults();
  return total;
}

std::string PluginHarness::MetricsText() const {
  return prometheus::TextSerializer().Serialize(state_->registry->Collect());
}

}  // namespace boxcar::testing
