// prioritizer "fair": per-peer deficit round robin (DRR) over bytes, one rotation per task class.
//
// Classes are strict: a bulk task runs only when no peer with interactive work is eligible, and
// background only when neither is. Within a class, each peer with queued work gets
// `quantum_bytes` of credit per turn and is served while its credit covers its next task, so a
// peer requesting large blocks and one requesting small ones get about the same bytes.
//
// Two guards work around DRR's blind spots:
//  - Outstanding budget: a peer whose popped but not completed bytes reach
//    `max_outstanding_bytes_per_peer` is skipped until Complete releases some, so one client
//    cannot occupy every worker. A peer with nothing outstanding may always run one task, so a
//    block bigger than the budget cannot wedge its peer.
//  - Starvation rescue: a task queued longer than `starvation_timeout_ms` runs next whatever
//    its class or its peer's credit (Boxo issue 1141: a busy server starved a newly connected
//    peer). The rescue still respects the outstanding budget.
//
// Complexity: Push and Complete are O(log q) (q = non-empty per-peer class queues, for the age
// index); Pop is O(1) typically and O(active peers) at worst, never proportional to the tasks.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <list>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "boxcar/prioritizer.h"
#include "boxcar_plugins/tunables.h"

namespace {

constexpr char kParamsSchema[] = R"({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "quantum_bytes": {
      "type": "integer",
      "description": "Credit in bytes a peer gets per round-robin turn in each class",
      "default": 262144,
      "minimum": 1024,
      "maximum": 16777216,
      "tunable": true
    },
    "max_outstanding_bytes_per_peer": {
      "type": "integer",
      "description": "A peer whose popped but not completed bytes reach this is skipped until tasks complete; a peer with nothing outstanding may always run one task",
      "default": 8388608,
      "minimum": 1,
      "maximum": 1073741824,
      "tunable": true
    },
    "starvation_timeout_ms": {
      "type": "integer",
      "description": "A task queued longer than this runs next regardless of class and round-robin credit",
      "default": 1000,
      "minimum": 1,
      "maximum": 600000,
      "tunable": true
    },
    "max_queue": {
      "type": "integer",
      "description": "Tasks queued across all peers before Push returns Busy",
      "default": 100000,
      "minimum": 1,
      "maximum": 10000000,
      "tunable": true
    },
    "max_queue_per_peer": {
      "type": "integer",
      "description": "Tasks one peer may have queued before its Push returns Busy",
      "default": 10000,
      "minimum": 1,
      "maximum": 10000000
    }
  }
})";

constexpr size_t kClassCount = boxcar::kTaskClassCount;

// A task of unknown size (cost 0) is charged as a typical 256 KiB chunk: charging nothing would
// let a peer sending only size-less requests take every turn.
constexpr uint64_t kUnknownCostBytes = 256 * 1024;
// Keeps the credit arithmetic far from overflow whatever cost a task claims.
constexpr uint64_t kMaxChargedBytes = uint64_t{1} << 40;

uint64_t ChargedBytes(const boxcar::Task& task) {
  if (task.cost_bytes == 0) return kUnknownCostBytes;
  return std::min(task.cost_bytes, kMaxChargedBytes);
}

size_t ClassIndex(boxcar::TaskClass task_class) {
  return std::min(static_cast<size_t>(task_class), kClassCount - 1);
}

uint64_t Load(const std::atomic<double>& tunable) {
  return static_cast<uint64_t>(tunable.load(std::memory_order_relaxed));
}

struct QueuedTask {
  boxcar::Task task;
  uint64_t seq;  // arrival order, to break ties between equal enqueue times
};

struct PeerState;

// Orders the non-empty (peer, class) queues by the age of their front task. Each queue is FIFO,
// so its front is its oldest task and the first entry here is the oldest task overall.
struct AgeKey {
  int64_t enqueued_ns;
  uint64_t seq;
  PeerState* peer;
  size_t task_class;

  bool operator<(const AgeKey& other) const {
    return std::tie(enqueued_ns, seq) < std::tie(other.enqueued_ns, other.seq);
  }
};

