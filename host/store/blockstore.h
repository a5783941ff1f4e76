// BlockStore: the node's content-addressed block store, over the chain of cache_tier plugins in
// the runtime's current generation (Config::slots from kFirstTierSlot on, fastest first).
//
// Keys are binary multihashes, so a block stored under one codec serves every CID with the same
// hash. The store:
//   - verifies every block against its CID before it is written, and reads as
//     store.verify_reads says; a block that fails is counted and reported as Corruption, and its
//     bytes are never returned;
//   - writes each block durably to its home tier (the first persistent tier whose
//     max_block_bytes admits it) before the write returns, and optionally to the memory tiers;
//   - reads tiers in order; a block found below the top is promoted into the tiers above once
//     it was read promote_after_hits times recently (a frequency sketch decides), subject to each
//     tier's own admission policy;
//   - moves entries a tier evicts down to the next tier that lacks them (demotion, on a
//     background thread, so no tier lock is held across disk I/O);
//   - answers "absent" without I/O from a key cache and a bloom filter over stored keys;
//   - never stores identity CIDs: their bytes are in the CID;
//   - streams blocks above store.stream_block_bytes in chunks, past the memory tiers;
//   - keeps memory tiers and large buffers within one memory budget (MemoryGovernor).
//
// Thread safety: every method may be called from any thread, concurrently with reloads that swap
// tiers (a call that meets a retired tier retries on the new generation). Each thread caches the
// tier chain it last used and checks a version number before every call, so the hot path takes
// no lock and touches no shared reference count; the cost is that a thread keeps its last
// generation (and the libraries of swapped-out tiers) alive until its next call or its exit.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "boxcar/cache_tier.h"
#include "format/cid.h"
#include "runtime/runtime.h"
#include "store/absent_key_index.h"
#include "store/circuit_breaker.h"
#include "store/demotion_queue.h"
#include "store/memory_governor.h"
#include "store/write_tracker.h"

namespace prometheus {
class Registry;
}

namespace boxcar::store {

struct StoreMetrics;

// Reads a large block in pieces. The whole block is hashed as it is read when verification
// applies, and the last piece is withheld if the hash does not match (Corruption instead), so a
// reader never receives a complete corrupt block.
class BlockStream {
 public:
  virtual ~BlockStream() = default;
  virtual uint64_t size() const = 0;
  // Up to `n` bytes of the next piece; *got == 0 at the end.
  virtual Status Read(char* buf, size_t n, size_t* got) = 0;
};

// Where a streamed write gets its bytes: up to `n` into `buf`, *got == 0 at the end.
using ChunkSource = std::function<Status(char* buf, size_t n, size_t* got)>;

// One tier as a scrub saw one corrupt block.
struct CorruptBlock {
  std::string tier;  // "store.tiers[1] (leveldb)"
  std::string key;   // binary multihash
  std::string problem;
};

struct TierSummary {
  std::string slot;
  std::string plugin;
  bool persistent = false;
  uint64_t max_block_bytes = 0;
  TierStats stats;
};

class FrequencySketch;

class BlockStore final : private ShrinkableMemory {
 public:
  // Installs the eviction sinks in `runtime`: construct the store before the runtime's first
  // Apply, then call Refresh after every Apply.
  BlockStore(runtime::Runtime& runtime, prometheus::Registry& registry);
  ~BlockStore() override;
  BlockStore(const BlockStore&) = delete;
  BlockStore& operator=(const BlockStore&) = delete;

  // Takes the tier chain and settings of the runtime's current generation. InvalidArgument
  // when the chain cannot serve as a store (the last tier is not persistent).
  Status Refresh();

  Status Get(const format::Cid& cid, BlockData* out);
  // Reads many blocks in groups the batcher plugin forms (ShouldFlush over items, bytes and age;
  // OnBatchComplete with each group's latency). A group costs one call per tier instead of one per
  // block, and the persistent tier sees its misses together. results[i] and blocks[i] answer
  // cids[i] as Get would.
  void GetMany(const std::vector<format::Cid>& cids, std::vector<BlockData>* blocks,
               std::vector<Status>* results);
  // OK with the block's size, or NotFound. Reads no block bytes when avoidable.
  Status Has(const format::Cid& cid, uint64_t* size);
  // The block's size when the store knows it without asking a tier (identity CIDs, the key
  // cache); 0 otherwise. One hash lookup: cheap enough to price every request.
  uint64_t KnownSize(const format::Cid& cid);
  // Any block as a stream; large blocks are never held whole.
  Status OpenStream(const format::Cid& cid, std::unique_ptr<BlockStream>* out);

  // Verified (InvalidArgument when the bytes do not match the CID) and durable on return.
  Status Put(const format::Cid& cid, BlockData data);
  // Many blocks as one group per home tier: one atomic, durable write each.
  Status PutBatch(const std::vector<std::pair<format::Cid, BlockData>>& blocks);
  // Told of every block stored by Put, PutBatch or PutStream, with its size, after it is durable
  // (Bitswap sends new blocks to the peers that wait for them). Set before the node serves; it
  // runs on the writing thread and must not block.
  using BlocksAdded = std::function<void(const std::vector<std::pair<format::Cid, uint64_t>>&)>;
  void SetOnBlocksAdded(BlocksAdded observer) { on_blocks_added_ = std::move(observer); }
  // A block of `size` bytes read from `source` in chunks, hashed as it streams; nothing becomes
  // visible unless every byte arrived and the hash matches.
  Status PutStream(const format::Cid& cid, uint64_t size, const ChunkSource& source);

