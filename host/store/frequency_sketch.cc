#include "store/frequency_sketch.h"

#include <algorithm>
#include <functional>

namespace boxcar::store {

FrequencySketch::FrequencySketch(uint32_t width_log2)
    : mask_((1u << width_log2) - 1), age_after_(uint64_t{10} << width_log2) {
  for (auto& row : rows_) row.assign(size_t{1} << width_log2, 0);
}

uint32_t FrequencySketch::Index(uint64_t hash, int row) const {
  // Four indexes from one hash: h1 + i*h2 (Kirsch-Mitzenmacher).
  const uint64_t h1 = hash & 0xffffffffULL;
  const uint64_t h2 = (hash >> 32) | 1;
  return static_cast<uint32_t>((h1 + static_cast<uint64_t>(row) * h2) & mask_);
}

uint32_t FrequencySketch::Increment(std::string_view key) {
  const uint64_t hash = std::hash<std::string_view>()(key);
  std::lock_guard lock(mu_);
  uint32_t estimate = UINT32_MAX;
  for (int r = 0; r < 4; ++r) {
    uint8_t& c = rows_[r][Index(hash, r)];
    if (c < UINT8_MAX) ++c;
    estimate = std::min<uint32_t>(estimate, c);
  }
  if (++additions_ >= age_after_) Age();
  return estimate;
}

uint32_t FrequencySketch::Estimate(std::string_view key) {
  const uint64_t hash = std::hash<std::string_view>()(key);
  std::lock_guard lock(mu_);
  uint32_t estimate = UINT32_MAX;
  for (int r = 0; r < 4; ++r) estimate = std::min<uint32_t>(estimate, rows_[r][Index(hash, r)]);
  return estimate;
}

void FrequencySketch::Age() {
  for (auto& row : rows_) {
    for (uint8_t& c : row) c = static_cast<uint8_t>(c >> 1);
  }
  additions_ = 0;
}

}  // namespace boxcar::store
