#include <doctest/doctest.h>
#include <leveldb/db.h>
#include <leveldb/iterator.h>
#include <leveldb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "boxcar/cache_tier.h"
#include "boxcar_plugins/testing/stored_tier.h"
#include "boxcar_plugins/testing/tier_contract.h"
#include "plugin_harness.h"
#include "support/temp_dir.h"

namespace {

using boxcar::BlockData;
using boxcar::PutReason;
using boxcar::Status;
using boxcar::testing::PluginHarness;
using boxcar::testing::TempDir;
using boxcar_plugins::testing::CheckTwentyDeleteTwo;
using boxcar_plugins::testing::CheckWriterContract;
using boxcar_plugins::testing::Data;
using boxcar_plugins::testing::GetBytes;
using boxcar_plugins::testing::MhKey;
using boxcar_plugins::testing::PutTwentyDeleteTwo;
using boxcar_plugins::testing::RandomBytes;
using boxcar_plugins::testing::ReadStreamed;
using boxcar_plugins::testing::TextBytes;
using boxcar_plugins::testing::Tier;
using boxcar_plugins::testing::WriteStreamed;

constexpr size_t kKiB = 1024;
constexpr size_t kMiB = 1024 * 1024;

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out.push_back(kDigits[static_cast<uint8_t>(c) >> 4]);
    out.push_back(kDigits[static_cast<uint8_t>(c) & 0xf]);
  }
  return out;
}

// Direct access to the database of a closed tier, for checking and damaging records.
class RawDb {
 public:
  explicit RawDb(const std::filesystem::path& dir) {
    leveldb::Options options;
    const leveldb::Status s = leveldb::DB::Open(options, dir.string(), &db_);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  ~RawDb() { delete db_; }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  std::string Get(const std::string& key) {
    std::string value;
    const leveldb::Status s = db_->Get(leveldb::ReadOptions(), key, &value);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return value;
  }
  void Put(const std::string& key, const std::string& value) {
    REQUIRE(db_->Put(leveldb::WriteOptions(), key, value).ok());
  }
  void Delete(const std::string& key) { REQUIRE(db_->Delete(leveldb::WriteOptions(), key).ok()); }
  // Keys of every record whose key starts with `prefix`.
  std::vector<std::string> Keys(char prefix) {
    std::vector<std::string> keys;
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
    for (it->Seek(std::string(1, prefix)); it->Valid() && it->key()[0] == prefix; it->Next()) {
      keys.push_back(it->key().ToString());
    }
    return keys;
  }

 private:
  leveldb::DB* db_ = nullptr;
};

std::string BlockRecordKey(const std::string& key) { return "b" + key; }

}  // namespace

TEST_CASE("leveldb: small and large blocks round-trip through put and get") {
  TempDir dir;
  Tier t(dir.path());
  const std::vector<size_t> sizes = {0, 1, 100, 4 * kKiB, kMiB, kMiB + 1, 5 * kMiB};
  for (size_t i = 0; i < sizes.size(); ++i) {
    CAPTURE(sizes[i]);
    const std::string key = MhKey(static_cast<int>(i));
    const std::string data = RandomBytes(sizes[i], i);
    BlockData out;
    CHECK(t->Get(key, &out).IsNotFound());
    REQUIRE(t->Put(key, Data(data), PutReason::kWrite).ok());
    CHECK(GetBytes(*t, key) == data);
    uint64_t size = 0;
    REQUIRE(t->Contains(key, &size).ok());
    CHECK(size == sizes[i]);
  }
  const boxcar::TierStats stats = t->Stats();
  CHECK(stats.entries == sizes.size());
  CHECK(stats.hits == sizes.size());
  CHECK(stats.misses == sizes.size());
  uint64_t total = 0;
  for (size_t s : sizes) total += s;
  CHECK(stats.bytes == total);
  CHECK(stats.capacity_bytes == 0);
}

