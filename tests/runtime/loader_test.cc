// The loader and catalog: what the host refuses, and how long a plugin library stays mapped.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/sinks/null_sink.h>

#include "boxcar/prioritizer.h"
#include "runtime/catalog.h"
#include "runtime/host_services.h"
#include "runtime/instance.h"
#include "runtime/plugin_file.h"
#include "runtime/tunables.h"
#include "temp_dir.h"

using namespace boxcar;
using namespace boxcar::runtime;
using boxcar::testing::TempDir;
using boxcar::testing::TestPlugin;

namespace {

Status OpenError(const std::filesystem::path& file, std::optional<std::string> pin = {}) {
  std::shared_ptr<PluginLibrary> lib;
  return PluginLibrary::Open(file, pin, &lib);
}

// How many mappings of private plugin copies this process has.
int MappedCopies(const std::string& needle = "boxcar-plugins-") {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int count = 0;
  std::string last;
  while (std::getline(maps, line)) {
    if (line.find(needle) == std::string::npos) continue;
    std::string path = line.substr(line.find('/'));
    if (path != last) ++count;  // one library spans several consecutive mappings
    last = path;
  }
  return count;
}

std::shared_ptr<HostContext> MakeContext(std::shared_ptr<prometheus::Registry> registry) {
  auto ctx = std::make_shared<HostContext>();
  ctx->logger =
      std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  ctx->metrics = std::make_shared<PluginMetrics>(registry);
  ctx->clock = std::make_shared<SteadyClock>();
  ctx->faults = &prometheus::BuildCounter().Name("boxcar_plugin_faults_total").Register(*registry);
  return ctx;
}

}  // namespace

TEST_CASE("a well-formed plugin loads and its descriptor is copied out") {
  std::shared_ptr<PluginLibrary> lib;
  REQUIRE(PluginLibrary::Open(TestPlugin("probe-v1"), std::nullopt, &lib).ok());
  const PluginInfo& info = lib->info();
  CHECK(info.name == "probe");
  CHECK(info.version == "1.0.0");
  CHECK(info.kind == PluginKind::kPrioritizer);
  CHECK(info.api_major == kApiMajor);
  CHECK(info.Has(kThreadSafe));
  CHECK(info.params_schema["properties"].contains("max_queue"));
  std::string hex;
  REQUIRE(Sha256File(TestPlugin("probe-v1"), &hex).ok());
  CHECK(info.sha256 == hex);
  CHECK(OpenError(TestPlugin("probe-v1"), hex).ok());
}

TEST_CASE("the host refuses broken plugins with errors that name the file and the mismatch") {
  SUBCASE("another API major") {
    Status s = OpenError(TestPlugin("probe-api-major"));
    CHECK(s.message().find("probe-api-major.so") != std::string::npos);
    CHECK(s.message().find("API major version mismatch: expected 1.x, found 99." +
                           std::to_string(kApiMinor)) != std::string::npos);
  }
  SUBCASE("an API minor newer than the host's") {
    CHECK(OpenError(TestPlugin("probe-api-minor"))
              .message()
              .find("plugin needs API 1.99, newer than the host's 1." + std::to_string(kApiMinor) +
                    " (upgrade boxcar)") != std::string::npos);
  }
  SUBCASE("bad magic") {
    CHECK(OpenError(TestPlugin("probe-magic"))
              .message()
              .find("bad descriptor magic: expected 0x52435842, found 0xdeadbeef") !=
          std::string::npos);
  }
  SUBCASE("ABI tag mismatch") {
    std::string m = OpenError(TestPlugin("probe-abi")).message();
    CHECK(m.find("ABI mismatch") != std::string::npos);
    CHECK(m.find("api: host has " BOXCAR_API_HASH ", plugin has 0000000000000000") !=
          std::string::npos);
  }
  SUBCASE("missing descriptor") {
    CHECK(OpenError(TestPlugin("no-descriptor"))
              .message()
              .find("no \"boxcar_plugin_descriptor\" symbol") != std::string::npos);
  }
  SUBCASE("junk file") {
    TempDir dir;
    auto junk = dir.Write("junk.so", "this is not an ELF file at all");
    std::string m = OpenError(junk).message();
    CHECK(m.find(junk.string()) != std::string::npos);
    CHECK(m.find("is not an ELF shared object") != std::string::npos);
  }
  SUBCASE("sha256 pin mismatch") {
    std::string pin(64, 'a');
    std::string m = OpenError(TestPlugin("probe-v1"), pin).message();
    CHECK(m.find("sha256 mismatch: config pins " + pin + ", file has ") != std::string::npos);
  }
  SUBCASE("missing file") {
    CHECK(OpenError("/nonexistent/plugin.so").message().find("cannot open") != std::string::npos);
  }
}

TEST_CASE("a throwing factory is an error, not a crash") {
  auto registry = std::make_shared<prometheus::Registry>();
  TunableRegistry tunables;
  std::shared_ptr<PluginLibrary> lib;
  REQUIRE(PluginLibrary::Open(TestPlugin("probe-throw-factory"), std::nullopt, &lib).ok());
  std::shared_ptr<Instance> inst;
  Status s =
      InstanceFactory::Create({lib, "prioritizer", "/strategies/prioritizer/params",
                               nlohmann::json::object(), MakeContext(registry), &tunables, nullptr},
                              &inst);
  CHECK(s.message().find("refused its params: probe refuses to start") != std::string::npos);
  CHECK(inst == nullptr);
}

