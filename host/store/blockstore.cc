#include "store/blockstore.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>

#include <spdlog/spdlog.h>

#include "boxcar/batcher.h"
#include "format/multihash.h"
#include "obs/logging.h"
#include "store/frequency_sketch.h"

namespace boxcar::store {
namespace {

using format::Cid;
using format::Multihash;

constexpr uint64_t kDemotionQueueBytes = 64 << 20;
constexpr uint64_t kStreamChunkBytes = 256 << 10;
constexpr auto kMaintainInterval = std::chrono::milliseconds(200);
constexpr int kRetiredRetries = 1000;
// What a memory tier may charge for an entry beyond its key and bytes (its table and list nodes);
// the bundled tiers charge less than this.
constexpr uint64_t kEntryOverheadAllowance = 256;

// Set by CallTier when the tier instance was retired by a reload; the operation then reruns on
// the new generation. Thread-local so that no Status code is overloaded for it.
thread_local bool t_retired = false;

// Chain versions and store ids are unique across the process, so a cached chain can never be
// mistaken for another store's or a newer one.
std::atomic<uint64_t> g_next_number{1};

// A block held in memory, read as a stream.
class MemoryStream final : public BlockStream {
 public:
  explicit MemoryStream(BlockData data) : data_(std::move(data)) {}
  uint64_t size() const override { return data_->size(); }
  Status Read(char* buf, size_t n, size_t* got) override {
    *got = std::min(n, data_->size() - offset_);
    std::copy_n(data_->data() + offset_, *got, buf);
    offset_ += *got;
    return Status::OK();
  }

 private:
  BlockData data_;
  size_t offset_ = 0;
};

// A stored key as the CID an operator can look up.
std::string KeyName(std::string_view key) {
  Multihash mh;
  if (!Multihash::FromBytes(key, &mh).ok()) return "(a key that is not a multihash)";
  return Cid::V1(format::kRaw, mh).ToString();
}

}  // namespace

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
thread_local BlockStore::ThreadChain BlockStore::t_chain_;

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

// Entries evicted by the tiers, waiting to move down. Sinks only enqueue: they run inside a
// tier's Put with its locks held, where no I/O may happen. Shared with the runtime's sink
// function, so sinks stay valid for as long as any tier instance can call them.
class BlockStore::DemotionQueue {
 public:
  struct Item {
    size_t tier;
    std::string key;
    BlockData data;
  };

  EvictionSink* SinkFor(size_t tier) {
    std::lock_guard lock(mu_);
    while (sinks_.size() <= tier) sinks_.push_back(std::make_unique<Sink>(this, sinks_.size()));
    return sinks_[tier].get();
  }

  void Push(size_t tier, std::string_view key, const BlockData& data) {
    std::lock_guard lock(mu_);
    if (closed_ || bytes_ + data->size() > kDemotionQueueBytes) {
      ++dropped_;
      return;
    }
    bytes_ += data->size();
    items_.push_back({tier, std::string(key), data});
    cv_.notify_one();
  }

  // Blocks until an item is queued or the queue closes (false).
  bool Pop(Item* out) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return false;
    *out = std::move(items_.front());
    items_.pop_front();
    bytes_ -= out->data->size();
    ++in_progress_;
    return true;
  }

  void Done() {
    std::lock_guard lock(mu_);
    --in_progress_;
    idle_cv_.notify_all();
  }

  void WaitIdle() {
    std::unique_lock lock(mu_);
    idle_cv_.wait(lock, [&] { return closed_ || (items_.empty() && in_progress_ == 0); });
  }

  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    items_.clear();
    cv_.notify_all();
    idle_cv_.notify_all();
  }

  uint64_t TakeDropped() {
    std::lock_guard lock(mu_);
    return std::exchange(dropped_, 0);
  }

 private:
  class Sink final : public EvictionSink {
   public:
    Sink(DemotionQueue* queue, size_t tier) : queue_(queue), tier_(tier) {}
    void OnEvict(std::string_view key, const BlockData& data) override {
      queue_->Push(tier_, key, data);
    }

   private:
    DemotionQueue* queue_;
    size_t tier_;
  };

  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Item> items_;
  uint64_t bytes_ = 0;
  uint64_t dropped_ = 0;
  int in_progress_ = 0;
  bool closed_ = false;
  std::vector<std::unique_ptr<Sink>> sinks_;
};

// A persistent tier's reader, hashed as it goes when verification applies. It keeps the chain
// (and so the tier's library) alive for as long as it is read.
class BlockStore::TierStream final : public BlockStream {
 public:
  TierStream(std::shared_ptr<const Chain> chain, std::unique_ptr<BlockReader> reader,
             const Cid& cid, bool verify, BlockStore* store, std::string label)
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
  Cid cid_;
  bool verify_;
  BlockStore* store_;
  std::string label_;
  uint64_t offset_ = 0;
  format::Sha256Stream hasher_;
};

