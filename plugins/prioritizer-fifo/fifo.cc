// prioritizer "fifo": serves tasks strictly in arrival order from one bounded queue.
//
// The baseline policy: no per-peer fairness and no classes, so one client can fill the queue.
// Its value is predictability, and it is the reference the other prioritizers are measured
// against.
#include <atomic>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "boxcar/prioritizer.h"
#include "boxcar_plugins/tunables.h"

namespace {

constexpr char kParamsSchema[] = R"({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "max_queue": {
      "type": "integer",
      "description": "Tasks queued at most; Push returns Busy beyond it so the host sheds load",
      "default": 100000,
      "minimum": 1,
      "maximum": 10000000,
      "tunable": true
    }
  }
})";

class FifoPrioritizer : public boxcar::Prioritizer {
 public:
  explicit FifoPrioritizer(const boxcar::CreateContext& ctx)
      : max_queue_(boxcar_plugins::BindTunable(*ctx.host, "max_queue")),
        rejected_(ctx.host->metrics().GetCounter(
            "fifo_rejected_total", "Tasks refused with Busy because the queue was full")) {}

  boxcar::Status Push(boxcar::Task task) override {
    std::lock_guard lock(mu_);
    if (queue_.size() >= MaxQueue()) {
      rejected_->Increment();
      return boxcar::Status::Busy("fifo queue full");
    }
    queue_.push_back(std::move(task));
    return boxcar::Status::OK();
  }

  std::optional<boxcar::Task> Pop(int64_t /*now_ns*/) override {
    std::lock_guard lock(mu_);
    if (queue_.empty()) return std::nullopt;
    boxcar::Task task = std::move(queue_.front());
    queue_.pop_front();
    return task;
  }

  // Nothing is budgeted per task, so there is nothing to release.
  void Complete(const boxcar::Task& /*task*/, uint64_t /*bytes_sent*/) override {}

  size_t Size() override {
    std::lock_guard lock(mu_);
    return queue_.size();
  }

  std::vector<boxcar::Task> Drain() override {
    std::lock_guard lock(mu_);
    std::vector<boxcar::Task> tasks(std::make_move_iterator(queue_.begin()),
                                    std::make_move_iterator(queue_.end()));
    queue_.clear();
    return tasks;
  }

 private:
  // Read on every Push: the tuner moves it live.
  size_t MaxQueue() const {
    return static_cast<size_t>(max_queue_.load(std::memory_order_relaxed));
  }

  const std::atomic<double>& max_queue_;
  boxcar::Counter* rejected_;
  std::mutex mu_;
  std::deque<boxcar::Task> queue_;
};

}  // namespace

BOXCAR_PLUGIN(FifoPrioritizer, "fifo", "1.0.0", "Serves tasks in arrival order from one queue",
              kParamsSchema, boxcar::kThreadSafe);
