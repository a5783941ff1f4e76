// RequestEngine: turns block requests from any frontend into tasks, orders them with the
// prioritizer plugin, groups their store reads (the batcher plugin decides the groups inside
// BlockStore::GetMany) and runs them, within per-peer budgets and a queue limit.
//
// Flow: a frontend calls Submit with a Work (a block to read, or a job such as the next chunk of
// a CAR stream). Submit either queues the task or refuses it at once (the frontend answers 429 or
// 503 with Retry-After). Tasks run on the threads that call Pump: the frontends' I/O threads call
// it after submitting and after writing responses, so a request usually runs to completion on the
// thread that parsed it, with no hand-off; a thread takes one batch per call and yields to its
// other connections between batches. `engine.workers` bounds how many threads run tasks at
// once, which bounds concurrent store I/O. When a frontend has written a task's response it calls
// Complete, which releases the task's bytes from its peer's budget and tells the prioritizer.
//
// Per-peer budget (Boxo's MaxOutstandingBytesPerPeer, adaptive): a peer's outstanding bytes are
// those of its queued, running and unwritten tasks. A task that would take a peer past the budget
// waits in that peer's backlog (it is not refused) until earlier tasks complete; a peer with
// nothing outstanding may always run one task. The budget grows by a quarter when the queue is
// nearly empty and shrinks by 30% when it passes a quarter of the queue limit or sheds, between
// engine.peer_budget_min_bytes and engine.peer_budget_max_bytes.
//
// Shedding, lowest class first: background is refused once the queue holds half the queue limit,
// bulk at 75%, interactive at the limit (503, node overload); a peer whose backlog is full gets
// 429. A task that waited longer than engine.max_queue_wait_ms is answered 503 instead of being
// served late, which bounds the latency of what is served. The next part of a response already
// under way (Work::continues_response) is exempt: it waits on its own client's reading, not on the
// node, and cutting it would throw away what the client has received. Everything recovers as
// the queue drains.
//
// Thread safety: every method may be called from any thread. Work callbacks run on the thread
// that runs the task, never under an engine lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "boxcar/prioritizer.h"
#include "format/cid.h"
#include "runtime/runtime.h"
#include "store/blockstore.h"

namespace boxcar::engine {

// What a block read found: the store's status, and the bytes when it is OK.
struct ReadResult {
  Status status;
  BlockData data;
};

// One unit of work. Exactly one of Run or Shed is called, once; after it the frontend calls
// RequestEngine::Complete once the task's response is written or abandoned.
class Work {
 public:
  virtual ~Work() = default;
  // The block this work reads through the batched store path before it runs, or nullptr for a
  // job that does its own reading (a CAR chunk).
  virtual const format::Cid* block() const = 0;
  // Does the work on this thread. `read` is the block read's result, or null for a job.
  virtual void Run(const Task& task, ReadResult* read) = 0;
  // The task waited longer than engine.max_queue_wait_ms, or the prioritizer refused it when it
  // left the peer's backlog; answer 503 with Retry-After.
  virtual void Shed(const Task& task, int retry_after_s) = 0;
  // True for the next part of a response the client is already receiving (a CAR stream's next
  // chunk). Its wait is mostly its client's: the part before it is still being written, and
  // holds the peer's budget until the client reads it. It is never shed as stale.
  virtual bool continues_response() const { return false; }
};

// Why Submit refused a task.
enum class Refusal { kNone, kOverloaded, kPeerBacklogFull };

struct SubmitResult {
  Refusal refusal = Refusal::kNone;
  int retry_after_s = 0;
  int http_status() const { return refusal == Refusal::kPeerBacklogFull ? 429 : 503; }
};

class RequestEngine {
 public:
  RequestEngine(runtime::Runtime& runtime, store::BlockStore& store,
                prometheus::Registry& registry);
  ~RequestEngine();

  RequestEngine(const RequestEngine&) = delete;
  RequestEngine& operator=(const RequestEngine&) = delete;

  // Re-reads the engine tunables and settings after a reload, then wakes the frontends: a swap
  // hands queued tasks to the new prioritizer, and nothing else may come along to run them.
  void Refresh();