BlockStore::BlockStore(runtime::Runtime& runtime, prometheus::Registry& registry)
    : runtime_(runtime),
      id_(g_next_number.fetch_add(1)),
      sketch_(std::make_unique<FrequencySketch>()),
      governor_(0, this),
      demotions_(std::make_shared<DemotionQueue>()),
      reads_(prometheus::BuildCounter()
                 .Name("boxcar_store_reads_total")
                 .Help("Block reads below the top tier by tier and result (hit, miss, "
                       "absent: answered by the key cache or bloom filter without I/O)")
                 .Register(registry)),
      read_hits_(reads_.Add({{"result", "hit"}})),
      read_misses_(reads_.Add({{"result", "miss"}})),
      read_absent_(reads_.Add({{"result", "absent"}})),
      writes_(prometheus::BuildCounter()
                  .Name("boxcar_store_writes_total")
                  .Help("Blocks written by result (stored, rejected, failed)")
                  .Register(registry)),
      corrupt_(prometheus::BuildCounter()
                   .Name("boxcar_store_corruption_total")
                   .Help("Blocks that failed verification, by tier; their bytes were not returned")
                   .Register(registry)),
      moves_(prometheus::BuildCounter()
                 .Name("boxcar_store_moves_total")
                 .Help("Blocks moved between tiers: promoted, demoted, demotion_dropped")
                 .Register(registry)),
      tier_gauges_(prometheus::BuildGauge()
                       .Name("boxcar_store_tier")
                       .Help("Tier statistics by slot, plugin and stat (entries, bytes, "
                             "capacity_bytes, hits, misses, evictions, rejected)")
                       .Register(registry)),
      budget_gauge_(prometheus::BuildGauge()
                        .Name("boxcar_store_memory_budget_bytes")
                        .Help("The memory budget of memory tiers and buffers")
                        .Register(registry)
                        .Add({})),
      used_gauge_(prometheus::BuildGauge()
                      .Name("boxcar_store_memory_used_bytes")
                      .Help("Bytes held by memory tiers plus bytes reserved for buffers")
                      .Register(registry)
                      .Add({})),
      read_groups_(prometheus::BuildCounter()
                       .Name("boxcar_store_read_groups_total")
                       .Help("Groups of reads the batcher plugin formed in multi-gets")
                       .Register(registry)
                       .Add({})),
      shrink_counter_(prometheus::BuildCounter()
                          .Name("boxcar_store_memory_shrinks_total")
                          .Help("Times the memory governor shrank the memory tiers")
                          .Register(registry)
                          .Add({})),
      refusal_counter_(prometheus::BuildCounter()
                           .Name("boxcar_store_memory_refusals_total")
                           .Help("Requests refused because the memory budget was exhausted")
                           .Register(registry)
                           .Add({})),
      breaker_state_(prometheus::BuildGauge()
                         .Name("boxcar_store_breaker_state")
                         .Help("Circuit breaker of each persistent tier: 0 closed, 1 open, "
                               "2 half-open")
                         .Register(registry)),
      breaker_changes_(prometheus::BuildCounter()
                           .Name("boxcar_store_breaker_transitions_total")
                           .Help("Circuit breaker state changes by tier and new state")
                           .Register(registry)) {
  std::shared_ptr<DemotionQueue> queue = demotions_;
  runtime_.AttachStore([queue](size_t tier) { return queue->SinkFor(tier); });
  demoter_ = std::thread([this] { RunDemotions(); });
  maintainer_ = std::thread([this] { Maintain(); });
}

BlockStore::~BlockStore() {
  if (t_chain_.store_id == id_) t_chain_ = ThreadChain();
  {
    std::lock_guard lock(maintain_mu_);
    stopping_ = true;
  }
  maintain_cv_.notify_all();
  demotions_->Close();
  for (std::thread* t : {&demoter_, &maintainer_, &bloom_builder_}) {
    if (t->joinable()) t->join();
  }
}

// ---- the tier chain ----

Status BlockStore::Refresh() {
  std::shared_ptr<const runtime::Generation> gen = runtime_.Current();
  if (!gen || gen->instances.size() <= runtime::kFirstTierSlot) {
    return Status::InvalidArgument("the runtime has no store tiers: apply a config first");
  }
  auto chain = std::make_shared<Chain>();
  chain->generation = gen;
  chain->settings = gen->config->store;
  for (size_t slot = runtime::kFirstTierSlot; slot < gen->instances.size(); ++slot) {
    runtime::Instance& inst = *gen->instances[slot];
    Tier tier;
    tier.slot = slot;
    tier.instance = &inst;
    tier.persistent = inst.Has(kPersistent);
    tier.max_block_bytes = gen->config->slots[slot].max_block_bytes;
    tier.label = inst.slot() + " (" + inst.info().name + ")";
    if (tier.persistent) {
      tier.breaker =
          BreakerFor(gen->config->slots[slot].dir, tier.label, gen->config->engine.breaker);
    }
    chain->tiers.push_back(std::move(tier));
  }
  if (!chain->tiers.back().persistent) {
    return Status::InvalidArgument("the last store tier, " + chain->tiers.back().label +
                                   ", is not persistent: add a persistent tier such as leveldb");
  }
  const bool first = [&] {
    std::lock_guard lock(chain_mu_);
    const bool was_empty = chain_ == nullptr;
    chain_ = chain;
    chain_version_.store(g_next_number.fetch_add(1), std::memory_order_release);
    return was_empty;
  }();
  governor_.SetBudget(chain->settings.memory_budget_bytes);
  for (size_t i = 0; i < chain->tiers.size(); ++i) {
    // Every tier's series exists from the start, so a dashboard or alert sees 0, not no data.
    corrupt_.Add({{"tier", chain->tiers[i].label}});
    if (!chain->tiers[i].persistent) WarnIfOverBudget(*chain, i);
  }
  if (first) {
    key_cache_ = std::make_unique<KeyCache>(chain->settings.key_cache_entries);
    if (chain->settings.bloom_bits_per_key > 0) StartBloomBuild();
  }
  return Status::OK();
}

// PutInMemory holds a memory tier to the budget whatever its own capacity; say so, because the
// tier's stats still show the capacity it was configured with.
void BlockStore::WarnIfOverBudget(const Chain& chain, size_t tier) {
  TierStats stats;
  CallTier(chain, tier, [&](CacheTier& t) {
    stats = t.Stats();
    return Status::OK();
  });
  const uint64_t budget = governor_.budget();
  if (stats.capacity_bytes <= budget) return;
  obs::Logger("store")->warn(
      "{} has capacity_bytes {} but store.memory_budget_bytes is {}: it is capped at the budget, "
      "shared with the other memory tiers and large buffers; lower its capacity_bytes or raise "
      "the budget",
      chain.tiers[tier].label, stats.capacity_bytes, budget);
}

std::shared_ptr<const BlockStore::Chain> BlockStore::CurrentChain() {
  std::lock_guard lock(chain_mu_);
  return chain_;
}

