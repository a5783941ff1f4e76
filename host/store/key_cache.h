// KeyCache: what the store knows about keys without asking a tier: present with a size, or
// absent. It is a two-queue cache (2Q, as Boxo's blockstore keeps one): keys seen once wait in a
// FIFO and are forgotten first; keys seen again move to an LRU, so a scan of cold keys cannot
// flush the keys that are asked for all the time.
//
// Absence is cached only when no write to the key's shard raced with the lookup that found it
// absent: readers take a ticket before they look in the tiers and pass it to RecordAbsent, and
// every RecordPresent or Forget invalidates the tickets taken before it.
//
// Thread-safe; sharded, one mutex per shard.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

namespace boxcar::store {

class KeyCache {
 public:
  enum class Answer { kUnknown, kPresent, kAbsent };

  // Holds up to `capacity` keys; 0 disables the cache (every lookup is kUnknown).
  explicit KeyCache(uint64_t capacity);
  ~KeyCache();
  KeyCache(const KeyCache&) = delete;
  KeyCache& operator=(const KeyCache&) = delete;

  Answer Lookup(std::string_view key, uint64_t* size);

  // Taken before looking a key up in the tiers; see RecordAbsent.
  uint64_t Ticket(std::string_view key);
  // Records that the tiers lacked `key`, unless a write touched its shard since `ticket`.
  void RecordAbsent(std::string_view key, uint64_t ticket);
  // Records that a tier held `key` with `size` bytes, unless a write touched its shard since
  // `ticket`: a read racing a delete must not leave the deleted block cached as present.
  void RecordFound(std::string_view key, uint64_t size, uint64_t ticket);
  void RecordPresent(std::string_view key, uint64_t size);
  void Forget(std::string_view key);

  uint64_t entries() const;

 private:
  struct Shard;
  Shard& ShardOf(std::string_view key, uint64_t* hash);
  // What a read learned (`size`, or the absent marker), unless a write came after its ticket.
  void InsertUnlessWritten(std::string_view key, uint64_t size, uint64_t ticket);

  uint64_t shard_count_ = 0;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace boxcar::store
