// Two costs of the plugin runtime:
//  1. a strategy call through the boundary (generation load, in-flight accounting, exception
//     guard, virtual call into the plugin's library) against a direct virtual call to the same
//     plugin object, and against a virtual call to an identical class compiled into this binary;
//  2. reload latency (build + publish + retire) with all slots active, p50 and p99.
//
// Usage: bench-plugin-boundary [--calls N] [--reloads N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <prometheus/registry.h>
#include <spdlog/sinks/null_sink.h>

#include "boxcar/prioritizer.h"
#include "runtime/runtime.h"

using namespace boxcar;
using namespace boxcar::runtime;
using WallClock = std::chrono::steady_clock;

namespace {

// The same logic as the fifo plugin's Size(): a mutex-guarded read.
class LocalQueue final : public Prioritizer {
 public:
  Status Push(Task t) override {
    std::lock_guard l(mu_);
    q_.push_back(std::move(t));
    return Status::OK();
  }
  std::optional<Task> Pop(int64_t) override { return std::nullopt; }
  void Complete(const Task&, uint64_t) override {}
  size_t Size() override {
    std::lock_guard l(mu_);
    return q_.size();
  }
  std::vector<Task> Drain() override { return {}; }

 private:
  std::mutex mu_;
  std::deque<Task> q_;
};

template <class F>
double NsPerCall(uint64_t calls, int threads, F&& body) {
  std::vector<std::thread> pool;
  const auto start = WallClock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (uint64_t i = 0; i < calls; ++i) body();
    });
  }
  for (auto& th : pool) th.join();
  const double ns = std::chrono::duration<double, std::nano>(WallClock::now() - start).count();
  return ns / static_cast<double>(calls);  // wall time per call per thread
}

Config MakeConfig(const std::string& prioritizer) {
  Config c;
  c.plugin_path = {BOXCAR_PLUGIN_DIR};
  auto slot = [](std::string name, std::string pointer, PluginKind kind, std::string plugin) {
    SlotConfig s;
    s.slot = std::move(name);
    s.pointer = std::move(pointer);
    s.kind = kind;
    s.plugin = std::move(plugin);
    s.params = nlohmann::json::object();
    s.dir = s.plugin;
    return s;
  };
  c.slots = {
      slot("prioritizer", "/strategies/prioritizer", PluginKind::kPrioritizer, prioritizer),
      slot("batcher", "/strategies/batcher", PluginKind::kBatcher, "adaptive"),
      slot("conn_manager", "/strategies/conn_manager", PluginKind::kConnManager, "watermark"),
      slot("tuner", "/strategies/tuner", PluginKind::kTuner, "static"),
      slot("p2p.conn_manager", "/p2p/conn_manager", PluginKind::kConnManager, "watermark"),
      slot("store.tiers[0]", "/store/tiers/0", PluginKind::kCacheTier, "lru")};
  return c;
}

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t calls = 20'000'000;
  int reloads = 500;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--calls")) calls = std::stoull(argv[i + 1]);
    if (!std::strcmp(argv[i], "--reloads")) reloads = std::stoi(argv[i + 1]);
  }
  auto registry = std::make_shared<prometheus::Registry>();
  auto ctx = std::make_shared<HostContext>();
  ctx->logger =
      std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
  ctx->metrics = std::make_shared<PluginMetrics>(registry);
  ctx->clock = std::make_shared<SteadyClock>();
  Runtime runtime(ctx, *registry);
  if (Status s = runtime.Apply(MakeConfig("fifo"), "bench").status; !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }

  LocalQueue local;
  Prioritizer* local_ptr = &local;
  auto& plugin =
      static_cast<Prioritizer&>(runtime.Current()->instances[kPrioritizerSlot.index]->plugin());
  Prioritizer* plugin_ptr = &plugin;
  volatile size_t sink = 0;

  std::printf("# strategy call cost (Prioritizer::Size), ns per call\n");
  std::printf("%-8s %-14s %-14s %-14s %s\n", "threads", "local-virtual", "plugin-direct",
              "runtime-call", "overhead-vs-direct");
  for (int threads : {1, 2}) {
    const double l = NsPerCall(calls, threads, [&] { sink = sink + local_ptr->Size(); });
    const double d = NsPerCall(calls, threads, [&] { sink = sink + plugin_ptr->Size(); });
    const double r = NsPerCall(calls, threads, [&] {
      sink = sink +
             runtime.Call<Prioritizer>(kPrioritizerSlot, [](Prioritizer& p) { return p.Size(); });
    });
    std::printf("%-8d %-14.1f %-14.1f %-14.1f %.1f ns (%.2fx)\n", threads, l, d, r, r - d, r / d);
  }

  std::vector<double> ms;
  for (int i = 0; i < reloads; ++i) {
    ReloadOutcome out = runtime.Apply(MakeConfig(i % 2 ? "fifo" : "fair"), "bench");
    if (!out.status.ok()) {
      std::fprintf(stderr, "%s\n", out.status.ToString().c_str());
      return 1;
    }
    ms.push_back(out.duration_ms);
  }
  std::printf("# reload latency, all 5 slots active, prioritizer swapped each time (%d reloads)\n",
              reloads);
  std::printf("p50 %.3f ms  p99 %.3f ms  max %.3f ms\n", Percentile(ms, 0.5), Percentile(ms, 0.99),
              Percentile(ms, 1.0));
  runtime.Shutdown();
  return 0;
}