// Called when a tier of `stale` was retired: a reload published a generation the store has not
// picked up yet.
std::shared_ptr<const BlockStore::Chain> BlockStore::Reload(
    const std::shared_ptr<const Chain>& stale) {
  {
    std::lock_guard lock(chain_mu_);
    if (chain_ != stale) return chain_;
  }
  if (!Refresh().ok()) std::this_thread::yield();
  return CurrentChain();
}

namespace {

// Failures that say the tier itself is in trouble, as opposed to an answer about one block.
bool IsTierFailure(const Status& s) {
  return s.code() == Status::Code::kIOError || s.code() == Status::Code::kInternal ||
         s.code() == Status::Code::kUnavailable;
}

}  // namespace

// The breaker of the persistent tier kept in `dir`, created on first use and reconfigured on
// every Refresh. Keyed by directory, like the tier's identity across reloads, so a reload that
// rebuilds the tier in place keeps what the breaker has seen.
CircuitBreaker* BlockStore::BreakerFor(const std::string& dir, const std::string& label,
                                       const runtime::BreakerConfig& config) {
  BreakerOptions options;
  options.failure_threshold = config.failure_threshold;
  options.open_ns = config.open_ms * 1'000'000;
  options.max_open_ns = config.max_open_ms * 1'000'000;
  options.recovery_ns = config.recovery_ms * 1'000'000;
  std::lock_guard lock(breakers_mu_);
  std::unique_ptr<CircuitBreaker>& breaker = breakers_[dir];
  if (breaker) {
    breaker->Reconfigure(options);
    return breaker.get();
  }
  prometheus::Gauge* state = &breaker_state_.Add({{"tier", dir}});
  breaker = std::make_unique<CircuitBreaker>(
      label, options,
      [this, dir, label, state](BreakerState from, BreakerState to, const std::string& reason) {
        state->Set(static_cast<double>(to));
        breaker_changes_.Add({{"tier", dir}, {"to", BreakerStateName(to)}}).Increment();
        spdlog::warn("circuit breaker of {}: {} -> {} ({})", label, BreakerStateName(from),
                     BreakerStateName(to), reason);
      });
  return breaker.get();
}

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

// ---- reads ----

bool BlockStore::ProbablyAbsent(std::string_view key) {
  uint64_t size = 0;
  switch (key_cache_->Lookup(key, &size)) {
    case KeyCache::Answer::kAbsent:
      return true;
    case KeyCache::Answer::kPresent:
      return false;
    case KeyCache::Answer::kUnknown:
      break;
  }
  if (!bloom_ready_.load(std::memory_order_acquire)) return false;
  return !bloom_->MayContain(key);
}

Status BlockStore::Get(const Cid& cid, BlockData* out) {
  if (cid.IsIdentity()) {
    *out = std::make_shared<const std::string>(cid.hash().digest());
    return Status::OK();
  }
  return OnChain(
      [&](const std::shared_ptr<const Chain>& chain) { return GetFrom(*chain, cid, out); });
}

Status BlockStore::GetFrom(const Chain& chain, const Cid& cid, BlockData* out) {
  const std::string& key = cid.hash().bytes();
  bool below_memory = false;
  uint64_t ticket = 0;
  for (size_t i = 0; i < chain.tiers.size(); ++i) {
    const Tier& tier = chain.tiers[i];
    if (tier.persistent && !below_memory) {
      below_memory = true;
      if (ProbablyAbsent(key)) {
        read_absent_.Increment();
        return Status::NotFound("block " + cid.ToString() + " is not in the store");
      }
      ticket = key_cache_->Ticket(key);
    }
    BlockData data;
    Status s = CallTier(chain, i, [&](CacheTier& t) { return t.Get(key, &data); });
    if (s.IsNotFound()) continue;
    if (!s.ok()) {
      if (s.code() == Status::Code::kCorruption) ReportCorruption(tier.label, cid, s.message());
      return s;
    }
    if (Status v = CheckRead(chain, i, cid, data); !v.ok()) return v;
    // Learned sizes let the frontends price a request before reading (KnownSize).
    if (below_memory) key_cache_->RecordFound(key, data->size(), ticket);
    if (i > 0) {
      read_hits_.Increment();
      MaybePromote(chain, i, key, data);
    }
    *out = std::move(data);
    return Status::OK();
  }
  read_misses_.Increment();
  key_cache_->RecordAbsent(key, ticket);
  return Status::NotFound("block " + cid.ToString() + " is not in the store");
}

void BlockStore::GetMany(const std::vector<Cid>& cids, std::vector<BlockData>* blocks,
                         std::vector<Status>* results) {
  blocks->assign(cids.size(), nullptr);
  results->assign(cids.size(), Status::OK());
  const Clock& clock = *runtime_.context().clock;
  size_t begin = 0;
  PendingBatch pending;
  for (size_t i = 0; i < cids.size(); ++i) {
    if (pending.items == 0) pending.oldest_ns = clock.NowNs();
    ++pending.items;
    uint64_t size = 0;
    if (key_cache_->Lookup(cids[i].hash().bytes(), &size) == KeyCache::Answer::kPresent) {
      pending.bytes += size;
    }
    pending.now_ns = clock.NowNs();
    const bool last = i + 1 == cids.size();
    const bool flush = last || runtime_.Call<Batcher>(runtime::kBatcherSlot, [&](Batcher& b) {
      return b.ShouldFlush(pending);
    });
    if (!flush) continue;
    const int64_t start = clock.NowNs();
    OnChain([&](const std::shared_ptr<const Chain>& chain) {
      return GetGroup(*chain, cids, begin, i + 1, blocks, results);
    });
    uint64_t bytes = 0;
    for (size_t j = begin; j <= i; ++j) bytes += (*blocks)[j] ? (*blocks)[j]->size() : 0;
    const int64_t latency = clock.NowNs() - start;
    read_groups_.Increment();
    runtime_.Call<Batcher>(runtime::kBatcherSlot, [&](Batcher& b) {
      b.OnBatchComplete(pending.items, bytes, latency);
      return 0;
    });
    begin = i + 1;
    pending = PendingBatch();
  }
}

