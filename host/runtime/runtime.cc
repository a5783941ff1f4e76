#include "runtime/runtime.h"

#include <chrono>
#include <filesystem>
#include <map>
#include <system_error>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "boxcar/cache_tier.h"
#include "boxcar/prioritizer.h"
#include "boxcar/tuner.h"

namespace boxcar::runtime {
namespace {

using SteadyTime = std::chrono::steady_clock;

std::string Describe(const PluginInfo& info) { return info.name + " " + info.version; }

Status AtSlot(const SlotConfig& slot, const std::string& suffix, const Status& s) {
  return Status::InvalidArgument(slot.pointer + suffix + ": " + s.message());
}

// A persistent tier is known by its directory, not its position, so adding a tier above it
// keeps the same instance; any other slot matches its predecessor by position.
std::shared_ptr<Instance> Predecessor(const Config& config, size_t index, const Generation* old) {
  if (old == nullptr) return nullptr;
  const SlotConfig& slot = config.slots[index];
  if (slot.kind == PluginKind::kCacheTier) {
    for (size_t i = kFirstTierSlot; i < old->instances.size(); ++i) {
      if (old->instances[i]->Has(kPersistent) && old->config->slots[i].dir == slot.dir) {
        return old->instances[i];
      }
    }
  }
  if (index < old->instances.size() && old->config->slots[index].slot == slot.slot &&
      !old->instances[index]->Has(kPersistent)) {
    return old->instances[index];
  }
  return nullptr;
}

std::filesystem::path TierDir(const Config& config, const SlotConfig& slot) {
  return config.store_path / slot.dir;
}

}  // namespace

// What a reload does with one slot.
struct Runtime::SlotPlan {
  enum class Action { kKeep, kReconfigure, kReplace };
  Action action = Action::kReplace;
  const SlotConfig* slot = nullptr;
  size_t index = 0;                // in Config::slots
  std::filesystem::path tier_dir;  // cache_tier: where it keeps data if it is persistent
  std::shared_ptr<Instance> old;   // the instance now serving the slot, if any
  std::shared_ptr<PluginLibrary> library;
  nlohmann::json params;           // validated, defaults filled
  std::shared_ptr<Instance> next;  // the instance serving after the reload
  bool reconfigured = false;       // for rollback
  nlohmann::json params_before;    // what a rollback restores
};

struct Runtime::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : reloads(prometheus::BuildCounter()
                    .Name("boxcar_reloads_total")
                    .Help("Plugin generation reloads by trigger and result")
                    .Register(registry)),
        reload_seconds(
            prometheus::BuildHistogram()
                .Name("boxcar_reload_duration_seconds")
                .Help("Time to build and publish a generation")
                .Register(registry)
                .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                 0.05, 0.1, 0.25, 0.5, 1, 2.5})),
        generation(prometheus::BuildGauge()
                       .Name("boxcar_generation")
                       .Help("Number of the active plugin generation")
                       .Register(registry)
                       .Add({})),
        active_plugin(prometheus::BuildGauge()
                          .Name("boxcar_active_plugin")
                          .Help("1 for the plugin serving each slot")
                          .Register(registry)),
        proposals(prometheus::BuildCounter()
                      .Name("boxcar_tuner_proposals_total")
                      .Help("Tuner proposals by result (applied, clamped, unknown)")
                      .Register(registry)) {}

  prometheus::Family<prometheus::Counter>& reloads;
  prometheus::Histogram& reload_seconds;
  prometheus::Gauge& generation;
  prometheus::Family<prometheus::Gauge>& active_plugin;
  prometheus::Family<prometheus::Counter>& proposals;
  std::vector<prometheus::Gauge*> active_plugin_series;
};

Runtime::Runtime(std::shared_ptr<HostContext> context, prometheus::Registry& registry)
    : context_(std::move(context)), metrics_(std::make_unique<Metrics>(registry)) {}

Runtime::~Runtime() { Shutdown(); }