TEST_CASE("leveldb: streamed writes and reads in 64 KiB pieces") {
  TempDir dir;
  Tier t(dir.path());
  const std::string big = TextBytes(5 * kMiB, 1);
  const std::string small = RandomBytes(100 * kKiB, 2);
  REQUIRE(WriteStreamed(*t, MhKey(1), big).ok());
  REQUIRE(WriteStreamed(*t, MhKey(2), small).ok());
  CHECK(ReadStreamed(*t, MhKey(1)) == big);
  CHECK(ReadStreamed(*t, MhKey(2)) == small);
  CHECK(GetBytes(*t, MhKey(1)) == big);

  // Blocks stored by Put read back through a reader too, at any offset.
  const std::string put = RandomBytes(3 * kMiB + 17, 3);
  REQUIRE(t->Put(MhKey(3), Data(put), PutReason::kWrite).ok());
  CHECK(ReadStreamed(*t, MhKey(3)) == put);
  std::unique_ptr<boxcar::BlockReader> reader;
  REQUIRE(t->OpenReader(MhKey(3), &reader).ok());
  std::vector<char> buf(1000);
  size_t got = 0;
  REQUIRE(reader->Read(2 * kMiB + 5, buf.size(), buf.data(), &got).ok());
  REQUIRE(got > 0);
  CHECK(std::string_view(buf.data(), got) == std::string_view(put).substr(2 * kMiB + 5, got));
  REQUIRE(reader->Read(put.size(), buf.size(), buf.data(), &got).ok());
  CHECK(got == 0);

  const boxcar::TierStats stats = t->Stats();
  CHECK(stats.entries == 3);
  CHECK(stats.bytes == big.size() + small.size() + put.size());
}

TEST_CASE("leveldb: a streamed block is invisible before commit and checked against its size") {
  TempDir dir;
  Tier t(dir.path());
  const std::string data = RandomBytes(2 * kMiB, 4);
  CheckWriterContract(*t, MhKey(1), data);

  // A writer dropped before commit leaves nothing behind, not even its chunks.
  std::unique_ptr<boxcar::BlockWriter> writer;
  REQUIRE(t->OpenWriter(MhKey(2), data.size(), PutReason::kWrite, &writer).ok());
  REQUIRE(writer->Append(std::string_view(data).substr(0, 3 * kMiB / 2)).ok());
  writer.reset();
  uint64_t size = 0;
  CHECK(t->Contains(MhKey(2), &size).IsNotFound());
  t.Close();
  RawDb db(dir.path());
  CHECK(db.Keys('p').empty());
  CHECK(db.Keys('c').size() == 8);  // MhKey(1)'s 2 MiB in 256 KiB chunks, nothing of MhKey(2)
}

TEST_CASE("leveldb: data and exact stats survive closing and reopening") {
  TempDir dir;
  Tier t(dir.path());
  uint64_t bytes = 0;
  const std::vector<std::string> blocks = PutTwentyDeleteTwo(*t, &bytes);
  REQUIRE(WriteStreamed(*t, MhKey(100), TextBytes(3 * kMiB)).ok());
  bytes += 3 * kMiB;
  CHECK(t->Stats().entries == 19);
  CHECK(t->Stats().bytes == bytes);

  t.Close();
  t.Open();
  CHECK(t->Stats().entries == 19);
  CHECK(t->Stats().bytes == bytes);
  CheckTwentyDeleteTwo(*t, blocks);
  CHECK(GetBytes(*t, MhKey(100)) == TextBytes(3 * kMiB));

  // Without its stats record, the database is counted again at open.
  t.Close();
  RawDb(dir.path()).Delete("mstats");
  t.Open();
  CHECK(t->Stats().entries == 19);
  CHECK(t->Stats().bytes == bytes);
}

