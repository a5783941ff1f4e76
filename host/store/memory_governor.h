// MemoryGovernor: one memory budget for the memory tiers and the buffers of large requests.
//
// Usage is what the store accounts for: bytes held by memory tiers plus bytes reserved for
// buffers (a large block read whole, an import's batch). The store admits entries into memory
// tiers through Admit, so usage never passes the budget. When usage passes 90% of the budget, or
// the cgroup's usage passes 90% of its limit, the governor asks the memory tiers to shrink to
// 80% of their share; a Reserve that would pass the budget even after shrinking is refused with
// Busy, so a request fails cleanly instead of the kernel killing the process.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "boxcar/status.h"

namespace boxcar::store {

// The memory tiers as the governor sees them: how many bytes they hold, and a way to make them
// hold fewer. Implemented by the block store.
class ShrinkableMemory {
 public:
  virtual ~ShrinkableMemory() = default;
  virtual uint64_t CachedBytes() = 0;
  // Evict until the memory tiers hold at most `target` bytes in all; returns what they hold.
  virtual uint64_t ShrinkTo(uint64_t target) = 0;
};

class MemoryGovernor;

// Bytes reserved until the object goes away.
class Reservation {
 public:
  Reservation() = default;
  Reservation(Reservation&& other) noexcept;
  Reservation& operator=(Reservation&& other) noexcept;
  ~Reservation();
  uint64_t bytes() const { return bytes_; }

 private:
  friend class MemoryGovernor;
  MemoryGovernor* governor_ = nullptr;
  uint64_t bytes_ = 0;
};

class MemoryGovernor {
 public:
  // `configured` 0 means automatic: 60% of physical memory or 85% of the cgroup limit,
  // whichever is lower. `cgroup_dir` is where memory.max and memory.current are read (cgroup v2).
  MemoryGovernor(uint64_t configured, ShrinkableMemory* memory,
                 std::string cgroup_dir = "/sys/fs/cgroup");

  uint64_t budget() const { return budget_.load(std::memory_order_relaxed); }
  void SetBudget(uint64_t configured);
  uint64_t reserved() const { return reserved_.load(std::memory_order_relaxed); }
  // Cached bytes plus reservations; never more than the budget, even during admissions.
  uint64_t used();

  // Reserves `bytes` for `what` (named in the error), shrinking caches first if that makes room.
  Status Reserve(uint64_t bytes, std::string_view what, Reservation* out);

  // Runs `put`, which adds at most `bytes` to the memory tiers, only if they fit the budget,
  // shrinking the tiers first when that makes room; Busy (and `put` not run) otherwise.
  // Admissions and reservations are checked one at a time, so concurrent ones cannot pass the
  // budget together: the budget is a ceiling, not a target the governor restores afterwards.
  Status Admit(uint64_t bytes, const std::function<Status()>& put);

  // Shrinks the memory tiers when usage is near the budget or the cgroup is near its limit.
  // Returns the bytes freed. The store calls it periodically and after large writes.
  uint64_t Rebalance();

  uint64_t shrinks() const { return shrinks_.load(std::memory_order_relaxed); }
  uint64_t refusals() const { return refusals_.load(std::memory_order_relaxed); }

 private:
  friend class Reservation;
  void Release(uint64_t bytes) { reserved_.fetch_sub(bytes, std::memory_order_relaxed); }
  bool CgroupNearLimit() const;

  ShrinkableMemory* memory_;
  std::string cgroup_dir_;
  std::atomic<uint64_t> budget_{0};
  std::atomic<uint64_t> reserved_{0};
  std::atomic<uint64_t> shrinks_{0};
  std::atomic<uint64_t> refusals_{0};
  std::mutex rebalance_mu_;  // one shrink at a time
  // Held from the budget check to the end of an admission or reservation, so that what one
  // checked is still true when it adds its bytes.
  std::mutex admit_mu_;
};

// The automatic budget: 60% of physical memory, capped at 85% of the cgroup's memory.max.
uint64_t AutomaticBudget(const std::string& cgroup_dir);

}  // namespace boxcar::store