// One group: each tier is asked once for every block still missing, top to bottom.
Status BlockStore::GetGroup(const Chain& chain, const std::vector<Cid>& cids, size_t begin,
                            size_t end, std::vector<BlockData>* blocks,
                            std::vector<Status>* results) {
  std::vector<size_t> missing;
  for (size_t i = begin; i < end; ++i) {
    if (cids[i].IsIdentity()) {
      (*blocks)[i] = std::make_shared<const std::string>(cids[i].hash().digest());
    } else {
      missing.push_back(i);
    }
  }
  bool below_memory = false;
  std::vector<uint64_t> tickets(end - begin);  // taken as a key goes below the memory tiers
  for (size_t t = 0; t < chain.tiers.size() && !missing.empty(); ++t) {
    if (chain.tiers[t].persistent && !below_memory) {
      below_memory = true;
      std::erase_if(missing, [&](size_t i) {
        if (!ProbablyAbsent(cids[i].hash().bytes())) return false;
        (*results)[i] = Status::NotFound("block " + cids[i].ToString() + " is not in the store");
        return true;
      });
      for (size_t i : missing) tickets[i - begin] = key_cache_->Ticket(cids[i].hash().bytes());
    }
    std::vector<std::string_view> keys;
    for (size_t i : missing) keys.push_back(cids[i].hash().bytes());
    std::vector<BlockData> found;
    std::vector<Status> status;
    // A per-key failure of the tier itself (not a miss) is what its breaker counts.
    Status s = CallTier(chain, t, [&](CacheTier& tier) {
      tier.GetMany(keys, &found, &status);
      for (const Status& one : status) {
        if (IsTierFailure(one)) return one;
      }
      return Status::OK();
    });
    if (status.size() != keys.size()) {
      if (t_retired) return s;                     // OnChain reruns the group on the new generation
      for (size_t i : missing) (*results)[i] = s;  // the breaker is open: fail fast
      return Status::OK();
    }
    std::vector<size_t> still;
    for (size_t k = 0; k < missing.size(); ++k) {
      const size_t i = missing[k];
      if (status[k].IsNotFound()) {
        still.push_back(i);
        continue;
      }
      if (!status[k].ok()) {
        if (status[k].code() == Status::Code::kCorruption) {
          ReportCorruption(chain.tiers[t].label, cids[i], status[k].message());
        }
      } else if (status[k] = CheckRead(chain, t, cids[i], found[k]); status[k].ok()) {
        if (below_memory) key_cache_->RecordFound(keys[k], found[k]->size(), tickets[i - begin]);
        if (t > 0) MaybePromote(chain, t, keys[k], found[k]);
        (*blocks)[i] = std::move(found[k]);
      }
      (*results)[i] = std::move(status[k]);
    }
    missing = std::move(still);
  }
  for (size_t i : missing) {
    (*results)[i] = Status::NotFound("block " + cids[i].ToString() + " is not in the store");
  }
  return Status::OK();
}

void BlockStore::ReportCorruption(const std::string& tier, const Cid& cid,
                                  const std::string& problem) {
  corruption_.fetch_add(1, std::memory_order_relaxed);
  corrupt_.Add({{"tier", tier}}).Increment();
  obs::Logger("store")->error("block {} in {} is corrupt: {}", cid.ToString(), tier, problem);
}

Status BlockStore::CheckRead(const Chain& chain, size_t tier, const Cid& cid,
                             const BlockData& data) {
  using Verify = runtime::StoreConfig::VerifyReads;
  const Verify policy = chain.settings.verify_reads;
  if (policy == Verify::kOff) return Status::OK();
  if (policy == Verify::kPersistent && !chain.tiers[tier].persistent) return Status::OK();
  Status s = cid.Verify(*data);
  if (s.ok()) return s;
  ReportCorruption(chain.tiers[tier].label, cid, s.message());
  return Status::Corruption("block " + cid.ToString() + " read from " + chain.tiers[tier].label +
                            " does not match its hash (" + s.message() +
                            "); the bytes were withheld. Run `boxcar verify` to find every "
                            "damaged block");
}

// Every put into a memory tier passes the governor, which checks the budget and puts under one
// lock: without it the tiers fill to their own capacities and the governor only shrinks them back
// a maintenance tick later. Only promotions, demotions and writes pay for it (a Stats call on each
// memory tier); reads that hit memory never do.
Status BlockStore::PutInMemory(const Chain& chain, size_t tier, std::string_view key,
                               const BlockData& data, PutReason reason) {
  const uint64_t charge = key.size() + data->size() + kEntryOverheadAllowance;
  return governor_.Admit(charge, [&] {
    return CallTier(chain, tier, [&](CacheTier& t) { return t.Put(key, data, reason); });
  });
}

void BlockStore::MaybePromote(const Chain& chain, size_t found_at, std::string_view key,
                              const BlockData& data) {
  if (data->size() > chain.settings.stream_block_bytes) return;
  if (sketch_->Increment(key) < static_cast<uint32_t>(chain.settings.promote_after_hits)) return;
  for (size_t j = 0; j < found_at; ++j) {
    if (!chain.Holds(j, data->size())) continue;
    Status s = PutInMemory(chain, j, key, data, PutReason::kPromotion);
    if (s.ok()) moves_.Add({{"move", "promoted"}}).Increment();
  }
}

