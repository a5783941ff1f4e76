// cache_tier "lru": a byte-bounded memory cache that evicts in CLOCK-approximated LRU order.
//
// Keys are spread over a power-of-two number of shards by hash; each shard has its own
// reader-writer lock, table and recency list and holds at most capacity_bytes / shards.
//
// Promotion is lazy (CLOCK, or second chance): a hit only sets the entry's referenced flag, so a
// Get takes the shard lock shared and writes nothing another reader also writes, except the lock
// word and the hit counter next to it. Eviction sweeps from the cold end of the list: a
// referenced entry loses its flag and moves to the hot end, an unreferenced one is evicted. So
// an entry used since the sweep last passed it survives one more round, which approximates LRU
// without a list splice per hit. Values are shared, never copied. Every promotion is admitted;
// evicted entries go to the eviction sink.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "boxcar/cache_tier.h"
#include "boxcar_plugins/cache_core.h"
#include "boxcar_plugins/tunables.h"

namespace {

using boxcar::BlockData;
using boxcar::PutReason;
using boxcar::Status;

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "capacity_bytes": {
      "type": "integer",
      "description": "Bytes held at most, counting keys, values and a fixed per-entry overhead. Lowering it evicts at the next Put.",
      "default": 268435456, "minimum": 4096, "maximum": 1099511627776, "tunable": true
    },
    "shards": {
      "type": "integer",
      "description": "Independently locked partitions, a power of two; each holds capacity_bytes / shards.",
      "default": 16, "minimum": 1, "maximum": 1024
    },
    "max_entry_bytes": {
      "type": "integer",
      "description": "Entries whose key plus value exceed this are refused with Busy, as are entries larger than a shard's share of capacity_bytes.",
      "default": 2097152, "minimum": 1, "maximum": 1073741824
    }
  }
})json";

struct Entry : memtier::CachedBlock<Entry> {
  using CachedBlock::CachedBlock;

  // Set by a hit under the shared lock; read and cleared under the exclusive lock.
  std::atomic<bool> referenced{false};
};

struct alignas(64) Shard {
  Shard() = default;
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;
  ~Shard() {
    while (Entry* e = lru.Back()) {
      lru.Unlink(e);
      delete e;
    }
  }

  template <class Visit>
  void ForEachEntry(Visit&& visit) const {
    lru.ForEach(visit);
  }

  // Get and Contains hold it shared; everything that links, unlinks or charges holds it
  // exclusively.
  std::shared_mutex mutex;
  // Counted under the shared lock, so atomic; they share the lock word's cache line.
  std::atomic<uint64_t> hits{0};
  std::atomic<uint64_t> misses{0};
  // Guarded by mutex:
  memtier::EntryTable<Entry> table;
  memtier::RecencyList<Entry> lru;  // hot end first, before the referenced flags are applied
  uint64_t bytes = 0;
  uint64_t evictions = 0;
};

class LruTier : public boxcar::CacheTier {
 public:
  explicit LruTier(const boxcar::CreateContext& ctx)
      : capacity_(boxcar_plugins::BindTunable(*ctx.host, "capacity_bytes")),
        shard_count_(memtier::ParseShards(*ctx.params)),
        shards_(std::make_unique<Shard[]>(shard_count_)),
        max_entry_bytes_(static_cast<uint64_t>(ctx.params->GetInt("max_entry_bytes"))),
        applied_capacity_(memtier::ReadBytes(capacity_)),
        sink_(ctx.evictions),
        publisher_(ctx.host->metrics(), ctx.host->clock()) {}

  Status Get(std::string_view key, BlockData* out) override {
    const uint64_t hash = memtier::HashKey(key);
    Shard& shard = ShardFor(hash);
    std::shared_lock lock(shard.mutex);
    Entry* entry = shard.table.Find(key, hash);
    if (entry == nullptr) {
      shard.misses.fetch_add(1, std::memory_order_relaxed);
      return Status::NotFound("not cached");
    }
    shard.hits.fetch_add(1, std::memory_order_relaxed);
    // Checked first so that a hot entry's line stays shared between the cores reading it.
    if (!entry->referenced.load(std::memory_order_relaxed)) {
      entry->referenced.store(true, std::memory_order_relaxed);
    }
    *out = entry->data;
    return Status::OK();
  }

