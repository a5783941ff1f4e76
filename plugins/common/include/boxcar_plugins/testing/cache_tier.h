// Helpers for the tests of cache_tier plugins.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "boxcar/cache_tier.h"

namespace boxcar_plugins::testing {

inline boxcar::BlockData Block(size_t size, char fill = 'x') {
  return std::make_shared<const std::string>(size, fill);
}

// Fixed-width keys, so every entry with the same value size has the same charge.
inline std::string Key(int i) {
  const std::string digits = std::to_string(i);
  return "cid-" + std::string(8 - digits.size(), '0') + digits;
}

inline bool Has(boxcar::CacheTier& tier, const std::string& key) {
  uint64_t size = 0;
  return tier.Contains(key, &size).ok();
}

// The bytes one entry of `value_size` (under a Key-shaped key) counts against the capacity.
inline uint64_t ChargeOf(boxcar::CacheTier& tier, size_t value_size) {
  const uint64_t before = tier.Stats().bytes;
  const std::string probe = "probe-000000";
  REQUIRE(probe.size() == Key(0).size());
  REQUIRE(tier.Put(probe, Block(value_size), boxcar::PutReason::kWrite).ok());
  const uint64_t charge = tier.Stats().bytes - before;
  REQUIRE(tier.Delete(probe).ok());
  return charge;
}

// The value on the first sample line of `name` in a Prometheus text exposition, or "".
inline std::string MetricValue(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + "{");
  if (at == std::string::npos) return "";
  const size_t end = text.find('\n', at + 1);
  const size_t space = text.rfind(' ', end);
  return text.substr(space + 1, end - space - 1);
}

class RecordingSink : public boxcar::EvictionSink {
 public:
  void OnEvict(std::string_view key, const boxcar::BlockData& data) override {
    std::lock_guard lock(mutex_);
    evicted_.emplace_back(std::string(key), data);
  }
  std::vector<std::pair<std::string, boxcar::BlockData>> evicted() {
    std::lock_guard lock(mutex_);
    return evicted_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::pair<std::string, boxcar::BlockData>> evicted_;
};

}  // namespace boxcar_plugins::testing