Status BlockStore::Has(const Cid& cid, uint64_t* size) {
  if (cid.IsIdentity()) {
    *size = cid.hash().digest().size();
    return Status::OK();
  }
  const std::string& key = cid.hash().bytes();
  switch (key_cache_ ? key_cache_->Lookup(key, size) : KeyCache::Answer::kUnknown) {
    case KeyCache::Answer::kPresent:
      return Status::OK();
    case KeyCache::Answer::kAbsent:
      return Status::NotFound("block " + cid.ToString() + " is not in the store");
    case KeyCache::Answer::kUnknown:
      break;
  }
  return OnChain([&](const std::shared_ptr<const Chain>& chain) {
    if (ProbablyAbsent(key))
      return Status::NotFound("block " + cid.ToString() + " is not in the store");
    const uint64_t ticket = key_cache_->Ticket(key);
    for (size_t i = 0; i < chain->tiers.size(); ++i) {
      Status s = CallTier(*chain, i, [&](CacheTier& t) { return t.Contains(key, size); });
      if (s.IsNotFound()) continue;
      if (s.ok()) key_cache_->RecordFound(key, *size, ticket);
      return s;
    }
    key_cache_->RecordAbsent(key, ticket);
    return Status::NotFound("block " + cid.ToString() + " is not in the store");
  });
}

uint64_t BlockStore::KnownSize(const Cid& cid) {
  if (cid.IsIdentity()) return cid.hash().digest().size();
  uint64_t size = 0;
  if (!key_cache_ || key_cache_->Lookup(cid.hash().bytes(), &size) != KeyCache::Answer::kPresent)
    return 0;
  return size;
}

Status BlockStore::OpenStream(const Cid& cid, std::unique_ptr<BlockStream>* out) {
  if (cid.IsIdentity()) {
    *out = std::make_unique<MemoryStream>(std::make_shared<const std::string>(cid.hash().digest()));
    return Status::OK();
  }
  const std::string& key = cid.hash().bytes();
  return OnChain([&](const std::shared_ptr<const Chain>& chain) {
    for (size_t i = 0; i < chain->tiers.size(); ++i) {
      const Tier& tier = chain->tiers[i];
      if (!tier.persistent) {
        BlockData data;
        Status s = CallTier(*chain, i, [&](CacheTier& t) { return t.Get(key, &data); });
        if (s.IsNotFound()) continue;
        if (!s.ok()) return s;
        if (Status v = CheckRead(*chain, i, cid, data); !v.ok()) return v;
        *out = std::make_unique<MemoryStream>(std::move(data));
        return Status::OK();
      }
      std::unique_ptr<BlockReader> reader;
      Status s = CallTier(*chain, i, [&](CacheTier& t) { return t.OpenReader(key, &reader); });
      if (s.IsNotFound()) continue;
      if (s.IsNotSupported()) {
        BlockData data;
        s = GetFrom(*chain, cid, &data);
        if (s.ok()) *out = std::make_unique<MemoryStream>(std::move(data));
        return s;
      }
      if (!s.ok()) return s;
      const bool verify = chain->settings.verify_reads != runtime::StoreConfig::VerifyReads::kOff;
      *out = std::make_unique<TierStream>(chain, std::move(reader), cid, verify, this, tier.label);
      return Status::OK();
    }
    return Status::NotFound("block " + cid.ToString() + " is not in the store");
  });
}

// ---- writes ----

size_t BlockStore::HomeTier(const Chain& chain, uint64_t size) const {
  for (size_t i = 0; i < chain.tiers.size(); ++i) {
    if (chain.tiers[i].persistent && chain.tiers[i].Accepts(size)) return i;
  }
  return chain.tiers.size() - 1;  // the last tier takes every size; Refresh checked it persists
}

void BlockStore::NoteWritten(std::string_view key, uint64_t size) {
  {
    std::lock_guard lock(bloom_mu_);
    if (bloom_) bloom_->Add(key);
    if (building_) building_->Add(key);
  }
  key_cache_->RecordPresent(key, size);
}

void BlockStore::TrackWrite(std::string_view key) {
  if (!tracking_.load(std::memory_order_acquire)) return;
  std::lock_guard lock(tracking_mu_);
  written_.emplace(key);
}

// A tier skips a put of a key it already holds (leveldb and flatfs both do), so without this a
// damaged copy would survive every re-import of its block. Puts come from imports, never from the
// read path, which makes the check affordable: a key the key cache or bloom filter rules out costs
// nothing, a new key one index lookup, and only a key already stored is read back and compared
// with the incoming bytes, which the store has just verified (a compare, no second hash). Always
// rewriting instead would turn every re-import into a full rewrite with its fsyncs.
Status BlockStore::DropDamagedCopy(const Chain& chain, size_t home, std::string_view key,
                                   const BlockData& incoming) {
  if (ProbablyAbsent(key)) return Status::OK();
  uint64_t size = 0;
  Status has = CallTier(chain, home, [&](CacheTier& t) { return t.Contains(key, &size); });
  if (has.IsNotFound()) return Status::OK();
  if (has.ok()) {
    BlockData stored;
    has = CallTier(chain, home, [&](CacheTier& t) { return t.Get(key, &stored); });
    if (has.ok() && *stored == *incoming) return Status::OK();
  }
  if (!has.ok() && has.code() != Status::Code::kCorruption) return has;
  obs::Logger("store")->warn("{} holds a damaged copy of block {}; rewriting it",
                             chain.tiers[home].label, KeyName(key));
  return CallTier(chain, home, [&](CacheTier& t) { return t.Delete(key); });
}

Status BlockStore::CommitGroup(const Chain& chain, size_t home,
                               const std::vector<std::pair<std::string, BlockData>>& entries) {
  for (const auto& [key, data] : entries) {
    if (Status s = DropDamagedCopy(chain, home, key, data); !s.ok()) {
      return s.Annotate("checking the stored copy in " + chain.tiers[home].label);
    }
  }
  // Tracked before the write, so a GC sweep that lists the key after the write also sees it here.
  std::shared_lock gate(write_gate_);
  for (const auto& [key, data] : entries) TrackWrite(key);
  Status s = CallTier(chain, home, [&](CacheTier& t) {
    if (entries.size() == 1) return t.Put(entries[0].first, entries[0].second, PutReason::kWrite);
    return t.PutBatch(entries, PutReason::kWrite);
  });
  if (!s.ok()) {
    writes_.Add({{"result", "failed"}}).Increment(static_cast<double>(entries.size()));
    return s.Annotate("writing to " + chain.tiers[home].label);
  }
  for (const auto& [key, data] : entries) NoteWritten(key, data->size());
  writes_.Add({{"result", "stored"}}).Increment(static_cast<double>(entries.size()));
  return s;
}

