// The block store against raw LevelDB on the same data, in the same run:
//  - ingest: blocks/s and MB/s for 1 KiB, 256 KiB and 1 MiB blocks. The store hashes every
//    block and writes groups through the leveldb tier; raw LevelDB gets the same bytes as
//    WriteBatch puts of the same group size, synced the same way.
//  - cold reads: random Gets through a store whose only tier is leveldb, against raw Gets on a
//    LevelDB with the same options and data; with read verification off and on.
//  - hot reads: random Gets served by the memory tier (lru), per thread.
//
// Usage: bench-store [--quick] [--only ingest|cold|hot] [--dir DIR] [--json FILE]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "format/cid.h"
#include "format/multihash.h"
#include "obs/metrics.h"
#include "runtime/config.h"
#include "runtime/host_services.h"
#include "runtime/runtime.h"
#include "store/blockstore.h"

using namespace boxcar;
using nlohmann::json;
namespace fs = std::filesystem;
using WallClock = std::chrono::steady_clock;

namespace {

constexpr int kGroupBlocks = 256;  // blocks per write group, store and raw alike
constexpr uint64_t kBlockCache = 8 << 20;
constexpr uint64_t kWriteBuffer = 32 << 20;

double Seconds(WallClock::time_point since) {
  return std::chrono::duration<double>(WallClock::now() - since).count();
}

struct Block {
  format::Cid cid;
  BlockData data;
};

std::vector<Block> MakeBlocks(size_t count, size_t size, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::vector<Block> blocks;
  blocks.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    auto data = std::make_shared<std::string>(size, '\0');
    for (size_t j = 0; j + 8 <= size; j += 8) {
      const uint64_t r = random();
      std::memcpy(data->data() + j, &r, 8);
    }
    blocks.push_back(
        {format::Cid::V1(format::kRaw, format::Multihash::Sum(format::kSha2_256, *data)),
         std::move(data)});
  }
  return blocks;
}

std::unique_ptr<leveldb::DB> OpenRaw(const fs::path& dir) {
  fs::create_directories(dir.parent_path());
  leveldb::Options options;
  options.create_if_missing = true;
  options.block_cache = leveldb::NewLRUCache(kBlockCache);
  options.write_buffer_size = kWriteBuffer;
  options.filter_policy = leveldb::NewBloomFilterPolicy(10);
  options.compression = leveldb::kNoCompression;
  leveldb::DB* db = nullptr;
  leveldb::Status s = leveldb::DB::Open(options, dir.string(), &db);
  if (!s.ok()) {
    std::fprintf(stderr, "raw leveldb: %s\n", s.ToString().c_str());
    std::exit(1);
  }
  return std::unique_ptr<leveldb::DB>(db);
}

// A store as the node builds it, over the bundled plugins.
class BenchStore {
 public:
  BenchStore(const fs::path& dir, json tiers, const std::string& verify) {
    json config = {{"plugins", {{"path", {BOXCAR_PLUGIN_DIR}}}},
                   {"strategies",
                    {{"prioritizer", {{"plugin", "fifo"}}},
                     {"batcher", {{"plugin", "fixed"}}},
                     {"conn_manager", {{"plugin", "watermark"}}},
                     {"tuner", {{"plugin", "static"}}}}},
                   {"store",
                    {{"path", (dir / "store").string()},
                     {"verify_reads", verify},
                     {"populate_on_write", true},
                     {"tiers", std::move(tiers)}}}};
    fs::create_directories(dir);
    const fs::path file = dir / "boxcar.json";
    std::ofstream(file) << config.dump(2);
    runtime::LoadResult loaded = runtime::LoadConfig(file, {}, BOXCAR_PLUGIN_DIR);
    if (!loaded.config) {
      std::fprintf(stderr, "config: %s\n", loaded.errors.front().message.c_str());
      std::exit(1);
    }
    runtime_ = std::make_unique<runtime::Runtime>(runtime::MakeHostContext(metrics_.registry()),
                                                  *metrics_.registry());
    store_ = std::make_unique<store::BlockStore>(*runtime_, *metrics_.registry());
    runtime::ReloadOutcome out = runtime_->Apply(*loaded.config, "bench");
    Status s = out.status.ok() ? store_->Refresh() : out.status;
    if (!s.ok()) {
      std::fprintf(stderr, "store: %s\n", s.ToString().c_str());
      std::exit(1);
    }
  }
  ~BenchStore() {
    store_.reset();
    runtime_->Shutdown();
  }
  store::BlockStore& operator*() { return *store_; }
  store::BlockStore* operator->() { return store_.get(); }