TEST_CASE("leveldb: scan visits block records in key order; delete removes chunks too") {
  TempDir dir;
  Tier t(dir.path());
  std::vector<std::pair<std::string, uint64_t>> expected;
  for (int i = 0; i < 30; ++i) {
    const size_t size = (i % 10 == 0) ? kMiB + 1000 : 100 + static_cast<size_t>(i);
    REQUIRE(t->Put(MhKey(i), Data(RandomBytes(size, i)), PutReason::kWrite).ok());
    expected.emplace_back(MhKey(i), size);
  }
  std::sort(expected.begin(), expected.end());
  std::vector<std::pair<std::string, uint64_t>> seen;
  REQUIRE(t->Scan([&](std::string_view key, uint64_t size) {
             seen.emplace_back(std::string(key), size);
             return true;
           }).ok());
  CHECK(seen == expected);

  int visited = 0;
  REQUIRE(t->Scan([&](std::string_view, uint64_t) { return ++visited < 5; }).ok());
  CHECK(visited == 5);

  for (int i = 0; i < 30; ++i) REQUIRE(t->Delete(MhKey(i)).ok());
  CHECK(t->Delete(MhKey(0)).ok());  // absent is fine
  CHECK(t->Stats().entries == 0);
  CHECK(t->Stats().bytes == 0);
  seen.clear();
  REQUIRE(t->Scan([&](std::string_view key, uint64_t size) {
             seen.emplace_back(std::string(key), size);
             return true;
           }).ok());
  CHECK(seen.empty());
  t.Close();
  RawDb db(dir.path());
  CHECK(db.Keys('b').empty());
  CHECK(db.Keys('c').empty());
}

TEST_CASE("leveldb: a present block is not rewritten, and duplicates count once") {
  TempDir dir;
  Tier t(dir.path());
  const BlockData block = Data(RandomBytes(5000, 1));
  REQUIRE(t->Put(MhKey(1), block, PutReason::kWrite).ok());
  CHECK(t.Metric("leveldb_puts_total") == 1);
  const double groups = t.Metric("leveldb_write_groups_total");
  REQUIRE(t->Put(MhKey(1), block, PutReason::kWrite).ok());
  REQUIRE(t->Put(MhKey(1), block, PutReason::kPromotion).ok());
  REQUIRE(WriteStreamed(*t, MhKey(1), *block).ok());
  CHECK(t.Metric("leveldb_puts_total") == 1);
  CHECK(t.Metric("leveldb_write_groups_total") == groups);

  // Within one batch a key written twice is one entry.
  std::vector<std::pair<std::string, BlockData>> batch = {
      {MhKey(2), block}, {MhKey(3), block}, {MhKey(2), block}, {MhKey(1), block}};
  REQUIRE(t->PutBatch(batch, PutReason::kWrite).ok());
  CHECK(t.Metric("leveldb_puts_total") == 3);
  CHECK(t.Metric("leveldb_write_groups_total") == groups + 1);
  CHECK(t->Stats().entries == 3);
  CHECK(t->Stats().bytes == 3 * block->size());
  t.Close();
  t.Open();
  CHECK(t->Stats().entries == 3);
  CHECK(t->Stats().bytes == 3 * block->size());
}

TEST_CASE("leveldb: a durable put of a block an unsynced write stored syncs it") {
  TempDir dir;
  Tier t(dir.path());
  const BlockData block = Data(RandomBytes(5000, 1));
  REQUIRE(t->Put(MhKey(1), block, PutReason::kDemotion).ok());
  CHECK(t.Metric("leveldb_syncs_total") == 0);
  REQUIRE(t->Put(MhKey(1), block, PutReason::kWrite).ok());
  CHECK(t.Metric("leveldb_syncs_total") == 1);
  REQUIRE(t->Put(MhKey(1), block, PutReason::kWrite).ok());  // synced by now
  CHECK(t.Metric("leveldb_syncs_total") == 1);
  CHECK(t.Metric("leveldb_puts_total") == 1);

  REQUIRE(t->Put(MhKey(2), block, PutReason::kHandoff).ok());
  REQUIRE(WriteStreamed(*t, MhKey(2), *block).ok());
  CHECK(t.Metric("leveldb_syncs_total") == 2);
  CHECK(t->Stats().entries == 2);
}