void BlockStore::Populate(const Chain& chain, size_t home,
                          const std::vector<std::pair<std::string, BlockData>>& entries) {
  if (!chain.settings.populate_on_write) return;
  for (size_t j = 0; j < home; ++j) {
    if (chain.tiers[j].persistent) continue;
    for (const auto& entry : entries) {
      if (!chain.Holds(j, entry.second->size())) continue;
      PutInMemory(chain, j, entry.first, entry.second, PutReason::kWrite);
    }
  }
}

namespace {

Status CheckBlock(const Cid& cid, const std::string& data, uint64_t max_bytes) {
  if (data.size() > max_bytes) {
    return Status::InvalidArgument(
        "block " + cid.ToString() + " has " + std::to_string(data.size()) +
        " bytes, more than store.max_block_bytes (" + std::to_string(max_bytes) + ")");
  }
  if (Status s = cid.Verify(data); !s.ok()) {
    return Status::InvalidArgument("block bytes do not match CID " + cid.ToString() + ": " +
                                   s.message());
  }
  return Status::OK();
}

}  // namespace

Status BlockStore::Put(const Cid& cid, BlockData data) {
  return PutBatch({{cid, std::move(data)}});
}

Status BlockStore::PutBatch(const std::vector<std::pair<Cid, BlockData>>& blocks) {
  return OnChain([&](const std::shared_ptr<const Chain>& chain) {
    std::map<size_t, std::vector<std::pair<std::string, BlockData>>> by_home;
    for (const auto& [cid, data] : blocks) {
      if (Status s = CheckBlock(cid, *data, chain->settings.max_block_bytes); !s.ok()) {
        writes_.Add({{"result", "rejected"}}).Increment();
        return s;
      }
      if (cid.IsIdentity()) continue;
      by_home[HomeTier(*chain, data->size())].emplace_back(cid.hash().bytes(), data);
    }
    for (const auto& [home, entries] : by_home) {
      if (Status s = CommitGroup(*chain, home, entries); !s.ok()) return s;
      Populate(*chain, home, entries);
    }
    return Status::OK();
  });
}

Status BlockStore::PutStream(const Cid& cid, uint64_t size, const ChunkSource& source) {
  std::shared_ptr<const Chain> chain = CurrentChain();
  if (!chain) return Status::Unavailable("the block store is not open yet");
  if (size > chain->settings.max_block_bytes) {
    return Status::InvalidArgument("block " + cid.ToString() + " has " + std::to_string(size) +
                                   " bytes, more than store.max_block_bytes (" +
                                   std::to_string(chain->settings.max_block_bytes) + ")");
  }
  auto read_exactly = [&](std::string* out) -> Status {
    out->resize(size);
    uint64_t at = 0;
    while (at < size) {
      size_t got = 0;
      if (Status s = source(out->data() + at, size - at, &got); !s.ok()) return s;
      if (got == 0) break;
      at += got;
    }
    if (at != size) {
      return Status::InvalidArgument("block " + cid.ToString() + " ended after " +
                                     std::to_string(at) + " of " + std::to_string(size) + " bytes");
    }
    return Status::OK();
  };
  const bool small = size <= chain->settings.stream_block_bytes;
  if (small || cid.hash().code() != format::kSha2_256) {
    Reservation buffer;
    if (!small) {
      if (Status s = governor_.Reserve(size, "block " + cid.ToString(), &buffer); !s.ok()) return s;
    }
    auto data = std::make_shared<std::string>();
    if (Status s = read_exactly(data.get()); !s.ok()) return s;
    return Put(cid, std::move(data));
  }
  Reservation buffer;
  if (Status s = governor_.Reserve(kStreamChunkBytes, "streaming block " + cid.ToString(), &buffer);
      !s.ok()) {
    return s;
  }
  const size_t home = HomeTier(*chain, size);
  const std::string& key = cid.hash().bytes();
  if (Status r = DropDamagedStream(chain, home, cid); !r.ok()) return r;
  std::unique_ptr<BlockWriter> writer;
  Status s = CallTier(*chain, home, [&](CacheTier& t) {
    return t.OpenWriter(key, size, PutReason::kWrite, &writer);
  });
  if (s.IsNotSupported()) {
    auto data = std::make_shared<std::string>();
    if (Status r = governor_.Reserve(size, "block " + cid.ToString(), &buffer); !r.ok()) return r;
    if (Status r = read_exactly(data.get()); !r.ok()) return r;
    return Put(cid, std::move(data));
  }
  if (!s.ok()) return s;
  format::Sha256Stream hasher;
  std::string chunk(kStreamChunkBytes, '\0');
  uint64_t total = 0;
  while (total < size) {
    size_t got = 0;
    if (Status r = source(chunk.data(), std::min<uint64_t>(chunk.size(), size - total), &got);
        !r.ok()) {
      return r;
    }
    if (got == 0) break;
    const std::string_view piece(chunk.data(), got);
    hasher.Update(piece);
    if (Status r = writer->Append(piece); !r.ok()) return r;
    total += got;
  }
  if (total != size) {
    return Status::InvalidArgument("block " + cid.ToString() + " ended after " +
                                   std::to_string(total) + " of " + std::to_string(size) +
                                   " bytes");
  }
  unsigned char digest[format::kSha256Bytes];
  hasher.Final(digest);
  if (std::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)) !=
      cid.hash().digest()) {
    writes_.Add({{"result", "rejected"}}).Increment();
    return Status::InvalidArgument("block bytes do not match CID " + cid.ToString() +
                                   ": sha2-256 digest mismatch; nothing was stored");
  }
  std::shared_lock gate(write_gate_);
  TrackWrite(key);
  if (Status r = writer->Commit(); !r.ok()) return r;
  NoteWritten(key, size);
  writes_.Add({{"result", "stored"}}).Increment();
  return Status::OK();
}

