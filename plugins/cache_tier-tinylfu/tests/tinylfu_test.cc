#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "boxcar/cache_tier.h"
#include "boxcar_plugins/testing/cache_tier.h"
#include "boxcar_plugins/testing/tier_contract.h"
#include "plugin_harness.h"

namespace {

using boxcar::BlockData;
using boxcar::CacheTier;
using boxcar::PutReason;
using boxcar::testing::PluginHarness;
using boxcar::testing::PluginUnderTest;
using boxcar_plugins::testing::Block;
using boxcar_plugins::testing::ChargeOf;
using boxcar_plugins::testing::Has;
using boxcar_plugins::testing::Key;
using boxcar_plugins::testing::MetricValue;
using boxcar_plugins::testing::RecordingSink;

constexpr uint64_t kCapacity = 65536;
constexpr char kOneShard[] =
    R"({"capacity_bytes": 65536, "shards": 1, "expected_entry_bytes": 512})";
// Without a window every newcomer faces the admission filter at once.
constexpr char kNoWindow[] =
    R"({"capacity_bytes": 65536, "shards": 1, "expected_entry_bytes": 512, "window_percent": 0})";

// A window of 10% holds a few entries, so all three segments are populated.
constexpr char kTenPercentWindow[] =
    R"({"capacity_bytes": 65536, "shards": 1, "expected_entry_bytes": 512,
        "window_percent": 10})";

// A read as the store does it: a miss is followed by a promotion from a lower tier.
bool ReadThrough(CacheTier& tier, const std::string& key, size_t value_size) {
  BlockData out;
  if (tier.Get(key, &out).ok()) return true;
  tier.Put(key, Block(value_size), PutReason::kPromotion);
  return false;
}

// The hit ratio of a hot set of 40 blocks read once per round, where before each round a scan
// reads 400 blocks that are never read again, 2.5 times what the cache holds.
double HotSetHitRatio(CacheTier& tier) {
  constexpr int kHot = 40;
  constexpr int kRounds = 20;
  constexpr int kScanPerRound = 400;
  constexpr size_t kValueSize = 256;
  for (int pass = 0; pass < 5; ++pass) {
    for (int h = 0; h < kHot; ++h) ReadThrough(tier, Key(h), kValueSize);
  }
  int hits = 0;
  int next_scan_key = 100000;
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kScanPerRound; ++i) ReadThrough(tier, Key(next_scan_key++), kValueSize);
    for (int h = 0; h < kHot; ++h) hits += ReadThrough(tier, Key(h), kValueSize) ? 1 : 0;
  }
  return static_cast<double>(hits) / (kHot * kRounds);
}

// Fills a window-less tier with `count` entries read `reads` times each after their write.
void FillWithPopular(CacheTier& tier, int count, int reads, size_t value_size) {
  for (int i = 0; i < count; ++i) {
    REQUIRE(tier.Put(Key(i), Block(value_size), PutReason::kWrite).ok());
  }
  BlockData out;
  for (int r = 0; r < reads; ++r) {
    for (int i = 0; i < count; ++i) REQUIRE(tier.Get(Key(i), &out).ok());
  }
}

}  // namespace

TEST_CASE("tinylfu: get, contains, put and delete share the stored block") {
  PluginUnderTest<CacheTier> t(kOneShard);
  const BlockData block = Block(100, 'a');
  BlockData out;
  CHECK(t->Get(Key(1), &out).IsNotFound());
  REQUIRE(t->Put(Key(1), block, PutReason::kWrite).ok());
  REQUIRE(t->Get(Key(1), &out).ok());
  CHECK(out.get() == block.get());  // shared, not copied
  uint64_t size = 0;
  REQUIRE(t->Contains(Key(1), &size).ok());
  CHECK(size == 100);

  CHECK(t->Delete(Key(1)).ok());
  CHECK(t->Get(Key(1), &out).IsNotFound());
  CHECK(t->Delete(Key(1)).ok());

  const boxcar::TierStats stats = t->Stats();
  CHECK(stats.hits == 1);
  CHECK(stats.misses == 2);
  CHECK(stats.entries == 0);
  CHECK(stats.bytes == 0);
  CHECK(stats.capacity_bytes == kCapacity);
}

