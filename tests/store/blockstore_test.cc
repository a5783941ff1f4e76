// The block store over real tier plugins: reads, writes, verification, tiering, memory budget and
// hot swaps.
#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "store/store_fixture.h"
#include "store/store_lock.h"

namespace boxcar::testing {
namespace {

using nlohmann::json;

json LruOverLevelDb(json store_extra = json::object()) {
  json store = {
      {"tiers", json::array({{{"plugin", "lru"}, {"params", {{"capacity_bytes", 64 << 20}}}},
                             {{"plugin", "leveldb"}}})}};
  store.update(store_extra);
  return store;
}

TEST_CASE("a written block reads back from every path, and survives a restart of the tiers") {
  TempDir keep;
  const TestBlock b = MakeBlock(3000, 1);
  {
    StoreFixture f(LruOverLevelDb({{"path", keep.path().string()}}));
    REQUIRE(f.store().Put(b.cid, b.data).ok());
    BlockData got;
    REQUIRE(f.store().Get(b.cid, &got).ok());
    CHECK(*got == *b.data);
    uint64_t size = 0;
    REQUIRE(f.store().Has(b.cid, &size).ok());
    CHECK(size == 3000);
    CHECK(f.TierHas(0, b.cid));  // populated on write
    CHECK(f.TierHas(1, b.cid));
  }
  StoreFixture again(LruOverLevelDb({{"path", keep.path().string()}}));
  BlockData got;
  REQUIRE(again.store().Get(b.cid, &got).ok());
  CHECK(*got == *b.data);
}

TEST_CASE("bytes that do not match their CID are refused and nothing is stored") {
  StoreFixture f(LruOverLevelDb());
  const TestBlock b = MakeBlock(1000, 2);
  auto wrong = std::make_shared<const std::string>(*MakeBlock(1000, 3).data);
  const Status s = f.store().Put(b.cid, wrong);
  CHECK(s.code() == Status::Code::kInvalidArgument);
  CHECK(s.message().find("do not match CID " + b.cid.ToString()) != std::string::npos);
  BlockData got;
  CHECK(f.store().Get(b.cid, &got).IsNotFound());
  CHECK_FALSE(f.TierHas(1, b.cid));
}

TEST_CASE("identity CIDs are answered from the CID and never stored") {
  StoreFixture f(LruOverLevelDb());
  format::Cid inlined;
  REQUIRE(format::Cid::Parse("bafkqaf3imvwgy3zaneqgc3janfxgy2lomvscay3jmqfa", &inlined).ok());
  BlockData got;
  REQUIRE(f.store().Get(inlined, &got).ok());
  CHECK(*got == "hello i am inlined cid\n");
  REQUIRE(f.store().Put(inlined, got).ok());
  CHECK(f.Stats(0).entries == 0);
  CHECK(f.Stats(1).entries == 0);
}

TEST_CASE("KnownSize answers from the key cache and identity CIDs, never from a tier") {
  TempDir keep;
  const TestBlock b = MakeBlock(1500, 9);
  {
    StoreFixture f(LruOverLevelDb({{"path", keep.path().string()}}));
    CHECK(f.store().KnownSize(b.cid) == 0);
    REQUIRE(f.store().Put(b.cid, b.data).ok());
    CHECK(f.store().KnownSize(b.cid) == 1500);
    format::Cid inlined;
    REQUIRE(format::Cid::Parse("bafkqaf3imvwgy3zaneqgc3janfxgy2lomvscay3jmqfa", &inlined).ok());
    CHECK(f.store().KnownSize(inlined) == 23);
  }
  // A restarted store has an empty key cache: the size is unknown until a read learns it.
  StoreFixture again(LruOverLevelDb({{"path", keep.path().string()}}));
  CHECK(again.store().KnownSize(b.cid) == 0);
  BlockData got;
  REQUIRE(again.store().Get(b.cid, &got).ok());
  CHECK(again.store().KnownSize(b.cid) == 1500);
}

TEST_CASE("a hit below the top tier is promoted only once it is read again") {
  StoreFixture f(LruOverLevelDb({{"populate_on_write", false}, {"promote_after_hits", 2}}));
  const TestBlock b = MakeBlock(2048, 4);
  REQUIRE(f.store().Put(b.cid, b.data).ok());
  CHECK_FALSE(f.TierHas(0, b.cid));
  BlockData got;
  REQUIRE(f.store().Get(b.cid, &got).ok());
  CHECK_FALSE(f.TierHas(0, b.cid));  // one read is not enough
  REQUIRE(f.store().Get(b.cid, &got).ok());
  CHECK(f.TierHas(0, b.cid));
  CHECK(f.MetricsText().find("boxcar_store_moves_total{move=\"promoted\"} 1") != std::string::npos);
}

TEST_CASE("an entry evicted from a memory tier moves down to the next tier that lacks it") {
  json store = {
      {"populate_on_write", false},
      {"promote_after_hits", 1},
      {"tiers",
       json::array({{{"plugin", "lru"}, {"params", {{"capacity_bytes", 64 << 10}, {"shards", 1}}}},
                    {{"plugin", "lru"}, {"params", {{"capacity_bytes", 16 << 20}}}},
                    {{"plugin", "leveldb"}}})}};
  StoreFixture f(store);
  const TestBlock b = MakeBlock(4096, 5);
  REQUIRE(f.store().Put(b.cid, b.data).ok());
  BlockData got;
  REQUIRE(f.store().Get(b.cid, &got).ok());  // promoted into both memory tiers
  REQUIRE(f.TierHas(0, b.cid));
  REQUIRE(f.OnTier(1, [&](CacheTier& t) { return t.Delete(b.cid.hash().bytes()); }).ok());
  // Push it out of the small top tier with other promoted blocks.
  for (int i = 0; i < 40; ++i) {
    const TestBlock other = MakeBlock(4096, 100 + i);
    REQUIRE(f.store().Put(other.cid, other.data).ok());
    REQUIRE(f.store().Get(other.cid, &got).ok());
  }
  f.store().FlushDemotions();
  CHECK_FALSE(f.TierHas(0, b.cid));
  CHECK(f.TierHas(1, b.cid));
  CHECK(f.MetricsText().find("boxcar_store_moves_total{move=\"demoted\"}") != std::string::npos);
}

TEST_CASE("max_block_bytes routes big blocks past leveldb to flatfs") {
  json store = {{"tiers", json::array({{{"plugin", "lru"}},
                                       {{"plugin", "leveldb"}, {"max_block_bytes", 4096}},
                                       {{"plugin", "flatfs"}}})}};
  StoreFixture f(store);
  const TestBlock small = MakeBlock(4096, 6);
  const TestBlock big = MakeBlock(4097, 7);
  REQUIRE(f.store().PutBatch({{small.cid, small.data}, {big.cid, big.data}}).ok());
  CHECK(f.TierHas(1, small.cid));
  CHECK_FALSE(f.TierHas(2, small.cid));
  CHECK(f.TierHas(2, big.cid));
  CHECK_FALSE(f.TierHas(1, big.cid));
  BlockData got;
  REQUIRE(f.store().Get(big.cid, &got).ok());
  CHECK(*got == *big.data);
}

TEST_CASE("large blocks stream in and out in chunks, past the memory tiers") {
  StoreFixture f(LruOverLevelDb({{"stream_block_bytes", 1 << 20}}));
  const TestBlock big = MakeBlock(5 << 20, 8);
  size_t offset = 0;
  REQUIRE(f.store()
              .PutStream(big.cid, big.data->size(),
                         [&](char* buf, size_t n, size_t* got) {
                           *got = std::min<size_t>({n, 64 << 10, big.data->size() - offset});
                           std::copy_n(big.data->data() + offset, *got, buf);
                           offset += *got;
                           return Status::OK();
                         })
              .ok());
  CHECK_FALSE(f.TierHas(0, big.cid));
  std::unique_ptr<store::BlockStream> stream;
  REQUIRE(f.store().OpenStream(big.cid, &stream).ok());
  CHECK(stream->size() == big.data->size());
  std::string back;
  std::string buf(100 << 10, '\0');
  size_t got = 0;
  do {
    REQUIRE(stream->Read(buf.data(), buf.size(), &got).ok());
    back.append(buf.data(), got);
  } while (got > 0);
  CHECK(back == *big.data);

  // A stream whose bytes do not hash to the CID stores nothing.
  const TestBlock other = MakeBlock(3 << 20, 9);
  offset = 0;
  const Status bad =
      f.store().PutStream(other.cid, big.data->size(), [&](char* b, size_t n, size_t* g) {
        *g = std::min(n, big.data->size() - offset);
        std::copy_n(big.data->data() + offset, *g, b);
        offset += *g;
        return Status::OK();
      });
  CHECK(bad.code() == Status::Code::kInvalidArgument);
  uint64_t size = 0;
  CHECK(f.store().Has(other.cid, &size).IsNotFound());
}

TEST_CASE("bytes damaged in a persistent tier are reported as corruption, never returned") {
  StoreFixture f(LruOverLevelDb({{"populate_on_write", false}, {"verify_reads", "persistent"}}));
  const TestBlock b = MakeBlock(2000, 10);
  REQUIRE(f.store().Put(b.cid, b.data).ok());
  // The tier stores what it is given; replacing the bytes under the store stands for bit rot.
  const std::string& key = b.cid.hash().bytes();
  auto damaged = std::make_shared<const std::string>(*MakeBlock(2000, 11).data);
  REQUIRE(f.OnTier(1, [&](CacheTier& t) { return t.Delete(key); }).ok());
  REQUIRE(f.OnTier(1, [&](CacheTier& t) { return t.Put(key, damaged, PutReason::kWrite); }).ok());
  BlockData got;
  const Status s = f.store().Get(b.cid, &got);
  CHECK(s.code() == Status::Code::kCorruption);
  CHECK(s.message().find(b.cid.ToString()) != std::string::npos);
  CHECK(got == nullptr);
  CHECK(f.store().corruption_count() == 1);
  CHECK(
      f.MetricsText().find("boxcar_store_corruption_total{tier=\"store.tiers[1] (leveldb)\"} 1") !=
      std::string::npos);

  std::vector<store::CorruptBlock> corrupt;
  uint64_t checked = 0;
  REQUIRE(f.store().Scrub(&corrupt, &checked).ok());
  REQUIRE(corrupt.size() == 1);
  CHECK(corrupt[0].key == key);
  CHECK(corrupt[0].tier == "store.tiers[1] (leveldb)");
}

TEST_CASE("absent keys are answered by the key cache and the bloom filter without tier I/O") {
  StoreFixture f(LruOverLevelDb());
  const TestBlock stored = MakeBlock(100, 12);
  REQUIRE(f.store().Put(stored.cid, stored.data).ok());
  // Wait for the bloom filter's first build.
  const TestBlock missing = MakeBlock(100, 13);
  BlockData got;
  for (int i = 0; i < 200 && f.MetricsText().find("result=\"absent\"") == std::string::npos; ++i) {
    CHECK(f.store().Get(MakeBlock(100, 1000 + i).cid, &got).IsNotFound());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const uint64_t misses_before = f.Stats(1).misses;
  for (int i = 0; i < 50; ++i) CHECK(f.store().Get(missing.cid, &got).IsNotFound());
  CHECK(f.Stats(1).misses <= misses_before + 1);  // at most the first lookup reached leveldb
  REQUIRE(f.store().Get(stored.cid, &got).ok());  // and no false negative for a stored block
}

TEST_CASE("the memory governor shrinks memory tiers near the budget and refuses large requests") {
  StoreFixture f(LruOverLevelDb({{"memory_budget_bytes", 2 << 20}}));
  for (int i = 0; i < 64; ++i) {
    const TestBlock b = MakeBlock(64 << 10, 200 + i);
    REQUIRE(f.store().Put(b.cid, b.data).ok());
  }
  f.store().governor().Rebalance();
  CHECK(f.Stats(0).bytes <= (2 << 20) * 9 / 10);
  store::Reservation r;
  const Status refused = f.store().governor().Reserve(3 << 20, "a 3 MiB block", &r);
  CHECK(refused.IsBusy());
  CHECK(refused.message().find("a 3 MiB block needs 3 MiB") != std::string::npos);
  CHECK(refused.message().find("store.memory_budget_bytes") != std::string::npos);
  store::Reservation fits;
  CHECK(f.store().governor().Reserve(512 << 10, "a buffer", &fits).ok());
  CHECK(f.store().governor().reserved() == (512 << 10));
}

TEST_CASE("memory tiers never hold more than the budget, even while many threads fill them") {
  constexpr uint64_t kBudget = 2 << 20;
  // The lru tier's own capacity (64 MiB) is far above the budget: admission must cap it.
  StoreFixture f(LruOverLevelDb({{"memory_budget_bytes", kBudget}, {"promote_after_hits", 1}}));
  std::vector<TestBlock> blocks;
  for (int i = 0; i < 96; ++i) blocks.push_back(MakeBlock(64 << 10, 300 + i));
  std::atomic<bool> done{false};
  std::atomic<uint64_t> max_used{0};
  std::thread sampler([&] {
    while (!done.load()) {
      const uint64_t used = f.store().governor().used();
      if (used > max_used.load()) max_used.store(used);
    }
  });
  auto on_four_threads = [](const std::function<void(size_t)>& work) {
    std::vector<std::thread> threads;
    for (size_t t = 0; t < 4; ++t) threads.emplace_back(work, t);
    for (std::thread& t : threads) t.join();
  };
  on_four_threads([&](size_t t) {
    for (size_t i = t; i < blocks.size(); i += 4) {
      CHECK(f.store().Put(blocks[i].cid, blocks[i].data).ok());
    }
  });
  // Reads reach leveldb for the evicted blocks and promote them back.
  on_four_threads([&](size_t t) {
    for (size_t round = 0; round < 3; ++round) {
      for (size_t i = t; i < blocks.size(); i += 2) {
        BlockData got;
        CHECK(f.store().Get(blocks[(i + round * 7) % blocks.size()].cid, &got).ok());
      }
    }
  });
  done.store(true);
  sampler.join();
  CHECK(max_used.load() <= kBudget);
  CHECK(f.Stats(0).bytes <= kBudget);
  CHECK(f.Stats(0).entries > 0);  // capped, not disabled
}

TEST_CASE("memory tiers swap while readers run; the persistent tier cannot be swapped") {
  StoreFixture f(LruOverLevelDb());
  std::vector<TestBlock> blocks;
  for (int i = 0; i < 64; ++i) {
    blocks.push_back(MakeBlock(1024, 300 + i));
    REQUIRE(f.store().Put(blocks.back().cid, blocks.back().data).ok());
  }
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::thread reader([&] {
    BlockData got;
    for (size_t i = 0; !stop; ++i) {
      if (!f.store().Get(blocks[i % blocks.size()].cid, &got).ok()) ++errors;
    }
  });
  json swapped = {{"tiers", json::array({{{"plugin", "tinylfu"}}, {{"plugin", "leveldb"}}})}};
  for (int i = 0; i < 10; ++i) REQUIRE(f.Apply(i % 2 ? LruOverLevelDb() : swapped).ok());
  stop = true;
  reader.join();
  CHECK(errors == 0);

  json other = {
      {"tiers", json::array({{{"plugin", "lru"}}, {{"plugin", "flatfs"}, {"dir", "leveldb"}}})}};
  const Status refused = f.Apply(other);
  CHECK(refused.message().find("cannot become flatfs while the node runs") != std::string::npos);
  json dropped = {{"tiers", json::array({{{"plugin", "lru"}}, {{"plugin", "flatfs"}}})}};
  CHECK(f.Apply(dropped).message().find("is missing from the new config") != std::string::npos);
  json memory_only = {{"tiers", json::array({{{"plugin", "lru"}}})}};
  CHECK(f.Apply(memory_only).message().find("the last tier must be persistent") !=
        std::string::npos);

  // Rebuilt in place at the same path: new params, same data.
  json rebuilt = LruOverLevelDb();
  rebuilt["tiers"][1]["params"] = {{"block_cache_bytes", 16 << 20},
                                   {"write_buffer_bytes", 8 << 20}};
  REQUIRE(f.Apply(rebuilt).ok());
  BlockData got;
  for (const TestBlock& b : blocks) REQUIRE(f.store().Get(b.cid, &got).ok());
}

TEST_CASE("multi-gets are grouped by the batcher plugin and answer like single gets") {
  json store = LruOverLevelDb({{"populate_on_write", false}});
  // Groups flush on item count only: a sanitizer build on a busy machine can take longer than
  // the default 200 us wait to gather 32 reads, which would flush a group early.
  const json batcher = {{"plugin", "fixed"}, {"params", {{"max_delay_us", 1000000}}}};
  StoreFixture f(store, {{"strategies", {{"batcher", batcher}}}});
  std::vector<format::Cid> cids;
  for (int i = 0; i < 100; ++i) {
    const TestBlock b = MakeBlock(512, 400 + i);
    if (i % 4 != 3) REQUIRE(f.store().Put(b.cid, b.data).ok());  // every fourth is missing
    cids.push_back(b.cid);
  }
  format::Cid inlined;
  REQUIRE(format::Cid::Parse("bafkqaaa", &inlined).ok());
  cids.push_back(inlined);
  std::vector<BlockData> blocks;
  std::vector<Status> results;
  f.store().GetMany(cids, &blocks, &results);
  REQUIRE(results.size() == cids.size());
  for (size_t i = 0; i < 100; ++i) {
    CAPTURE(i);
    if (i % 4 == 3) {
      CHECK(results[i].IsNotFound());
      CHECK(blocks[i] == nullptr);
    } else {
      REQUIRE(results[i].ok());
      CHECK(*blocks[i] == *MakeBlock(512, 400 + i).data);
    }
  }
  CHECK(results[100].ok());
  CHECK(blocks[100]->empty());
  // The fixed batcher flushes groups of max_items (32 by default): 101 reads make 4 groups.
  CHECK(f.MetricsText().find("boxcar_store_read_groups_total 4") != std::string::npos);
}

TEST_CASE("a store directory is opened by one holder at a time") {
  TempDir dir;
  std::unique_ptr<store::StoreLock> first;
  REQUIRE(store::StoreLock::Acquire(dir.path(), &first).ok());
  std::unique_ptr<store::StoreLock> second;
  const Status s = store::StoreLock::Acquire(dir.path(), &second);
  CHECK(s.IsBusy());
  CHECK(s.message().find("locked by PID " + std::to_string(getpid())) != std::string::npos);
  first.reset();
  CHECK(store::StoreLock::Acquire(dir.path(), &second).ok());
}

}  // namespace
}  // namespace boxcar::testing
