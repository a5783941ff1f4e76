// AbsentKeyIndex: what the store knows about keys below the memory tiers without I/O. A key cache
// (KeyCache: present with a size, or absent, learned from writes and reads) answers first; a
// bloom filter over every stored key answers "certainly absent" for the rest once the startup
// scan has filled it.
//
// The bloom filter is built once: BeginBuild hands out an empty filter that the caller fills
// from a scan while writes go to it too (NoteWritten), and FinishBuild publishes it. Until then
// only the key cache answers. The published filter is never replaced, so readers use it without
// a lock.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>

#include "store/bloom_filter.h"
#include "store/key_cache.h"

namespace boxcar::store {

class AbsentKeyIndex {
 public:
  // `key_cache_entries` 0 disables the key cache.
  explicit AbsentKeyIndex(uint64_t key_cache_entries);
  AbsentKeyIndex(const AbsentKeyIndex&) = delete;
  AbsentKeyIndex& operator=(const AbsentKeyIndex&) = delete;

  // The key cache's answer alone: one hash lookup, for pricing requests.
  KeyCache::Answer Lookup(std::string_view key, uint64_t* size) { return keys_.Lookup(key, size); }
  // True when `key` is certainly not stored (key cache, then bloom filter).
  bool ProbablyAbsent(std::string_view key);

  // As KeyCache: take a ticket before asking the tiers, record what they answered with it.
  uint64_t Ticket(std::string_view key) { return keys_.Ticket(key); }
  void RecordFound(std::string_view key, uint64_t size, uint64_t ticket) {
    keys_.RecordFound(key, size, ticket);
  }
  void RecordAbsent(std::string_view key, uint64_t ticket) { keys_.RecordAbsent(key, ticket); }
  // A write made `key` durable: both structures learn it.
  void NoteWritten(std::string_view key, uint64_t size);
  // `key` was deleted. The bloom filter keeps it (a harmless false positive).
  void Forget(std::string_view key) { keys_.Forget(key); }

  // An empty filter sized for `expected_keys`; from now on writes go to it too.
  std::shared_ptr<BloomFilter> BeginBuild(uint64_t expected_keys, int bits_per_key);
  // Publishes the filter BeginBuild returned when `complete`, else discards it.
  void FinishBuild(bool complete);
  bool bloom_ready() const { return bloom_ready_.load(std::memory_order_acquire); }

 private:
  KeyCache keys_;
  std::mutex bloom_mu_;
  std::shared_ptr<BloomFilter> bloom_;     // published once; read without the lock after that
  std::shared_ptr<BloomFilter> building_;  // guarded by bloom_mu_
  std::atomic<bool> bloom_ready_{false};
};

}  // namespace boxcar::store
