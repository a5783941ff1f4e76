// cache_tier: one level of the block store, keyed by binary CID.
//
// The store is a chain of tiers, fastest first; the last one is persistent (kPersistent) and
// authoritative. Reads try the tiers in order; a hit below the top is offered to the upper
// tiers with PutReason::kPromotion, which a tier may refuse (its admission policy). An entry a
// tier evicts goes to the EvictionSink from CreateContext, so the host can demote it.
//
// Threads: Get, Contains and Put come from many I/O and worker threads at once, millions of
// times a second for a memory tier; declare kThreadSafe and keep them short. A persistent tier
// may block on disk I/O in Get and Put; the engine runs those on worker threads. Scan and Shrink
// run on maintenance threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "boxcar/plugin.h"

namespace boxcar {

// Immutable block bytes, shared without copying between tiers and responses.
using BlockData = std::shared_ptr<const std::string>;

enum class PutReason : uint8_t {
  kWrite = 0,      // new data from a client or import; a persistent tier must store it durably
  kPromotion = 1,  // a hit in a lower tier; the tier may refuse it (Busy)
  kDemotion = 2,   // evicted from an upper tier
  kHandoff = 3,    // moved from the predecessor instance on a swap
};

struct TierStats {
  uint64_t entries = 0;
  uint64_t bytes = 0;
  uint64_t capacity_bytes = 0;  // 0 when unbounded
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  uint64_t rejected = 0;  // promotions the admission policy refused
};

// Receives entries a tier evicted. Called from inside Put, possibly with the tier's locks held:
// it must not call back into the tier.
class EvictionSink {
 public:
  virtual ~EvictionSink() = default;
  virtual void OnEvict(std::string_view key, const BlockData& data) = 0;
};

template <class Impl>
class CacheTierGuard;

class CacheTier : public Plugin {
 public:
  static constexpr PluginKind kKind = PluginKind::kCacheTier;
  template <class Impl>
  using Guard = CacheTierGuard<Impl>;

  // The block under `key`, or NotFound.
  virtual Status Get(std::string_view key, BlockData* out) = 0;

  // OK with the stored size, or NotFound. Never reads the block's bytes.
  virtual Status Contains(std::string_view key, uint64_t* size) = 0;

  // Store `data` under `key`. Busy when the tier declines (admission or capacity).
  virtual Status Put(std::string_view key, BlockData data, PutReason reason) = 0;

  // Remove `key`; OK if it was absent.
  virtual Status Delete(std::string_view key) = 0;

  virtual TierStats Stats() = 0;

  // The hottest entries first, totalling at most `max_bytes`, handed to a successor on a swap.
  virtual std::vector<std::pair<std::string, BlockData>> ExportHot(uint64_t max_bytes) {
    (void)max_bytes;
    return {};
  }

  // Evict until at most `target_bytes` are held; returns the bytes now held. The memory
  // governor calls this under pressure.
  virtual uint64_t Shrink(uint64_t target_bytes) {
    (void)target_bytes;
    return Stats().bytes;
  }

  // Visit every key and its stored size until `visit` returns false.
  virtual Status Scan(const std::function<bool(std::string_view key, uint64_t size)>& visit) {
    (void)visit;
    return Status::NotSupported("scan");
  }
};

template <class Impl>
class CacheTierGuard final : public detail::GuardedPlugin<Impl> {
 public:
  using detail::GuardedPlugin<Impl>::GuardedPlugin;
  Status Get(std::string_view key, BlockData* out) override {
    return detail::ContainStatus(this->hs(), "Get", [&] { return Impl::Get(key, out); });
  }
  Status Contains(std::string_view key, uint64_t* size) override {
    return detail::ContainStatus(this->hs(), "Contains", [&] { return Impl::Contains(key, size); });
  }
  Status Put(std::string_view key, BlockData data, PutReason reason) override {
    return detail::ContainStatus(this->hs(), "Put",
                                 [&] { return Impl::Put(key, std::move(data), reason); });
  }
  Status Delete(std::string_view key) override {
    return detail::ContainStatus(this->hs(), "Delete", [&] { return Impl::Delete(key); });
  }
  TierStats Stats() override {
    return detail::Contain(this->hs(), "Stats", TierStats(), [&] { return Impl::Stats(); });
  }
  std::vector<std::pair<std::string, BlockData>> ExportHot(uint64_t max_bytes) override {
    return detail::Contain(this->hs(), "ExportHot",
                           std::vector<std::pair<std::string, BlockData>>(),
                           [&] { return Impl::ExportHot(max_bytes); });
  }
  uint64_t Shrink(uint64_t target_bytes) override {
    return detail::Contain(this->hs(), "Shrink", uint64_t{0},
                           [&] { return Impl::Shrink(target_bytes); });
  }
  Status Scan(const std::function<bool(std::string_view, uint64_t)>& visit) override {
    return detail::ContainStatus(this->hs(), "Scan", [&] { return Impl::Scan(visit); });
  }
};

}  // namespace boxcar
