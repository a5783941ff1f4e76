// One load thread: its own io_context and its share of the connections.
//
// A run has two phases. First every worker opens its connections, at most --connect-burst at a
// time, so the server's listen backlog is not overrun; then all workers meet at a barrier that
// fixes the common start time, and load flows until the duration ends or the request budget is
// spent. Each readable socket is read once into a per-thread buffer and every response in it is
// parsed; the requests a connection sends next are written with one write.
//
// Thread safety: a Worker is driven by the one thread that calls Run(). Shared members are
// atomics or guarded by Progress::mutex.
#pragma once

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "histogram.h"
#include "options.h"
#include "stats.h"

namespace boxcar::loadgen {

using Clock = std::chrono::steady_clock;

// What every worker reads; set up before the workers start.
struct RunPlan {
  const Options* options = nullptr;
  std::vector<std::string> cids;             // for raw, head, car
  std::vector<std::string> missing_cids;     // for missing
  std::atomic<uint64_t> measured_issued{0};  // requests counted against --requests
  std::atomic<int64_t> start_ns{0};          // Clock epoch of the load start, set at the barrier
  std::unique_ptr<std::barrier<std::function<void()>>> connected;  // end of the connect phase
  const std::atomic<bool>* stop = nullptr;  // when set and true, workers finish early
};

// A worker's published view for the progress line, refreshed about once a second.
struct Progress {
  std::mutex mutex;
  uint64_t completed = 0;  // responses, including those of the warm-up
  uint64_t failures = 0;
  uint64_t connected = 0;
  Histogram interval;  // latencies since the reader last reset it
};

class Worker {
 public:
  // `connections` is this worker's share; `seed` makes its choices reproducible.
  Worker(RunPlan* plan, uint32_t connections, uint64_t seed, Progress* progress);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Connects, waits at the plan's barrier, runs the load, returns when this worker is done.
  void Run();

  const Stats& stats() const;
  Clock::time_point finish_time() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace boxcar::loadgen
