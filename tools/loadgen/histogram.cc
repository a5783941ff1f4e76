#include "histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace boxcar::loadgen {

// Values below 2048 map to themselves; above that, a value whose top bit is b keeps its top 11
// bits: shift = b - 10, index = shift * 1024 + (value >> shift), which lands in [1024, 2047] plus
// an offset that grows by 1024 per power of two.
int Histogram::IndexOf(uint64_t value) {
  value = std::min(value, kMaxValue);
  const int top_bit = 63 - std::countl_zero(value | 1);
  const int shift = std::max(0, top_bit - (kSubBucketBits - 1));
  return shift * static_cast<int>(kHalf) + static_cast<int>(value >> shift);
}

uint64_t Histogram::HighestEquivalent(int index) {
  const int shift = std::max(0, index / static_cast<int>(kHalf) - 1);
  const uint64_t sub = static_cast<uint64_t>(index) - static_cast<uint64_t>(shift) * kHalf;
  return ((sub + 1) << shift) - 1;
}

void Histogram::Record(uint64_t value_us) {
  ++counts_[IndexOf(value_us)];
  ++count_;
  sum_ += value_us;
  min_ = std::min(min_, value_us);
  max_ = std::max(max_, value_us);
}

void Histogram::Merge(const Histogram& other) {
  for (int i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::Reset() { *this = Histogram(); }

uint64_t Histogram::Percentile(double percentile) const {
  if (count_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  const auto wanted = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(percentile / 100.0 * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= wanted) return std::clamp(HighestEquivalent(i), Min(), max_);
  }
  return max_;
}

}  // namespace boxcar::loadgen