  // How to make a frontend's threads call Pump soon (each posts a Pump to its threads). Every
  // frontend that submits registers one; RemoveWakeup(id) before the frontend goes away.
  int AddWakeup(std::function<void()> wake);
  void RemoveWakeup(int id);

  // Queues `work` as a task of `task_class` for `peer`, expecting about `cost_bytes` of response
  // (0 when unknown). On refusal the work is not called and the caller answers the client.
  SubmitResult Submit(TaskClass task_class, std::string peer, uint64_t cost_bytes,
                      std::shared_ptr<Work> work);

  // Runs one batch of queued tasks on this thread if a worker slot is free. Returns true when
  // runnable tasks remain: the caller should call again soon, after serving its other events
  // (one batch at a time keeps an I/O thread responsive to its other connections). A call from
  // inside a task (a Work callback) returns false at once.
  bool Pump();

  // The response of `task` was written (bytes_sent of it) or abandoned (connection closed).
  void Complete(const Task& task, uint64_t bytes_sent);

  // Tasks queued or waiting in peer backlogs.
  uint64_t queued() const { return queued_.load(std::memory_order_relaxed); }
  uint64_t peer_budget() const;
  store::BlockStore& store() { return store_; }

 private:
  struct Peer {
    uint64_t outstanding = 0;
    std::deque<Task> backlog;
  };
  // A task's work, and when it was submitted: the task's own enqueued_ns is set when the
  // prioritizer first gets it, after any wait in the peer's backlog, while a client's wait
  // (engine.max_queue_wait_ms) counts from the submission.
  struct Queued {
    std::shared_ptr<Work> work;
    int64_t submitted_ns = 0;
  };
  struct Popped {
    Task task;
    Queued queued;
  };

  bool ShouldShed(TaskClass task_class) const;
  bool PushLocked(Task&& task);
  void PopBatch(std::vector<Popped>* reads, std::vector<Popped>* jobs, std::vector<Popped>* stale);
  void RunBatch(std::vector<Popped>& reads, std::vector<Popped>& jobs, std::vector<Popped>& stale);
  void AdaptBudget(int64_t now_ns);
  int64_t NowNs() const;
  static double Value(const std::atomic<runtime::Tunable*>& t) {
    return t.load(std::memory_order_acquire)->value.load(std::memory_order_relaxed);
  }

  runtime::Runtime& runtime_;
  store::BlockStore& store_;
  int retry_after_s_ = 1;

  // The live tunables. Read on every task without a lock; Refresh swaps the pointers and keeps
  // every entry it ever used alive (a few per reload), so a reader never sees a freed one.
  std::atomic<runtime::Tunable*> workers_{nullptr};
  std::atomic<runtime::Tunable*> queue_limit_{nullptr};
  std::atomic<runtime::Tunable*> max_batch_{nullptr};
  std::atomic<runtime::Tunable*> max_wait_ms_{nullptr};
  std::atomic<runtime::Tunable*> peer_budget_{nullptr};
  std::mutex refresh_mu_;  // also guards wakeups_
  std::vector<std::pair<int, std::function<void()>>> wakeups_;
  int next_wakeup_ = 1;
  std::vector<std::shared_ptr<runtime::Tunable>> keep_alive_;

  std::mutex mu_;
  std::unordered_map<uint64_t, Queued> works_;  // by task id, from Submit until popped
  std::unordered_map<std::string, Peer> peers_;
  uint64_t next_id_ = 1;
  int64_t last_adapt_ns_ = 0;

  std::atomic<uint64_t> queued_{0};
  std::atomic<int> running_{0};
  std::atomic<bool> shed_since_adapt_{false};
  // Bumped by every Submit and Complete: a Pump that found nothing runnable retries when it
  // changed, so a task queued while another thread held the last worker slot is never stranded.
  std::atomic<uint64_t> progress_{0};

  prometheus::Family<prometheus::Counter>& tasks_;
  std::vector<prometheus::Counter*> served_;  // by class
  std::vector<prometheus::Counter*> shed_;    // by class
  std::vector<prometheus::Counter*> stale_;   // by class
  prometheus::Counter& peer_refusals_;
  prometheus::Counter& backlogged_;
  prometheus::Gauge& queue_gauge_;
  prometheus::Gauge& budget_gauge_;
};

}  // namespace boxcar::engine
