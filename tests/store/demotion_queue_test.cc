// DemotionQueue: sinks enqueue per tier, the byte bound drops and counts, WaitIdle waits for
// handled items, and Close wakes everyone.
#include "store/demotion_queue.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <thread>

namespace boxcar::store {
namespace {

BlockData Bytes(size_t n) { return std::make_shared<const std::string>(n, 'x'); }

TEST_CASE("demotion queue: each tier's sink queues its evictions in order") {
  DemotionQueue queue(1 << 20);
  EvictionSink* top = queue.SinkFor(0);
  EvictionSink* middle = queue.SinkFor(1);
  CHECK(queue.SinkFor(0) == top);  // one sink per tier, kept
  top->OnEvict("a", Bytes(10));
  middle->OnEvict("b", Bytes(20));
  DemotionQueue::Item item;
  REQUIRE(queue.Pop(&item));
  CHECK(item.tier == 0);
  CHECK(item.key == "a");
  queue.Done();
  REQUIRE(queue.Pop(&item));
  CHECK(item.tier == 1);
  CHECK(item.key == "b");
  CHECK(item.data->size() == 20);
  queue.Done();
}

TEST_CASE("demotion queue: entries past the byte bound are dropped and counted") {
  DemotionQueue queue(100);
  queue.Push(0, "a", Bytes(60));
  queue.Push(0, "b", Bytes(60));  // would pass 100
  queue.Push(0, "c", Bytes(40));
  CHECK(queue.TakeDropped() == 1);
  CHECK(queue.TakeDropped() == 0);
  DemotionQueue::Item item;
  REQUIRE(queue.Pop(&item));
  CHECK(item.key == "a");
  queue.Done();
  queue.Push(0, "d", Bytes(60));  // room again once "a" left
  CHECK(queue.TakeDropped() == 0);
}

TEST_CASE("demotion queue: WaitIdle returns once every popped item is done") {
  DemotionQueue queue(1 << 20);
  queue.Push(0, "a", Bytes(1));
  std::atomic<bool> handled{false};
  std::thread worker([&] {
    DemotionQueue::Item item;
    while (queue.Pop(&item)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      handled = true;
      queue.Done();
    }
  });
  queue.WaitIdle();
  CHECK(handled.load());
  queue.Close();  // wakes the worker's Pop, which returns false
  worker.join();
  queue.Push(0, "late", Bytes(1));
  CHECK(queue.TakeDropped() == 1);
}

}  // namespace
}  // namespace boxcar::store
