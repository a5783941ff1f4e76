// cache_tier "tinylfu": a byte-bounded W-TinyLFU memory cache (Einziger, Friedman and Manes,
// "TinyLFU: A Highly Efficient Cache Admission Policy").
//
// Each shard holds a small LRU window in front of a segmented LRU main area (probation and
// protected). Every new entry enters the window. When the window overflows, its least recently
// used entry becomes a candidate for main; once main is full, the candidate is admitted only if
// the frequency sketch rates it strictly more popular than main's victim (the least recently
// used entry of probation). So a scan of one-hit wonders passes through the window without
// flushing the entries that are used again and again. A hit in probation moves the entry to
// protected; protected overflow falls back to probation.
//
// A Put whose own entry loses the contest (when the window cannot hold it) returns Busy. An
// entry that came as a promotion and loses the contest counts as rejected, whether in its own
// Put or later on leaving the window; in the latter case it was served from the window, so it is
// also an eviction and goes to the eviction sink.
//
// Sharding and byte accounting are those of the lru plugin: values shared and never copied,
// evicted entries reported after the lock. Unlike lru, every operation takes its shard's mutex
// exclusively, since a hit updates the sketch and may move the entry between segments.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "boxcar/cache_tier.h"
#include "boxcar_plugins/cache_core.h"
#include "boxcar_plugins/tunables.h"
#include "frequency_sketch.h"

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
      "description": "Independently locked partitions, a power of two; each holds capacity_bytes / shards and keeps its own sketch.",
      "default": 16, "minimum": 1, "maximum": 1024
    },
    "max_entry_bytes": {
      "type": "integer",
      "description": "Entries whose key plus value exceed this are refused with Busy, as are entries larger than a shard's share of capacity_bytes.",
      "default": 2097152, "minimum": 1, "maximum": 1073741824
    },
    "window_percent": {
      "type": "number",
      "description": "Share of the capacity given to the admission window; the rest is the main area, 80% of it protected.",
      "default": 1, "minimum": 0, "maximum": 100, "tunable": true
    },
    "expected_entry_bytes": {
      "type": "integer",
      "description": "Typical entry size; the frequency sketch is sized for capacity_bytes / expected_entry_bytes keys.",
      "default": 16384, "minimum": 256, "maximum": 16777216
    },
    "sample_factor": {
      "type": "integer",
      "description": "The sketch halves its counters after sample_factor increments per key it is sized for.",
      "default": 10, "minimum": 1, "maximum": 1000
    },
    "doorkeeper": {
      "type": "boolean",
      "description": "Put a Bloom filter in front of the sketch so first sightings take no counters.",
      "default": false
    }
  }
})json";

enum Segment : uint8_t { kWindow = 0, kProbation = 1, kProtected = 2 };
constexpr int kSegments = 3;
// Hottest first: what ExportHot returns first and Shrink evicts last.
constexpr Segment kHotToCold[kSegments] = {kProtected, kProbation, kWindow};

constexpr uint64_t kProtectedPercentOfMain = 80;

struct Entry : memtier::CachedBlock<Entry> {
  using CachedBlock::CachedBlock;

  Segment segment = kWindow;
  bool promoted = false;  // arrived as a promotion, so losing admission counts as a rejection
};

// A shard's byte budget, from the live tunables.
struct Limits {
  uint64_t capacity = 0;
  uint64_t window = 0;
  uint64_t main = 0;
  uint64_t protected_main = 0;
};

struct SegmentList {
  memtier::RecencyList<Entry> list;
  uint64_t bytes = 0;
};

struct alignas(64) Shard {
  Shard() = default;
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;
  ~Shard() {
    for (SegmentList& segment : segments) {
      while (Entry* e = segment.list.Back()) {
        segment.list.Unlink(e);
        delete e;
      }
    }
  }

  uint64_t bytes() const {
    return segments[kWindow].bytes + segments[kProbation].bytes + segments[kProtected].bytes;
  }
  uint64_t main_bytes() const { return segments[kProbation].bytes + segments[kProtected].bytes; }

  template <class Visit>
  void ForEachEntry(Visit&& visit) const {
    for (const SegmentList& segment : segments) segment.list.ForEach(visit);
  }