Status Runtime::Plan(const Config& config, const Generation* old, std::vector<SlotPlan>* plans) {
  catalog_.Scan(config.plugin_path);
  for (const SlotConfig& slot : config.slots) {
    SlotPlan plan;
    plan.slot = &slot;
    plan.index = plans->size();
    plan.old = Predecessor(config, plan.index, old);
    if (slot.kind == PluginKind::kCacheTier) plan.tier_dir = TierDir(config, slot);
    if (Status s = PlanSlot(&plan); !s.ok()) return s;
    plans->push_back(std::move(plan));
  }
  return CheckPersistentTiers(config, old, *plans, static_cast<bool>(eviction_sinks_));
}

std::vector<Status> Runtime::Check(const Config& config) {
  std::lock_guard reload_lock(reload_mu_);
  catalog_.Scan(config.plugin_path);
  std::vector<Status> problems;
  std::vector<SlotPlan> plans;
  for (size_t i = 0; i < config.slots.size(); ++i) {
    SlotPlan plan;
    plan.slot = &config.slots[i];
    plan.index = i;
    if (plan.slot->kind == PluginKind::kCacheTier) plan.tier_dir = TierDir(config, *plan.slot);
    if (Status s = PlanSlot(&plan); !s.ok()) {
      problems.push_back(s);
    } else {
      plans.push_back(std::move(plan));
    }
  }
  if (!problems.empty()) return problems;
  if (Status s = CheckPersistentTiers(config, nullptr, plans, /*backs_store=*/true); !s.ok()) {
    return {s};
  }
  // A persistent tier would open (and may create) its directory, which a running node may hold.
  std::vector<std::string> unused_changes;
  for (SlotPlan& plan : plans) {
    if (plan.library->info().Has(kPersistent)) continue;
    if (Status s = CreateReplacement(plan, &unused_changes); !s.ok()) problems.push_back(s);
  }
  return problems;
}

Status Runtime::PlanSlot(SlotPlan* plan) {
  const SlotConfig& slot = *plan->slot;
  std::filesystem::path file;
  if (Status s = catalog_.Resolve(slot.plugin, slot.kind, &file); !s.ok()) {
    return AtSlot(slot, "/plugin", s);
  }
  // The running library is reused only while the file still holds the same bytes; a rebuilt
  // .so gets a fresh private copy.
  const CatalogEntry* entry = catalog_.Find(file);
  const bool same_library = plan->old && entry != nullptr && plan->old->info().file == file &&
                            plan->old->info().sha256 == entry->info.sha256;
  if (same_library && (!slot.sha256 || *slot.sha256 == plan->old->info().sha256)) {
    plan->library = plan->old->library();
  } else if (Status s = PluginLibrary::Open(file, slot.sha256, &plan->library); !s.ok()) {
    return AtSlot(slot, "/plugin", s);
  }
  plan->params = slot.params;
  if (Status s = ValidateParams(plan->library->info(), slot.pointer + "/params", &plan->params);
      !s.ok()) {
    return s;
  }
  if (plan->old && plan->library == plan->old->library()) {
    if (plan->params == plan->old->params_json()) {
      plan->action = SlotPlan::Action::kKeep;
    } else if (plan->old->Has(kReconfigure)) {
      plan->action = SlotPlan::Action::kReconfigure;
    }
  }
  return Status::OK();
}