using Rotation = std::list<PeerState*>;

struct PeerState {
  std::array<std::deque<QueuedTask>, kClassCount> queues;
  // DRR credit per class, and whether this turn's quantum was already granted.
  std::array<uint64_t, kClassCount> deficit{};
  std::array<bool, kClassCount> granted{};
  // Where the peer sits in each class rotation; valid while that class queue is non-empty.
  std::array<Rotation::iterator, kClassCount> rotation_pos{};
  size_t queued = 0;
  uint64_t outstanding_bytes = 0;

  AgeKey FrontKey(size_t task_class) {
    const QueuedTask& front = queues[task_class].front();
    return AgeKey{front.task.enqueued_ns, front.seq, this, task_class};
  }
};

class FairPrioritizer : public boxcar::Prioritizer {
 public:
  explicit FairPrioritizer(const boxcar::CreateContext& ctx)
      : quantum_bytes_(boxcar_plugins::BindTunable(*ctx.host, "quantum_bytes")),
        max_outstanding_bytes_(
            boxcar_plugins::BindTunable(*ctx.host, "max_outstanding_bytes_per_peer")),
        starvation_timeout_ms_(boxcar_plugins::BindTunable(*ctx.host, "starvation_timeout_ms")),
        max_queue_(boxcar_plugins::BindTunable(*ctx.host, "max_queue")),
        active_peers_(ctx.host->metrics().GetGauge("fair_active_peers",
                                                   "Peers with queued tasks or outstanding bytes")),
        starvation_rescues_(ctx.host->metrics().GetCounter(
            "fair_starvation_rescues_total",
            "Tasks served out of turn because they waited longer than starvation_timeout_ms")),
        rejected_queue_full_(ctx.host->metrics().GetCounter(
            "fair_rejected_total", "Tasks refused with Busy", {{"reason", "queue_full"}})),
        rejected_peer_full_(ctx.host->metrics().GetCounter(
            "fair_rejected_total", "Tasks refused with Busy", {{"reason", "peer_queue_full"}})),
        budget_skips_(ctx.host->metrics().GetCounter(
            "fair_budget_skips_total",
            "Turns a peer lost because its outstanding bytes reached the per-peer budget")),
        max_queue_per_peer_(static_cast<size_t>(ctx.params->GetInt("max_queue_per_peer"))) {}

  boxcar::Status Push(boxcar::Task task) override {
    std::lock_guard lock(mu_);
    if (size_ >= Load(max_queue_)) {
      rejected_queue_full_->Increment();
      return boxcar::Status::Busy("fair queue full");
    }
    auto [it, inserted] = peers_.try_emplace(task.peer);
    PeerState& peer = it->second;
    if (peer.queued >= max_queue_per_peer_) {
      rejected_peer_full_->Increment();
      return boxcar::Status::Busy("fair queue full for peer " + task.peer);
    }
    if (inserted) active_peers_->Set(static_cast<double>(peers_.size()));

    const size_t task_class = ClassIndex(task.task_class);
    auto& queue = peer.queues[task_class];
    queue.push_back(QueuedTask{std::move(task), next_seq_++});
    if (queue.size() == 1) {
      Rotation& rotation = rotations_[task_class];
      peer.rotation_pos[task_class] = rotation.insert(rotation.end(), &peer);
      age_index_.insert(peer.FrontKey(task_class));
    }
    ++peer.queued;
    ++size_;
    return boxcar::Status::OK();
  }

  std::optional<boxcar::Task> Pop(int64_t now_ns) override {
    std::lock_guard lock(mu_);
    if (size_ == 0) return std::nullopt;
    if (auto task = PopStarved(now_ns)) return task;
    for (size_t task_class = 0; task_class < kClassCount; ++task_class) {
      if (auto task = PopRoundRobin(task_class)) return task;
    }
    return std::nullopt;
  }

