// Generations: build-then-publish, failure isolation, state handoff, reconfigure in place, and
// swaps under concurrent load.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include <prometheus/registry.h>
#include <spdlog/sinks/null_sink.h>

#include "boxcar/cache_tier.h"
#include "boxcar/prioritizer.h"
#include "boxcar/tuner.h"
#include "runtime/runtime.h"
#include "temp_dir.h"

using namespace boxcar;
using namespace boxcar::runtime;
using boxcar::testing::BundledPlugin;
using boxcar::testing::TempDir;
using boxcar::testing::TestPlugin;
using nlohmann::json;

namespace {

struct Fixture {
  Fixture() {
    for (const char* p : {"batcher-fixed", "conn_manager-watermark", "conn_manager-adaptive",
                          "tuner-static", "tuner-aimd", "cache_tier-lru"}) {
      plugins.Copy(BundledPlugin(p), std::string(p) + ".so");
    }
    plugins.Copy(TestPlugin("probe-v1"), "probe.so");
    plugins.Copy(TestPlugin("probe-other"), "probe-other.so");
    auto ctx = std::make_shared<HostContext>();
    ctx->logger =
        std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
    ctx->metrics = std::make_shared<PluginMetrics>(registry);
    ctx->clock = std::make_shared<SteadyClock>();
    ctx->faults =
        &prometheus::BuildCounter().Name("boxcar_plugin_faults_total").Register(*registry);
    runtime = std::make_unique<Runtime>(ctx, *registry);
  }

  Config MakeConfig(const std::string& prioritizer, json prioritizer_params = json::object()) {
    Config c;
    c.plugin_path = {plugins.path()};
    auto slot = [](std::string name, std::string pointer, PluginKind kind, std::string plugin,
                   json params) {
      return SlotConfig{std::move(name),   std::move(pointer), kind,
                        std::move(plugin), std::move(params),  std::nullopt};
    };
    c.slots = {
        slot("prioritizer", "/strategies/prioritizer", PluginKind::kPrioritizer, prioritizer,
             std::move(prioritizer_params)),
        slot("batcher", "/strategies/batcher", PluginKind::kBatcher, "fixed", json::object()),
        slot("conn_manager", "/strategies/conn_manager", PluginKind::kConnManager, "watermark",
             json::object()),
        slot("tuner", "/strategies/tuner", PluginKind::kTuner, tuner, tuner_params),
        slot("p2p.conn_manager", "/p2p/conn_manager", PluginKind::kConnManager, "watermark",
             {{"high_water", 96}, {"low_water", 32}}),
        slot("store.tiers[0]", "/store/tiers/0", PluginKind::kCacheTier, "lru", json::object()),
    };
    return c;
  }

  Status Push(uint64_t id) {
    Task t;
    t.id = id;
    t.peer = "peer" + std::to_string(id % 7);
    return runtime->Call<Prioritizer>(kPrioritizerSlot,
                                      [&](Prioritizer& p) { return p.Push(std::move(t)); });
  }

  std::optional<Task> Pop() {
    return runtime->Call<Prioritizer>(kPrioritizerSlot, [](Prioritizer& p) { return p.Pop(0); });
  }

  TempDir plugins;
  std::string tuner = "static";
  json tuner_params = json::object();
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<Runtime> runtime;
};

int MappedCopies() {
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> paths;
  for (std::string line; std::getline(maps, line);) {
    if (line.find("boxcar-plugins-") != std::string::npos)
      paths.insert(line.substr(line.find('/')));
  }
  return static_cast<int>(paths.size());
}

}  // namespace

// A slot handle carries its interface: a call through another one does not compile.
template <class Handle, class F>
concept Callable = requires(Runtime& r, Handle h, F f) {
  r.Call(h, f);
};
static_assert(Callable<decltype(kPrioritizerSlot), void (*)(Prioritizer&)>);
static_assert(!Callable<decltype(kPrioritizerSlot), void (*)(Batcher&)>);
static_assert(!Callable<decltype(kTunerSlot), void (*)(CacheTier&)>);
static_assert(Callable<decltype(TierSlot(0)), void (*)(CacheTier&)>);

TEST_CASE("a failed reload leaves the running generation untouched") {
  Fixture f;
  REQUIRE(f.runtime->Apply(f.MakeConfig("probe"), "test").status.ok());
  auto before = f.runtime->Current();
  CHECK(before->number == 1);

  ReloadOutcome bad = f.runtime->Apply(f.MakeConfig("probe", {{"max_queue", -5}}), "test");
  CHECK_FALSE(bad.status.ok());
  CHECK(bad.status.message().find("/strategies/prioritizer/params/max_queue") != std::string::npos);
  CHECK(bad.generation == 1);
  CHECK(f.runtime->Current() == before);

  ReloadOutcome missing = f.runtime->Apply(f.MakeConfig("no-such-plugin"), "test");
  CHECK(missing.status.message().find("/strategies/prioritizer/plugin") != std::string::npos);
  CHECK(f.runtime->Current() == before);
  CHECK(f.Push(1).ok());
}

