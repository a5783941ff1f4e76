// cache_tier: one level of the block store, keyed by binary multihash.
//
// Keys are multihashes rather than CIDs, as in Boxo's blockstore: the same bytes under two
// codecs are stored once. The host verifies every block against its key before a Put, so a tier
// never sees bytes that do not match; a persistent tier may still find them damaged on disk
// later, and the host checks reads as `store.verify_reads` says.
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

// A block read in pieces, for blocks too large to hold whole (see OpenReader). One thread at a
// time; it stays valid while the host holds the tier instance, whatever is written meanwhile.
class BlockReader {
 public:
  virtual ~BlockReader() = default;
  virtual uint64_t size() const = 0;
  // Reads up to `n` bytes at `offset` into `buf`; `*got` is 0 only at the end.
  virtual Status Read(uint64_t offset, size_t n, char* buf, size_t* got) = 0;
};

// A block written in pieces (see OpenWriter). Nothing is visible before Commit; destroying the
// writer without a successful Commit discards what was appended.
class BlockWriter {
 public:
  virtual ~BlockWriter() = default;
  virtual Status Append(std::string_view chunk) = 0;
  // Makes the block visible, as durably as a Put with the same reason.
  virtual Status Commit() = 0;
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

  // Store all `entries` as one group, durable when it returns, with as few syncs as the tier can
  // manage (leveldb: one). Each entry is all-or-nothing after a crash; the group as a whole is
  // atomic where the tier's storage allows it (leveldb: one WriteBatch; flatfs: no, a crash may
  // leave any subset of whole blocks). The host pins only after a whole import returned, so it
  // needs no more than that. Imports and concurrent writers use it for group commit.
  virtual Status PutBatch(const std::vector<std::pair<std::string, BlockData>>& entries,
                          PutReason reason) {
    for (const auto& [key, data] : entries) {
      if (Status s = Put(key, data, reason); !s.ok()) return s;
    }
    return Status::OK();
  }

  // Looks up many keys in one call; out[i] and status[i] answer keys[i] as Get would (both are
  // resized to keys.size()). A persistent tier may serve them in its own order, e.g. sorted for
  // locality on disk. The host sends the batches its batcher plugin forms.
  virtual void GetMany(const std::vector<std::string_view>& keys, std::vector<BlockData>* out,
                       std::vector<Status>* status) {
    out->assign(keys.size(), nullptr);
    status->assign(keys.size(), Status::OK());
    for (size_t i = 0; i < keys.size(); ++i) (*status)[i] = Get(keys[i], &(*out)[i]);
  }

  // Streams for large blocks, in bounded memory. NotSupported when the tier only holds whole
  // blocks (memory tiers); the host then routes large blocks past it.
  virtual Status OpenReader(std::string_view key, std::unique_ptr<BlockReader>* out) {
    (void)key;
    (void)out;
    return Status::NotSupported("streamed reads");
  }
  virtual Status OpenWriter(std::string_view key, uint64_t size, PutReason reason,
                            std::unique_ptr<BlockWriter>* out) {
    (void)key;
    (void)size;
    (void)reason;
    (void)out;
    return Status::NotSupported("streamed writes");
  }
};

namespace detail {

// Contain exceptions of the plugin's readers and writers too: they run plugin code after the
// call that created them returned.
class GuardedBlockReader final : public BlockReader {
 public:
  GuardedBlockReader(HostServices* host, std::unique_ptr<BlockReader> inner)
      : host_(host), inner_(std::move(inner)) {}
  uint64_t size() const override {
    return Contain(host_, "BlockReader::size", uint64_t{0}, [&] { return inner_->size(); });
  }
  Status Read(uint64_t offset, size_t n, char* buf, size_t* got) override {
    *got = 0;
    return ContainStatus(host_, "BlockReader::Read",
                         [&] { return inner_->Read(offset, n, buf, got); });
  }

 private:
  HostServices* host_;
  std::unique_ptr<BlockReader> inner_;
};

class GuardedBlockWriter final : public BlockWriter {
 public:
  GuardedBlockWriter(HostServices* host, std::unique_ptr<BlockWriter> inner)
      : host_(host), inner_(std::move(inner)) {}
  ~GuardedBlockWriter() override {
    ContainVoid(host_, "BlockWriter::~BlockWriter", [&] { inner_.reset(); });
  }
  Status Append(std::string_view chunk) override {
    return ContainStatus(host_, "BlockWriter::Append", [&] { return inner_->Append(chunk); });
  }
  Status Commit() override {
    return ContainStatus(host_, "BlockWriter::Commit", [&] { return inner_->Commit(); });
  }

 private:
  HostServices* host_;
  std::unique_ptr<BlockWriter> inner_;
};

}  // namespace detail

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
  void GetMany(const std::vector<std::string_view>& keys, std::vector<BlockData>* out,
               std::vector<Status>* status) override {
    Status s = detail::ContainStatus(this->hs(), "GetMany", [&] {
      Impl::GetMany(keys, out, status);
      return Status::OK();
    });
    if (!s.ok() || out->size() != keys.size() || status->size() != keys.size()) {
      out->assign(keys.size(), nullptr);
      status->assign(keys.size(),
                     s.ok() ? Status::Internal("GetMany answered the wrong count") : s);
    }
  }
  Status PutBatch(const std::vector<std::pair<std::string, BlockData>>& entries,
                  PutReason reason) override {
    return detail::ContainStatus(this->hs(), "PutBatch",
                                 [&] { return Impl::PutBatch(entries, reason); });
  }
  Status OpenReader(std::string_view key, std::unique_ptr<BlockReader>* out) override {
    std::unique_ptr<BlockReader> inner;
    Status s = detail::ContainStatus(this->hs(), "OpenReader",
                                     [&] { return Impl::OpenReader(key, &inner); });
    if (s.ok() && inner != nullptr) {
      *out = std::make_unique<detail::GuardedBlockReader>(this->hs(), std::move(inner));
    }
    return s;
  }
  Status OpenWriter(std::string_view key, uint64_t size, PutReason reason,
                    std::unique_ptr<BlockWriter>* out) override {
    std::unique_ptr<BlockWriter> inner;
    Status s = detail::ContainStatus(this->hs(), "OpenWriter",
                                     [&] { return Impl::OpenWriter(key, size, reason, &inner); });
    if (s.ok() && inner != nullptr) {
      *out = std::make_unique<detail::GuardedBlockWriter>(this->hs(), std::move(inner));
    }
    return s;
  }
};

}  // namespace boxcar