// A persistent tier owns data on disk, so a reload may keep it or reconfigure it in place but
// never open its directory a second time, swap its plugin, or drop it.
Status Runtime::CheckPersistentTiers(const Config& config, const Generation* old,
                                     const std::vector<SlotPlan>& plans, bool backs_store) const {
  if (backs_store && plans.size() > kFirstTierSlot &&
      !plans.back().library->info().Has(kPersistent)) {
    const SlotConfig& last = *plans.back().slot;
    return Status::InvalidArgument(
        last.pointer +
        "/plugin: the last tier must be persistent, because it is where blocks are "
        "kept; " +
        plans.back().library->info().name +
        " holds them in memory only. Add a persistent tier below it, e.g. {\"plugin\": "
        "\"leveldb\"}");
  }
  std::map<std::string, const SlotPlan*> by_dir;
  for (size_t i = kFirstTierSlot; i < plans.size(); ++i) {
    const SlotPlan& plan = plans[i];
    if (!plan.library->info().Has(kPersistent)) continue;
    const SlotConfig& slot = *plan.slot;
    auto [at, fresh] = by_dir.emplace(slot.dir, &plan);
    if (!fresh) {
      return Status::InvalidArgument(
          slot.pointer + "/dir: persistent tiers " + at->second->slot->slot + " and " + slot.slot +
          " would share the directory " + TierDir(config, slot).string() +
          "; give one of them another \"dir\"");
    }
  }
  if (old == nullptr) return Status::OK();
  if (old->config->store_path != config.store_path) {
    return Status::InvalidArgument(
        "/store/path: the store path cannot change while the node runs (it is " +
        old->config->store_path.string() + "); restart the node to use " +
        config.store_path.string());
  }
  for (size_t i = kFirstTierSlot; i < old->instances.size(); ++i) {
    const Instance& running = *old->instances[i];
    if (!running.Has(kPersistent)) continue;
    const SlotConfig& was = old->config->slots[i];
    auto now = by_dir.find(was.dir);
    const std::string where = TierDir(config, was).string();
    if (now == by_dir.end()) {
      return Status::InvalidArgument(
          "/store/tiers: the persistent tier " + running.info().name + " at " + where +
          " is missing from the new config; its blocks would become unreachable. Keep it in "
          "store.tiers (a reload can change its params), or stop the node and move the data "
          "with `boxcar export` and `boxcar import`");
    }
    const SlotPlan& plan = *now->second;
    if (plan.library->info().name != running.info().name) {
      return Status::InvalidArgument(
          plan.slot->pointer + "/plugin: the persistent tier at " + where + " is " +
          running.info().name + "; it cannot become " + plan.library->info().name +
          " while the node runs, because " + plan.library->info().name +
          " cannot read its data. Use a new \"dir\" for the new tier, or migrate with `boxcar "
          "export` and `boxcar import` while the node is stopped");
    }
    if (plan.library != running.library()) {
      return Status::InvalidArgument(
          plan.slot->pointer + "/plugin: the file of the persistent tier " + running.info().name +
          " changed; a persistent tier is not reloaded from a new file while it holds " + where +
          " open: restart the node to upgrade it");
    }
    if (plan.action == SlotPlan::Action::kReplace) {
      return Status::InvalidArgument(
          plan.slot->pointer + "/params: " + running.info().name +
          " cannot apply these params in place, and a second instance cannot open " + where +
          ": restart the node to apply them");
    }
  }
  return Status::OK();
}

Status Runtime::CreateReplacement(SlotPlan& plan, std::vector<std::string>* changes) {
  const SlotConfig& slot = *plan.slot;
  plan.action = SlotPlan::Action::kReplace;
  InstanceRequest request;
  request.library = plan.library;
  request.slot = slot.slot;
  request.params_pointer = slot.pointer + "/params";
  request.params = plan.params;
  request.context = context_;
  request.tunables = &tunables_;
  if (slot.kind == PluginKind::kCacheTier) {
    if (eviction_sinks_) request.evictions = eviction_sinks_(plan.index - kFirstTierSlot);
    if (plan.library->info().Has(kPersistent)) {
      const std::filesystem::path& dir = plan.tier_dir;
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (ec) {
        return Status::IOError(slot.pointer + ": cannot create the tier directory " + dir.string() +
                               ": " + ec.message());
      }
      request.data_dir = dir.string();
    }
  }
  if (Status s = InstanceFactory::Create(std::move(request), &plan.next); !s.ok()) return s;
  std::string line = slot.slot + ": " + (plan.old ? Describe(plan.old->info()) + " -> " : "") +
                     Describe(plan.next->info());
  if (plan.old && plan.old->Has(kStateExport) && plan.next->Has(kStateExport)) {
    PluginState state;
    Status exported = plan.old->Invoke<Plugin>([&](Plugin& p) { return p.ExportState(&state); });
    Status imported =
        exported.ok() ? plan.next->Invoke<Plugin>([&](Plugin& p) { return p.ImportState(state); })
                      : exported;
    line += imported.ok() ? " (state imported)" : " (fresh state: " + imported.ToString() + ")";
  }
  if (plan.old && slot.kind == PluginKind::kCacheTier) {
    size_t moved = 0;
    plan.next->Invoke<CacheTier>([&](CacheTier& to) {
      plan.old->Invoke<CacheTier>([&](CacheTier& from) {
        const uint64_t room = to.Stats().capacity_bytes;
        for (auto& [key, data] : from.ExportHot(room == 0 ? from.Stats().bytes : room)) {
          if (to.Put(key, std::move(data), PutReason::kHandoff).ok()) ++moved;
        }
      });
    });
    line += " (" + std::to_string(moved) + " hot entries handed over)";
  }
  changes->push_back(std::move(line));
  return Status::OK();
}

