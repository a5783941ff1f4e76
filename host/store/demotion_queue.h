// DemotionQueue: entries the memory tiers evicted, waiting for a background thread to move them
// down to the next tier that lacks them.
//
// Tiers report evictions through an EvictionSink from inside their Put, with their locks held,
// where no I/O may happen: a sink only enqueues. The queue is bounded in bytes; an entry that
// does not fit is dropped and counted (a demotion is an optimisation, never needed for
// correctness, since every block is durable in its home tier). Shared between the store and the
// runtime's sink function, so sinks stay valid for as long as any tier instance can call them.
//
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "boxcar/cache_tier.h"

namespace boxcar::store {

class DemotionQueue {
 public:
  struct Item {
    size_t tier = 0;  // the tier that evicted it
    std::string key;
    BlockData data;
  };

  explicit DemotionQueue(uint64_t max_bytes);
  ~DemotionQueue();
  DemotionQueue(const DemotionQueue&) = delete;
  DemotionQueue& operator=(const DemotionQueue&) = delete;

  // The sink for tier `tier`; the same object on every call, valid while the queue lives.
  EvictionSink* SinkFor(size_t tier);

  // Queues one entry, or drops it (counted) when the queue is closed or full.
  void Push(size_t tier, std::string_view key, const BlockData& data);
  // Blocks until an item is queued (true) or the queue closes (false). Call Done after handling
  // the item, so WaitIdle knows when it is applied.
  bool Pop(Item* out);
  void Done();
  // Blocks until nothing is queued or being handled, or the queue closes.
  void WaitIdle();
  // Drops what is queued, wakes every waiter and refuses further items.
  void Close();
  // Entries dropped since the last call.
  uint64_t TakeDropped();

 private:
  class Sink;

  const uint64_t max_bytes_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Item> items_;
  uint64_t bytes_ = 0;
  uint64_t dropped_ = 0;
  int in_progress_ = 0;
  bool closed_ = false;
  std::vector<std::unique_ptr<Sink>> sinks_;
};

}  // namespace boxcar::store
