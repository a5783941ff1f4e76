// PersistentTier: the CacheTier face the persistent tiers (flatfs, leveldb) share over their
// storage engines. It checks keys, wraps and unwraps block bytes, counts hits and misses,
// publishes stats, and forwards batches, deletes, scans and streams; a tier supplies its engine
// and what differs between engines.
//
// `Derived` (CRTP) provides:
//   Engine& engine();                                       the open storage engine
//   boxcar::Status CheckKey(std::string_view key) const;    the tier's key rule
//   boxcar::Status WriteBlocks(std::span<const Block> blocks, bool durable);
//   std::pair<uint64_t, uint64_t> StoredCounts() const;     entries and bytes held
// `Engine` has Get(key, std::string*), Contains, Delete, Scan, OpenReader and
// OpenWriter(key, size, durable, out) with the CacheTier meanings; `Block` is the engine's
// {key, data} pair of string_views.
//
// Thread safety: as the engine's; the counters are atomic and the publisher is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "boxcar/cache_tier.h"
#include "boxcar_plugins/cache_core.h"

namespace boxcar_plugins {

// The data directory the host gave a persistent tier named `tier`; throws (refusing the
// instance, with the reason) when there is none.
inline std::string RequireDataDir(std::string_view tier, std::string_view data_dir) {
  if (data_dir.empty()) {
    throw std::invalid_argument(std::string(tier) +
                                " is a persistent tier and needs a data directory, but data_dir "
                                "is empty; the host gives one to each persistent tier under "
                                "store.path");
  }
  return std::string(data_dir);
}

template <class Derived, class Engine, class Block>
class PersistentTier : public boxcar::CacheTier {
 public:
  explicit PersistentTier(const boxcar::CreateContext& ctx)
      : publisher_(ctx.host->metrics(), ctx.host->clock()) {}

  boxcar::Status Get(std::string_view key, boxcar::BlockData* out) override {
    if (boxcar::Status s = self().CheckKey(key); !s.ok()) return s;
    std::string block;
    boxcar::Status s = self().engine().Get(key, &block);
    CountLookup(s);
    if (s.ok()) *out = std::make_shared<const std::string>(std::move(block));
    return s;
  }

  boxcar::Status Contains(std::string_view key, uint64_t* size) override {
    if (boxcar::Status s = self().CheckKey(key); !s.ok()) return s;
    return self().engine().Contains(key, size);
  }

  boxcar::Status Put(std::string_view key, boxcar::BlockData data,
                     boxcar::PutReason reason) override {
    if (data == nullptr) return boxcar::Status::InvalidArgument("null block data");
    if (boxcar::Status s = self().CheckKey(key); !s.ok()) return s;
    const Block block{key, *data};
    boxcar::Status s =
        self().WriteBlocks(std::span<const Block>(&block, 1), reason == boxcar::PutReason::kWrite);
    PublishIfDue();
    return s;
  }

  boxcar::Status PutBatch(const std::vector<std::pair<std::string, boxcar::BlockData>>& entries,
                          boxcar::PutReason reason) override {
    std::vector<Block> blocks;
    blocks.reserve(entries.size());
    for (const auto& [key, data] : entries) {
      if (data == nullptr) return boxcar::Status::InvalidArgument("null block data in a batch");
      if (boxcar::Status s = self().CheckKey(key); !s.ok()) return s;
      blocks.push_back(Block{key, *data});
    }
    boxcar::Status s = self().WriteBlocks(blocks, reason == boxcar::PutReason::kWrite);
    PublishIfDue();
    return s;
  }

  boxcar::Status Delete(std::string_view key) override {
    if (boxcar::Status s = self().CheckKey(key); !s.ok()) return s;
    return self().engine().Delete(key);
  }

  boxcar::TierStats Stats() override {
    const boxcar::TierStats stats = Collect();
    publisher_.Publish(stats);
    return stats;
  }

  boxcar::Status Scan(const std::function<bool(std::string_view, uint64_t)>& visit) override {
    return self().engine().Scan(visit);
  }

  boxcar::Status OpenReader(std::string_view key,
                            std::unique_ptr<boxcar::BlockReader>* out) override {
    if (boxcar::Status s = self().CheckKey(key); !s.ok()) return s;
    boxcar::Status s = self().engine().OpenReader(key, out);
    CountLookup(s);
    return s;
  }

  boxcar::Status OpenWriter(std::string_view key, uint64_t size, boxcar::PutReason reason,
                            std::unique_ptr<boxcar::BlockWriter>* out) override {
    if (boxcar::Status s = self().CheckKey(key); !s.ok()) return s;
    return self().engine().OpenWriter(key, size, reason == boxcar::PutReason::kWrite, out);
  }

 protected:
  // A lookup's answer, for the hit and miss counts.
  void CountLookup(const boxcar::Status& s) {
    if (s.ok()) hits_.fetch_add(1, std::memory_order_relaxed);
    if (s.IsNotFound()) misses_.fetch_add(1, std::memory_order_relaxed);
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }

  void PublishIfDue() {
    if (publisher_.Due()) publisher_.Publish(Collect());
  }

  boxcar::TierStats Collect() {
    const auto [entries, bytes] = self().StoredCounts();
    boxcar::TierStats stats;
    stats.entries = entries;
    stats.bytes = bytes;
    stats.hits = hits_.load(std::memory_order_relaxed);
    stats.misses = misses_.load(std::memory_order_relaxed);
    return stats;
  }

  memtier::StatsPublisher publisher_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
};

}  // namespace boxcar_plugins
