// IndexTable: a compact hash set of uint32 slot numbers into arrays its owner keeps (the want
// ledger's CIDs, peers and per-peer wants). 4 bytes a slot: linear probing, deletion by backward
// shift (no tombstones), load at most 3/4, halving when under 1/8 full.
//
// The owner does the hashing: each call takes the hash of the key at hand, and Insert and Erase
// also take `hash_of(slot)`, the hash of an already stored slot's key, to move entries. A slot's
// hash must not change while it is stored.
//
// Thread safety: none; the owner serializes access.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace boxcar::bitswap {

class IndexTable {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  size_t size() const { return size_; }
  // The heap bytes the table holds.
  size_t bytes() const { return slots_.capacity() * sizeof(uint32_t); }

  // The stored slot for which matches(slot) holds, among those whose key hashes to `hash`; kNone
  // when there is none.
  template <typename Matches>
  uint32_t Find(uint64_t hash, const Matches& matches) const {
    if (slots_.empty()) return kNone;
    for (size_t i = Home(hash);; i = Next(i)) {
      if (slots_[i] == kNone) return kNone;
      if (matches(slots_[i])) return slots_[i];
    }
  }

  // Stores `slot` (not stored yet), whose key hashes to `hash`.
  template <typename HashOf>
  void Insert(uint32_t slot, uint64_t hash, const HashOf& hash_of) {
    if ((size_ + 1) * 4 > slots_.size() * 3) {
      Resize(std::max<size_t>(kMinCapacity, slots_.size() * 2), hash_of);
    }
    Place(slot, hash);
    ++size_;
  }

  // Removes the stored `slot`, whose key hashes to `hash`.
  template <typename HashOf>
  void Erase(uint32_t slot, uint64_t hash, const HashOf& hash_of) {
    size_t hole = Home(hash);
    while (slots_[hole] != slot) hole = Next(hole);
    // Pull each later entry of the probe run back into the hole, unless its home lies after the
    // hole (moving it would put it before its home, where Find would never look).
    for (size_t i = Next(hole); slots_[i] != kNone; i = Next(i)) {
      if (Distance(Home(hash_of(slots_[i])), i) >= Distance(hole, i)) {
        slots_[hole] = slots_[i];
        hole = i;
      }
    }
    slots_[hole] = kNone;
    --size_;
    if (size_ == 0) {
      slots_ = std::vector<uint32_t>();
    } else if (slots_.size() > kMinCapacity && size_ * 8 < slots_.size()) {
      Resize(slots_.size() / 2, hash_of);
    }
  }

  // Calls f(slot) for each stored slot; f must not change the table.
  template <typename F>
  void ForEach(const F& f) const {
    for (const uint32_t slot : slots_) {
      if (slot != kNone) f(slot);
    }
  }

 private:
  static constexpr size_t kMinCapacity = 8;

  // Spreads the owner's hash (which may be a small slot number) over the table.
  size_t Home(uint64_t hash) const {
    hash ^= hash >> 33;
    hash *= 0xff51afd7ed558ccdULL;
    hash ^= hash >> 33;
    return static_cast<size_t>(hash) & (slots_.size() - 1);
  }
  size_t Next(size_t i) const { return (i + 1) & (slots_.size() - 1); }
  size_t Distance(size_t from, size_t to) const { return (to - from) & (slots_.size() - 1); }

  void Place(uint32_t slot, uint64_t hash) {
    size_t i = Home(hash);
    while (slots_[i] != kNone) i = Next(i);
    slots_[i] = slot;
  }

  template <typename HashOf>
  void Resize(size_t capacity, const HashOf& hash_of) {
    std::vector<uint32_t> old = std::move(slots_);
    slots_ = std::vector<uint32_t>(capacity, kNone);
    for (const uint32_t slot : old) {
      if (slot != kNone) Place(slot, hash_of(slot));
    }
  }

  std::vector<uint32_t> slots_;  // a power of two in size, or empty
  size_t size_ = 0;
};

}  // namespace boxcar::bitswap
