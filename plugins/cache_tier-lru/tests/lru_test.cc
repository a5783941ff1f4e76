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
constexpr size_t kValueSize = 1000;
constexpr char kOneShard[] = R"({"capacity_bytes": 65536, "shards": 1})";

}  // namespace

TEST_CASE("lru: get, contains, put and delete share the stored block") {
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
  CHECK(t->Delete(Key(1)).ok());  // absent is fine

  const boxcar::TierStats stats = t->Stats();
  CHECK(stats.hits == 1);
  CHECK(stats.misses == 2);
  CHECK(stats.entries == 0);
  CHECK(stats.bytes == 0);
  CHECK(stats.capacity_bytes == kCapacity);
}

TEST_CASE("lru: a put of a present key replaces its block and its charge") {
  PluginUnderTest<CacheTier> t(kOneShard);
  REQUIRE(t->Put(Key(1), Block(100), PutReason::kWrite).ok());
  const uint64_t small = t->Stats().bytes;
  REQUIRE(t->Put(Key(1), Block(300), PutReason::kPromotion).ok());
  CHECK(t->Stats().entries == 1);
  CHECK(t->Stats().bytes == small + 200);
  uint64_t size = 0;
  REQUIRE(t->Contains(Key(1), &size).ok());
  CHECK(size == 300);
}

TEST_CASE("lru: held bytes never exceed the capacity and fill it as far as entries fit") {
  PluginUnderTest<CacheTier> t(kOneShard);
  const uint64_t charge = ChargeOf(*t, kValueSize);
  CHECK(charge > kValueSize + Key(0).size());  // the per-entry overhead counts
  for (int i = 0; i < 200; ++i) {
    REQUIRE(t->Put(Key(i), Block(kValueSize), PutReason::kWrite).ok());
    REQUIRE(t->Stats().bytes <= kCapacity);
  }
  const boxcar::TierStats stats = t->Stats();
  CHECK(stats.entries == kCapacity / charge);
  CHECK(stats.bytes == stats.entries * charge);
  CHECK(stats.evictions == 200 - stats.entries);
}

TEST_CASE("lru: evicts the least recently used entry; a get refreshes an entry") {
  PluginUnderTest<CacheTier> t(kOneShard);
  const int fit = static_cast<int>(kCapacity / ChargeOf(*t, kValueSize));
  for (int i = 0; i < fit; ++i) REQUIRE(t->Put(Key(i), Block(kValueSize), PutReason::kWrite).ok());
  BlockData out;
  REQUIRE(t->Get(Key(0), &out).ok());
  REQUIRE(t->Put(Key(fit), Block(kValueSize), PutReason::kWrite).ok());
  CHECK(Has(*t, Key(0)));
  CHECK_FALSE(Has(*t, Key(1)));
  CHECK(Has(*t, Key(2)));
  REQUIRE(t->Put(Key(fit + 1), Block(kValueSize), PutReason::kWrite).ok());
  CHECK_FALSE(Has(*t, Key(2)));
  CHECK(Has(*t, Key(0)));
}

TEST_CASE("lru: a hit earns one second chance; spared entries move to the hot end in turn") {
  PluginUnderTest<CacheTier> t(kOneShard);
  const int fit = static_cast<int>(kCapacity / ChargeOf(*t, kValueSize));
  for (int i = 0; i < fit; ++i) REQUIRE(t->Put(Key(i), Block(kValueSize), PutReason::kWrite).ok());
  BlockData out;
  REQUIRE(t->Get(Key(0), &out).ok());
  REQUIRE(t->Get(Key(1), &out).ok());
  REQUIRE(t->Put(Key(fit), Block(kValueSize), PutReason::kWrite).ok());
  REQUIRE(t->Put(Key(fit + 1), Block(kValueSize), PutReason::kWrite).ok());
  CHECK(Has(*t, Key(0)));
  CHECK(Has(*t, Key(1)));
  CHECK_FALSE(Has(*t, Key(2)));
  CHECK_FALSE(Has(*t, Key(3)));

  // The first sweep spared 0, then 1, ahead of the entry its Put had just inserted; neither is
  // referenced any more.
  const auto hot = t->ExportHot(kCapacity);
  REQUIRE(hot.size() == static_cast<size_t>(fit));
  CHECK(hot[0].first == Key(fit + 1));
  CHECK(hot[1].first == Key(1));
  CHECK(hot[2].first == Key(0));
  CHECK(hot[3].first == Key(fit));
  CHECK(hot.back().first == Key(4));
}