namespace {
size_t ThreadCount() {
  return static_cast<size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/task"),
                                           std::filesystem::directory_iterator()));
}
}  // namespace

TEST_CASE("leveldb: closing the tier leaves no LevelDB thread behind") {
  // LevelDB's default Env would run compactions on a thread that outlives the database, inside
  // a library the host unmaps when it swaps the plugin out.
  TempDir dir;
  const size_t before = ThreadCount();
  {
    Tier t(dir.path(), R"({"write_buffer_bytes": 65536})");
    for (int i = 0; i < 64; ++i) {
      REQUIRE(t->Put(MhKey(i), Data(RandomBytes(32 * kKiB, i)), PutReason::kDemotion).ok());
    }
    CHECK(ThreadCount() > before);
    t.Close();
    CHECK(ThreadCount() == before);
  }
}

TEST_CASE("leveldb: zstd stores compressible data smaller and incompressible data raw") {
  TempDir dir;
  Tier t(dir.path(), R"({"compression": "zstd", "large_block_bytes": 65536})");
  const std::string text = TextBytes(60 * kKiB, 1);
  const std::string noise = RandomBytes(60 * kKiB, 2);
  const std::string big_text = TextBytes(kMiB, 3);
  const std::string tiny = TextBytes(100, 4);  // under compress_min_bytes
  REQUIRE(t->Put(MhKey(1), Data(text), PutReason::kWrite).ok());
  REQUIRE(t->Put(MhKey(2), Data(noise), PutReason::kWrite).ok());
  REQUIRE(t->Put(MhKey(3), Data(big_text), PutReason::kWrite).ok());
  REQUIRE(t->Put(MhKey(4), Data(tiny), PutReason::kWrite).ok());
  CHECK(GetBytes(*t, MhKey(1)) == text);
  CHECK(GetBytes(*t, MhKey(2)) == noise);
  CHECK(GetBytes(*t, MhKey(3)) == big_text);
  CHECK(ReadStreamed(*t, MhKey(3)) == big_text);
  CHECK(GetBytes(*t, MhKey(4)) == tiny);
  CHECK(t.Metric("leveldb_compression_saved_bytes_total") > 0);
  CHECK(t->Stats().bytes == text.size() + noise.size() + big_text.size() + tiny.size());
  t.Close();

  RawDb db(dir.path());
  const std::string text_record = db.Get(BlockRecordKey(MhKey(1)));
  CHECK(text_record[0] == '\x01');  // zstd
  CHECK(text_record.size() < text.size() / 4);
  const std::string noise_record = db.Get(BlockRecordKey(MhKey(2)));
  CHECK(noise_record[0] == '\x00');                      // raw: zstd would not save 1/8
  CHECK(noise_record.size() == noise.size() + 4);        // format byte and a 3-byte varint size
  CHECK(db.Get(BlockRecordKey(MhKey(3)))[0] == '\x02');  // chunked
  const std::vector<std::string> chunks = db.Keys('c');
  REQUIRE(chunks.size() == 4);  // 1 MiB in 256 KiB chunks
  for (const std::string& chunk : chunks) {
    const std::string record = db.Get(chunk);
    CHECK(record[0] == '\x01');
    CHECK(record.size() < 256 * kKiB / 4);
  }
  CHECK(db.Get(BlockRecordKey(MhKey(4)))[0] == '\x00');
}

