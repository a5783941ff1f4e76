// The popularity estimate of W-TinyLFU: a count-min sketch of 4-bit counters that halves every
// counter after a sample of increments, so the estimate follows recent popularity, optionally
// behind a "doorkeeper" Bloom filter that absorbs each key's first sighting, so one-hit wonders
// occupy no counters.
//
// Counters live in 64-byte blocks (8 words of 16 counters). A key's four counters, one per row,
// sit in one block, so an increment or estimate touches a single cache line.
//
// Not thread-safe; the owning shard's mutex guards it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "boxcar_plugins/cache_core.h"

namespace memtier {

class FrequencySketch {
 public:
  static constexpr uint32_t kMaxCount = 15;
  // Bounds the table at 128 MiB, however large the capacity and small the expected entries.
  static constexpr uint64_t kMaxEntries = uint64_t{1} << 24;

  // Sized for about `entries` distinct keys; counters halve after `sample_size` increments.
  void Reset(uint64_t entries, uint64_t sample_size, bool doorkeeper) {
    entries_ = std::clamp<uint64_t>(NextPowerOfTwo(entries), 1, kMaxEntries);
    table_.assign(std::max<uint64_t>(kWordsPerBlock, entries_), 0);
    block_mask_ = table_.size() / kWordsPerBlock - 1;
    sample_size_ = std::max<uint64_t>(sample_size, 1);
    additions_ = 0;
    // Four bits per sampled addition keeps the doorkeeper's false positives near one in seven even
    // when every addition of a sample is a distinct key.
    const uint64_t door_bits =
        doorkeeper ? std::max<uint64_t>(64, NextPowerOfTwo(sample_size_ * 4)) : 0;
    doorkeeper_.assign(door_bits / 64, 0);
    door_mask_ = door_bits - 1;
  }

  // The number of distinct keys the sketch was sized for.
  uint64_t entries() const { return entries_; }

  void Increment(uint64_t key_hash) {
    const uint64_t mixed = Finalize(key_hash ^ kSeed);
    bool added = false;
    if (!doorkeeper_.empty() && !DoorkeeperTestAndSet(mixed)) {
      added = true;
    } else {
      const size_t block = BlockOf(mixed);
      for (int row = 0; row < kRows; ++row) {
        uint64_t& word = table_[WordOf(block, mixed, row)];
        const int shift = ShiftOf(mixed, row);
        if (((word >> shift) & kMaxCount) < kMaxCount) {
          word += uint64_t{1} << shift;
          added = true;
        }
      }
    }
    if (added && ++additions_ >= sample_size_) Age();
  }

  uint32_t Estimate(uint64_t key_hash) const {
    const uint64_t mixed = Finalize(key_hash ^ kSeed);
    const size_t block = BlockOf(mixed);
    uint32_t count = kMaxCount;
    for (int row = 0; row < kRows; ++row) {
      const uint64_t word = table_[WordOf(block, mixed, row)];
      count = std::min(count, static_cast<uint32_t>((word >> ShiftOf(mixed, row)) & kMaxCount));
    }
    if (!doorkeeper_.empty() && DoorkeeperContains(mixed)) ++count;
    return count;
  }

 private:
  static constexpr int kRows = 4;
  static constexpr size_t kWordsPerBlock = 8;
  static constexpr int kDoorkeeperProbes = 3;
  // Decorrelates the sketch's bits from the shard and table bits of the same key hash.
  static constexpr uint64_t kSeed = 0x2545f4914f6cdd1dULL;

  size_t BlockOf(uint64_t mixed) const { return static_cast<size_t>(mixed >> 32) & block_mask_; }
  // Each row owns two words of the block; five low bits per row pick the word and the counter.
  static size_t WordOf(size_t block, uint64_t mixed, int row) {
    return block * kWordsPerBlock + static_cast<size_t>(row) * 2 + ((mixed >> (row * 5)) & 1);
  }
  static int ShiftOf(uint64_t mixed, int row) {
    return static_cast<int>((mixed >> (row * 5 + 1)) & 15) * 4;
  }

  // Halving keeps the counters' ratios while letting old popularity fade.
  void Age() {
    for (uint64_t& word : table_) word = (word >> 1) & 0x7777777777777777ULL;
    std::fill(doorkeeper_.begin(), doorkeeper_.end(), 0);
    additions_ /= 2;
  }

  template <class Probe>
  bool ForEachDoorkeeperBit(uint64_t mixed, Probe&& probe) const {
    const uint64_t z = Finalize(mixed);
    const uint64_t step = (z >> 32) | 1;
    bool all = true;
    for (int i = 0; i < kDoorkeeperProbes; ++i) {
      const uint64_t bit = (z + static_cast<uint64_t>(i) * step) & door_mask_;
      all = probe(bit / 64, uint64_t{1} << (bit % 64)) && all;
    }
    return all;
  }

  bool DoorkeeperContains(uint64_t mixed) const {
    return ForEachDoorkeeperBit(
        mixed, [&](size_t word, uint64_t bit) { return (doorkeeper_[word] & bit) != 0; });
  }

  // True when the key was (probably) seen before; marks it seen either way.
  bool DoorkeeperTestAndSet(uint64_t mixed) {
    return ForEachDoorkeeperBit(mixed, [&](size_t word, uint64_t bit) {
      const bool was_set = (doorkeeper_[word] & bit) != 0;
      doorkeeper_[word] |= bit;
      return was_set;
    });
  }

  std::vector<uint64_t> table_;
  size_t block_mask_ = 0;
  uint64_t entries_ = 0;
  uint64_t sample_size_ = 1;
  uint64_t additions_ = 0;
  std::vector<uint64_t> doorkeeper_;
  uint64_t door_mask_ = 0;
};

}  // namespace memtier