 private:
  obs::MetricsRegistry metrics_;
  std::unique_ptr<runtime::Runtime> runtime_;
  std::unique_ptr<store::BlockStore> store_;
};

json LevelDbTier() {
  return {{"plugin", "leveldb"},
          {"params",
           {{"block_cache_bytes", kBlockCache},
            {"write_buffer_bytes", kWriteBuffer},
            {"bloom_bits_per_key", 10},
            {"sync", "always"}}}};
}

json Ingest(const fs::path& dir, size_t count, size_t size) {
  const std::vector<Block> blocks = MakeBlocks(count, size, size);
  const double mb = static_cast<double>(count * size) / 1e6;

  fs::remove_all(dir / "raw-ingest");
  auto raw = OpenRaw(dir / "raw-ingest");
  leveldb::WriteOptions sync;
  sync.sync = true;
  auto start = WallClock::now();
  for (size_t i = 0; i < blocks.size(); i += kGroupBlocks) {
    leveldb::WriteBatch batch;
    for (size_t j = i; j < std::min(blocks.size(), i + kGroupBlocks); ++j) {
      batch.Put(blocks[j].cid.hash().bytes(), *blocks[j].data);
    }
    raw->Write(sync, &batch);
  }
  const double raw_s = Seconds(start);
  raw.reset();
  fs::remove_all(dir / "raw-ingest");

  fs::remove_all(dir / "store-ingest");
  double store_s = 0;
  {
    BenchStore bench(dir / "store-ingest", json::array({LevelDbTier()}), "persistent");
    start = WallClock::now();
    for (size_t i = 0; i < blocks.size(); i += kGroupBlocks) {
      std::vector<std::pair<format::Cid, BlockData>> group;
      for (size_t j = i; j < std::min(blocks.size(), i + kGroupBlocks); ++j) {
        group.emplace_back(blocks[j].cid, blocks[j].data);
      }
      if (Status s = bench->PutBatch(group); !s.ok()) {
        std::fprintf(stderr, "store put: %s\n", s.ToString().c_str());
        std::exit(1);
      }
    }
    store_s = Seconds(start);
  }
  fs::remove_all(dir / "store-ingest");
  json row = {{"block_bytes", size},
              {"blocks", count},
              {"raw_blocks_per_s", count / raw_s},
              {"raw_mb_per_s", mb / raw_s},
              {"store_blocks_per_s", count / store_s},
              {"store_mb_per_s", mb / store_s},
              {"ratio", raw_s / store_s}};
  std::printf(
      "ingest %7zu B x %6zu: raw %9.0f blocks/s %7.1f MB/s | store %9.0f blocks/s %7.1f "
      "MB/s | %.2fx\n",
      size, count, count / raw_s, mb / raw_s, count / store_s, mb / store_s, raw_s / store_s);
  std::fflush(stdout);
  return row;
}