TEST_CASE("params are validated against the plugin's schema with a pointer") {
  auto registry = std::make_shared<prometheus::Registry>();
  TunableRegistry tunables;
  std::shared_ptr<PluginLibrary> lib;
  REQUIRE(PluginLibrary::Open(TestPlugin("probe-v1"), std::nullopt, &lib).ok());
  std::shared_ptr<Instance> inst;
  Status s = InstanceFactory::Create({lib,
                                      "prioritizer",
                                      "/strategies/prioritizer/params",
                                      {{"max_queeu", 5}},
                                      MakeContext(registry),
                                      &tunables,
                                      nullptr},
                                     &inst);
  CHECK(s.message().find("/strategies/prioritizer/params") != std::string::npos);
  CHECK(s.message().find("did you mean \"max_queue\"") != std::string::npos);
}

TEST_CASE("an exception in a plugin call is contained, counted and reported") {
  auto registry = std::make_shared<prometheus::Registry>();
  TunableRegistry tunables;
  std::shared_ptr<PluginLibrary> lib;
  REQUIRE(PluginLibrary::Open(TestPlugin("probe-throw-push"), std::nullopt, &lib).ok());
  std::shared_ptr<Instance> inst;
  REQUIRE(InstanceFactory::Create({lib, "prioritizer", "/p", nlohmann::json::object(),
                                   MakeContext(registry), &tunables, nullptr},
                                  &inst)
              .ok());
  for (int i = 0; i < 3; ++i) {
    REQUIRE(inst->Enter());
    Status s = inst->Invoke<Prioritizer>([](Prioritizer& p) { return p.Push(Task{}); });
    inst->Exit();
    CHECK(s.code() == Status::Code::kInternal);
  }
  CHECK(inst->services().faults() == 3);
  std::string text = prometheus::TextSerializer().Serialize(registry->Collect());
  CHECK(text.find("boxcar_plugin_faults_total{operation=\"Push\",plugin=\"throw-push\",slot="
                  "\"prioritizer\"} 3") != std::string::npos);
}

TEST_CASE("catalog resolution: kind, duplicates, suggestions and directory confinement") {
  TempDir dir;
  dir.Copy(TestPlugin("probe-v1"), "probe-v1.so");
  dir.Copy(TestPlugin("probe-other"), "probe-other.so");
  dir.Write("junk.so", "junk");
  PluginCatalog catalog;
  catalog.Scan({dir.path()});
  REQUIRE(catalog.entries().size() == 3);
  std::filesystem::path file;

  CHECK(catalog.Resolve("probe", PluginKind::kPrioritizer, &file).ok());
  CHECK(file == dir / "probe-v1.so");

  std::string m = catalog.Resolve("probe", PluginKind::kBatcher, &file).message();
  CHECK(m.find("is a prioritizer, but this slot needs a batcher") != std::string::npos);

  m = catalog.Resolve("prboe", PluginKind::kPrioritizer, &file).message();
  CHECK(m.find("no prioritizer plugin named \"prboe\"") != std::string::npos);
  CHECK(m.find("did you mean \"probe\"?") != std::string::npos);

  m = catalog.Resolve(TestPlugin("probe-v1").string(), PluginKind::kPrioritizer, &file).message();
  CHECK(m.find("is outside plugins.path") != std::string::npos);

  CHECK(catalog.Resolve((dir / "probe-other.so").string(), PluginKind::kPrioritizer, &file).ok());

  dir.Copy(TestPlugin("probe-v2"), "probe-v2.so");
  catalog.Scan({dir.path()});
  m = catalog.Resolve("probe", PluginKind::kPrioritizer, &file).message();
  CHECK(m.find("is provided by both") != std::string::npos);
  CHECK(m.find("probe-v1.so") != std::string::npos);
  CHECK(m.find("probe-v2.so") != std::string::npos);
}

TEST_CASE("objects from a plugin keep its library mapped; the last one unmaps it") {
  auto registry = std::make_shared<prometheus::Registry>();
  TunableRegistry tunables;
  const int before = MappedCopies();
  std::shared_ptr<PluginLibrary> lib;
  REQUIRE(PluginLibrary::Open(TestPlugin("probe-v1"), std::nullopt, &lib).ok());
  const std::string copy = lib->private_copy().string();
  CHECK(!std::filesystem::exists(copy));  // unlinked once mapped, with its private directory
  CHECK(!std::filesystem::exists(lib->private_copy().parent_path()));
  CHECK(MappedCopies(copy) == 1);

  std::shared_ptr<Instance> inst;
  REQUIRE(InstanceFactory::Create({lib, "prioritizer", "/p", nlohmann::json::object(),
                                   MakeContext(registry), &tunables, nullptr},
                                  &inst)
              .ok());
  lib.reset();
  CHECK(MappedCopies(copy) == 1);  // the instance still needs the code
  inst.reset();
  CHECK(MappedCopies(copy) == 0);
  CHECK(MappedCopies() == before);
}