  // Releases what Pop charged for the task, which is not `bytes_sent`: a response cut short
  // would otherwise leave bytes charged forever and shrink its peer's budget for good.
  void Complete(const boxcar::Task& task, uint64_t /*bytes_sent*/) override {
    std::lock_guard lock(mu_);
    auto it = peers_.find(task.peer);
    if (it == peers_.end()) return;
    PeerState& peer = it->second;
    // Clamped: the task may have been popped by a predecessor instance and never charged here.
    peer.outstanding_bytes -= std::min(peer.outstanding_bytes, ChargedBytes(task));
    ForgetIfIdle(it);
  }

  size_t Size() override {
    std::lock_guard lock(mu_);
    return size_;
  }

  std::vector<boxcar::Task> Drain() override {
    std::lock_guard lock(mu_);
    std::vector<std::pair<size_t, QueuedTask>> queued;
    queued.reserve(size_);
    for (auto& [name, peer] : peers_) {
      for (size_t task_class = 0; task_class < kClassCount; ++task_class) {
        for (QueuedTask& entry : peer.queues[task_class]) {
          queued.emplace_back(task_class, std::move(entry));
        }
        peer.queues[task_class].clear();
        peer.deficit[task_class] = 0;
        peer.granted[task_class] = false;
      }
      peer.queued = 0;
    }
    // The order Pop would follow without budgets: strict class, then oldest first.
    std::sort(queued.begin(), queued.end(), [](const auto& a, const auto& b) {
      return std::tie(a.first, a.second.task.enqueued_ns, a.second.seq) <
             std::tie(b.first, b.second.task.enqueued_ns, b.second.seq);
    });
    for (Rotation& rotation : rotations_) rotation.clear();
    age_index_.clear();
    size_ = 0;
    std::erase_if(peers_, [](const auto& entry) { return entry.second.outstanding_bytes == 0; });
    active_peers_->Set(static_cast<double>(peers_.size()));

    std::vector<boxcar::Task> tasks;
    tasks.reserve(queued.size());
    for (auto& [task_class, entry] : queued) tasks.push_back(std::move(entry.task));
    return tasks;
  }

  // The tunable params follow their bound atomics; only the per-peer queue limit is copied.
  boxcar::Status Reconfigure(const boxcar::Params& params) override {
    std::lock_guard lock(mu_);
    max_queue_per_peer_ = static_cast<size_t>(params.GetInt("max_queue_per_peer"));
    return boxcar::Status::OK();
  }

 private:
  using PeerMap = std::unordered_map<std::string, PeerState>;

  // The budget check: nothing outstanding is always eligible, since the cap is at least 1.
  bool OverBudget(const PeerState& peer) const {
    return peer.outstanding_bytes >= Load(max_outstanding_bytes_);
  }

  // The oldest task of an eligible peer, if it waited longer than the starvation timeout. Only
  // queues whose front timed out are visited, so this is O(1) unless tasks are starving.
  std::optional<boxcar::Task> PopStarved(int64_t now_ns) {
    const int64_t timeout_ns = static_cast<int64_t>(Load(starvation_timeout_ms_)) * 1'000'000;
    for (auto it = age_index_.begin();
         it != age_index_.end() && now_ns - it->enqueued_ns > timeout_ns; ++it) {
      if (OverBudget(*it->peer)) continue;
      starvation_rescues_->Increment();
      return Take(*it->peer, it->task_class);
    }
    return std::nullopt;
  }

  std::optional<boxcar::Task> PopRoundRobin(size_t task_class) {
    Rotation& rotation = rotations_[task_class];
    if (rotation.empty()) return std::nullopt;
    const uint64_t quantum = Load(quantum_bytes_);
    if (auto task = ServeOneRound(task_class, quantum, rotation.size())) return task;

    // Every eligible peer's next task costs more than its credit. Instead of circling the
    // rotation once per quantum, grant the rounds all of them would sit through before the
    // first could afford its task, then run the round that serves it.
    uint64_t rounds_to_wait = std::numeric_limits<uint64_t>::max();
    for (PeerState* peer : rotation) {
      if (OverBudget(*peer)) continue;
      const uint64_t shortfall =
          ChargedBytes(peer->queues[task_class].front().task) - peer->deficit[task_class];
      rounds_to_wait = std::min(rounds_to_wait, (shortfall + quantum - 1) / quantum - 1);
    }
    if (rounds_to_wait == std::numeric_limits<uint64_t>::max()) return std::nullopt;
    for (PeerState* peer : rotation) {
      if (!OverBudget(*peer)) peer->deficit[task_class] += rounds_to_wait * quantum;
    }
    return ServeOneRound(task_class, quantum, rotation.size());
  }

