// A latency histogram with fixed memory and 3 significant digits, in the manner of HdrHistogram.
//
// Values are microseconds from 1 to kMaxValue (60 s). Each power-of-two range above 2048 is split
// into 1024 linear sub-buckets, so a recorded value is reported with a relative error below
// 1/1024. Larger values are counted in the top bucket; Max() still returns the exact largest
// value. Two histograms merge by adding counts, so threads record into their own and merge later.
//
// Thread safety: none; one thread records into a histogram at a time.
#pragma once

#include <array>
#include <cstdint>

namespace boxcar::loadgen {

class Histogram {
 public:
  static constexpr uint64_t kMaxValue = 60'000'000;  // 60 s in microseconds

  void Record(uint64_t value_us);
  void Merge(const Histogram& other);
  void Reset();

  uint64_t Count() const { return count_; }
  uint64_t Min() const { return count_ == 0 ? 0 : min_; }
  uint64_t Max() const { return max_; }
  double Mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_; }

  // The smallest recorded value v such that at least `percentile`% of the values are <= v, to
  // bucket precision and never above Max(). 0 when empty. percentile is in [0, 100].
  uint64_t Percentile(double percentile) const;

 private:
  static constexpr int kSubBucketBits = 11;  // 2048 sub-buckets: 3 significant digits
  static constexpr uint64_t kHalf = uint64_t{1} << (kSubBucketBits - 1);
  static constexpr int kMaxShift = 15;  // 60e6 >> 15 < 2048
  static constexpr int kBuckets = kMaxShift * static_cast<int>(kHalf) + 2 * static_cast<int>(kHalf);

  static int IndexOf(uint64_t value);
  static uint64_t HighestEquivalent(int index);

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace boxcar::loadgen