TEST_CASE("unchanged slots keep their instance; a reconfigurable plugin changes in place") {
  Fixture f;
  Config c = f.MakeConfig("probe");
  REQUIRE(f.runtime->Apply(c, "test").status.ok());
  auto first = f.runtime->Current();

  c.slots[kConnManagerSlot.index].params = {{"high_water", 900}, {"low_water", 700}};
  ReloadOutcome out = f.runtime->Apply(c, "test");
  REQUIRE(out.status.ok());
  auto second = f.runtime->Current();
  CHECK(second->number == 2);
  CHECK(second->instances[kPrioritizerSlot.index] == first->instances[kPrioritizerSlot.index]);
  CHECK(second->instances[kConnManagerSlot.index] == first->instances[kConnManagerSlot.index]);
  CHECK(second->instances[kConnManagerSlot.index]->params_json()["high_water"] == 900);
}

TEST_CASE("the p2p conn_manager slot hot-swaps on its own and is called by its handle") {
  Fixture f;
  Config c = f.MakeConfig("probe");
  REQUIRE(f.runtime->Apply(c, "test").status.ok());
  auto first = f.runtime->Current();
  CHECK(first->instances[kP2pConnManagerSlot.index]->slot() == "p2p.conn_manager");
  CHECK(first->instances[kFirstTierSlot]->slot() == "store.tiers[0]");

  c.slots[kP2pConnManagerSlot.index].plugin = "adaptive";
  c.slots[kP2pConnManagerSlot.index].params = json::object();
  ReloadOutcome out = f.runtime->Apply(c, "test");
  REQUIRE(out.status.ok());
  REQUIRE(out.changes.size() == 1);
  CHECK(out.changes[0].rfind("p2p.conn_manager: watermark", 0) == 0);
  auto second = f.runtime->Current();
  CHECK(second->instances[kP2pConnManagerSlot.index]->info().name == "adaptive");
  CHECK(second->instances[kConnManagerSlot.index] == first->instances[kConnManagerSlot.index]);
  CHECK(second->instances[kFirstTierSlot] == first->instances[kFirstTierSlot]);
  const bool admitted = f.runtime->Call(kP2pConnManagerSlot, [](ConnManager& m) {
    return m.Admit(ConnInfo{}, 0, ResourcePressure{});
  });
  CHECK(admitted);
}

TEST_CASE("a prioritizer swap hands queued tasks and learned state to the successor") {
  Fixture f;
  REQUIRE(f.runtime->Apply(f.MakeConfig("probe"), "test").status.ok());
  for (uint64_t id = 0; id < 50; ++id) REQUIRE(f.Push(id).ok());

  ReloadOutcome out = f.runtime->Apply(f.MakeConfig("probe-other"), "test");
  REQUIRE(out.status.ok());
  CHECK(f.runtime->Current()->instances[kPrioritizerSlot.index]->info().name == "probe-other");
  bool imported = false;
  for (const auto& line : out.changes) imported |= line.find("state imported") != std::string::npos;
  CHECK(imported);

  PluginState state;
  auto& inst = *f.runtime->Current()->instances[kPrioritizerSlot.index];
  REQUIRE(inst.Invoke<Plugin>([&](Plugin& p) { return p.ExportState(&state); }).ok());
  // 50 pushes imported as learned state, plus the 50 handed-over tasks pushed again.
  CHECK(state.data == "100");
  for (uint64_t id = 0; id < 50; ++id) {
    auto t = f.Pop();
    REQUIRE(t.has_value());
    CHECK(t->id == id);
  }
  CHECK_FALSE(f.Pop().has_value());
}