Status Runtime::Build(std::vector<SlotPlan>* plans, std::vector<std::string>* changes) {
  for (SlotPlan& plan : *plans) {
    if (plan.action == SlotPlan::Action::kReplace) {
      if (Status s = CreateReplacement(plan, changes); !s.ok()) return s;
    } else {
      plan.next = plan.old;
    }
  }
  // Reconfigures touch live instances, so they run last and are undone if a later step fails.
  // A plugin that cannot apply a particular change in place (NotSupported) gets a new instance.
  auto rollback = [&] {
    for (SlotPlan& done : *plans) {
      if (done.reconfigured) done.old->Reconfigure(done.params_before);
    }
  };
  for (SlotPlan& plan : *plans) {
    if (plan.action != SlotPlan::Action::kReconfigure) continue;
    const nlohmann::json previous = plan.old->params_json();
    Status s = plan.old->Reconfigure(plan.params);
    if (s.IsNotSupported()) s = CreateReplacement(plan, changes);
    if (!s.ok()) {
      rollback();
      return AtSlot(*plan.slot, "/params", s);
    }
    if (plan.action == SlotPlan::Action::kReplace) continue;
    plan.reconfigured = true;
    plan.params_before = previous;
    changes->push_back(plan.slot->slot + ": " + Describe(plan.old->info()) + " reconfigured");
  }
  return Status::OK();
}

void Runtime::HandOver(SlotPlan& plan, std::vector<std::string>* changes) {
  plan.old->RetireAndWait();
  if (plan.slot->kind != PluginKind::kPrioritizer) return;
  std::vector<Task> queued =
      plan.old->Invoke<Prioritizer>([](Prioritizer& p) { return p.Drain(); });
  size_t refused = 0;
  for (Task& task : queued) {
    Status s = Call(kPrioritizerSlot, [&](Prioritizer& p) { return p.Push(std::move(task)); });
    if (!s.ok()) ++refused;
  }
  std::string line = plan.slot->slot + ": " + std::to_string(queued.size() - refused) +
                     " queued tasks handed over";
  if (refused > 0) line += ", " + std::to_string(refused) + " refused by the successor (shed)";
  changes->push_back(std::move(line));
}