  // Visits up to `visits` peers from the head of the rotation: the first eligible one whose
  // credit covers its next task is served and stays at the head, so it continues its turn on the
  // next Pop; the others end their turn and move to the back.
  std::optional<boxcar::Task> ServeOneRound(size_t task_class, uint64_t quantum, size_t visits) {
    Rotation& rotation = rotations_[task_class];
    for (size_t i = 0; i < visits; ++i) {
      PeerState& peer = *rotation.front();
      if (OverBudget(peer)) {
        budget_skips_->Increment();
        EndTurn(peer, task_class);
        continue;
      }
      if (!peer.granted[task_class]) {
        peer.deficit[task_class] += quantum;
        peer.granted[task_class] = true;
      }
      const uint64_t cost = ChargedBytes(peer.queues[task_class].front().task);
      if (cost <= peer.deficit[task_class]) {
        peer.deficit[task_class] -= cost;
        return Take(peer, task_class);
      }
      EndTurn(peer, task_class);
    }
    return std::nullopt;
  }

  void EndTurn(PeerState& peer, size_t task_class) {
    peer.granted[task_class] = false;
    Rotation& rotation = rotations_[task_class];
    rotation.splice(rotation.end(), rotation, peer.rotation_pos[task_class]);
  }

  // Removes the front task of one of `peer`'s queues and charges it to the peer's budget.
  boxcar::Task Take(PeerState& peer, size_t task_class) {
    auto& queue = peer.queues[task_class];
    age_index_.erase(peer.FrontKey(task_class));
    boxcar::Task task = std::move(queue.front().task);
    queue.pop_front();
    if (queue.empty()) {
      // A peer leaving the rotation forfeits its credit, as in DRR: idle peers must not bank it.
      rotations_[task_class].erase(peer.rotation_pos[task_class]);
      peer.deficit[task_class] = 0;
      peer.granted[task_class] = false;
    } else {
      age_index_.insert(peer.FrontKey(task_class));
    }
    --peer.queued;
    --size_;
    peer.outstanding_bytes += ChargedBytes(task);
    return task;
  }

  // Peers come and go with clients; keeping idle ones would grow the map without bound.
  void ForgetIfIdle(PeerMap::iterator it) {
    if (it->second.queued != 0 || it->second.outstanding_bytes != 0) return;
    peers_.erase(it);
    active_peers_->Set(static_cast<double>(peers_.size()));
  }

  const std::atomic<double>& quantum_bytes_;
  const std::atomic<double>& max_outstanding_bytes_;
  const std::atomic<double>& starvation_timeout_ms_;
  const std::atomic<double>& max_queue_;

  boxcar::Gauge* active_peers_;
  boxcar::Counter* starvation_rescues_;
  boxcar::Counter* rejected_queue_full_;
  boxcar::Counter* rejected_peer_full_;
  boxcar::Counter* budget_skips_;

  std::mutex mu_;
  size_t max_queue_per_peer_;
  PeerMap peers_;  // node-based: PeerState addresses stay valid while the peer exists
  std::array<Rotation, kClassCount> rotations_;
  std::set<AgeKey> age_index_;
  size_t size_ = 0;
  uint64_t next_seq_ = 0;
};

}  // namespace

BOXCAR_PLUGIN(FairPrioritizer, "fair", "1.0.0",
              "Per-peer deficit round robin by class, with outstanding budgets and starvation "
              "rescue",
              kParamsSchema, boxcar::kThreadSafe | boxcar::kReconfigure);