TEST_CASE("tinylfu: held bytes never exceed the capacity") {
  PluginUnderTest<CacheTier> t(kOneShard);
  const uint64_t charge = ChargeOf(*t, 500);
  CHECK(charge > 500 + Key(0).size());
  for (int i = 0; i < 3000; ++i) {
    // Low keys come back often, high ones rarely: some newcomers win admission, some lose.
    const int key = (i * 7919) % (i % 3 == 0 ? 40 : 600);
    ReadThrough(*t, Key(key), 500);
    REQUIRE(t->Stats().bytes <= kCapacity);
  }
  const boxcar::TierStats stats = t->Stats();
  CHECK(stats.bytes == stats.entries * charge);
  CHECK(stats.bytes > kCapacity - 2 * charge);  // main fills up
  CHECK(stats.evictions > 0);
  CHECK(stats.rejected > 0);
}

TEST_CASE("tinylfu: a scan of one-hit wonders does not flush the hot set; under lru it does") {
  PluginUnderTest<CacheTier> t(kOneShard);
  const double tinylfu_ratio = HotSetHitRatio(*t);
  CHECK(tinylfu_ratio > 0.8);

  PluginUnderTest<CacheTier> with_doorkeeper(
      R"({"capacity_bytes": 65536, "shards": 1, "expected_entry_bytes": 512, "doorkeeper": true})");
  CHECK(HotSetHitRatio(*with_doorkeeper) > 0.8);

#ifdef BOXCAR_LRU_PLUGIN
  PluginHarness lru_harness(BOXCAR_LRU_PLUGIN);
  std::unique_ptr<boxcar::Plugin> lru =
      lru_harness.Create(R"({"capacity_bytes": 65536, "shards": 1})");
  const double lru_ratio = HotSetHitRatio(static_cast<CacheTier&>(*lru));
  CHECK(lru_ratio < 0.2);
  CHECK(tinylfu_ratio > lru_ratio + 0.6);
#endif
}

TEST_CASE("tinylfu: a promotion less popular than main's victim is refused and counted") {
  PluginUnderTest<CacheTier> t(kNoWindow);
  const uint64_t charge = ChargeOf(*t, 256);
  const int fit = static_cast<int>(kCapacity / charge);
  FillWithPopular(*t, fit, 3, 256);
  REQUIRE(t->Stats().entries == static_cast<uint64_t>(fit));

  CHECK(t->Put(Key(5000), Block(256), PutReason::kPromotion).IsBusy());
  CHECK_FALSE(Has(*t, Key(5000)));
  CHECK(t->Stats().rejected == 1);

  // A refused write is Busy too, but it is no refused promotion.
  CHECK(t->Put(Key(5001), Block(256), PutReason::kWrite).IsBusy());
  CHECK(t->Stats().rejected == 1);
  CHECK(t->Stats().evictions == 0);

  // Read often enough, a block wins its place.
  BlockData out;
  for (int i = 0; i < 12; ++i) CHECK(t->Get(Key(5002), &out).IsNotFound());
  CHECK(t->Put(Key(5002), Block(256), PutReason::kPromotion).ok());
  CHECK(Has(*t, Key(5002)));
  CHECK(t->Stats().evictions == 1);
  CHECK(t->Stats().entries == static_cast<uint64_t>(fit));
}

TEST_CASE("tinylfu: evicted entries reach the eviction sink; refused ones do not") {
  RecordingSink sink;
  PluginHarness harness;
  harness.SetEvictionSink(&sink);
  std::unique_ptr<boxcar::Plugin> plugin = harness.Create(kNoWindow);
  auto& tier = static_cast<CacheTier&>(*plugin);

  const int fit = static_cast<int>(kCapacity / ChargeOf(tier, 1000));
  std::vector<BlockData> blocks;
  for (int i = 0; i < fit; ++i) {
    blocks.push_back(Block(1000));
    REQUIRE(tier.Put(Key(i), blocks.back(), PutReason::kWrite).ok());
  }
  CHECK(tier.Put(Key(1000), Block(1000), PutReason::kWrite).IsBusy());  // as popular as victims
  BlockData out;
  for (int n = 0; n < 3; ++n) {
    for (int r = 0; r < 3; ++r) CHECK(tier.Get(Key(2000 + n), &out).IsNotFound());
    REQUIRE(tier.Put(Key(2000 + n), Block(1000), PutReason::kPromotion).ok());
  }

  const auto evicted = sink.evicted();
  REQUIRE(evicted.size() == 3);
  for (int i = 0; i < 3; ++i) {  // probation's least recently used first
    CHECK(evicted[i].first == Key(i));
    CHECK(evicted[i].second.get() == blocks[i].get());
    CHECK_FALSE(Has(tier, Key(i)));
  }
  CHECK(tier.Stats().evictions == 3);
}