// The request engine's params, with the bounds the config schema declares.
void Runtime::PrepareEngineTunables(const EngineConfig& engine,
                                    std::vector<std::shared_ptr<Tunable>>* out) {
  const auto add = [&](const char* name, double min, double max, double configured) {
    out->push_back(tunables_.Prepare(name, min, max, true, configured));
  };
  add(kEngineWorkers, 1, 1024, engine.workers);
  add(kEngineQueueLimit, 16, 1e7, static_cast<double>(engine.queue_limit));
  add(kEngineMaxBatch, 1, 4096, engine.max_batch);
  add(kEngineMaxQueueWaitMs, 1, 600'000, static_cast<double>(engine.max_queue_wait_ms));
  add(kEnginePeerBudgetBytes, static_cast<double>(engine.peer_budget_min_bytes),
      static_cast<double>(engine.peer_budget_max_bytes),
      static_cast<double>(engine.peer_budget_bytes));
}

ReloadOutcome Runtime::Apply(const Config& config, const std::string& trigger) {
  std::lock_guard reload_lock(reload_mu_);
  // Holding the tuner lock keeps Tick from running between a tuner's state export and the
  // publish, so no learned step is lost.
  std::lock_guard tuner_lock(tuner_mu_);
  const auto start = SteadyTime::now();
  std::shared_ptr<const Generation> old = Current();
  ReloadOutcome outcome;

  std::vector<SlotPlan> plans;
  outcome.status = Plan(config, old.get(), &plans);
  if (outcome.status.ok()) outcome.status = Build(&plans, &outcome.changes);

  const double seconds = std::chrono::duration<double>(SteadyTime::now() - start).count();
  if (!outcome.status.ok()) {
    metrics_->reloads.Add({{"trigger", trigger}, {"result", "failure"}}).Increment();
    outcome.generation = old ? old->number : 0;
    outcome.changes.clear();
    outcome.duration_ms = seconds * 1000;
    return outcome;
  }

  auto gen = std::make_shared<Generation>();
  gen->number = old ? old->number + 1 : 1;
  gen->config = std::make_shared<const Config>(config);
  std::vector<std::shared_ptr<Tunable>> live_tunables;
  for (SlotPlan& plan : plans) {
    gen->instances.push_back(plan.next);
    for (const auto& [param, t] : plan.next->services().bound_tunables())
      live_tunables.push_back(t);
  }
  live_tunables.push_back(tunables_.Prepare("control.interval_ms", 50, 600'000, true,
                                            static_cast<double>(config.control_interval_ms)));
  PrepareEngineTunables(config.engine, &live_tunables);
  tunables_.Publish(std::move(live_tunables));
  {
    std::lock_guard lock(current_mu_);
    current_ = gen;
  }

  for (size_t i = 0; i < plans.size(); ++i) {
    if (plans[i].action == SlotPlan::Action::kReplace && plans[i].old) {
      HandOver(plans[i], &outcome.changes);
    }
  }
  plans.clear();  // drops the last references the reload held to retired instances
  old.reset();

  PublishMetrics(*gen);
  const double total = std::chrono::duration<double>(SteadyTime::now() - start).count();
  metrics_->reload_seconds.Observe(total);
  metrics_->reloads.Add({{"trigger", trigger}, {"result", "success"}}).Increment();
  outcome.generation = gen->number;
  outcome.duration_ms = total * 1000;
  return outcome;
}

void Runtime::PublishMetrics(const Generation& gen) {
  metrics_->generation.Set(static_cast<double>(gen.number));
  for (prometheus::Gauge* g : metrics_->active_plugin_series) metrics_->active_plugin.Remove(g);
  metrics_->active_plugin_series.clear();
  for (const auto& inst : gen.instances) {
    const PluginInfo& info = inst->info();
    auto& g = metrics_->active_plugin.Add({{"slot", inst->slot()},
                                           {"kind", std::string(KindName(info.kind))},
                                           {"plugin", info.name},
                                           {"version", info.version}});
    g.Set(1);
    metrics_->active_plugin_series.push_back(&g);
  }
}

void Runtime::TickTuner(const std::vector<MetricSample>& metrics) {
  std::lock_guard lock(tuner_mu_);
  if (!Current()) return;
  const std::vector<TunableInfo> tunables = tunables_.List();
  const int64_t now = context_->clock->NowNs();
  std::vector<Proposal> proposals =
      Call<Tuner>(kTunerSlot, [&](Tuner& t) { return t.Tick(now, metrics, tunables); });
  for (const Proposal& p : proposals) {
    double applied = 0;
    auto result = tunables_.Set(p.name, p.value, &applied);
    static constexpr const char* kResult[] = {"applied", "clamped", "unknown"};
    metrics_->proposals.Add({{"result", kResult[static_cast<int>(result)]}}).Increment();
    if (result == TunableRegistry::SetResult::kUnknown) {
      context_->logger->warn("tuner proposed unknown tunable \"{}\"", p.name);
    } else {
      context_->logger->info("tuner set {} = {} ({})", p.name, applied, p.reason);
    }
  }
}

void Runtime::Shutdown() {
  std::lock_guard reload_lock(reload_mu_);
  std::lock_guard tuner_lock(tuner_mu_);
  std::shared_ptr<const Generation> gen;
  {
    std::lock_guard lock(current_mu_);
    gen.swap(current_);
  }
  if (!gen) return;
  for (const auto& inst : gen->instances) inst->RetireAndWait();
}

}  // namespace boxcar::runtime