TEST_CASE("leveldb: damaged records are Corruption naming the key, never wrong bytes") {
  TempDir dir;
  Tier t(dir.path(), R"({"compression": "zstd"})");
  for (int i = 0; i < 8; ++i) {
    const std::string data = i == 6 ? TextBytes(2 * kMiB, i) : TextBytes(20 * kKiB, i);
    REQUIRE(t->Put(MhKey(i), Data(data), PutReason::kWrite).ok());
  }
  t.Close();
  {
    RawDb db(dir.path());
    // A zstd format byte with bytes that are no frame.
    db.Put(BlockRecordKey(MhKey(0)), std::string("\x01\x64", 2) + "not a zstd frame at all");
    // An unknown format byte.
    db.Put(BlockRecordKey(MhKey(1)), std::string("\x07\x05", 2) + "hello");
    // A raw record shorter than its size.
    db.Put(BlockRecordKey(MhKey(2)), std::string("\x00\x0a", 2) + "short");
    // A real frame with flipped bytes in the middle.
    std::string record = db.Get(BlockRecordKey(MhKey(3)));
    REQUIRE(record[0] == '\x01');
    for (size_t i = record.size() / 2; i < record.size() / 2 + 8; ++i) record[i] ^= 0x5a;
    db.Put(BlockRecordKey(MhKey(3)), record);
    // A frame declaring another size than the header.
    record = db.Get(BlockRecordKey(MhKey(4)));
    record[1] = static_cast<char>(record[1] ^ 0x01);
    db.Put(BlockRecordKey(MhKey(4)), record);
    // A truncated size varint.
    db.Put(BlockRecordKey(MhKey(5)), std::string("\x00\xff", 2));
    // A chunked block missing a chunk.
    const std::vector<std::string> chunks = db.Keys('c');
    REQUIRE(chunks.size() == 8);
    db.Delete(chunks[3]);
  }
  t.Open();
  for (int i = 0; i < 7; ++i) {
    CAPTURE(i);
    BlockData out;
    const Status s = t->Get(MhKey(i), &out);
    CHECK(s.code() == Status::Code::kCorruption);
    CHECK(s.message().find(Hex(MhKey(i))) != std::string::npos);
    CHECK(out == nullptr);
  }
  std::unique_ptr<boxcar::BlockReader> reader;
  CHECK(t->OpenReader(MhKey(3), &reader).code() == Status::Code::kCorruption);
  uint64_t size = 0;
  CHECK(t->Contains(MhKey(1), &size).code() == Status::Code::kCorruption);
  CHECK(t->Contains(MhKey(5), &size).code() == Status::Code::kCorruption);
  CHECK(GetBytes(*t, MhKey(7)) == TextBytes(20 * kKiB, 7));  // the undamaged block

  // The chunked reader hits the missing chunk when it gets there.
  REQUIRE(t->OpenReader(MhKey(6), &reader).ok());
  std::vector<char> buf(256 * kKiB);
  size_t got = 0;
  REQUIRE(reader->Read(0, buf.size(), buf.data(), &got).ok());
  const Status missing = reader->Read(3 * 256 * kKiB, buf.size(), buf.data(), &got);
  CHECK(missing.code() == Status::Code::kCorruption);
  CHECK(missing.message().find("chunk 3 of 8 is missing") != std::string::npos);
  reader.reset();

  // A scan visits every record, those whose header does not decode with size 0, so GC can
  // remove them and a scrub can find them.
  std::map<std::string, uint64_t> scanned;
  REQUIRE(t->Scan([&](std::string_view key, uint64_t stored) {
             scanned[std::string(key)] = stored;
             return true;
           }).ok());
  CHECK(scanned.size() == 8);
  CHECK(scanned[MhKey(1)] == 0);
  CHECK(scanned[MhKey(2)] == 0);
  CHECK(scanned[MhKey(5)] == 0);
  CHECK(scanned[MhKey(0)] == 100);  // the header decodes; the payload does not
  CHECK(scanned[MhKey(6)] == 2 * kMiB);
  CHECK(scanned[MhKey(7)] == 20 * kKiB);
  CHECK(t.Metric("leveldb_corrupt_records_total") >= 10);

  // Damaged blocks can still be deleted.
  for (int i = 0; i < 7; ++i) REQUIRE(t->Delete(MhKey(i)).ok());
  CHECK(t->Stats().entries == 1);
}

