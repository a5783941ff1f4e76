// A blocked bloom filter over the store's keys: "certainly absent" answers a miss without I/O.
//
// Each key sets `k` bits inside one 512-bit block (one cache line), so a lookup costs one cache
// miss. Bits are set with atomic OR, so Add and MayContain run concurrently without a lock. There
// is no removal: a deleted key stays a (harmless) false positive until the filter is rebuilt.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

namespace boxcar::store {

class BloomFilter {
 public:
  // Sized for `expected_keys` at `bits_per_key` (10 gives about 1% false positives).
  BloomFilter(uint64_t expected_keys, int bits_per_key);

  void Add(std::string_view key);
  bool MayContain(std::string_view key) const;

  uint64_t expected_keys() const { return expected_keys_; }
  uint64_t bytes() const { return blocks_ * sizeof(Block); }

 private:
  struct alignas(64) Block {
    std::atomic<uint64_t> words[8];
  };

  uint64_t expected_keys_;
  uint64_t blocks_;
  int probes_;
  std::unique_ptr<Block[]> bits_;
};

}  // namespace boxcar::store
