#include "engine/request_engine.h"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

namespace boxcar::engine {
namespace {

constexpr size_t kClassCount = kTaskClassCount;
constexpr const char* kClassNames[kClassCount] = {"interactive", "bulk", "background"};
// Queue fill, as a share of engine.queue_limit, at which each class is shed.
constexpr double kShedAt[kClassCount] = {1.0, 0.75, 0.5};
constexpr int64_t kAdaptIntervalNs = 100'000'000;
constexpr double kBudgetGrowth = 1.25;
constexpr double kBudgetShrink = 0.7;
// The queue is "nearly empty" below this share of the limit, and "loaded" above the second.
constexpr double kIdleFill = 0.01;
constexpr double kLoadedFill = 0.25;

size_t ClassIndex(TaskClass c) { return std::min<size_t>(static_cast<size_t>(c), kClassCount - 1); }

}  // namespace

RequestEngine::RequestEngine(runtime::Runtime& runtime, store::BlockStore& store,
                             prometheus::Registry& registry)
    : runtime_(runtime),
      store_(store),
      tasks_(prometheus::BuildCounter()
                 .Name("boxcar_engine_tasks_total")
                 .Help("Tasks by class and outcome: served, shed (refused by the queue limit), "
                       "stale (waited past engine.max_queue_wait_ms)")
                 .Register(registry)),
      peer_refusals_(prometheus::BuildCounter()
                         .Name("boxcar_engine_peer_refusals_total")
                         .Help("Tasks refused with 429 because their peer's backlog was full")
                         .Register(registry)
                         .Add({})),
      backlogged_(prometheus::BuildCounter()
                      .Name("boxcar_engine_backlogged_total")
                      .Help("Tasks that waited in their peer's backlog for budget")
                      .Register(registry)
                      .Add({})),
      queue_gauge_(prometheus::BuildGauge()
                       .Name("boxcar_engine_queued_tasks")
                       .Help("Tasks queued in the prioritizer or waiting in peer backlogs")
                       .Register(registry)
                       .Add({})),
      budget_gauge_(prometheus::BuildGauge()
                        .Name("boxcar_engine_peer_budget_bytes")
                        .Help("The adaptive outstanding-bytes budget of each peer")
                        .Register(registry)
                        .Add({})) {
  for (const char* name : kClassNames) {
    served_.push_back(&tasks_.Add({{"class", name}, {"outcome", "served"}}));
    shed_.push_back(&tasks_.Add({{"class", name}, {"outcome", "shed"}}));
    stale_.push_back(&tasks_.Add({{"class", name}, {"outcome", "stale"}}));
  }
  Refresh();
}

RequestEngine::~RequestEngine() = default;

void RequestEngine::Refresh() {
  std::lock_guard lock(refresh_mu_);
  runtime::TunableRegistry& registry = runtime_.tunables();
  const auto bind = [&](std::atomic<runtime::Tunable*>& slot, const char* name) {
    std::shared_ptr<runtime::Tunable> entry = registry.Find(name);
    if (!entry) return;  // registered with every generation; absent only before the first
    keep_alive_.push_back(entry);
    slot.store(entry.get(), std::memory_order_release);
  };
  bind(workers_, runtime::kEngineWorkers);
  bind(queue_limit_, runtime::kEngineQueueLimit);
  bind(max_batch_, runtime::kEngineMaxBatch);
  bind(max_wait_ms_, runtime::kEngineMaxQueueWaitMs);
  bind(peer_budget_, runtime::kEnginePeerBudgetBytes);
  retry_after_s_ = runtime_.Current()->config->engine.retry_after_s;
  budget_gauge_.Set(Value(peer_budget_));
  progress_.fetch_add(1, std::memory_order_release);
  for (auto& [id, wake] : wakeups_) wake();
}

int RequestEngine::AddWakeup(std::function<void()> wake) {
  std::lock_guard lock(refresh_mu_);
  wakeups_.emplace_back(next_wakeup_, std::move(wake));
  return next_wakeup_++;
}

void RequestEngine::RemoveWakeup(int id) {
  std::lock_guard lock(refresh_mu_);
  std::erase_if(wakeups_, [id](const auto& entry) { return entry.first == id; });
}

int64_t RequestEngine::NowNs() const { return runtime_.context().clock->NowNs(); }

uint64_t RequestEngine::peer_budget() const { return static_cast<uint64_t>(Value(peer_budget_)); }

bool RequestEngine::ShouldShed(TaskClass task_class) const {
  const double limit = Value(queue_limit_);
  return static_cast<double>(queued_.load(std::memory_order_relaxed)) >=
         limit * kShedAt[ClassIndex(task_class)];
}

SubmitResult RequestEngine::Submit(TaskClass task_class, std::string peer, uint64_t cost_bytes,
                                   std::shared_ptr<Work> work) {
  const size_t c = ClassIndex(task_class);
  if (ShouldShed(task_class)) {
    shed_[c]->Increment();
    shed_since_adapt_.store(true, std::memory_order_relaxed);
    return {Refusal::kOverloaded, retry_after_s_};
  }
  Task task;
  task.peer = std::move(peer);
  task.task_class = task_class;
  task.cost_bytes = cost_bytes;
  const int64_t now = NowNs();
  task.enqueued_ns = now;
  {
    std::lock_guard lock(mu_);
    task.id = next_id_++;
    Peer& p = peers_[task.peer];
    const uint64_t cost = std::max<uint64_t>(cost_bytes, 1);
    if (p.outstanding > 0 && p.outstanding + cost > peer_budget()) {
      if (p.backlog.size() >= runtime_.Current()->config->engine.peer_backlog_limit) {
        peer_refusals_.Increment();
        return {Refusal::kPeerBacklogFull, retry_after_s_};
      }
      backlogged_.Increment();
      works_.emplace(task.id, Queued{std::move(work), now});
      p.backlog.push_back(std::move(task));
      queued_.fetch_add(1);  // sequentially consistent: Pump's handshake reads it
    } else {
      const uint64_t id = task.id;
      works_.emplace(id, Queued{std::move(work), now});
      if (!PushLocked(std::move(task))) {
        works_.erase(id);
        if (p.outstanding == 0 && p.backlog.empty()) peers_.erase(task.peer);
        shed_[c]->Increment();
        return {Refusal::kOverloaded, retry_after_s_};
      }
      p.outstanding += cost;
    }
  }
  progress_.fetch_add(1, std::memory_order_release);
  return {};
}

// Hands a task to the prioritizer; the caller holds mu_. False when the prioritizer refused it
// (its own queue limits); `task` is then left intact.
bool RequestEngine::PushLocked(Task&& task) {
  const Status status = runtime_.Call<Prioritizer>(runtime::kPrioritizerSlot,
                                                   [&](Prioritizer& p) { return p.Push(task); });
  if (!status.ok()) {
    spdlog::debug("prioritizer refused task {}: {}", task.id, status.ToString());
    return false;
  }
  queued_.fetch_add(1);  // sequentially consistent: Pump's handshake reads it
  return true;
}

bool RequestEngine::Pump() {
  // Tasks deliver responses inline; a nested Pump would recurse once per CAR chunk.
  thread_local bool t_pumping = false;
  if (t_pumping) return false;
  t_pumping = true;
  struct Reset {
    ~Reset() { t_pumping = false; }
  } reset;
  const uint64_t seen = progress_.load();
  const int limit = static_cast<int>(Value(workers_));
  int running = running_.load();
  do {
    // Every slot is busy: their holders look at the queue again when they finish.
    if (running >= limit) return false;
  } while (!running_.compare_exchange_weak(running, running + 1));
  std::vector<Popped> reads, jobs, stale;
  PopBatch(&reads, &jobs, &stale);
  const bool ran = !reads.empty() || !jobs.empty() || !stale.empty();
  if (ran) RunBatch(reads, jobs, stale);
  running_.fetch_sub(1);
  // Sequentially consistent with Submit's increment of queued_ and its own Pump's look at
  // running_: either that Pump found this slot free, or this thread sees the task now.
  if (ran) return queued_.load() > 0;
  return progress_.load() != seen && queued_.load() > 0;
}

void RequestEngine::PopBatch(std::vector<Popped>* reads, std::vector<Popped>* jobs,
                             std::vector<Popped>* stale) {
  reads->clear();
  jobs->clear();
  stale->clear();
  const size_t max_batch = static_cast<size_t>(Value(max_batch_));
  const int64_t max_wait_ns = static_cast<int64_t>(Value(max_wait_ms_)) * 1'000'000;
  const int64_t now = NowNs();
  std::lock_guard lock(mu_);
  AdaptBudget(now);
  while (reads->size() + jobs->size() + stale->size() < max_batch) {
    std::optional<Task> task = runtime_.Call<Prioritizer>(
        runtime::kPrioritizerSlot, [&](Prioritizer& p) { return p.Pop(now); });
    if (!task) break;
    auto it = works_.find(task->id);
    if (it == works_.end()) continue;  // not ours: a predecessor's leftover cannot happen, skip
    Popped popped{std::move(*task), std::move(it->second)};
    works_.erase(it);
    queued_.fetch_sub(1, std::memory_order_relaxed);
    if (now - popped.queued.submitted_ns > max_wait_ns &&
        !popped.queued.work->continues_response()) {
      stale->push_back(std::move(popped));
    } else if (popped.queued.work->block() != nullptr) {
      reads->push_back(std::move(popped));
    } else {
      jobs->push_back(std::move(popped));
      break;  // a job (a CAR chunk) is long: run it before taking more
    }
  }
  // An idle pop also publishes, so the gauge does not keep a stale depth once the queue empties.
  if (reads->empty() && jobs->empty() && stale->empty()) {
    queue_gauge_.Set(static_cast<double>(queued_.load(std::memory_order_relaxed)));
  }
}

void RequestEngine::RunBatch(std::vector<Popped>& reads, std::vector<Popped>& jobs,
                             std::vector<Popped>& stale) {
  for (Popped& p : stale) {
    stale_[ClassIndex(p.task.task_class)]->Increment();
    p.queued.work->Shed(p.task, retry_after_s_);
  }
  if (!reads.empty()) {
    std::vector<format::Cid> cids;
    cids.reserve(reads.size());
    for (const Popped& p : reads) cids.push_back(*p.queued.work->block());
    std::vector<BlockData> blocks;
    std::vector<Status> results;
    store_.GetMany(cids, &blocks, &results);
    for (size_t i = 0; i < reads.size(); ++i) {
      served_[ClassIndex(reads[i].task.task_class)]->Increment();
      ReadResult read{std::move(results[i]), std::move(blocks[i])};
      reads[i].queued.work->Run(reads[i].task, &read);
    }
  }
  for (Popped& p : jobs) {
    served_[ClassIndex(p.task.task_class)]->Increment();
    p.queued.work->Run(p.task, nullptr);
  }
}

void RequestEngine::Complete(const Task& task, uint64_t bytes_sent) {
  runtime_.Call<Prioritizer>(runtime::kPrioritizerSlot, [&](Prioritizer& p) {
    p.Complete(task, bytes_sent);
    return 0;
  });
  std::vector<Popped> refused;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(task.peer);
    if (it == peers_.end()) return;
    Peer& p = it->second;
    p.outstanding -= std::min(p.outstanding, std::max<uint64_t>(task.cost_bytes, 1));
    const uint64_t budget = peer_budget();
    while (!p.backlog.empty()) {
      const uint64_t cost = std::max<uint64_t>(p.backlog.front().cost_bytes, 1);
      if (p.outstanding > 0 && p.outstanding + cost > budget) break;
      // Charged either way: a refused task is answered through Shed, and its frontend's
      // Complete releases the charge like any other task's.
      p.outstanding += cost;
      Task next = std::move(p.backlog.front());
      p.backlog.pop_front();
      // Its age, for the prioritizer, starts now: time spent over budget is not time the
      // prioritizer kept it waiting, and would have it rescued ahead of interactive work.
      next.enqueued_ns = NowNs();
      queued_.fetch_sub(1, std::memory_order_relaxed);  // PushLocked counts it again
      if (!PushLocked(std::move(next))) {
        auto work = works_.find(next.id);
        refused.push_back({std::move(next), std::move(work->second)});
        works_.erase(work);
      }
    }
    if (p.outstanding == 0 && p.backlog.empty()) peers_.erase(it);
  }
  for (Popped& r : refused) {
    shed_[ClassIndex(r.task.task_class)]->Increment();
    r.queued.work->Shed(r.task, retry_after_s_);
  }
  progress_.fetch_add(1, std::memory_order_release);
}

// Grows the per-peer budget while the node keeps up and shrinks it under load, at most every
// 100 ms. The caller holds mu_.
void RequestEngine::AdaptBudget(int64_t now_ns) {
  if (now_ns - last_adapt_ns_ < kAdaptIntervalNs) return;
  last_adapt_ns_ = now_ns;
  runtime::Tunable* budget = peer_budget_.load(std::memory_order_acquire);
  const double fill =
      static_cast<double>(queued_.load(std::memory_order_relaxed)) / Value(queue_limit_);
  double value = budget->value.load(std::memory_order_relaxed);
  if (shed_since_adapt_.exchange(false, std::memory_order_relaxed) || fill > kLoadedFill) {
    value *= kBudgetShrink;
  } else if (fill < kIdleFill) {
    value *= kBudgetGrowth;
  }
  value = budget->Clamp(value);
  // Published here, at most every 100 ms, rather than on every pop: a gauge update is a
  // compare-and-swap loop on a shared double.
  queue_gauge_.Set(static_cast<double>(queued_.load(std::memory_order_relaxed)));
  budget->value.store(value, std::memory_order_relaxed);
  budget_gauge_.Set(value);
}

}  // namespace boxcar::engine