TEST_CASE("tinylfu: oversize entries are refused with Busy") {
  PluginUnderTest<CacheTier> t(
      R"({"capacity_bytes": 65536, "shards": 1, "max_entry_bytes": 1024})");
  CHECK(t->Put(Key(1), Block(1024 - Key(1).size()), PutReason::kWrite).ok());
  CHECK(t->Put(Key(2), Block(1025 - Key(2).size()), PutReason::kPromotion).IsBusy());
  CHECK_FALSE(Has(*t, Key(2)));

  PluginUnderTest<CacheTier> sharded(R"({"capacity_bytes": 65536, "shards": 16})");
  CHECK(sharded->Put(Key(3), Block(5000), PutReason::kWrite).IsBusy());
  CHECK(sharded->Stats().entries == 0);
}

TEST_CASE("tinylfu: ExportHot returns protected, then probation, then window, newest first") {
  PluginUnderTest<CacheTier> t(kTenPercentWindow);
  const uint64_t charge = ChargeOf(*t, 256);
  const int in_window = static_cast<int>(kCapacity / 10 / charge);
  constexpr int kPuts = 30;
  REQUIRE(in_window < kPuts);
  for (int i = 0; i < kPuts; ++i) REQUIRE(t->Put(Key(i), Block(256), PutReason::kWrite).ok());
  // Keys below kPuts - in_window went on to probation; a hit there protects them.
  BlockData out;
  REQUIRE(t->Get(Key(2), &out).ok());
  REQUIRE(t->Get(Key(5), &out).ok());

  std::vector<std::string> expected = {Key(5), Key(2)};
  for (int i = kPuts - in_window - 1; i >= 0; --i) {
    if (i != 2 && i != 5) expected.push_back(Key(i));
  }
  for (int i = kPuts - 1; i >= kPuts - in_window; --i) expected.push_back(Key(i));

  std::vector<std::string> exported;
  for (const auto& [key, data] : t->ExportHot(kCapacity)) exported.push_back(key);
  CHECK(exported == expected);

  const auto some = t->ExportHot(3 * charge + charge / 2);
  REQUIRE(some.size() == 3);
  CHECK(some[0].first == Key(5));
  CHECK(some[1].first == Key(2));
  CHECK(some[2].first == expected[2]);
}

TEST_CASE("tinylfu: Shrink evicts the window first and protected last") {
  PluginUnderTest<CacheTier> t(kTenPercentWindow);
  const uint64_t charge = ChargeOf(*t, 256);
  const int in_window = static_cast<int>(kCapacity / 10 / charge);
  constexpr int kPuts = 30;
  for (int i = 0; i < kPuts; ++i) REQUIRE(t->Put(Key(i), Block(256), PutReason::kWrite).ok());
  BlockData out;
  REQUIRE(t->Get(Key(2), &out).ok());  // protected

  const uint64_t keep = kPuts - in_window + 2;
  CHECK(t->Shrink(keep * charge) == keep * charge);
  CHECK(t->Stats().bytes == keep * charge);
  CHECK(Has(*t, Key(kPuts - 1)));  // the window's newest two stay
  CHECK(Has(*t, Key(kPuts - 2)));
  CHECK_FALSE(Has(*t, Key(kPuts - 3)));
  CHECK(Has(*t, Key(0)));  // probation untouched

  CHECK(t->Shrink(charge) == charge);
  CHECK(Has(*t, Key(2)));
}

TEST_CASE("tinylfu: capacity and window tunables apply live") {
  PluginUnderTest<CacheTier> t(R"({"capacity_bytes": 65536, "shards": 4})");
  for (int i = 0; i < 400; ++i) ReadThrough(*t, Key(i), 100);
  CHECK(t->Stats().bytes > 60000);

  t.harness().SetTunable("capacity_bytes", 16384);
  ReadThrough(*t, Key(1000), 100);
  const boxcar::TierStats shrunk = t->Stats();
  CHECK(shrunk.capacity_bytes == 16384);
  CHECK(shrunk.bytes <= 16384);
  CHECK(shrunk.bytes > 12000);

  t.harness().SetTunable("capacity_bytes", 131072);
  for (int i = 2000; i < 3000; ++i) ReadThrough(*t, Key(i), 100);
  CHECK(t->Stats().bytes > 120000);
  CHECK(t->Stats().bytes <= 131072);

  // A wider window takes its room from main at the next puts; the bound holds throughout.
  t.harness().SetTunable("window_percent", 50);
  for (int i = 4000; i < 4400; ++i) {
    ReadThrough(*t, Key(i), 100);
    REQUIRE(t->Stats().bytes <= 131072);
  }
  CHECK(t->Stats().bytes > 120000);
}

