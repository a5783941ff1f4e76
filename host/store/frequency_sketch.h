// FrequencySketch: approximately how often each key was seen recently, in fixed memory.
//
// A count-min sketch of 8-bit counters, 4 rows: the estimate is the smallest of a key's four
// counters, which over-counts only when all four collide. Every counter is halved after
// 10 x width increments, so old popularity fades (as TinyLFU does). Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <string_view>
#include <vector>

namespace boxcar::store {

class FrequencySketch {
 public:
  explicit FrequencySketch(uint32_t width_log2 = 16);
  // Counts one more sighting of `key` and returns the new estimate.
  uint32_t Increment(std::string_view key);
  uint32_t Estimate(std::string_view key);

 private:
  uint32_t Index(uint64_t hash, int row) const;
  void Age();

  std::mutex mu_;
  uint32_t mask_;
  uint64_t additions_ = 0;
  uint64_t age_after_;
  std::vector<uint8_t> rows_[4];
};

}  // namespace boxcar::store