TEST_CASE("a tuner rebuilt in place keeps its learned state") {
  Fixture f;
  f.tuner = "aimd";
  f.tuner_params = {{"param", "prioritizer.max_queue"},
                    {"metric", "probe_metric"},
                    {"target", 10.0},
                    {"increase_step", 100.0},
                    {"decrease_factor", 0.5}};
  REQUIRE(f.runtime->Apply(f.MakeConfig("probe"), "test").status.ok());
  for (int i = 0; i < 3; ++i) f.runtime->TickTuner({{"probe_metric", "", 5.0}});
  CHECK(f.runtime->tunables().Find("prioritizer.max_queue")->value.load() == 100300);

  PluginState before;
  auto old_tuner = f.runtime->Current()->instances[kTunerSlot.index];
  REQUIRE(old_tuner->Invoke<Plugin>([&](Plugin& p) { return p.ExportState(&before); }).ok());

  // A rebuilt .so: different bytes at the same path.
  std::ofstream(f.plugins / "tuner-aimd.so", std::ios::app) << "rebuilt";
  ReloadOutcome out = f.runtime->Apply(f.MakeConfig("probe"), "test");
  REQUIRE(out.status.ok());
  auto new_tuner = f.runtime->Current()->instances[kTunerSlot.index];
  CHECK(new_tuner != old_tuner);
  CHECK(new_tuner->library() != old_tuner->library());
  PluginState after;
  REQUIRE(new_tuner->Invoke<Plugin>([&](Plugin& p) { return p.ExportState(&after); }).ok());
  CHECK(after.format == before.format);
  CHECK(after.data == before.data);
  // The tuned value survives too: the configured value did not change.
  CHECK(f.runtime->tunables().Find("prioritizer.max_queue")->value.load() == 100300);
}

TEST_CASE("1,000 swaps while 4 threads call the slot: no errors, no lost tasks, copies unmapped") {
  const int swaps = std::getenv("BOXCAR_SWAPS") ? std::atoi(std::getenv("BOXCAR_SWAPS")) : 1000;
  Fixture f;
  REQUIRE(f.runtime->Apply(f.MakeConfig("probe"), "test").status.ok());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> next_id{0};
  std::mutex mu;
  std::vector<uint64_t> popped;
  uint64_t pushed_total = 0;

  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      std::vector<uint64_t> mine;
      uint64_t pushed = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        if (!f.Push(next_id.fetch_add(1)).ok()) errors.fetch_add(1);
        ++pushed;
        if (auto task = f.Pop()) mine.push_back(task->id);
      }
      std::lock_guard lock(mu);
      popped.insert(popped.end(), mine.begin(), mine.end());
      pushed_total += pushed;
    });
  }
  for (int i = 0; i < swaps; ++i) {
    ReloadOutcome out = f.runtime->Apply(f.MakeConfig(i % 2 ? "probe" : "probe-other"), "test");
    if (!out.status.ok()) {
      FAIL_CHECK(out.status.ToString());
      break;
    }
  }
  stop = true;
  for (auto& t : callers) t.join();

  CHECK(errors.load() == 0);
  CHECK(f.runtime->Current()->number == static_cast<uint64_t>(swaps) + 1);
  while (auto t = f.Pop()) popped.push_back(t->id);
  std::set<uint64_t> unique(popped.begin(), popped.end());
  CHECK(unique.size() == popped.size());  // nothing served twice
  CHECK(popped.size() == pushed_total);   // nothing lost
  // Only the libraries of the current generation remain mapped.
  CHECK(MappedCopies() == static_cast<int>(f.runtime->Current()->instances.size()));
  f.runtime->Shutdown();
}

TEST_CASE(
    "a change a plugin cannot apply in place gets a new instance, with hot entries handed over") {
  Fixture f;
  Config c = f.MakeConfig("probe");
  REQUIRE(f.runtime->Apply(c, "test").status.ok());
  auto old_tier = f.runtime->Current()->instances[kFirstTierSlot];
  for (int i = 0; i < 10; ++i) {
    auto data = std::make_shared<const std::string>(1000, static_cast<char>('a' + i));
    REQUIRE(f.runtime
                ->Call<CacheTier>(TierSlot(0),
                                  [&](CacheTier& t) {
                                    return t.Put("key" + std::to_string(i), data,
                                                 PutReason::kWrite);
                                  })
                .ok());
  }
  c.slots[kFirstTierSlot].params = {{"shards", 4}};  // lru cannot reshard live
  ReloadOutcome out = f.runtime->Apply(c, "test");
  REQUIRE_MESSAGE(out.status.ok(), out.status.ToString());
  auto new_tier = f.runtime->Current()->instances[kFirstTierSlot];
  CHECK(new_tier != old_tier);
  CHECK(new_tier->params_json()["shards"] == 4);
  bool handed = false;
  for (const auto& line : out.changes)
    handed |= line.find("10 hot entries handed over") != std::string::npos;
  CHECK(handed);
  BlockData got;
  CHECK(f.runtime->Call<CacheTier>(TierSlot(0), [&](CacheTier& t) { return t.Get("key3", &got); })
            .ok());
  REQUIRE(got);
  CHECK(*got == std::string(1000, 'd'));
}