json ColdReads(const fs::path& dir, size_t count, size_t reads) {
  const std::vector<Block> blocks = MakeBlocks(count, 1024, 7);
  std::mt19937_64 random(11);
  std::vector<size_t> order(reads);
  for (size_t& i : order) i = random() % count;

  fs::remove_all(dir / "raw-read");
  auto raw = OpenRaw(dir / "raw-read");
  for (size_t i = 0; i < blocks.size(); i += kGroupBlocks) {
    leveldb::WriteBatch batch;
    for (size_t j = i; j < std::min(blocks.size(), i + kGroupBlocks); ++j) {
      batch.Put(blocks[j].cid.hash().bytes(), *blocks[j].data);
    }
    raw->Write(leveldb::WriteOptions(), &batch);
  }
  // Both databases are read after a reopen, as after a restart: same files, same shape.
  raw.reset();
  raw = OpenRaw(dir / "raw-read");
  auto start = WallClock::now();
  std::string value;
  for (size_t i : order) raw->Get(leveldb::ReadOptions(), blocks[i].cid.hash().bytes(), &value);
  const double raw_s = Seconds(start);
  raw.reset();

  json row = {{"blocks", count}, {"reads", reads}, {"raw_gets_per_s", reads / raw_s}};
  std::printf("cold reads of 1 KiB: raw leveldb %9.0f gets/s", reads / raw_s);
  for (const char* verify : {"off", "persistent"}) {
    fs::remove_all(dir / "store-read");
    {
      BenchStore writer(dir / "store-read", json::array({LevelDbTier()}), verify);
      for (size_t i = 0; i < blocks.size(); i += kGroupBlocks) {
        std::vector<std::pair<format::Cid, BlockData>> group;
        for (size_t j = i; j < std::min(blocks.size(), i + kGroupBlocks); ++j) {
          group.emplace_back(blocks[j].cid, blocks[j].data);
        }
        writer->PutBatch(group);
      }
    }
    BenchStore bench(dir / "store-read", json::array({LevelDbTier()}), verify);
    // Steady state: the startup scan that fills the bloom filter has finished.
    while (!bench->bloom_ready()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    BlockData got;
    start = WallClock::now();
    for (size_t i : order) bench->Get(blocks[i].cid, &got);
    const double store_s = Seconds(start);
    row[std::string("store_verify_") + verify + "_gets_per_s"] = reads / store_s;
    row[std::string("ratio_verify_") + verify] = raw_s / store_s;
    std::printf(" | store (verify %s) %9.0f gets/s %.2fx", verify, reads / store_s,
                raw_s / store_s);
  }
  std::printf("\n");
  fs::remove_all(dir / "raw-read");
  fs::remove_all(dir / "store-read");
  return row;
}

json HotReads(const fs::path& dir, size_t count, size_t reads) {
  const std::vector<Block> blocks = MakeBlocks(count, 1024, 13);
  fs::remove_all(dir / "store-hot");
  BenchStore bench(
      dir / "store-hot",
      json::array({{{"plugin", "lru"}, {"params", {{"capacity_bytes", 1 << 30}}}}, LevelDbTier()}),
      "persistent");
  for (size_t i = 0; i < blocks.size(); i += kGroupBlocks) {
    std::vector<std::pair<format::Cid, BlockData>> group;
    for (size_t j = i; j < std::min(blocks.size(), i + kGroupBlocks); ++j) {
      group.emplace_back(blocks[j].cid, blocks[j].data);
    }
    bench->PutBatch(group);
  }
  json row = {{"blocks", count}};
  for (int threads : {1, 2}) {
    std::vector<std::thread> pool;
    const auto start = WallClock::now();
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        std::mt19937_64 random(t);
        BlockData got;
        for (size_t i = 0; i < reads; ++i) bench->Get(blocks[random() % count].cid, &got);
      });
    }
    for (auto& th : pool) th.join();
    const double s = Seconds(start);
    const double total = static_cast<double>(reads) * threads / s;
    row["lookups_per_s_" + std::to_string(threads) + "_threads"] = total;
    std::printf("hot reads of %zu x 1 KiB, %d thread(s): %.2f M lookups/s (%.2f M per thread)\n",
                count, threads, total / 1e6, total / 1e6 / threads);
  }
  const TierStats memory = bench->Tiers()[0].stats;
  std::printf("memory tier: %llu entries, %llu hits, %llu misses\n",
              static_cast<unsigned long long>(memory.entries),
              static_cast<unsigned long long>(memory.hits),
              static_cast<unsigned long long>(memory.misses));
  fs::remove_all(dir / "store-hot");
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  fs::path dir = fs::temp_directory_path() / "boxcar-bench-store";
  std::string json_file;
  std::string only;  // ingest | cold | hot
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      quick = true;
    } else if (arg == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (arg == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (arg == "--json" && i + 1 < argc) {
      json_file = argv[++i];
    } else {
      std::fprintf(
          stderr,
          "usage: bench-store [--quick] [--only ingest|cold|hot] [--dir DIR] [--json FILE]\n");
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  const size_t scale = quick ? 10 : 1;
  json report;
  auto wanted = [&](const char* part) { return only.empty() || only == part; };
  if (wanted("ingest")) {
    report["ingest"] =
        json::array({Ingest(dir, 100000 / scale, 1024), Ingest(dir, 800 / scale, 256 << 10),
                     Ingest(dir, 200 / scale, 1 << 20)});
  }
  if (wanted("cold")) report["cold_reads"] = ColdReads(dir, 200000 / scale, 200000 / scale);
  // A hot set that fits the CPU caches, and one (about 120 MB with keys) that does not.
  if (wanted("hot")) {
    report["hot_reads"] = json::array(
        {HotReads(dir, 8192, 2000000 / scale), HotReads(dir, 100000 / scale, 2000000 / scale)});
  }
  if (!json_file.empty()) std::ofstream(json_file) << report.dump(2) << "\n";
  fs::remove_all(dir);
  return 0;
}
