// The plugin runtime: the current generation of plugin instances, and the reload that replaces
// it. A reload builds a complete new generation (resolve, load, check, create, import state)
// before it publishes it with one atomic store; any failure leaves the running generation
// untouched. Replaced instances are then retired: new calls go to the successor, calls in flight
// finish, queued work is handed over, and the instance is released (its library unmaps when the
// last object from it is gone).
#pragma once

#include <atomic>
#include <concepts>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "boxcar/batcher.h"
#include "boxcar/cache_tier.h"
#include "boxcar/conn_manager.h"
#include "boxcar/prioritizer.h"
#include "boxcar/tuner.h"
#include "runtime/catalog.h"
#include "runtime/config.h"
#include "runtime/instance.h"
#include "runtime/tunables.h"

namespace prometheus {
class Registry;
}

namespace boxcar::runtime {

// Positions of the strategies in Config::slots and Generation::instances; tiers follow.
inline constexpr SlotHandle<Prioritizer> kPrioritizerSlot{0};
inline constexpr SlotHandle<Batcher> kBatcherSlot{1};
inline constexpr SlotHandle<ConnManager> kConnManagerSlot{2};
inline constexpr SlotHandle<Tuner> kTunerSlot{3};
// The libp2p swarm's connection manager; present (and called) even without a p2p section.
inline constexpr SlotHandle<ConnManager> kP2pConnManagerSlot{4};
inline constexpr size_t kFirstTierSlot = 5;
// Store tier `tier` (0: the fastest).
constexpr SlotHandle<CacheTier> TierSlot(size_t tier) { return {kFirstTierSlot + tier}; }

// The request engine's tunables, registered with every generation from Config::engine.
inline constexpr char kEngineWorkers[] = "engine.workers";
inline constexpr char kEngineQueueLimit[] = "engine.queue_limit";
inline constexpr char kEngineMaxBatch[] = "engine.max_batch";
inline constexpr char kEngineMaxQueueWaitMs[] = "engine.max_queue_wait_ms";
inline constexpr char kEnginePeerBudgetBytes[] = "engine.peer_budget_bytes";

struct Generation {
  uint64_t number = 0;
  std::shared_ptr<const Config> config;
  std::vector<std::shared_ptr<Instance>> instances;  // parallel to config->slots
};

struct ReloadOutcome {
  Status status;
  uint64_t generation = 0;           // the active generation afterwards
  std::vector<std::string> changes;  // one line per slot that changed
  double duration_ms = 0;
};

class Runtime {
 public:
  Runtime(std::shared_ptr<HostContext> context, prometheus::Registry& registry);
  ~Runtime();

  // Builds and publishes a generation for `config`. Reloads are serialized.
  ReloadOutcome Apply(const Config& config, const std::string& trigger);

  // Checks `config` the way Apply would start it as a node's first generation, without
  // publishing anything: resolves and loads each slot's plugin, validates its params, applies
  // the store's tier rules (as after AttachStore), and creates and discards an instance of every
  // slot whose plugin keeps no data on disk, so each plugin's own checks of its params run too.
  // Returns every problem, each message starting with the config pointer where it can.
  // `boxcar check-config` uses it, so what it accepts `run` starts.
  std::vector<Status> Check(const Config& config);

  std::shared_ptr<const Generation> Current() const {
    std::lock_guard lock(current_mu_);
    return current_;
  }

  // Calls f(Iface&) on the current instance of `slot`, never on a retired one. This is the hot
  // path: a short critical section to copy the generation pointer, plus two atomic operations
  // on the instance.
  template <PluginInterface Iface, class F>
  requires std::invocable<F&, Iface&>
  decltype(auto) Call(SlotHandle<Iface> slot, F&& f) {
    for (;;) {
      std::shared_ptr<const Generation> gen = Current();
      Instance& inst = *gen->instances[slot.index];
      if (!inst.Enter()) continue;  // retired by a reload that already published a successor
      struct Exit {
        Instance& i;
        ~Exit() { i.Exit(); }
      } exit{inst};
      return inst.Invoke<Iface>(std::forward<F>(f));
    }
  }

  // Declares that the tiers back a block store, before the first Apply: from then on a config
  // whose last tier is not persistent is refused, and tier instances send their evictions to
  // sinks(tier), where tier 0 is Config::slots[kFirstTierSlot].
  using EvictionSinkOf = std::function<EvictionSink*(size_t tier)>;
  void AttachStore(EvictionSinkOf sinks) { eviction_sinks_ = std::move(sinks); }

  // Runs one tuner tick over `metrics`, applying its proposals within bounds.
  void TickTuner(const std::vector<MetricSample>& metrics);

  // Retires every instance (queued work has nowhere to go and is dropped) and releases them.
  void Shutdown();

  TunableRegistry& tunables() { return tunables_; }
  const HostContext& context() const { return *context_; }

 private:
  struct SlotPlan;
  Status Plan(const Config& config, const Generation* old, std::vector<SlotPlan>* plans);
  Status PlanSlot(SlotPlan* plan);
  Status CheckPersistentTiers(const Config& config, const Generation* old,
                              const std::vector<SlotPlan>& plans, bool backs_store) const;
  Status Build(std::vector<SlotPlan>* plans, std::vector<std::string>* changes);
  Status CreateReplacement(SlotPlan& plan, std::vector<std::string>* changes);
  void HandOver(SlotPlan& plan, std::vector<std::string>* changes);
  void PublishMetrics(const Generation& gen);
  void PrepareEngineTunables(const EngineConfig& engine,
                             std::vector<std::shared_ptr<Tunable>>* out);

  std::shared_ptr<HostContext> context_;
  TunableRegistry tunables_;
  PluginCatalog catalog_;
  EvictionSinkOf eviction_sinks_;
  // A plain mutex rather than std::atomic<std::shared_ptr>: libstdc++ 12 implements that with a
  // lock bit that ThreadSanitizer reports as a race, and it costs the same two atomic operations.
  mutable std::mutex current_mu_;
  std::shared_ptr<const Generation> current_;
  std::mutex reload_mu_;  // one reload at a time
  std::mutex tuner_mu_;   // one tuner tick at a time, and none while a reload moves tuner state

  struct Metrics;  // runtime.cc: reloads, reload time, generation, active plugins, proposals
  std::unique_ptr<Metrics> metrics_;
};

}  // namespace boxcar::runtime
