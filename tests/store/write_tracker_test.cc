// WriteTracker: keys are remembered only while tracking, and Start waits for writes in flight.
#include "store/write_tracker.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace boxcar::store {
namespace {

TEST_CASE("write tracker: records keys only between Start and Stop") {
  WriteTracker tracker;
  tracker.Record("before");
  tracker.Start();
  CHECK_FALSE(tracker.Written("before"));
  tracker.Record("during");
  CHECK(tracker.Written("during"));
  tracker.Stop();
  CHECK_FALSE(tracker.Written("during"));
  tracker.Record("after");
  CHECK_FALSE(tracker.Written("after"));
}

TEST_CASE("write tracker: Start waits for a write that began before it") {
  WriteTracker tracker;
  std::atomic<bool> write_done{false};
  std::atomic<bool> guard_taken{false};
  std::thread writer([&] {
    WriteTracker::WriteGuard guard = tracker.BeginWrite();
    guard_taken = true;
    tracker.Record("key");  // not tracking yet: not recorded
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    write_done = true;
  });
  while (!guard_taken.load()) std::this_thread::yield();
  tracker.Start();
  // The write that missed the flag has landed, so GC's mark phase, which starts now, sees it.
  CHECK(write_done.load());
  writer.join();
}

}  // namespace
}  // namespace boxcar::store