// DropDamagedCopy for a block too large to hold: the stored copy is hashed as it streams.
Status BlockStore::DropDamagedStream(const std::shared_ptr<const Chain>& chain, size_t home,
                                     const Cid& cid) {
  const std::string& key = cid.hash().bytes();
  if (ProbablyAbsent(key)) return Status::OK();
  std::unique_ptr<BlockReader> reader;
  Status s = CallTier(*chain, home, [&](CacheTier& t) { return t.OpenReader(key, &reader); });
  if (s.IsNotFound()) return Status::OK();
  if (s.ok()) {
    TierStream stream(chain, std::move(reader), cid, true, this, chain->tiers[home].label);
    std::string buf(kStreamChunkBytes, '\0');
    size_t got = 0;
    do {
      s = stream.Read(buf.data(), buf.size(), &got);
    } while (s.ok() && got > 0);
    if (s.ok()) return s;
  }
  if (s.code() != Status::Code::kCorruption) return s;
  obs::Logger("store")->warn("{} holds a damaged copy of block {}; rewriting it",
                             chain->tiers[home].label, cid.ToString());
  return CallTier(*chain, home, [&](CacheTier& t) { return t.Delete(key); });
}

Status BlockStore::Delete(std::string_view key) {
  return OnChain([&](const std::shared_ptr<const Chain>& chain) {
    for (size_t i = 0; i < chain->tiers.size(); ++i) {
      if (Status s = CallTier(*chain, i, [&](CacheTier& t) { return t.Delete(key); }); !s.ok()) {
        return s;
      }
    }
    key_cache_->Forget(key);
    return Status::OK();
  });
}

// ---- scans ----

Status BlockStore::ScanStored(const std::function<bool(std::string_view, uint64_t)>& visit) {
  return OnChain([&](const std::shared_ptr<const Chain>& chain) {
    bool go_on = true;
    for (size_t i = 0; i < chain->tiers.size() && go_on; ++i) {
      if (!chain->tiers[i].persistent) continue;
      Status s = CallTier(*chain, i, [&](CacheTier& t) {
        return t.Scan([&](std::string_view key, uint64_t size) {
          go_on = visit(key, size);
          return go_on;
        });
      });
      if (!s.ok()) return s;
    }
    return Status::OK();
  });
}

Status BlockStore::Scrub(std::vector<CorruptBlock>* corrupt, uint64_t* checked) {
  *checked = 0;
  std::shared_ptr<const Chain> chain = CurrentChain();
  if (!chain) return Status::Unavailable("the block store is not open yet");
  for (size_t i = 0; i < chain->tiers.size(); ++i) {
    const Tier& tier = chain->tiers[i];
    // Keys first: a tier's Scan may hold its locks while it visits.
    std::vector<std::string> keys;
    Status s = CallTier(*chain, i, [&](CacheTier& t) {
      return t.Scan([&](std::string_view key, uint64_t) {
        keys.emplace_back(key);
        return true;
      });
    });
    if (s.IsNotSupported()) continue;
    if (!s.ok()) return s;
    for (const std::string& key : keys) {
      ++*checked;
      Multihash mh;
      if (Status p = Multihash::FromBytes(key, &mh); !p.ok()) {
        corrupt->push_back({tier.label, key, "the key is not a multihash: " + p.message()});
        continue;
      }
      const Cid cid = Cid::V1(format::kRaw, mh);
      std::unique_ptr<BlockReader> reader;
      Status problem =
          CallTier(*chain, i, [&](CacheTier& t) { return t.OpenReader(key, &reader); });
      if (problem.IsNotSupported()) {
        BlockData data;
        problem = CallTier(*chain, i, [&](CacheTier& t) { return t.Get(key, &data); });
        if (problem.ok()) problem = mh.Verify(*data);
      } else if (problem.ok()) {
        TierStream stream(chain, std::move(reader), cid, true, this, tier.label);
        std::string buf(kStreamChunkBytes, '\0');
        size_t got = 0;
        do {
          problem = stream.Read(buf.data(), buf.size(), &got);
        } while (problem.ok() && got > 0);
        if (problem.ok() && mh.code() != format::kSha2_256) {
          BlockData data;
          problem = CallTier(*chain, i, [&](CacheTier& t) { return t.Get(key, &data); });
          if (problem.ok()) problem = mh.Verify(*data);
        }
      }
      if (problem.IsNotFound()) continue;  // deleted since the scan
      if (!problem.ok()) corrupt->push_back({tier.label, key, problem.message()});
    }
  }
  return Status::OK();
}

// ---- GC support ----

void BlockStore::StartTrackingWrites() {
  std::unique_lock gate(write_gate_);
  std::lock_guard lock(tracking_mu_);
  written_.clear();
  tracking_.store(true, std::memory_order_release);
}

bool BlockStore::WrittenWhileTracking(std::string_view key) {
  std::lock_guard lock(tracking_mu_);
  return written_.count(std::string(key)) != 0;
}

void BlockStore::StopTrackingWrites() {
  std::lock_guard lock(tracking_mu_);
  tracking_.store(false, std::memory_order_release);
  written_.clear();
}

// ---- demotion ----

