// Building blocks of a sharded in-memory block cache: a key hash, an intrusive hash table and an
// intrusive recency list.
//
// They are intrusive so that an entry costs one allocation, its key stored right behind it, and a
// Get touches no allocator: one hash, one bucket, one node (key included). Whether a hit also
// splices the recency list is the policy's choice. None of them locks; the owning shard's lock
// guards them.
//
// Below them sit the parts of a cache_tier that do not depend on the eviction policy: param and
// size checks, the capacity tunable, ExportHot's merge across shards and Scan. The lru and
// tinylfu plugins share them.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "boxcar/cache_tier.h"
#include "boxcar/host.h"
#include "boxcar/params.h"

namespace memtier {

inline uint64_t RotateLeft(uint64_t x, int bits) { return (x << bits) | (x >> (64 - bits)); }

// The 64-bit finalizer of MurmurHash3: every input bit affects every output bit.
inline uint64_t Finalize(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// A fast hash over the whole key, 8 bytes at a time. CIDs end in a uniformly random digest, but
// their prefixes (version, codec, multihash code) are shared, so every word must count.
inline uint64_t HashKey(std::string_view key) {
  constexpr uint64_t kMul1 = 0x9e3779b97f4a7c15ULL;
  constexpr uint64_t kMul2 = 0xbf58476d1ce4e5b9ULL;
  uint64_t h = key.size() * kMul1;
  const char* p = key.data();
  size_t n = key.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    h = RotateLeft(h ^ (word * kMul1), 29) * kMul2;
  }
  if (n > 0) {
    uint64_t word = 0;
    std::memcpy(&word, p, n);
    h = RotateLeft(h ^ (word * kMul1), 29) * kMul2;
  }
  return Finalize(h);
}

// The shard of a key takes hash bits 32 and up; a shard's table takes the low bits, so the two
// choices stay independent.
inline size_t ShardOf(uint64_t hash, size_t shard_mask) {
  return static_cast<size_t>(hash >> 32) & shard_mask;
}

inline bool IsPowerOfTwo(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

inline uint64_t NextPowerOfTwo(uint64_t n) {
  uint64_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

// Links of a node in a RecencyList.
struct ListHook {
  ListHook* prev = nullptr;
  ListHook* next = nullptr;
};

// The fields every cache entry has. Node is the entry type deriving from it, so the table's chain
// links whole entries.
//
// The key lives in the node's own allocation, right behind the Node, so that comparing it costs
// no cache miss beyond the node's. Nodes are therefore made only by New and freed with delete.
template <class Node>
struct CachedBlock : ListHook {
  // Allocates a Node with room for `key` behind it; `args` go to Node's constructor after the
  // key's size.
  template <class... Args>
  static Node* New(std::string_view key, Args&&... args) {
    Node* node = new (KeyBytes{key.size()}) Node(key.size(), std::forward<Args>(args)...);
    if (!key.empty()) std::memcpy(reinterpret_cast<char*>(node + 1), key.data(), key.size());
    return node;
  }

  static void operator delete(void* node) { ::operator delete(node); }

  CachedBlock(size_t k, uint64_t h, boxcar::BlockData d, uint64_t c)
      : key_size(k), hash(h), data(std::move(d)), charge(c) {}
  CachedBlock(const CachedBlock&) = delete;
  CachedBlock& operator=(const CachedBlock&) = delete;

  std::string_view key() const {
    return {reinterpret_cast<const char*>(static_cast<const Node*>(this) + 1), key_size};
  }

  const size_t key_size;
  const uint64_t hash;
  Node* chain_next = nullptr;
  boxcar::BlockData data;
  uint64_t charge;  // bytes counted against the capacity

 private:
  struct KeyBytes {
    size_t size;
  };
  static void* operator new(size_t node_size, KeyBytes key) {
    return ::operator new(node_size + key.size);
  }
  // Only called when Node's constructor throws.
  static void operator delete(void* node, KeyBytes) { ::operator delete(node); }
};

// What an entry costs beyond its key and value: the node, its table slot and the allocator's
// header and rounding.
template <class Node>
inline constexpr uint64_t kEntryOverheadBytes = sizeof(Node) + sizeof(Node*) + 32;

// A circular doubly-linked list with a sentinel, most recently used first. Node derives from
// ListHook and sits in at most one list at a time.
template <class Node>
class RecencyList {
 public:
  RecencyList() { head_.prev = head_.next = &head_; }
  RecencyList(const RecencyList&) = delete;
  RecencyList& operator=(const RecencyList&) = delete;

  bool empty() const { return head_.next == &head_; }
  Node* Front() const { return empty() ? nullptr : static_cast<Node*>(head_.next); }
  Node* Back() const { return empty() ? nullptr : static_cast<Node*>(head_.prev); }

  void PushFront(Node* node) { LinkAfter(node, &head_); }
  void PushBack(Node* node) { LinkAfter(node, head_.prev); }

  void MoveToFront(Node* node) {
    if (head_.next == node) return;
    Unlink(node);
    PushFront(node);
  }

  static void Unlink(Node* node) {
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = nullptr;
  }

  // Calls `visit` from the front until it returns false.
  template <class Visit>
  void ForEach(Visit&& visit) const {
    for (const ListHook* h = head_.next; h != &head_; h = h->next) {
      if (!visit(static_cast<const Node*>(h))) return;
    }
  }

 private:
  static void LinkAfter(ListHook* node, ListHook* at) {
    node->prev = at;
    node->next = at->next;
    at->next->prev = node;
    at->next = node;
  }

  ListHook head_;
};

// A chained hash table of nodes that carry their own `key`, `hash` and `chain_next`. The table
// never owns or allocates nodes; it only links them.
template <class Node>
class EntryTable {
 public:
  EntryTable() : buckets_(kInitialBuckets, nullptr) {}
  EntryTable(const EntryTable&) = delete;
  EntryTable& operator=(const EntryTable&) = delete;

  size_t size() const { return size_; }

  Node* Find(std::string_view key, uint64_t hash) const {
    for (Node* n = buckets_[hash & mask()]; n != nullptr; n = n->chain_next) {
      if (n->hash == hash && n->key() == key) return n;
    }
    return nullptr;
  }

  // `node`'s key must not be in the table yet.
  void Insert(Node* node) {
    Node*& head = buckets_[node->hash & mask()];
    node->chain_next = head;
    head = node;
    if (++size_ > buckets_.size()) Grow();
  }

  // `node` must be in the table.
  void Remove(Node* node) {
    Node** link = &buckets_[node->hash & mask()];
    while (*link != node) link = &(*link)->chain_next;
    *link = node->chain_next;
    node->chain_next = nullptr;
    --size_;
  }

 private:
  static constexpr size_t kInitialBuckets = 64;

  size_t mask() const { return buckets_.size() - 1; }

  // Doubling keeps the average chain at most one node long.
  void Grow() {
    std::vector<Node*> bigger(buckets_.size() * 2, nullptr);
    const size_t bigger_mask = bigger.size() - 1;
    for (Node* n : buckets_) {
      while (n != nullptr) {
        Node* next = n->chain_next;
        Node*& head = bigger[n->hash & bigger_mask];
        n->chain_next = head;
        head = n;
        n = next;
      }
    }
    buckets_.swap(bigger);
  }

  std::vector<Node*> buckets_;
  size_t size_ = 0;
};

// Nodes unlinked under a shard lock, handed to the eviction sink and freed after the lock is
// released, so neither the sink nor the allocator (nor the last reference of a block) lengthens
// the critical section. Node carries `key`, `data` and `chain_next`, which is free once the node
// left its table.
template <class Node>
class Disposal {
 public:
  Disposal() = default;
  Disposal(const Disposal&) = delete;
  Disposal& operator=(const Disposal&) = delete;
  // Only reached without Flush when an exception unwinds; the nodes are then freed unreported.
  ~Disposal() {
    Free(evicted_);
    Free(discarded_);
  }

  // An entry the cache dropped to make room: the sink hears of it.
  void Evicted(Node* node) { Push(node, &evicted_); }
  // An entry that was deleted, replaced or never admitted: freed silently.
  void Discarded(Node* node) { Push(node, &discarded_); }

  // Call without holding a shard lock. `sink` may be null.
  void Flush(boxcar::EvictionSink* sink) {
    if (sink != nullptr) {
      for (Node* n = evicted_; n != nullptr; n = n->chain_next) sink->OnEvict(n->key(), n->data);
    }
    Free(evicted_);
    Free(discarded_);
  }

 private:
  static void Push(Node* node, Node** list) {
    node->chain_next = *list;
    *list = node;
  }
  static void Free(Node*& list) {
    while (list != nullptr) delete std::exchange(list, list->chain_next);
  }

  Node* evicted_ = nullptr;
  Node* discarded_ = nullptr;
};

// Mirrors TierStats into host metrics. Shards count in plain fields under their own locks, so a
// Get touches no shared atomic; the sums reach the metrics whenever Stats() runs and, at most once
// per interval, from Put.
class StatsPublisher {
 public:
  StatsPublisher(boxcar::Metrics& metrics, const boxcar::Clock& clock)
      : clock_(clock),
        hits_(metrics.GetCounter("cache_hits_total", "Gets that found their key")),
        misses_(metrics.GetCounter("cache_misses_total", "Gets that did not find their key")),
        evictions_(metrics.GetCounter("cache_evictions_total", "Entries dropped to make room")),
        rejected_(
            metrics.GetCounter("cache_rejected_total", "Promotions the admission policy refused")),
        bytes_(metrics.GetGauge("cache_bytes", "Bytes held, with per-entry overhead")),
        entries_(metrics.GetGauge("cache_entries", "Entries held")) {}

  // True when a periodic publish is due; the first caller to see it claims it.
  bool Due() {
    const int64_t now = clock_.NowNs();
    int64_t due = next_publish_ns_.load(std::memory_order_relaxed);
    return now >= due && next_publish_ns_.compare_exchange_strong(due, now + kIntervalNs,
                                                                  std::memory_order_relaxed);
  }

  // Counters only move forward, so totals collected by a slower concurrent caller are ignored.
  void Publish(const boxcar::TierStats& stats) {
    std::lock_guard lock(mutex_);
    Advance(hits_, stats.hits, &published_.hits);
    Advance(misses_, stats.misses, &published_.misses);
    Advance(evictions_, stats.evictions, &published_.evictions);
    Advance(rejected_, stats.rejected, &published_.rejected);
    bytes_->Set(static_cast<double>(stats.bytes));
    entries_->Set(static_cast<double>(stats.entries));
  }

 private:
  static constexpr int64_t kIntervalNs = 1'000'000'000;

  static void Advance(boxcar::Counter* counter, uint64_t total, uint64_t* published) {
    if (total <= *published) return;
    counter->Increment(static_cast<double>(total - *published));
    *published = total;
  }

  const boxcar::Clock& clock_;
  boxcar::Counter* hits_;
  boxcar::Counter* misses_;
  boxcar::Counter* evictions_;
  boxcar::Counter* rejected_;
  boxcar::Gauge* bytes_;
  boxcar::Gauge* entries_;
  std::atomic<int64_t> next_publish_ns_{0};
  std::mutex mutex_;
  boxcar::TierStats published_;  // guarded by mutex_
};

inline size_t ParseShards(const boxcar::Params& params) {
  const int64_t shards = params.GetInt("shards");
  if (!IsPowerOfTwo(shards)) {
    throw std::invalid_argument("shards must be a power of two, got " + std::to_string(shards));
  }
  return static_cast<size_t>(shards);
}

// Each shard's table and locks are built once, so a live instance keeps its shard count.
inline boxcar::Status CheckShardsUnchanged(const boxcar::Params& params, size_t shard_count) {
  if (params.GetInt("shards") == static_cast<int64_t>(shard_count)) return boxcar::Status::OK();
  return boxcar::Status::NotSupported("shards cannot change on a live instance (" +
                                      std::to_string(shard_count) + " -> " +
                                      std::to_string(params.GetInt("shards")) + ")");
}

inline uint64_t ReadBytes(const std::atomic<double>& tunable) {
  return static_cast<uint64_t>(std::max(0.0, tunable.load(std::memory_order_relaxed)));
}

// Busy for an entry of `size` bytes (key plus value) above max_entry_bytes.
inline boxcar::Status CheckMaxEntry(uint64_t size, uint64_t max_entry) {
  if (size <= max_entry) return boxcar::Status::OK();
  return boxcar::Status::Busy("entry of " + std::to_string(size) +
                              " bytes exceeds max_entry_bytes (" + std::to_string(max_entry) + ")");
}

// Busy for an entry that could never fit in its shard, whatever it evicted.
inline boxcar::Status CheckFitsShare(uint64_t charge, uint64_t share) {
  if (charge <= share) return boxcar::Status::OK();
  return boxcar::Status::Busy("entry of " + std::to_string(charge) +
                              " bytes exceeds a shard's share of capacity_bytes (" +
                              std::to_string(share) + ")");
}

// The capacity the shards were last trimmed to. The tuner may lower the capacity tunable at any
// time; the first Put that sees the change trims every shard, instead of each shard waiting for
// its own next Put.
class AppliedCapacity {
 public:
  explicit AppliedCapacity(uint64_t capacity) : applied_(capacity) {}

  // Records `capacity`; true when it is lower than the one applied before and this caller is the
  // one that must trim the shards.
  bool Lowered(uint64_t capacity) {
    uint64_t applied = applied_.load(std::memory_order_relaxed);
    return capacity != applied &&
           applied_.compare_exchange_strong(applied, capacity, std::memory_order_relaxed) &&
           capacity < applied;
  }

  uint64_t value() const { return applied_.load(); }

 private:
  std::atomic<uint64_t> applied_;
};

// Gathers ExportHot's result. Each shard offers its entries hottest first, within the byte
// budget on its own; the shards then take turns, rank by rank, until the budget runs out, so the
// order across shards is approximate.
class HotExport {
 public:
  HotExport(size_t shard_count, uint64_t max_bytes) : max_bytes_(max_bytes), shards_(shard_count) {}

  // Offers the next hottest entry of shard `shard`; false once that shard's budget is spent.
  template <class Node>
  bool Offer(size_t shard, const Node& entry) {
    Taken& taken = shards_[shard];
    if (taken.bytes + entry.charge > max_bytes_) return false;
    taken.bytes += entry.charge;
    taken.entries.emplace_back(entry.key(), entry.data);
    taken.charges.push_back(entry.charge);
    return true;
  }

  std::vector<std::pair<std::string, boxcar::BlockData>> Merge() {
    std::vector<std::pair<std::string, boxcar::BlockData>> hot;
    uint64_t total = 0;
    for (size_t rank = 0;; ++rank) {
      bool any = false;
      for (Taken& taken : shards_) {
        if (rank >= taken.entries.size()) continue;
        if (total + taken.charges[rank] > max_bytes_) return hot;
        total += taken.charges[rank];
        hot.push_back(std::move(taken.entries[rank]));
        any = true;
      }
      if (!any) return hot;
    }
  }

 private:
  struct Taken {
    std::vector<std::pair<std::string, boxcar::BlockData>> entries;
    std::vector<uint64_t> charges;
    uint64_t bytes = 0;
  };

  const uint64_t max_bytes_;
  std::vector<Taken> shards_;
};

// Scan over shards that each have a `mutex`, a `table` and ForEachEntry(visit). It visits a
// snapshot of one shard at a time, so the visitor never runs under a shard lock.
template <class Shard>
boxcar::Status ScanShards(std::span<Shard> shards,
                          const std::function<bool(std::string_view, uint64_t)>& visit) {
  std::vector<std::pair<std::string, uint64_t>> snapshot;
  for (Shard& shard : shards) {
    snapshot.clear();
    {
      std::lock_guard lock(shard.mutex);
      snapshot.reserve(shard.table.size());
      shard.ForEachEntry([&](const auto* e) {
        snapshot.emplace_back(e->key(), e->data->size());
        return true;
      });
    }
    for (const auto& [key, size] : snapshot) {
      if (!visit(key, size)) return boxcar::Status::OK();
    }
  }
  return boxcar::Status::OK();
}

}  // namespace memtier
