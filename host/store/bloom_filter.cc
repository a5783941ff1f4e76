#include "store/bloom_filter.h"

#include <algorithm>
#include <cstring>

namespace boxcar::store {
namespace {

// Keys are multihashes whose digests are already uniform; mixing the last 16 bytes is enough and
// keeps identity-style short keys working too.
uint64_t KeyHash(std::string_view key) {
  uint64_t a = 0x9e3779b97f4a7c15ULL ^ key.size();
  uint64_t b = 0;
  const size_t take = std::min<size_t>(key.size(), 16);
  const char* tail = key.data() + key.size() - take;
  std::memcpy(&b, tail, std::min<size_t>(take, 8));
  if (take > 8) {
    uint64_t c = 0;
    std::memcpy(&c, tail + 8, take - 8);
    a ^= c * 0xc2b2ae3d27d4eb4fULL;
  }
  uint64_t h = (a ^ b) * 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 29;
  return h;
}

}  // namespace

BloomFilter::BloomFilter(uint64_t expected_keys, int bits_per_key)
    : expected_keys_(std::max<uint64_t>(expected_keys, 1024)),
      blocks_((expected_keys_ * static_cast<uint64_t>(std::max(bits_per_key, 1)) + 511) / 512),
      // k = bits_per_key * ln 2 minimizes false positives.
      probes_(std::clamp(static_cast<int>(bits_per_key * 69 / 100), 1, 16)),
      bits_(std::make_unique<Block[]>(blocks_)) {
  for (uint64_t i = 0; i < blocks_; ++i) {
    for (auto& w : bits_[i].words) w.store(0, std::memory_order_relaxed);
  }
}

void BloomFilter::Add(std::string_view key) {
  uint64_t h = KeyHash(key);
  Block& block = bits_[(h >> 32) % blocks_];
  const uint64_t delta = (h >> 17) | (h << 47);
  for (int i = 0; i < probes_; ++i, h += delta) {
    const unsigned bit = static_cast<unsigned>(h & 511);
    block.words[bit >> 6].fetch_or(uint64_t{1} << (bit & 63), std::memory_order_relaxed);
  }
}

bool BloomFilter::MayContain(std::string_view key) const {
  uint64_t h = KeyHash(key);
  const Block& block = bits_[(h >> 32) % blocks_];
  const uint64_t delta = (h >> 17) | (h << 47);
  for (int i = 0; i < probes_; ++i, h += delta) {
    const unsigned bit = static_cast<unsigned>(h & 511);
    if ((block.words[bit >> 6].load(std::memory_order_relaxed) & (uint64_t{1} << (bit & 63))) ==
        0) {
      return false;
    }
  }
  return true;
}

}  // namespace boxcar::store