void BlockStore::Demote(size_t from_tier, const std::string& key, const BlockData& data) {
  OnChain([&](const std::shared_ptr<const Chain>& chain) {
    for (size_t j = from_tier + 1; j < chain->tiers.size(); ++j) {
      if (!chain->Holds(j, data->size())) continue;
      uint64_t size = 0;
      Status has = CallTier(*chain, j, [&](CacheTier& t) { return t.Contains(key, &size); });
      if (has.ok()) return has;
      Status s =
          chain->tiers[j].persistent
              ? CallTier(*chain, j,
                         [&](CacheTier& t) { return t.Put(key, data, PutReason::kDemotion); })
              : PutInMemory(*chain, j, key, data, PutReason::kDemotion);
      if (s.ok()) moves_.Add({{"move", "demoted"}}).Increment();
      return s;
    }
    return Status::OK();
  });
}

void BlockStore::RunDemotions() {
  DemotionQueue::Item item;
  while (demotions_->Pop(&item)) {
    Demote(item.tier, item.key, item.data);
    item = {};
    demotions_->Done();
  }
}

void BlockStore::FlushDemotions() { demotions_->WaitIdle(); }

// ---- bloom filter ----

void BlockStore::StartBloomBuild() {
  bloom_builder_ = std::thread([this] { BuildBloom(); });
}

// Fills a new filter from a scan of the persistent tiers while writes go to both filters, then
// swaps it in. Until the first build completes the filter answers nothing.
void BlockStore::BuildBloom() {
  std::shared_ptr<const Chain> chain = CurrentChain();
  uint64_t expected = 0;
  for (size_t i = 0; i < chain->tiers.size(); ++i) {
    if (!chain->tiers[i].persistent) continue;
    CallTier(*chain, i, [&](CacheTier& t) {
      expected += t.Stats().entries;
      return Status::OK();
    });
  }
  auto filter = std::make_shared<BloomFilter>(expected * 2, chain->settings.bloom_bits_per_key);
  {
    std::lock_guard lock(bloom_mu_);
    building_ = filter;
  }
  Status s = ScanStored([&](std::string_view key, uint64_t) {
    filter->Add(key);
    std::lock_guard lock(maintain_mu_);
    return !stopping_;
  });
  std::lock_guard lock(bloom_mu_);
  building_.reset();
  if (!s.ok()) {
    obs::Logger("store")->warn("no bloom filter: scanning the persistent tiers failed: {}",
                               s.ToString());
    return;
  }
  bloom_ = filter;
  bloom_ready_.store(true, std::memory_order_release);
}

// ---- memory ----

uint64_t BlockStore::CachedBytes() {
  std::shared_ptr<const Chain> chain = CurrentChain();
  if (!chain) return 0;
  uint64_t bytes = 0;
  for (size_t i = 0; i < chain->tiers.size(); ++i) {
    if (chain->tiers[i].persistent) continue;
    TierStats stats;
    CallTier(*chain, i, [&](CacheTier& t) {
      stats = t.Stats();
      return Status::OK();
    });
    bytes += stats.bytes;
  }
  return bytes;
}

// Each memory tier gives up the same fraction of what it holds.
uint64_t BlockStore::ShrinkTo(uint64_t target) {
  std::shared_ptr<const Chain> chain = CurrentChain();
  if (!chain) return 0;
  const uint64_t total = CachedBytes();
  if (total == 0) return 0;
  const double keep = std::min(1.0, static_cast<double>(target) / static_cast<double>(total));
  uint64_t now = 0;
  for (size_t i = 0; i < chain->tiers.size(); ++i) {
    if (chain->tiers[i].persistent) continue;
    CallTier(*chain, i, [&](CacheTier& t) {
      now += t.Shrink(static_cast<uint64_t>(static_cast<double>(t.Stats().bytes) * keep));
      return Status::OK();
    });
  }
  return now;
}

std::vector<TierSummary> BlockStore::Tiers() {
  std::vector<TierSummary> out;
  std::shared_ptr<const Chain> chain = CurrentChain();
  if (!chain) return out;
  for (size_t i = 0; i < chain->tiers.size(); ++i) {
    const Tier& tier = chain->tiers[i];
    TierSummary summary;
    summary.slot = tier.instance->slot();
    summary.plugin = tier.instance->info().name;
    summary.persistent = tier.persistent;
    summary.max_block_bytes = tier.max_block_bytes;
    CallTier(*chain, i, [&](CacheTier& t) {
      summary.stats = t.Stats();
      return Status::OK();
    });
    out.push_back(std::move(summary));
  }
  return out;
}

void BlockStore::PublishGauges() {
  for (const TierSummary& tier : Tiers()) {
    const std::pair<const char*, uint64_t> stats[] = {{"entries", tier.stats.entries},
                                                      {"bytes", tier.stats.bytes},
                                                      {"capacity_bytes", tier.stats.capacity_bytes},
                                                      {"hits", tier.stats.hits},
                                                      {"misses", tier.stats.misses},
                                                      {"evictions", tier.stats.evictions},
                                                      {"rejected", tier.stats.rejected}};
    for (const auto& [name, value] : stats) {
      tier_gauges_.Add({{"slot", tier.slot}, {"plugin", tier.plugin}, {"stat", name}})
          .Set(static_cast<double>(value));
    }
  }
  budget_gauge_.Set(static_cast<double>(governor_.budget()));
  used_gauge_.Set(static_cast<double>(governor_.used()));
  const uint64_t shrinks = governor_.shrinks();
  shrink_counter_.Increment(static_cast<double>(shrinks - shrinks_published_));
  shrinks_published_ = shrinks;
  const uint64_t refusals = governor_.refusals();
  refusal_counter_.Increment(static_cast<double>(refusals - refusals_published_));
  refusals_published_ = refusals;
  const uint64_t dropped = demotions_->TakeDropped();
  if (dropped > 0)
    moves_.Add({{"move", "demotion_dropped"}}).Increment(static_cast<double>(dropped));
}

void BlockStore::Maintain() {
  std::unique_lock lock(maintain_mu_);
  while (!maintain_cv_.wait_for(lock, kMaintainInterval, [&] { return stopping_; })) {
    lock.unlock();
    if (CurrentChain()) {
      governor_.Rebalance();
      PublishGauges();
    }
    lock.lock();
  }
}

}  // namespace boxcar::store