TEST_CASE("lru: keys of any length are kept whole") {
  RecordingSink sink;
  PluginHarness harness;
  harness.SetEvictionSink(&sink);
  std::unique_ptr<boxcar::Plugin> plugin = harness.Create(kOneShard);
  auto& tier = static_cast<CacheTier&>(*plugin);
  std::string long_key(1001, 'k');
  long_key.back() = 'z';  // a key cut short would lose it
  const std::string keys[] = {"", "a", long_key};
  for (const std::string& key : keys) REQUIRE(tier.Put(key, Block(10), PutReason::kWrite).ok());
  BlockData out;
  for (const std::string& key : keys) CHECK(tier.Get(key, &out).ok());
  CHECK(tier.Get(long_key.substr(0, 1000), &out).IsNotFound());

  CHECK(tier.Shrink(0) == 0);
  std::vector<std::string> evicted;
  for (const auto& [key, data] : sink.evicted()) evicted.push_back(key);
  std::sort(evicted.begin(), evicted.end());
  REQUIRE(evicted.size() == 3);
  CHECK(evicted[0].empty());
  CHECK(evicted[1] == "a");
  CHECK(evicted[2] == long_key);
}

TEST_CASE("lru: evicted entries reach the eviction sink, deleted ones do not") {
  RecordingSink sink;
  PluginHarness harness;
  harness.SetEvictionSink(&sink);
  std::unique_ptr<boxcar::Plugin> plugin = harness.Create(kOneShard);
  auto& tier = static_cast<CacheTier&>(*plugin);

  const int fit = static_cast<int>(kCapacity / ChargeOf(tier, kValueSize));
  std::vector<BlockData> blocks;
  for (int i = 0; i < fit + 3; ++i) {
    blocks.push_back(Block(kValueSize));
    REQUIRE(tier.Put(Key(i), blocks.back(), PutReason::kWrite).ok());
  }
  REQUIRE(tier.Delete(Key(fit)).ok());

  const auto evicted = sink.evicted();
  REQUIRE(evicted.size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(evicted[i].first == Key(i));
    CHECK(evicted[i].second.get() == blocks[i].get());
  }
  CHECK(tier.Stats().evictions == 3);
}

TEST_CASE("lru: oversize entries are refused with Busy") {
  PluginUnderTest<CacheTier> t(
      R"({"capacity_bytes": 65536, "shards": 1, "max_entry_bytes": 1024})");
  CHECK(t->Put(Key(1), Block(1024 - Key(1).size()), PutReason::kWrite).ok());
  CHECK(t->Put(Key(2), Block(1025 - Key(2).size()), PutReason::kPromotion).IsBusy());
  CHECK_FALSE(Has(*t, Key(2)));

  // 16 shards of a 64 KiB capacity hold 4 KiB each: a larger entry can never fit.
  PluginUnderTest<CacheTier> sharded(R"({"capacity_bytes": 65536, "shards": 16})");
  CHECK(sharded->Put(Key(3), Block(5000), PutReason::kWrite).IsBusy());
  CHECK(sharded->Stats().entries == 0);
}

TEST_CASE("lru: every promotion is admitted") {
  PluginUnderTest<CacheTier> t(kOneShard);
  for (int i = 0; i < 300; ++i) {
    REQUIRE(t->Put(Key(i), Block(kValueSize), PutReason::kPromotion).ok());
    REQUIRE(Has(*t, Key(i)));
  }
  CHECK(t->Stats().rejected == 0);
}