  Status Contains(std::string_view key, uint64_t* size) override {
    const uint64_t hash = memtier::HashKey(key);
    Shard& shard = ShardFor(hash);
    std::shared_lock lock(shard.mutex);
    const Entry* entry = shard.table.Find(key, hash);
    if (entry == nullptr) return Status::NotFound("not cached");
    *size = entry->data->size();
    return Status::OK();
  }

  Status Put(std::string_view key, BlockData data, PutReason reason) override {
    if (data == nullptr) return Status::InvalidArgument("null block data");
    const uint64_t size = key.size() + data->size();
    if (Status s = memtier::CheckMaxEntry(size, max_entry_bytes_.load(std::memory_order_relaxed));
        !s.ok()) {
      return s;
    }
    const uint64_t share = ApplyCapacity() / shard_count_;
    const uint64_t charge = size + memtier::kEntryOverheadBytes<Entry>;
    if (Status s = memtier::CheckFitsShare(charge, share); !s.ok()) return s;
    const uint64_t hash = memtier::HashKey(key);
    // Allocated before the lock; freed after it when the key turns out to be present.
    std::unique_ptr<Entry> fresh(Entry::New(key, hash, std::move(data), charge));
    Shard& shard = ShardFor(hash);
    memtier::Disposal<Entry> disposal;
    Status status;
    {
      std::lock_guard lock(shard.mutex);
      if (Entry* existing = shard.table.Find(key, hash)) {
        shard.bytes = shard.bytes - existing->charge + charge;
        existing->charge = charge;
        existing->data.swap(fresh->data);
        existing->referenced.store(false, std::memory_order_relaxed);
        shard.lru.MoveToFront(existing);
      } else if (reason == PutReason::kHandoff) {
        status = InsertHandoff(shard, fresh, share);
      } else {
        shard.table.Insert(fresh.get());
        shard.lru.PushFront(fresh.release());
        shard.bytes += charge;
      }
      EvictDownTo(shard, share, &disposal);
    }
    disposal.Flush(sink_);
    if (publisher_.Due()) publisher_.Publish(Collect());
    return status;
  }

  Status Delete(std::string_view key) override {
    const uint64_t hash = memtier::HashKey(key);
    Shard& shard = ShardFor(hash);
    std::unique_ptr<Entry> removed;  // freed after the lock is released
    std::lock_guard lock(shard.mutex);
    Entry* entry = shard.table.Find(key, hash);
    if (entry == nullptr) return Status::OK();
    shard.table.Remove(entry);
    shard.lru.Unlink(entry);
    shard.bytes -= entry->charge;
    removed.reset(entry);
    return Status::OK();
  }

  boxcar::TierStats Stats() override {
    boxcar::TierStats stats = Collect();
    publisher_.Publish(stats);
    return stats;
  }

  // Hottest first: the entries referenced since the last sweep passed them, then the others,
  // each group in list order from the hot end. That is the order in which eviction would spare
  // them. Shards take turns, so the order across shards is approximate.
  std::vector<std::pair<std::string, BlockData>> ExportHot(uint64_t max_bytes) override {
    memtier::HotExport hot(shard_count_, max_bytes);
    for (size_t i = 0; i < shard_count_; ++i) {
      std::shared_lock lock(shards_[i].mutex);
      bool room = true;
      for (const bool referenced : {true, false}) {
        shards_[i].lru.ForEach([&](const Entry* e) {
          if (e->referenced.load(std::memory_order_relaxed) != referenced) return true;
          room = hot.Offer(i, *e);
          return room;
        });
        if (!room) break;
      }
    }
    return hot.Merge();
  }

  uint64_t Shrink(uint64_t target_bytes) override {
    return ShrinkShards(target_bytes / shard_count_);
  }