TEST_CASE("leveldb: a byte flipped in a table file fails that block only; the tier still opens") {
  TempDir dir;
  Tier t(dir.path());
  for (int i = 0; i < 40; ++i) {
    REQUIRE(t->Put(MhKey(i), Data(RandomBytes(1000, i)), PutReason::kWrite).ok());
  }
  const uint64_t bytes = t->Stats().bytes;
  t.Close();
  t.Open();  // LevelDB replays its log into a table file
  t.Close();

  // Flip a byte in the middle of block 7's bytes, wherever its table holds them.
  const std::string needle = RandomBytes(1000, 7).substr(500, 64);
  bool flipped = false;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    if (entry.path().extension() != ".ldb") continue;
    std::string table = [&] {
      std::ifstream in(entry.path(), std::ios::binary);
      return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }();
    const size_t at = table.find(needle);
    if (at == std::string::npos) continue;
    table[at + 32] ^= 0x01;
    std::ofstream(entry.path(), std::ios::binary | std::ios::trunc) << table;
    flipped = true;
  }
  REQUIRE(flipped);

  t.Open();
  CHECK(t->Stats().entries == 40);  // the stats record may share the damaged table block
  CHECK(t->Stats().bytes == bytes);
  BlockData out;
  const Status damaged = t->Get(MhKey(7), &out);
  CHECK(damaged.code() == Status::Code::kCorruption);
  CHECK(damaged.message().find(Hex(MhKey(7))) != std::string::npos);
  CHECK(out == nullptr);
  std::unique_ptr<boxcar::BlockReader> reader;
  CHECK(t->OpenReader(MhKey(7), &reader).code() == Status::Code::kCorruption);

  // Every key is still listed, so GC can remove the damaged block and a scrub finds it.
  std::vector<std::string> keys;
  REQUIRE(t->Scan([&](std::string_view key, uint64_t) {
             keys.emplace_back(key);
             return true;
           }).ok());
  CHECK(keys.size() == 40);
  int readable = 0;
  for (int i = 0; i < 40; ++i) {
    if (t->Get(MhKey(i), &out).ok()) {
      CHECK(*out == RandomBytes(1000, i));
      ++readable;
    }
  }
  CHECK(readable >= 30);  // only the blocks sharing the damaged 4 KiB table block fail
  REQUIRE(t->Delete(MhKey(7)).ok());
  CHECK(t->Stats().entries == 39);
}

TEST_CASE("leveldb: chunks of a streamed write that never committed are removed at open") {
  TempDir dir;
  Tier t(dir.path());
  REQUIRE(t->Put(MhKey(1), Data(RandomBytes(2 * kMiB, 1)), PutReason::kWrite).ok());
  t.Close();
  {
    // What a writer that crashed after two chunks leaves: its intent and the chunks.
    RawDb db(dir.path());
    const std::string key = MhKey(2);
    const std::string id = "\x01\x02\x03\x04\x05\x06\x07\x08";
    db.Put("p" + key + id, "");
    db.Put("c" + key + id + std::string("\0\0\0\0", 4), std::string("\x00\x03", 2) + "abc");
    db.Put("c" + key + id + std::string("\0\0\0\1", 4), std::string("\x00\x03", 2) + "def");
  }
  t.Open();
  uint64_t size = 0;
  CHECK(t->Contains(MhKey(2), &size).IsNotFound());
  CHECK(t->Stats().entries == 1);
  t.Close();
  RawDb db(dir.path());
  CHECK(db.Keys('p').empty());
  CHECK(db.Keys('c').size() == 8);  // only MhKey(1)'s
}

