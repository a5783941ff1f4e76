#include "store/blockstore.h"

#include <algorithm>
#include <chrono>
#include <map>

#include <spdlog/spdlog.h>

#include "boxcar/batcher.h"
#include "format/multihash.h"
#include "obs/logging.h"
#include "store/blockstore_internal.h"
#include "store/frequency_sketch.h"
#include "store/store_metrics.h"

namespace boxcar::store {
namespace {

using format::Cid;
using format::Multihash;

constexpr uint64_t kDemotionQueueBytes = 64 << 20;
constexpr auto kMaintainInterval = std::chrono::milliseconds(200);
// What a memory tier may charge for an entry beyond its key and bytes (its table and list nodes);
// the bundled tiers charge less than this.
constexpr uint64_t kEntryOverheadAllowance = 256;

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

}  // namespace

thread_local BlockStore::ThreadChain BlockStore::t_chain_;

BlockStore::BlockStore(runtime::Runtime& runtime, prometheus::Registry& registry)
    : runtime_(runtime),
      id_(g_next_number.fetch_add(1)),
      sketch_(std::make_unique<FrequencySketch>()),
      governor_(0, this),
      demotions_(std::make_shared<DemotionQueue>(kDemotionQueueBytes)),
      metrics_(std::make_unique<StoreMetrics>(registry)) {
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
    metrics_->corrupt.Add({{"tier", chain->tiers[i].label}});
    if (!chain->tiers[i].persistent) WarnIfOverBudget(*chain, i);
  }
  if (first) {
    index_ = std::make_unique<AbsentKeyIndex>(chain->settings.key_cache_entries);
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
  prometheus::Gauge* state = &metrics_->breaker_state.Add({{"tier", dir}});
  breaker = std::make_unique<CircuitBreaker>(
      label, options,
      [this, dir, label, state](BreakerState from, BreakerState to, const std::string& reason) {
        state->Set(static_cast<double>(to));
        metrics_->breaker_changes.Add({{"tier", dir}, {"to", BreakerStateName(to)}}).Increment();
        spdlog::warn("circuit breaker of {}: {} -> {} ({})", label, BreakerStateName(from),
                     BreakerStateName(to), reason);
      });
  return breaker.get();
}

// ---- reads ----

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
      if (index_->ProbablyAbsent(key)) {
        metrics_->read_absent.Increment();
        return Status::NotFound("block " + cid.ToString() + " is not in the store");
      }
      ticket = index_->Ticket(key);
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
    if (below_memory) index_->RecordFound(key, data->size(), ticket);
    if (i > 0) {
      metrics_->read_hits.Increment();
      MaybePromote(chain, i, key, data);
    }
    *out = std::move(data);
    return Status::OK();
  }
  metrics_->read_misses.Increment();
  index_->RecordAbsent(key, ticket);
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
    if (index_->Lookup(cids[i].hash().bytes(), &size) == KeyCache::Answer::kPresent) {
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
    metrics_->read_groups.Increment();
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
        if (!index_->ProbablyAbsent(cids[i].hash().bytes())) return false;
        (*results)[i] = Status::NotFound("block " + cids[i].ToString() + " is not in the store");
        return true;
      });
      for (size_t i : missing) tickets[i - begin] = index_->Ticket(cids[i].hash().bytes());
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
        if (below_memory) index_->RecordFound(keys[k], found[k]->size(), tickets[i - begin]);
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
  metrics_->corrupt.Add({{"tier", tier}}).Increment();
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
    if (s.ok()) metrics_->moves.Add({{"move", "promoted"}}).Increment();
  }
}

Status BlockStore::Has(const Cid& cid, uint64_t* size) {
  if (cid.IsIdentity()) {
    *size = cid.hash().digest().size();
    return Status::OK();
  }
  const std::string& key = cid.hash().bytes();
  switch (index_ ? index_->Lookup(key, size) : KeyCache::Answer::kUnknown) {
    case KeyCache::Answer::kPresent:
      return Status::OK();
    case KeyCache::Answer::kAbsent:
      return Status::NotFound("block " + cid.ToString() + " is not in the store");
    case KeyCache::Answer::kUnknown:
      break;
  }
  return OnChain([&](const std::shared_ptr<const Chain>& chain) {
    if (index_->ProbablyAbsent(key))
      return Status::NotFound("block " + cid.ToString() + " is not in the store");
    const uint64_t ticket = index_->Ticket(key);
    for (size_t i = 0; i < chain->tiers.size(); ++i) {
      Status s = CallTier(*chain, i, [&](CacheTier& t) { return t.Contains(key, size); });
      if (s.IsNotFound()) continue;
      if (s.ok()) index_->RecordFound(key, *size, ticket);
      return s;
    }
    index_->RecordAbsent(key, ticket);
    return Status::NotFound("block " + cid.ToString() + " is not in the store");
  });
}

uint64_t BlockStore::KnownSize(const Cid& cid) {
  if (cid.IsIdentity()) return cid.hash().digest().size();
  uint64_t size = 0;
  if (!index_ || index_->Lookup(cid.hash().bytes(), &size) != KeyCache::Answer::kPresent) return 0;
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
      if (s.ok()) metrics_->moves.Add({{"move", "demoted"}}).Increment();
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
  std::shared_ptr<BloomFilter> filter =
      index_->BeginBuild(expected * 2, chain->settings.bloom_bits_per_key);
  Status s = ScanStored([&](std::string_view key, uint64_t) {
    filter->Add(key);
    std::lock_guard lock(maintain_mu_);
    return !stopping_;
  });
  if (!s.ok()) {
    obs::Logger("store")->warn("no bloom filter: scanning the persistent tiers failed: {}",
                               s.ToString());
  }
  index_->FinishBuild(s.ok());
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
      metrics_->tier_gauges.Add({{"slot", tier.slot}, {"plugin", tier.plugin}, {"stat", name}})
          .Set(static_cast<double>(value));
    }
  }
  metrics_->budget.Set(static_cast<double>(governor_.budget()));
  metrics_->used.Set(static_cast<double>(governor_.used()));
  const uint64_t shrinks = governor_.shrinks();
  metrics_->shrinks.Increment(static_cast<double>(shrinks - shrinks_published_));
  shrinks_published_ = shrinks;
  const uint64_t refusals = governor_.refusals();
  metrics_->refusals.Increment(static_cast<double>(refusals - refusals_published_));
  refusals_published_ = refusals;
  const uint64_t dropped = demotions_->TakeDropped();
  if (dropped > 0)
    metrics_->moves.Add({{"move", "demotion_dropped"}}).Increment(static_cast<double>(dropped));
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
