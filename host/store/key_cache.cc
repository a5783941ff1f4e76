#include "store/key_cache.h"

#include <algorithm>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

namespace boxcar::store {
namespace {

constexpr uint64_t kShards = 16;
constexpr uint64_t kAbsentSize = UINT64_MAX;

}  // namespace

struct KeyCache::Shard {
  struct Entry {
    uint64_t size;  // kAbsentSize when the key is known to be absent
    bool frequent;  // in `lru`, else in `fifo`
    std::list<std::string>::iterator at;
  };

  void Insert(std::string_view key, uint64_t size) {
    auto found = index.find(key);
    if (found != index.end()) {
      found->second.size = size;
      Touch(found->second);
      return;
    }
    fifo.emplace_front(key);
    index.emplace(fifo.front(), Entry{size, false, fifo.begin()});
    while (index.size() > capacity) EvictOne();
  }

  // A key seen again leaves the FIFO for the LRU; in the LRU it moves to the front.
  void Touch(Entry& e) {
    if (e.frequent) {
      lru.splice(lru.begin(), lru, e.at);
    } else {
      lru.splice(lru.begin(), fifo, e.at);
      e.frequent = true;
    }
  }

  // Keys seen once go first while the FIFO holds more than its quarter of the capacity.
  void EvictOne() {
    std::list<std::string>& from = (fifo.size() > capacity / 4 || lru.empty()) ? fifo : lru;
    index.erase(from.back());
    from.pop_back();
  }

  void Erase(std::string_view key) {
    auto found = index.find(key);
    if (found == index.end()) return;
    std::list<std::string>& from = found->second.frequent ? lru : fifo;
    const auto at = found->second.at;
    index.erase(found);
    from.erase(at);
  }

  std::mutex mu;
  uint64_t capacity = 0;
  uint64_t writes = 0;  // bumped by every write; tickets compare against it
  std::list<std::string> fifo;
  std::list<std::string> lru;
  std::unordered_map<std::string_view, Entry> index;
};

KeyCache::KeyCache(uint64_t capacity) {
  if (capacity == 0) return;
  shard_count_ = kShards;
  shards_ = std::make_unique<Shard[]>(kShards);
  for (uint64_t i = 0; i < kShards; ++i)
    shards_[i].capacity = std::max<uint64_t>(1, capacity / kShards);
}

KeyCache::~KeyCache() = default;

KeyCache::Shard& KeyCache::ShardOf(std::string_view key, uint64_t* hash) {
  *hash = std::hash<std::string_view>()(key);
  return shards_[(*hash >> 7) % shard_count_];
}

KeyCache::Answer KeyCache::Lookup(std::string_view key, uint64_t* size) {
  if (shard_count_ == 0) return Answer::kUnknown;
  uint64_t hash;
  Shard& shard = ShardOf(key, &hash);
  std::lock_guard lock(shard.mu);
  auto found = shard.index.find(key);
  if (found == shard.index.end()) return Answer::kUnknown;
  shard.Touch(found->second);
  if (found->second.size == kAbsentSize) return Answer::kAbsent;
  *size = found->second.size;
  return Answer::kPresent;
}

uint64_t KeyCache::Ticket(std::string_view key) {
  if (shard_count_ == 0) return 0;
  uint64_t hash;
  Shard& shard = ShardOf(key, &hash);
  std::lock_guard lock(shard.mu);
  return shard.writes;
}

void KeyCache::RecordAbsent(std::string_view key, uint64_t ticket) {
  InsertUnlessWritten(key, kAbsentSize, ticket);
}

void KeyCache::RecordFound(std::string_view key, uint64_t size, uint64_t ticket) {
  InsertUnlessWritten(key, size, ticket);
}

void KeyCache::InsertUnlessWritten(std::string_view key, uint64_t size, uint64_t ticket) {
  if (shard_count_ == 0) return;
  uint64_t hash;
  Shard& shard = ShardOf(key, &hash);
  std::lock_guard lock(shard.mu);
  if (shard.writes == ticket) shard.Insert(key, size);
}

void KeyCache::RecordPresent(std::string_view key, uint64_t size) {
  if (shard_count_ == 0) return;
  uint64_t hash;
  Shard& shard = ShardOf(key, &hash);
  std::lock_guard lock(shard.mu);
  ++shard.writes;
  shard.Insert(key, size);
}

void KeyCache::Forget(std::string_view key) {
  if (shard_count_ == 0) return;
  uint64_t hash;
  Shard& shard = ShardOf(key, &hash);
  std::lock_guard lock(shard.mu);
  ++shard.writes;
  shard.Erase(key);
}

uint64_t KeyCache::entries() const {
  uint64_t n = 0;
  for (uint64_t i = 0; i < shard_count_; ++i) {
    std::lock_guard lock(shards_[i].mu);
    n += shards_[i].index.size();
  }
  return n;
}

}  // namespace boxcar::store