  // Removes a block from every tier (GC).
  Status Delete(std::string_view key);

  // Every key in the persistent tiers with its size (a key in two tiers is visited twice).
  Status ScanStored(const std::function<bool(std::string_view key, uint64_t size)>& visit);

  // Reads back every block of every tier and checks it against its key.
  Status Scrub(std::vector<CorruptBlock>* corrupt, uint64_t* checked);

  // GC support: while tracking, every written key is remembered, so a sweep spares blocks
  // written after its mark phase began.
  void StartTrackingWrites() { tracker_.Start(); }
  bool WrittenWhileTracking(std::string_view key) { return tracker_.Written(key); }
  void StopTrackingWrites() { tracker_.Stop(); }

  std::vector<TierSummary> Tiers();
  MemoryGovernor& governor() { return governor_; }
  // True once the startup scan filled the bloom filter (misses then cost no I/O).
  bool bloom_ready() const { return index_ && index_->bloom_ready(); }
  uint64_t corruption_count() const { return corruption_.load(std::memory_order_relaxed); }
  // Waits until queued demotions were applied (tests and orderly shutdown).
  void FlushDemotions();

 private:
  struct Tier;
  struct Chain;
  struct ThreadChain;
  static thread_local ThreadChain t_chain_;
  class TierStream;

  void WarnIfOverBudget(const Chain& chain, size_t tier);
  CircuitBreaker* BreakerFor(const std::string& dir, const std::string& label,
                             const runtime::BreakerConfig& config);
  std::shared_ptr<const Chain> CurrentChain();
  std::shared_ptr<const Chain> Reload(const std::shared_ptr<const Chain>& stale);
  template <class F>
  Status CallTier(const Chain& chain, size_t tier, F&& f);
  template <class F>
  Status OnChain(F&& f);

  Status GetFrom(const Chain& chain, const format::Cid& cid, BlockData* out);
  Status GetGroup(const Chain& chain, const std::vector<format::Cid>& cids, size_t begin,
                  size_t end, std::vector<BlockData>* blocks, std::vector<Status>* results);
  Status CheckRead(const Chain& chain, size_t tier, const format::Cid& cid, const BlockData& data);
  Status PutInMemory(const Chain& chain, size_t tier, std::string_view key, const BlockData& data,
                     PutReason reason);
  void MaybePromote(const Chain& chain, size_t found_at, std::string_view key,
                    const BlockData& data);
  size_t HomeTier(const Chain& chain, uint64_t size) const;
  Status DropDamagedCopy(const Chain& chain, size_t home, std::string_view key,
                         const BlockData& incoming);
  Status DropDamagedStream(const std::shared_ptr<const Chain>& chain, size_t home,
                           const format::Cid& cid);
  Status CommitGroup(const Chain& chain, size_t home,
                     const std::vector<std::pair<std::string, BlockData>>& entries);
  void Populate(const Chain& chain, size_t home,
                const std::vector<std::pair<std::string, BlockData>>& entries);
  void Demote(size_t from_tier, const std::string& key, const BlockData& data);
  void BuildBloom();
  void StartBloomBuild();
  void Maintain();
  void PublishGauges();
  void ReportCorruption(const std::string& tier, const format::Cid& cid,
                        const std::string& problem);
  void RunDemotions();

  // ShrinkableMemory
  uint64_t CachedBytes() override;
  uint64_t ShrinkTo(uint64_t target) override;

  runtime::Runtime& runtime_;
  const uint64_t id_;  // tells this store's cached chains from another store's
  std::mutex chain_mu_;
  std::shared_ptr<const Chain> chain_;
  std::atomic<uint64_t> chain_version_{0};  // changes whenever chain_ does

  // Created by the first Refresh, from the store settings; never replaced.
  std::unique_ptr<AbsentKeyIndex> index_;
  std::unique_ptr<FrequencySketch> sketch_;
  MemoryGovernor governor_;
  std::shared_ptr<DemotionQueue> demotions_;
  WriteTracker tracker_;
  BlocksAdded on_blocks_added_;
  std::atomic<uint64_t> corruption_{0};
  std::unique_ptr<StoreMetrics> metrics_;
  std::mutex breakers_mu_;
  std::map<std::string, std::unique_ptr<CircuitBreaker>> breakers_;  // by tier directory
  uint64_t shrinks_published_ = 0;
  uint64_t refusals_published_ = 0;

  std::mutex maintain_mu_;
  std::condition_variable maintain_cv_;
  bool stopping_ = false;
  std::thread bloom_builder_;
  std::thread maintainer_;
  std::thread demoter_;
};

}  // namespace boxcar::store