  void Link(Entry* e, Segment to) {
    e->segment = to;
    segments[to].list.PushFront(e);
    segments[to].bytes += e->charge;
  }
  void Unlink(Entry* e) {
    segments[e->segment].list.Unlink(e);
    segments[e->segment].bytes -= e->charge;
  }
  void Move(Entry* e, Segment to) {
    Unlink(e);
    Link(e, to);
  }
  void Drop(Entry* e) {
    Unlink(e);
    table.Remove(e);
  }
  void Evict(Entry* e, memtier::Disposal<Entry>* disposal) {
    Drop(e);
    ++evictions;
    disposal->Evicted(e);
  }

  std::mutex mutex;
  // Guarded by mutex:
  memtier::EntryTable<Entry> table;
  SegmentList segments[kSegments];
  memtier::FrequencySketch sketch;
  uint64_t sketch_generation = 0;  // the sketch settings the sketch was built with
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  uint64_t rejected = 0;
};

using memtier::ReadBytes;

class TinyLfuTier : public boxcar::CacheTier {
 public:
  explicit TinyLfuTier(const boxcar::CreateContext& ctx)
      : capacity_(boxcar_plugins::BindTunable(*ctx.host, "capacity_bytes")),
        window_percent_(boxcar_plugins::BindTunable(*ctx.host, "window_percent")),
        shard_count_(memtier::ParseShards(*ctx.params)),
        shards_(std::make_unique<Shard[]>(shard_count_)),
        applied_capacity_(ReadBytes(capacity_)),
        sink_(ctx.evictions),
        publisher_(ctx.host->metrics(), ctx.host->clock()) {
    StoreSettings(*ctx.params);
    const uint64_t share = applied_capacity_.value() / shard_count_;
    for (size_t i = 0; i < shard_count_; ++i) RebuildSketch(shards_[i], share);
  }

  Status Get(std::string_view key, BlockData* out) override {
    const uint64_t hash = memtier::HashKey(key);
    Shard& shard = ShardFor(hash);
    std::lock_guard lock(shard.mutex);
    shard.sketch.Increment(hash);
    Entry* entry = shard.table.Find(key, hash);
    if (entry == nullptr) {
      ++shard.misses;
      return Status::NotFound("not cached");
    }
    ++shard.hits;
    OnHit(shard, entry);
    *out = entry->data;
    return Status::OK();
  }

  Status Contains(std::string_view key, uint64_t* size) override {
    const uint64_t hash = memtier::HashKey(key);
    Shard& shard = ShardFor(hash);
    std::lock_guard lock(shard.mutex);
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
    const Limits limits = LimitsFor(ApplyCapacity());
    const uint64_t charge = size + memtier::kEntryOverheadBytes<Entry>;
    if (Status s = memtier::CheckFitsShare(charge, limits.capacity); !s.ok()) return s;
    const uint64_t hash = memtier::HashKey(key);
    // Allocated before the lock; freed after it when the key turns out to be present.
    std::unique_ptr<Entry> fresh(Entry::New(key, hash, std::move(data), charge));
    Shard& shard = ShardFor(hash);
    memtier::Disposal<Entry> disposal;
    bool admitted = true;
    {
      std::lock_guard lock(shard.mutex);
      if (shard.sketch_generation != settings_generation_.load(std::memory_order_acquire) ||
          SketchEntriesFor(limits.capacity) > shard.sketch.entries()) {
        RebuildSketch(shard, limits.capacity);
      }
      // A promotion follows this tier's own Get miss, which already counted the access.
      if (reason != PutReason::kPromotion) shard.sketch.Increment(hash);
      Entry* newcomer = nullptr;
      if (Entry* existing = shard.table.Find(key, hash)) {
        shard.Unlink(existing);
        existing->charge = charge;
        existing->data.swap(fresh->data);
        shard.Link(existing, existing->segment);
        OnHit(shard, existing);
      } else {
        newcomer = fresh.release();
        newcomer->promoted = reason == PutReason::kPromotion;
        shard.table.Insert(newcomer);
        shard.Link(newcomer, kWindow);
      }
      TrimMain(shard, limits.main, &disposal);
      admitted = DrainWindow(shard, limits, newcomer, &disposal);
    }
    disposal.Flush(sink_);
    if (publisher_.Due()) publisher_.Publish(Collect());
    return admitted ? Status::OK() : Status::Busy("not admitted");
  }

