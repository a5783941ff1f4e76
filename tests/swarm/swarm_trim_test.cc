// The p2p.conn_manager slot driving the swarm: the bundled watermark plugin, in a real runtime,
// trims an unprotected peer with GoAway and leaves a protected one connected.
#include <doctest/doctest.h>

#include <prometheus/registry.h>
#include <spdlog/sinks/null_sink.h>

#include "runtime/runtime.h"
#include "swarm_fixture.h"
#include "temp_dir.h"

namespace boxcar::p2p::testing {
namespace {

using boxcar::PluginKind;
using nlohmann::json;
using runtime::SlotConfig;

struct RuntimeFixture {
  RuntimeFixture() {
    for (const char* p : {"prioritizer-fifo", "batcher-fixed", "conn_manager-watermark",
                          "tuner-static", "cache_tier-lru"}) {
      plugins.Copy(boxcar::testing::BundledPlugin(p), std::string(p) + ".so");
    }
    auto ctx = std::make_shared<runtime::HostContext>();
    ctx->logger =
        std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
    ctx->metrics = std::make_shared<runtime::PluginMetrics>(registry);
    ctx->clock = std::make_shared<runtime::SteadyClock>();
    ctx->faults =
        &prometheus::BuildCounter().Name("boxcar_plugin_faults_total").Register(*registry);
    runtime = std::make_unique<runtime::Runtime>(ctx, *registry);
    runtime::Config c;
    c.plugin_path = {plugins.path()};
    auto slot = [](std::string name, std::string pointer, PluginKind kind, std::string plugin,
                   json params) {
      return SlotConfig{std::move(name),   std::move(pointer), kind,
                        std::move(plugin), std::move(params),  std::nullopt};
    };
    // Trim as soon as one trimmable connection is open, down to none.
    const json p2p_params = {
        {"high_water", 1}, {"low_water", 0}, {"grace_period_ms", 0}, {"silence_period_ms", 0}};
    c.slots = {
        slot("prioritizer", "/strategies/prioritizer", PluginKind::kPrioritizer, "fifo",
             json::object()),
        slot("batcher", "/strategies/batcher", PluginKind::kBatcher, "fixed", json::object()),
        slot("conn_manager", "/strategies/conn_manager", PluginKind::kConnManager, "watermark",
             json::object()),
        slot("tuner", "/strategies/tuner", PluginKind::kTuner, "static", json::object()),
        slot("p2p.conn_manager", "/p2p/conn_manager", PluginKind::kConnManager, "watermark",
             p2p_params),
        slot("store.tiers[0]", "/store/tiers/0", PluginKind::kCacheTier, "lru", json::object()),
    };
    const runtime::ReloadOutcome outcome = runtime->Apply(c, "test");
    REQUIRE_MESSAGE(outcome.status.ok(), outcome.status.ToString());
  }
  ~RuntimeFixture() { runtime->Shutdown(); }

  boxcar::testing::TempDir plugins;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<runtime::Runtime> runtime;
};

}  // namespace

TEST_CASE(
    "swarm: the p2p conn_manager trims an unprotected peer with GoAway, not a protected one") {
  RuntimeFixture fixture;
  TestSwarm a, c;
  obs::MetricsRegistry b_metrics;
  Ed25519Key b_key;
  REQUIRE(Ed25519Key::Generate(&b_key).ok());
  SwarmOptions options;
  Multiaddr listen;
  REQUIRE(Multiaddr::Parse("/ip4/127.0.0.1/tcp/0", &listen).ok());
  options.listen = {listen};
  Swarm b(options, b_key, &b_metrics, fixture.runtime.get());
  b.Protect(c.id(), "test");
  REQUIRE(b.Start().ok());
  const Multiaddr b_addr = b.ListenAddrs().at(0).WithPeer(b.local_peer());

  REQUIRE(Connect(*c.swarm, b_addr).ok());
  REQUIRE(Connect(*a.swarm, b_addr).ok());
  // a's connection goes within a trim tick or two; a sees it close (b sent GoAway).
  CHECK(Eventually([&] { return !a.swarm->IsConnected(b.local_peer()); }));
  CHECK(Eventually([&] { return !b.IsConnected(a.id()); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(b.IsConnected(c.id()));
  CHECK(c.swarm->IsConnected(b.local_peer()));
  b.Stop();
}

}  // namespace boxcar::p2p::testing
