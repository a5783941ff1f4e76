// prioritizer: orders the block requests waiting for a worker.
//
// Who calls what: the request engine calls Push when a request becomes a task (from the I/O
// threads), Pop when a worker is free (from the worker threads), and Complete when the response
// is written. Calls are frequent (once per block request) and must not block on I/O; a plugin
// without kThreadSafe is serialized by a host mutex, so keep every call short.
//
// Swap: when a new prioritizer replaces this one, the host stops routing calls here, waits for
// in-flight calls to return, then calls Drain and pushes every drained task into the successor
// in the returned order. No queued task is lost.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "boxcar/plugin.h"

namespace boxcar {

// Lower values are served first when a plugin orders by class.
enum class TaskClass : uint8_t {
  kInteractive = 0,  // raw block GET/HEAD: a client is waiting for one block
  kBulk = 1,         // CAR streams and multi-block fetches
  kBackground = 2,   // prefetch, reprovide, GC-driven reads
};
// How many task classes there are; a class's value is below it. Arrays indexed by class use it.
inline constexpr size_t kTaskClassCount = 3;

struct Task {
  uint64_t id = 0;   // unique per host process
  std::string peer;  // client identity: address or configured header
  TaskClass task_class = TaskClass::kInteractive;
  uint64_t cost_bytes = 0;  // expected response bytes (block size when known)
  int64_t enqueued_ns = 0;  // host clock at the first Push
};

template <class Impl>
class PrioritizerGuard;

class Prioritizer : public Plugin {
 public:
  static constexpr PluginKind kKind = PluginKind::kPrioritizer;
  template <class Impl>
  using Guard = PrioritizerGuard<Impl>;

  // Queue a task. Busy tells the host to shed it (queue or peer budget full); the host answers
  // the client with 429/503 instead of waiting.
  virtual Status Push(Task task) = 0;

  // The next task to run, or nullopt when nothing is runnable at `now_ns` (empty queue, or every
  // queued peer is over its outstanding budget).
  virtual std::optional<Task> Pop(int64_t now_ns) = 0;

  // A popped task finished after sending `bytes_sent`. May name a task a predecessor popped;
  // treat an unknown peer or id as a no-op.
  virtual void Complete(const Task& task, uint64_t bytes_sent) = 0;

  // Tasks queued now.
  virtual size_t Size() = 0;

  // Remove and return every queued task in serving order. Called once on swap, with no other
  // call in flight.
  virtual std::vector<Task> Drain() = 0;
};

template <class Impl>
class PrioritizerGuard final : public detail::GuardedPlugin<Impl> {
 public:
  using detail::GuardedPlugin<Impl>::GuardedPlugin;
  Status Push(Task task) override {
    return detail::ContainStatus(this->hs(), "Push", [&] { return Impl::Push(std::move(task)); });
  }
  std::optional<Task> Pop(int64_t now_ns) override {
    return detail::Contain(this->hs(), "Pop", std::optional<Task>(),
                           [&] { return Impl::Pop(now_ns); });
  }
  void Complete(const Task& task, uint64_t bytes_sent) override {
    detail::ContainVoid(this->hs(), "Complete", [&] { Impl::Complete(task, bytes_sent); });
  }
  size_t Size() override {
    return detail::Contain(this->hs(), "Size", size_t{0}, [&] { return Impl::Size(); });
  }
  std::vector<Task> Drain() override {
    return detail::Contain(this->hs(), "Drain", std::vector<Task>(), [&] { return Impl::Drain(); });
  }
};

}  // namespace boxcar
