#include "runner.h"

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "worker.h"

namespace boxcar::loadgen {
namespace {

class ProgressPrinter {
 public:
  explicit ProgressPrinter(std::vector<Progress>* slots) : slots_(*slots) {}

  void PrintLine(double elapsed_s) {
    uint64_t completed = 0, failures = 0, connected = 0;
    Histogram interval;
    for (Progress& p : slots_) {
      std::lock_guard lock(p.mutex);
      completed += p.completed;
      failures += p.failures;
      connected += p.connected;
      interval.Merge(p.interval);
      p.interval.Reset();
    }
    std::fprintf(stderr, "[%6.1fs] %8llu req/s  failures %llu  p99 %.2fms  connected %llu\n",
                 elapsed_s, static_cast<unsigned long long>(completed - last_completed_),
                 static_cast<unsigned long long>(failures),
                 static_cast<double>(interval.Percentile(99)) / 1e3,
                 static_cast<unsigned long long>(connected));
    last_completed_ = completed;
  }

 private:
  std::vector<Progress>& slots_;
  uint64_t last_completed_ = 0;
};

}  // namespace

RunResult RunLoad(const Options& o, std::vector<std::string> cids,
                  std::vector<std::string> missing_cids, uint64_t seed, bool show_progress,
                  const std::atomic<bool>* stop) {
  RunPlan plan;
  plan.options = &o;
  plan.stop = stop;
  plan.cids = std::move(cids);
  plan.missing_cids = std::move(missing_cids);
  const auto connect_begin = Clock::now();
  Clock::time_point load_start;
  plan.connected = std::make_unique<std::barrier<std::function<void()>>>(
      o.threads, std::function<void()>([&] {
        load_start = Clock::now();
        plan.start_ns.store(load_start.time_since_epoch().count());
      }));

  std::vector<Progress> progress(o.threads);
  std::vector<std::unique_ptr<Worker>> workers;
  for (uint32_t t = 0; t < o.threads; ++t) {
    const uint32_t share = o.connections / o.threads + (t < o.connections % o.threads ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(&plan, share, seed + t, &progress[t]));
  }
  std::mutex done_mutex;
  std::condition_variable done_cv;
  uint32_t done = 0;
  std::vector<std::thread> threads;
  for (auto& w : workers) {
    threads.emplace_back([&, worker = w.get()] {
      worker->Run();
      std::lock_guard lock(done_mutex);
      ++done;
      done_cv.notify_all();
    });
  }
  ProgressPrinter printer(&progress);
  auto next_tick = Clock::now() + std::chrono::seconds(1);
  {
    std::unique_lock lock(done_mutex);
    while (done < o.threads) {
      if (done_cv.wait_until(lock, next_tick) == std::cv_status::timeout) {
        if (show_progress) {
          printer.PrintLine(std::chrono::duration<double>(Clock::now() - connect_begin).count());
        }
        next_tick += std::chrono::seconds(1);
      }
    }
  }
  for (auto& t : threads) t.join();

  RunResult result;
  result.cids = plan.cids.size();
  result.connect_s = std::chrono::duration<double>(load_start - connect_begin).count();
  const auto measure_start = load_start + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(o.warmup_s));
  Clock::time_point finish = measure_start;
  for (auto& w : workers) {
    result.stats.Merge(w->stats());
    finish = std::max(finish, w->finish_time());
  }
  result.duration_s = std::chrono::duration<double>(finish - measure_start).count();
  return result;
}

}  // namespace boxcar::loadgen
