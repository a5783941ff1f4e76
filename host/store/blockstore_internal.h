// The block store's internals shared by its .cc files (blockstore.cc: the chain, reads,
// demotion, memory; blockstore_writes.cc: writes, deletes, scans): the tier chain a call runs
// on, the tier stream, and the templates every call into a tier goes through. Not part of the
// store's interface; include only from host/store/blockstore*.cc.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "format/multihash.h"
#include "store/blockstore.h"

namespace boxcar::store {
namespace internal {

inline constexpr uint64_t kStreamChunkBytes = 256 << 10;
inline constexpr int kRetiredRetries = 1000;

// Set by CallTier when the tier instance was retired by a reload; the operation then reruns on
// the new generation. Thread-local so that no Status code is overloaded for it.
inline thread_local bool t_retired = false;

// Failures that say the tier itself is in trouble, as opposed to an answer about one block.
inline bool IsTierFailure(const Status& s) {
  return s.code() == Status::Code::kIOError || s.code() == Status::Code::kInternal ||
         s.code() == Status::Code::kUnavailable;
}

}  // namespace internal

using internal::IsTierFailure;
using internal::kRetiredRetries;
using internal::kStreamChunkBytes;
using internal::t_retired;

struct BlockStore::Tier {
  size_t slot = 0;
  runtime::Instance* instance = nullptr;
  bool persistent = false;
  uint64_t max_block_bytes = 0;       // 0: any
  std::string label;                  // "store.tiers[1] (leveldb)"
  CircuitBreaker* breaker = nullptr;  // persistent tiers; owned by the store's breakers_

  bool Accepts(uint64_t size) const { return max_block_bytes == 0 || size <= max_block_bytes; }
};

// The chain this thread used last, and how deeply store calls are nested on it (a callback of
// ScanStored may call the store again; only the outermost call may replace the cached chain).
struct BlockStore::ThreadChain {
  uint64_t store_id = 0;
  uint64_t version = 0;
  std::shared_ptr<const Chain> chain;
  int depth = 0;
};

struct BlockStore::Chain {
  std::shared_ptr<const runtime::Generation> generation;
  std::vector<Tier> tiers;
  runtime::StoreConfig settings;

  // Memory tiers hold whole blocks only up to the streaming threshold.
  bool Holds(size_t tier, uint64_t size) const {
    const Tier& t = tiers[tier];
    return t.Accepts(size) && (t.persistent || size <= settings.stream_block_bytes);
  }
};

// A persistent tier's reader, hashed as it goes when verification applies. It keeps the chain
// (and so the tier's library) alive for as long as it is read.
class BlockStore::TierStream final : public BlockStream {
 public:
  TierStream(std::shared_ptr<const Chain> chain, std::unique_ptr<BlockReader> reader,
             const format::Cid& cid, bool verify, BlockStore* store, std::string label)
      : chain_(std::move(chain)),
        reader_(std::move(reader)),
        cid_(cid),
        verify_(verify && cid.hash().code() == format::kSha2_256),
        store_(store),
        label_(std::move(label)) {}

  uint64_t size() const override { return reader_->size(); }

  Status Read(char* buf, size_t n, size_t* got) override {
    *got = 0;
    if (offset_ >= reader_->size()) return Status::OK();
    size_t read = 0;
    Status s = reader_->Read(offset_, n, buf, &read);
    if (!s.ok()) return s;
    if (read == 0) {
      return Status::Corruption("block " + cid_.ToString() + " in " + label_ + " ended at byte " +
                                std::to_string(offset_) + " of " + std::to_string(reader_->size()));
    }
    if (verify_) hasher_.Update(std::string_view(buf, read));
    offset_ += read;
    if (verify_ && offset_ == reader_->size()) {
      unsigned char digest[format::kSha256Bytes];
      hasher_.Final(digest);
      const std::string_view got_digest(reinterpret_cast<const char*>(digest), sizeof(digest));
      if (got_digest != cid_.hash().digest()) {
        store_->ReportCorruption(label_, cid_, "sha2-256 digest mismatch");
        return Status::Corruption("block " + cid_.ToString() + " read from " + label_ +
                                  " does not match its hash; its last bytes were withheld. Run "
                                  "`boxcar verify` to find every damaged block");
      }
    }
    *got = read;
    return Status::OK();
  }

 private:
  std::shared_ptr<const Chain> chain_;
  std::unique_ptr<BlockReader> reader_;
  format::Cid cid_;
  bool verify_;
  BlockStore* store_;
  std::string label_;
  uint64_t offset_ = 0;
  format::Sha256Stream hasher_;
};

template <class F>
Status BlockStore::CallTier(const Chain& chain, size_t tier, F&& f) {
  const Tier& t = chain.tiers[tier];
  runtime::Instance& inst = *t.instance;
  if (!inst.Enter()) {
    t_retired = true;
    return Status::Unavailable(t.label + " was retired by a reload");
  }
  struct Exit {
    runtime::Instance& i;
    ~Exit() { i.Exit(); }
  } exit{inst};
  if (t.breaker == nullptr) return inst.Invoke<CacheTier>(std::forward<F>(f));
  const Clock& clock = *runtime_.context().clock;
  int64_t retry_ns = 0;
  if (!t.breaker->Allow(clock.NowNs(), &retry_ns)) {
    return Status::Unavailable(t.label + " is failing and its circuit breaker is open; retry in " +
                               std::to_string((retry_ns + 999'999) / 1'000'000) + " ms");
  }
  Status s = inst.Invoke<CacheTier>(std::forward<F>(f));
  if (IsTierFailure(s)) {
    t.breaker->OnFailure(clock.NowNs(), s.ToString());
  } else {
    t.breaker->OnSuccess(clock.NowNs());
  }
  return s;
}

template <class F>
Status BlockStore::OnChain(F&& f) {
  if (t_chain_.depth > 0) {
    // Nested: run on the caller's chain (or, for another store, on a private copy).
    if (t_chain_.store_id == id_) return f(t_chain_.chain);
    std::shared_ptr<const Chain> chain = CurrentChain();
    if (!chain) return Status::Unavailable("the block store is not open yet");
    return f(chain);
  }
  for (int attempt = 0;; ++attempt) {
    const uint64_t version = chain_version_.load(std::memory_order_acquire);
    if (t_chain_.store_id != id_ || t_chain_.version != version) {
      t_chain_.chain = CurrentChain();
      t_chain_.store_id = id_;
      t_chain_.version = version;
    }
    if (!t_chain_.chain) return Status::Unavailable("the block store is not open yet");
    // Passed by reference, without touching its count: nested calls never replace it.
    t_retired = false;
    struct Depth {
      Depth() { ++t_chain_.depth; }
      ~Depth() { --t_chain_.depth; }
    };
    Status s = [&] {
      Depth nested;
      return f(t_chain_.chain);
    }();
    if (!t_retired || attempt == kRetiredRetries) return s;
    Reload(t_chain_.chain);
  }
}

}  // namespace boxcar::store