  Status Delete(std::string_view key) override {
    const uint64_t hash = memtier::HashKey(key);
    Shard& shard = ShardFor(hash);
    std::unique_ptr<Entry> removed;  // freed after the lock is released
    std::lock_guard lock(shard.mutex);
    Entry* entry = shard.table.Find(key, hash);
    if (entry == nullptr) return Status::OK();
    shard.Drop(entry);
    removed.reset(entry);
    return Status::OK();
  }

  boxcar::TierStats Stats() override {
    boxcar::TierStats stats = Collect();
    publisher_.Publish(stats);
    return stats;
  }

  // Protected, then probation, then window, most recently used first within each. Shards take
  // turns, so the order across shards is approximate.
  std::vector<std::pair<std::string, BlockData>> ExportHot(uint64_t max_bytes) override {
    memtier::HotExport hot(shard_count_, max_bytes);
    for (size_t i = 0; i < shard_count_; ++i) {
      std::lock_guard lock(shards_[i].mutex);
      for (Segment segment : kHotToCold) {
        bool room = true;
        shards_[i].segments[segment].list.ForEach([&](const Entry* e) {
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
    StoreSettings(params);
    return Status::OK();
  }

 private:
  // The non-tunable params. A change to the sketch's ones makes every shard rebuild its sketch
  // at its next Put.
  void StoreSettings(const boxcar::Params& params) {
    max_entry_bytes_.store(static_cast<uint64_t>(params.GetInt("max_entry_bytes")),
                           std::memory_order_relaxed);
    const auto expected = static_cast<uint64_t>(params.GetInt("expected_entry_bytes"));
    const auto factor = static_cast<uint64_t>(params.GetInt("sample_factor"));
    const bool doorkeeper = params.GetBool("doorkeeper");
    if (expected == expected_entry_bytes_.load() && factor == sample_factor_.load() &&
        doorkeeper == doorkeeper_.load()) {
      return;
    }
    expected_entry_bytes_.store(expected, std::memory_order_relaxed);
    sample_factor_.store(factor, std::memory_order_relaxed);
    doorkeeper_.store(doorkeeper, std::memory_order_relaxed);
    settings_generation_.fetch_add(1, std::memory_order_release);
  }

  uint64_t SketchEntriesFor(uint64_t share) const {
    const uint64_t expected = expected_entry_bytes_.load(std::memory_order_relaxed);
    return memtier::NextPowerOfTwo(std::max<uint64_t>(1, share / expected));
  }

  void RebuildSketch(Shard& shard, uint64_t share) {
    shard.sketch_generation = settings_generation_.load(std::memory_order_acquire);
    const uint64_t entries = SketchEntriesFor(share);
    shard.sketch.Reset(entries, entries * sample_factor_.load(std::memory_order_relaxed),
                       doorkeeper_.load(std::memory_order_relaxed));
  }

  Limits LimitsFor(uint64_t capacity) const {
    Limits limits;
    limits.capacity = capacity / shard_count_;
    const double percent = std::clamp(window_percent_.load(std::memory_order_relaxed), 0.0, 100.0);
    limits.window = static_cast<uint64_t>(static_cast<double>(limits.capacity) * percent / 100);
    limits.main = limits.capacity - std::min(limits.window, limits.capacity);
    limits.protected_main = limits.main * kProtectedPercentOfMain / 100;
    return limits;
  }

  // The live capacity, after every shard shed what a lowered capacity no longer holds.
  uint64_t ApplyCapacity() {
    const uint64_t capacity = ReadBytes(capacity_);
    if (applied_capacity_.Lowered(capacity)) ShrinkShards(capacity / shard_count_);
    return capacity;
  }

  Shard& ShardFor(uint64_t hash) { return shards_[memtier::ShardOf(hash, shard_count_ - 1)]; }

  void OnHit(Shard& shard, Entry* entry) {
    switch (entry->segment) {
      case kWindow:
      case kProtected:
        shard.segments[entry->segment].list.MoveToFront(entry);
        return;
      case kProbation:
        shard.Move(entry, kProtected);
        DemoteProtectedOverflow(shard, LimitsFor(ReadBytes(capacity_)).protected_main, entry);
        return;
    }
  }

  // The least recently used protected entries fall back to probation, except `keep`, the one
  // just promoted.
  static void DemoteProtectedOverflow(Shard& shard, uint64_t protected_limit, const Entry* keep) {
    SegmentList& protected_segment = shard.segments[kProtected];
    while (protected_segment.bytes > protected_limit) {
      Entry* demoted = protected_segment.list.Back();
      if (demoted == keep) return;
      shard.Move(demoted, kProbation);
    }
  }

  // Main may exceed its share after the window grew or the capacity fell; it then gives up its
  // coldest entries without an admission contest.
  static void TrimMain(Shard& shard, uint64_t main_limit, memtier::Disposal<Entry>* disposal) {
    while (shard.main_bytes() > main_limit) {
      Entry* victim = shard.segments[kProbation].list.Back();
      if (victim == nullptr) victim = shard.segments[kProtected].list.Back();
      shard.Evict(victim, disposal);
    }
  }

  // Moves window overflow into main through the admission filter. A refused candidate that came
  // as a promotion counts as rejected. Returns false when `newcomer`, the entry this Put inserted
  // (null if none), was refused: it is then freed without reaching the eviction sink, since it
  // was never served; an older candidate is evicted like any other entry.
  static bool DrainWindow(Shard& shard, const Limits& limits, const Entry* newcomer,
                          memtier::Disposal<Entry>* disposal) {
    bool newcomer_admitted = true;
    SegmentList& window = shard.segments[kWindow];
    while (window.bytes > limits.window) {
      Entry* candidate = window.list.Back();
      if (Admit(shard, *candidate, limits.main, disposal)) {
        shard.Move(candidate, kProbation);
        continue;
      }
      if (candidate->promoted) ++shard.rejected;
      if (candidate == newcomer) {
        shard.Drop(candidate);
        disposal->Discarded(candidate);
        newcomer_admitted = false;
      } else {
        shard.Evict(candidate, disposal);
      }
    }
    return newcomer_admitted;
  }

  // Makes room in main for `candidate` as long as it is strictly more popular than each victim.
  static bool Admit(Shard& shard, const Entry& candidate, uint64_t main_limit,
                    memtier::Disposal<Entry>* disposal) {
    if (candidate.charge > main_limit) return false;
    uint32_t candidate_frequency = 0;
    bool estimated = false;
    while (shard.main_bytes() + candidate.charge > main_limit) {
      Entry* victim = shard.segments[kProbation].list.Back();
      if (victim == nullptr) victim = shard.segments[kProtected].list.Back();
      if (!estimated) {
        candidate_frequency = shard.sketch.Estimate(candidate.hash);
        estimated = true;
      }
      if (candidate_frequency <= shard.sketch.Estimate(victim->hash)) return false;
      shard.Evict(victim, disposal);
    }
    return true;
  }

  // Coldest first: window, then probation, then protected.
  static void EvictDownTo(Shard& shard, uint64_t target, memtier::Disposal<Entry>* disposal) {
    for (int i = kSegments - 1; i >= 0 && shard.bytes() > target; --i) {
      SegmentList& segment = shard.segments[kHotToCold[i]];
      while (shard.bytes() > target && !segment.list.empty()) {
        shard.Evict(segment.list.Back(), disposal);
      }
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
        held += shards_[i].bytes();
      }
      disposal.Flush(sink_);
    }
    return held;
  }

  boxcar::TierStats Collect() {
    boxcar::TierStats stats;
    stats.capacity_bytes = ReadBytes(capacity_);
    for (size_t i = 0; i < shard_count_; ++i) {
      std::lock_guard lock(shards_[i].mutex);
      stats.entries += shards_[i].table.size();
      stats.bytes += shards_[i].bytes();
      stats.hits += shards_[i].hits;
      stats.misses += shards_[i].misses;
      stats.evictions += shards_[i].evictions;
      stats.rejected += shards_[i].rejected;
    }
    return stats;
  }

  const std::atomic<double>& capacity_;
  const std::atomic<double>& window_percent_;
  const size_t shard_count_;
  const std::unique_ptr<Shard[]> shards_;
  std::atomic<uint64_t> max_entry_bytes_{0};
  std::atomic<uint64_t> expected_entry_bytes_{0};
  std::atomic<uint64_t> sample_factor_{0};
  std::atomic<bool> doorkeeper_{false};
  std::atomic<uint64_t> settings_generation_{0};
  memtier::AppliedCapacity applied_capacity_;
  boxcar::EvictionSink* const sink_;
  memtier::StatsPublisher publisher_;
};

}  // namespace

BOXCAR_PLUGIN(TinyLfuTier, "tinylfu", "1.0.0",
              "Byte-bounded sharded W-TinyLFU memory cache; admits by estimated popularity",
              kSchema, boxcar::kThreadSafe | boxcar::kReconfigure);