TEST_CASE("leveldb: concurrent writers share group commits") {
  TempDir dir;
  Tier t(dir.path(), R"({"sync": "always"})");
  constexpr int kThreads = 8;
  constexpr int kPuts = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kPuts; ++i) {
        const int n = w * kPuts + i;
        if (!t->Put(MhKey(n), Data(RandomBytes(4 * kKiB, n)), PutReason::kWrite).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  const double puts = t.Metric("leveldb_puts_total");
  const double groups = t.Metric("leveldb_write_groups_total");
  CHECK(puts == kThreads * kPuts);
  CHECK(groups < puts);
  CHECK(t.Metric("leveldb_syncs_total") == groups);
  CHECK(t->Stats().entries == kThreads * kPuts);
  MESSAGE((kThreads * kPuts) << " puts in " << groups << " groups");
}

TEST_CASE("leveldb: concurrent puts of the same blocks store each once, counts exact") {
  TempDir dir;
  Tier t(dir.path(), R"({"sync": "never"})");
  constexpr int kThreads = 6;
  constexpr int kRounds = 30;
  constexpr int kKeys = 8;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([&] {
      for (int round = 0; round < kRounds; ++round) {
        // Every writer puts the same keys of the round, so look-ups race with other groups.
        std::vector<std::pair<std::string, BlockData>> batch;
        for (int k = 0; k < kKeys; ++k) {
          const int n = round * kKeys + k;
          batch.emplace_back(MhKey(n), Data(RandomBytes(100 + n, n)));
        }
        if (!t->PutBatch(batch, PutReason::kWrite).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  uint64_t bytes = 0;
  for (int n = 0; n < kRounds * kKeys; ++n) bytes += 100 + n;
  CHECK(t.Metric("leveldb_puts_total") == kRounds * kKeys);
  CHECK(t->Stats().entries == kRounds * kKeys);
  CHECK(t->Stats().bytes == bytes);
  t.Close();
  t.Open();
  CHECK(t->Stats().entries == kRounds * kKeys);
  CHECK(t->Stats().bytes == bytes);
}

TEST_CASE("leveldb: GetMany answers every key by position") {
  TempDir dir;
  Tier t(dir.path(), R"({"compression": "zstd"})");
  const std::string small = RandomBytes(3000, 1);
  const std::string text = TextBytes(20 * kKiB, 2);
  const std::string large = RandomBytes(3 * kMiB + 5, 3);
  REQUIRE(t->Put(MhKey(1), Data(small), PutReason::kWrite).ok());
  REQUIRE(t->Put(MhKey(2), Data(text), PutReason::kWrite).ok());
  REQUIRE(t->Put(MhKey(3), Data(large), PutReason::kWrite).ok());
  const std::string k1 = MhKey(1), k2 = MhKey(2), k3 = MhKey(3), absent = MhKey(4);
  const std::vector<std::string_view> keys = {k3, absent, k1, "", k2, k1};
  std::vector<BlockData> out;
  std::vector<Status> status;
  t->GetMany(keys, &out, &status);
  REQUIRE(out.size() == keys.size());
  REQUIRE(status.size() == keys.size());
  REQUIRE(status[0].ok());
  CHECK(*out[0] == large);
  CHECK(status[1].IsNotFound());
  CHECK(out[1] == nullptr);
  REQUIRE(status[2].ok());
  CHECK(*out[2] == small);
  CHECK(status[3].code() == Status::Code::kInvalidArgument);
  CHECK(out[3] == nullptr);
  REQUIRE(status[4].ok());
  CHECK(*out[4] == text);
  REQUIRE(status[5].ok());
  CHECK(*out[5] == small);
  CHECK(t->Stats().hits == 4);
  CHECK(t->Stats().misses == 1);

  // A damaged record is Corruption for its key only.
  t.Close();
  {
    RawDb raw(dir.path());
    raw.Put(BlockRecordKey(k1), std::string("\x07junk"));
  }
  t.Open();
  t->GetMany({k1, k2}, &out, &status);
  CHECK(status[0].code() == Status::Code::kCorruption);
  CHECK(status[0].message().find(Hex(k1)) != std::string::npos);
  CHECK(out[0] == nullptr);
  REQUIRE(status[1].ok());
  CHECK(*out[1] == text);
}

TEST_CASE("leveldb: in-place and reopening reconfigures under concurrent reads and writes") {
  TempDir dir;
  Tier t(dir.path());
  // A chunked block read by a reader that stays open across the reopens.
  const std::string big = RandomBytes(2 * kMiB, 99);
  REQUIRE(t->Put(MhKey(100000), Data(big), PutReason::kWrite).ok());
  std::unique_ptr<boxcar::BlockReader> reader;
  REQUIRE(t->OpenReader(MhKey(100000), &reader).ok());

  constexpr int kThreads = 4;
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::vector<int> written(kThreads, 0);
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([&, w] {
      int n = 0;
      while (!stop.load()) {
        const int id = w * 1'000'000 + n;
        const std::string data = TextBytes(2000 + 10 * (n % 50), id);
        if (!t->Put(MhKey(id), Data(data), PutReason::kWrite).ok()) ++errors;
        ++n;
        BlockData out;
        const int earlier = w * 1'000'000 + (n * 7919) % n;
        if (!t->Get(MhKey(earlier), &out).ok() ||
            *out != TextBytes(2000 + 10 * ((earlier % 1'000'000) % 50), earlier)) {
          ++errors;
        }
      }
      written[w] = n;
    });
  }
  PluginHarness& h = t.harness();
  const std::vector<std::string> configs = {
      R"({"compression": "zstd", "zstd_level": 5})",
      R"({"compression": "zstd", "block_cache_bytes": 1048576})",
      R"({"sync": "never", "compress_min_bytes": 4096, "block_cache_bytes": 1048576})",
      R"({"write_buffer_bytes": 1048576, "bloom_bits_per_key": 0, "leveldb_compression": "snappy"})",
      R"({"max_open_files": 200})",
      R"({})",
  };
  for (const std::string& config : configs) {
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
    const Status s = t->Reconfigure(h.ParseParams(config));
    INFO(config, " -> ", s.ToString());
    CHECK(s.ok());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(40));
  stop = true;
  for (auto& th : threads) th.join();
  CHECK(errors == 0);
  CHECK(t.Metric("leveldb_reopens_total") == 4);  // the second, fourth, fifth and sixth

  std::string streamed(big.size(), '\0');
  size_t got = 0;
  for (size_t at = 0; at < big.size(); at += got) {
    REQUIRE(reader->Read(at, 64 * kKiB, streamed.data() + at, &got).ok());
    REQUIRE(got > 0);
  }
  CHECK(streamed == big);
  reader.reset();

  uint64_t total = 1;
  for (int w = 0; w < kThreads; ++w) {
    total += static_cast<uint64_t>(written[w]);
    for (int n = 0; n < written[w]; ++n) {
      uint64_t size = 0;
      REQUIRE(t->Contains(MhKey(w * 1'000'000 + n), &size).ok());
    }
  }
  CHECK(t->Stats().entries == total);
  CHECK(total > 100);  // the writers ran through the reconfigures
  MESSAGE(total << " blocks written across 6 reconfigures");
  t.Close();
  t.Open();
  CHECK(t->Stats().entries == total);
}

TEST_CASE("leveldb: bad params and a missing data directory are refused clearly") {
  TempDir dir;
  PluginHarness h;
  const std::string no_dir = h.CreateError("{}");
  CHECK(no_dir.find("data_dir is empty") != std::string::npos);
  h.SetDataDir(dir.path().string());
  CHECK(h.CreateError(R"({"compression": "lz4"})").find("compression") != std::string::npos);
  CHECK(h.CreateError(R"({"sync": "sometimes"})").find("sync") != std::string::npos);
  CHECK(h.CreateError(R"({"zstd_level": 0})").find("zstd_level") != std::string::npos);
  CHECK(h.CreateError(R"({"chunk_bytes": 1})").find("chunk_bytes") != std::string::npos);
  CHECK(h.CreateError("{}").empty());

  // A data directory LevelDB cannot use.
  const auto file = dir.Write("plain-file", "x");
  h.SetDataDir(file.string());
  CHECK(h.CreateError("{}").find("cannot open the LevelDB database") != std::string::npos);

  CHECK(h.info().Has(boxcar::kPersistent));
  CHECK(h.info().Has(boxcar::kThreadSafe));
  CHECK(h.info().Has(boxcar::kReconfigure));
}

TEST_CASE("leveldb: keeps the cache_tier contract") {
  boxcar_plugins::testing::CheckStoredTierContract("{}");
}