TEST_CASE("lru: ExportHot returns the most recently used first, within the byte budget") {
  PluginUnderTest<CacheTier> t(kOneShard);
  const uint64_t charge = ChargeOf(*t, kValueSize);
  for (int i = 0; i < 10; ++i) REQUIRE(t->Put(Key(i), Block(kValueSize), PutReason::kWrite).ok());
  BlockData out;
  REQUIRE(t->Get(Key(3), &out).ok());

  const auto all = t->ExportHot(kCapacity);
  REQUIRE(all.size() == 10);
  CHECK(all[0].first == Key(3));
  CHECK(all[0].second.get() == out.get());
  CHECK(all[1].first == Key(9));
  CHECK(all[9].first == Key(0));

  const auto some = t->ExportHot(3 * charge + charge / 2);
  REQUIRE(some.size() == 3);
  CHECK(some[0].first == Key(3));
  CHECK(some[1].first == Key(9));
  CHECK(some[2].first == Key(8));
  CHECK(t->ExportHot(charge - 1).empty());
}

TEST_CASE("lru: hand-off entries keep their order behind live ones and never displace them") {
  PluginUnderTest<CacheTier> t(kOneShard);
  const int fit = static_cast<int>(kCapacity / ChargeOf(*t, kValueSize));
  REQUIRE(t->Put(Key(1000), Block(kValueSize), PutReason::kWrite).ok());
  // Hottest first, as ExportHot produced them.
  for (int i = 0; i < fit; ++i) {
    const bool fits = i < fit - 1;
    CHECK(t->Put(Key(i), Block(kValueSize), PutReason::kHandoff).ok() == fits);
  }
  CHECK(Has(*t, Key(1000)));
  const auto hot = t->ExportHot(kCapacity);
  REQUIRE(hot.size() == static_cast<size_t>(fit));
  CHECK(hot[0].first == Key(1000));
  CHECK(hot[1].first == Key(0));
  CHECK(hot.back().first == Key(fit - 2));
}

TEST_CASE("lru: Shrink evicts the least recently used down to the target") {
  RecordingSink sink;
  PluginHarness harness;
  harness.SetEvictionSink(&sink);
  std::unique_ptr<boxcar::Plugin> plugin = harness.Create(kOneShard);
  auto& tier = static_cast<CacheTier&>(*plugin);
  const uint64_t charge = ChargeOf(tier, kValueSize);
  for (int i = 0; i < 20; ++i) REQUIRE(tier.Put(Key(i), Block(kValueSize), PutReason::kWrite).ok());

  const uint64_t held = tier.Shrink(5 * charge + 10);
  CHECK(held == 5 * charge);
  CHECK(tier.Stats().bytes == held);
  CHECK(Has(tier, Key(19)));
  CHECK(Has(tier, Key(15)));
  CHECK_FALSE(Has(tier, Key(14)));
  CHECK(sink.evicted().size() == 15);
  // The capacity itself is unchanged: the tier grows back.
  for (int i = 20; i < 30; ++i)
    REQUIRE(tier.Put(Key(i), Block(kValueSize), PutReason::kWrite).ok());
  CHECK(tier.Stats().entries == 15);
}

TEST_CASE("lru: a lowered capacity tunable applies at the next put, in every shard") {
  PluginUnderTest<CacheTier> t(R"({"capacity_bytes": 65536, "shards": 4})");
  for (int i = 0; i < 400; ++i) {
    CHECK(t->Put(Key(i), Block(100), PutReason::kWrite).ok());
  }
  CHECK(t->Stats().bytes > 60000);

  t.harness().SetTunable("capacity_bytes", 16384);
  REQUIRE(t->Put(Key(1000), Block(100), PutReason::kWrite).ok());
  const boxcar::TierStats shrunk = t->Stats();
  CHECK(shrunk.capacity_bytes == 16384);
  CHECK(shrunk.bytes <= 16384);
  CHECK(shrunk.bytes > 12000);

  t.harness().SetTunable("capacity_bytes", 131072);
  for (int i = 2000; i < 3000; ++i) REQUIRE(t->Put(Key(i), Block(100), PutReason::kWrite).ok());
  CHECK(t->Stats().bytes > 120000);
  CHECK(t->Stats().bytes <= 131072);
}