  Status Scan(const std::function<bool(std::string_view, uint64_t)>& visit) override {
    return memtier::ScanShards(std::span(shards_.get(), shard_count_), visit);
  }

  Status Reconfigure(const boxcar::Params& params) override {
    if (Status s = memtier::CheckShardsUnchanged(params, shard_count_); !s.ok()) return s;
    max_entry_bytes_.store(static_cast<uint64_t>(params.GetInt("max_entry_bytes")),
                           std::memory_order_relaxed);
    return Status::OK();
  }

 private:
  // The live capacity, after every shard shed what a lowered capacity no longer holds.
  uint64_t ApplyCapacity() {
    const uint64_t capacity = memtier::ReadBytes(capacity_);
    if (applied_capacity_.Lowered(capacity)) ShrinkShards(capacity / shard_count_);
    return capacity;
  }

  Shard& ShardFor(uint64_t hash) { return shards_[memtier::ShardOf(hash, shard_count_ - 1)]; }

  // Hand-off arrives hottest first, so each entry joins behind the ones before it, and only into
  // free room: it never displaces what this instance already serves.
  static Status InsertHandoff(Shard& shard, std::unique_ptr<Entry>& fresh, uint64_t share) {
    if (shard.bytes + fresh->charge > share) return Status::Busy("no room for hand-off");
    shard.bytes += fresh->charge;
    shard.table.Insert(fresh.get());
    shard.lru.PushBack(fresh.release());
    return Status::OK();
  }

  // The CLOCK sweep. Under the exclusive lock no flag gets set, so each entry gets at most one
  // second chance per call and the loop ends.
  static void EvictDownTo(Shard& shard, uint64_t target, memtier::Disposal<Entry>* disposal) {
    while (shard.bytes > target) {
      Entry* victim = shard.lru.Back();
      if (victim->referenced.load(std::memory_order_relaxed)) {
        victim->referenced.store(false, std::memory_order_relaxed);
        shard.lru.MoveToFront(victim);
        continue;
      }
      shard.table.Remove(victim);
      shard.lru.Unlink(victim);
      shard.bytes -= victim->charge;
      ++shard.evictions;
      disposal->Evicted(victim);
    }
  }

  // Evicts every shard down to `per_shard` bytes; returns the bytes held afterwards.
  uint64_t ShrinkShards(uint64_t per_shard) {
    uint64_t held = 0;
    for (size_t i = 0; i < shard_count_; ++i) {
      memtier::Disposal<Entry> disposal;
      {
        std::lock_guard lock(shards_[i].mutex);
        EvictDownTo(shards_[i], per_shard, &disposal);
        held += shards_[i].bytes;
      }
      disposal.Flush(sink_);
    }
    return held;
  }

  boxcar::TierStats Collect() {
    boxcar::TierStats stats;
    stats.capacity_bytes = memtier::ReadBytes(capacity_);
    for (size_t i = 0; i < shard_count_; ++i) {
      std::shared_lock lock(shards_[i].mutex);
      stats.entries += shards_[i].table.size();
      stats.bytes += shards_[i].bytes;
      stats.hits += shards_[i].hits.load(std::memory_order_relaxed);
      stats.misses += shards_[i].misses.load(std::memory_order_relaxed);
      stats.evictions += shards_[i].evictions;
    }
    return stats;
  }

  const std::atomic<double>& capacity_;
  const size_t shard_count_;
  const std::unique_ptr<Shard[]> shards_;
  std::atomic<uint64_t> max_entry_bytes_;
  memtier::AppliedCapacity applied_capacity_;
  boxcar::EvictionSink* const sink_;
  memtier::StatsPublisher publisher_;
};

}  // namespace

BOXCAR_PLUGIN(LruTier, "lru", "1.0.0",
              "Byte-bounded sharded CLOCK (approximate LRU) memory cache; admits every promotion",
              kSchema, boxcar::kThreadSafe | boxcar::kReconfigure);