TEST_CASE("tinylfu: params are validated") {
  PluginHarness harness;
  CHECK(harness.CreateError(R"({"shards": 6})").find("power of two") != std::string::npos);
  CHECK_FALSE(harness.CreateError(R"({"window_percent": 101})").empty());
  CHECK_FALSE(harness.CreateError(R"({"expected_entry_bytes": 1})").empty());
  CHECK_FALSE(harness.CreateError(R"({"sample_factor": 0})").empty());
  CHECK_FALSE(harness.CreateError(R"({"doorkeeper": "yes"})").empty());
  CHECK_FALSE(harness.CreateError(R"({"window": 1})").empty());
  CHECK(harness.CreateError(R"({"shards": 2, "doorkeeper": true, "window_percent": 0.5})").empty());
  CHECK(harness.CreateError("{}").empty());
}

TEST_CASE("tinylfu: Reconfigure applies max_entry_bytes and sketch settings, not shards") {
  PluginUnderTest<CacheTier> t(kOneShard);
  REQUIRE(t->Put(Key(1), Block(2000), PutReason::kWrite).ok());
  REQUIRE(t->Reconfigure(t.harness().ParseParams(
                             R"({"capacity_bytes": 65536, "shards": 1, "max_entry_bytes": 1024,
                                 "doorkeeper": true, "expected_entry_bytes": 1024})"))
              .ok());
  CHECK(t->Put(Key(2), Block(2000), PutReason::kWrite).IsBusy());
  CHECK(Has(*t, Key(1)));
  CHECK(HotSetHitRatio(*t) > 0.8);  // the rebuilt sketch still guards the hot set
  CHECK(t->Reconfigure(t.harness().ParseParams(R"({"shards": 2})")).IsNotSupported());
}

TEST_CASE("tinylfu: metrics mirror the stats") {
  PluginUnderTest<CacheTier> t(kNoWindow);
  FillWithPopular(*t, static_cast<int>(kCapacity / ChargeOf(*t, 256)), 1, 256);
  CHECK(t->Put(Key(5000), Block(256), PutReason::kPromotion).IsBusy());
  const boxcar::TierStats stats = t->Stats();
  const std::string text = t.harness().MetricsText();
  CHECK(MetricValue(text, "boxcar_plugin_cache_rejected_total") == "1");
  CHECK(MetricValue(text, "boxcar_plugin_cache_hits_total") == std::to_string(stats.hits));
  CHECK(MetricValue(text, "boxcar_plugin_cache_entries") == std::to_string(stats.entries));
}

TEST_CASE("tinylfu: concurrent gets and puts keep the stats consistent") {
  PluginUnderTest<CacheTier> t(R"({"capacity_bytes": 262144, "shards": 4})");
  const uint64_t charge = ChargeOf(*t, 200);
  constexpr int kThreads = 4;
  constexpr int kOpsPerThread = 20000;
  std::atomic<int> wrong_sizes{0};
  std::atomic<uint64_t> promotions{0};
  std::vector<std::thread> threads;
  for (int n = 0; n < kThreads; ++n) {
    threads.emplace_back([&, n] {
      uint64_t state = 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(n + 1);
      for (int i = 0; i < kOpsPerThread; ++i) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        // Skewed: half the reads go to 100 keys, the rest to 3000.
        const uint64_t r = state >> 33;
        const std::string key = Key(static_cast<int>(r % 2 == 0 ? r % 100 : r % 3000));
        BlockData out;
        if (t->Get(key, &out).ok()) {
          if (out->size() != 200) ++wrong_sizes;
        } else {
          ++promotions;
          t->Put(key, Block(200), PutReason::kPromotion);
        }
        if (i % 1000 == 0) t->Delete(key);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong_sizes == 0);

  const boxcar::TierStats stats = t->Stats();
  CHECK(stats.hits + stats.misses == static_cast<uint64_t>(kThreads) * kOpsPerThread);
  CHECK(stats.misses == promotions);
  CHECK(stats.hits > stats.misses);  // the skew pays off
  CHECK(stats.rejected <= promotions);
  CHECK(stats.bytes <= 262144);
  CHECK(stats.bytes == stats.entries * charge);
  uint64_t scanned = 0;
  REQUIRE(t->Scan([&](std::string_view, uint64_t) { return ++scanned > 0; }).ok());
  CHECK(scanned == stats.entries);
  CHECK(t.harness().faults() == 0);
}

TEST_CASE("tinylfu: keeps the cache_tier contract") {
  boxcar_plugins::testing::CheckMemoryTierContract(R"({"capacity_bytes": 8388608})", 8 << 20);
}