TEST_CASE("lru: params are validated") {
  PluginHarness harness;
  CHECK(harness.CreateError(R"({"shards": 3})").find("power of two") != std::string::npos);
  CHECK_FALSE(harness.CreateError(R"({"shards": 0})").empty());
  CHECK_FALSE(harness.CreateError(R"({"capacity_bytes": 100})").empty());
  CHECK_FALSE(harness.CreateError(R"({"max_entry_bytes": 0})").empty());
  CHECK_FALSE(harness.CreateError(R"({"capacity": 65536})").empty());
  CHECK(harness.CreateError(R"({"shards": 8, "capacity_bytes": 1048576})").empty());
  CHECK(harness.CreateError("{}").empty());
}

TEST_CASE("lru: Reconfigure changes max_entry_bytes live but not the shard count") {
  PluginUnderTest<CacheTier> t(kOneShard);
  REQUIRE(t->Put(Key(1), Block(2000), PutReason::kWrite).ok());
  REQUIRE(t->Reconfigure(t.harness().ParseParams(
                             R"({"capacity_bytes": 65536, "shards": 1, "max_entry_bytes": 1024})"))
              .ok());
  CHECK(t->Put(Key(2), Block(2000), PutReason::kWrite).IsBusy());
  CHECK(Has(*t, Key(1)));  // entries already held stay
  CHECK(t->Reconfigure(t.harness().ParseParams(R"({"capacity_bytes": 65536, "shards": 2})"))
            .IsNotSupported());
}

TEST_CASE("lru: metrics mirror the stats") {
  PluginUnderTest<CacheTier> t(kOneShard);
  REQUIRE(t->Put(Key(1), Block(10), PutReason::kWrite).ok());
  BlockData out;
  REQUIRE(t->Get(Key(1), &out).ok());
  REQUIRE(t->Get(Key(1), &out).ok());
  CHECK(t->Get(Key(2), &out).IsNotFound());
  t->Stats();
  const std::string text = t.harness().MetricsText();
  CHECK(MetricValue(text, "boxcar_plugin_cache_hits_total") == "2");
  CHECK(MetricValue(text, "boxcar_plugin_cache_misses_total") == "1");
  CHECK(MetricValue(text, "boxcar_plugin_cache_entries") == "1");
}

TEST_CASE("lru: concurrent gets and puts keep the stats consistent") {
  PluginUnderTest<CacheTier> t(R"({"capacity_bytes": 262144, "shards": 4})");
  const uint64_t charge = ChargeOf(*t, 200);
  constexpr int kThreads = 4;
  constexpr int kOpsPerThread = 20000;
  std::atomic<int> wrong_sizes{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int n = 0; n < kThreads; ++n) {
    threads.emplace_back([&, n] {
      uint64_t state = 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(n + 1);
      for (int i = 0; i < kOpsPerThread; ++i) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        const std::string key = Key(static_cast<int>((state >> 33) % 3000));
        BlockData out;
        if (t->Get(key, &out).ok()) {
          if (out->size() != 200) ++wrong_sizes;
        } else if (!t->Put(key, Block(200), PutReason::kPromotion).ok()) {
          ++refused;
        }
        if (i % 1000 == 0) t->Delete(key);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong_sizes == 0);
  CHECK(refused == 0);

  const boxcar::TierStats stats = t->Stats();
  CHECK(stats.hits + stats.misses == static_cast<uint64_t>(kThreads) * kOpsPerThread);
  CHECK(stats.hits > 0);
  CHECK(stats.bytes <= 262144);
  CHECK(stats.bytes == stats.entries * charge);
  uint64_t scanned = 0;
  REQUIRE(t->Scan([&](std::string_view, uint64_t) { return ++scanned > 0; }).ok());
  CHECK(scanned == stats.entries);
  CHECK(t.harness().faults() == 0);
}

TEST_CASE("lru: keeps the cache_tier contract") {
  boxcar_plugins::testing::CheckMemoryTierContract(R"({"capacity_bytes": 8388608})", 8 << 20);
}
