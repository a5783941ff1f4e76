#include <doctest/doctest.h>
#include <sys/stat.h>

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

namespace fs = std::filesystem;
using boxcar::BlockData;
using boxcar::CacheTier;
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
constexpr size_t kHeaderBytes = 13;

std::string Base32(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : bytes) {
    buffer = (buffer << 8) | static_cast<uint8_t>(c);
    bits += 8;
    while (bits >= 5) out.push_back(kAlphabet[(buffer >> (bits -= 5)) & 0x1f]);
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 0x1f]);
  return out;
}

// Where the tier keeps a block: <dir>/<next-to-last two characters>/<base32>.data.
fs::path BlockFile(const fs::path& dir, const std::string& key) {
  const std::string name = Base32(key);
  return dir / name.substr(name.size() - 3, 2) / (name + ".data");
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteFile(const fs::path& path, std::string_view content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

// Files under `dir` whose name starts with `prefix`, at any depth.
std::vector<fs::path> FilesStartingWith(const fs::path& dir, std::string_view prefix) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.path().filename().string().starts_with(prefix)) found.push_back(entry.path());
  }
  return found;
}

}  // namespace

TEST_CASE("flatfs: small and large blocks round-trip through put and get, laid out like flatfs") {
  TempDir dir;
  Tier t(dir.path());
  CHECK(ReadFile(dir / "SHARDING") == "/repo/flatfs/shard/v1/next-to-last/2\n");
  const std::vector<size_t> sizes = {0, 1, 100, 4 * kKiB, kMiB, 5 * kMiB};
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
    CHECK(fs::file_size(BlockFile(dir.path(), key)) == kHeaderBytes + sizes[i]);
  }
  // RFC 4648's vector: "foobar" is MZXW6YTBOI, sharded by "BO".
  REQUIRE(t->Put("foobar", Data("x"), PutReason::kWrite).ok());
  CHECK(fs::exists(dir / "BO" / "MZXW6YTBOI.data"));

  const boxcar::TierStats stats = t->Stats();
  CHECK(stats.entries == sizes.size() + 1);
  CHECK(stats.hits == sizes.size());
  CHECK(stats.misses == sizes.size());
  uint64_t total = 1;
  for (size_t s : sizes) total += s;
  CHECK(stats.bytes == total);
}

TEST_CASE("flatfs: streamed writes and reads in 64 KiB pieces, raw and zstd") {
  TempDir dir;
  Tier t(dir.path(), R"({"compression": "zstd"})");
  const std::string text = TextBytes(5 * kMiB, 1);
  const std::string noise = RandomBytes(5 * kMiB + 3, 2);
  const std::string small = TextBytes(100 * kKiB, 3);
  REQUIRE(WriteStreamed(*t, MhKey(1), text).ok());
  REQUIRE(WriteStreamed(*t, MhKey(2), noise).ok());
  REQUIRE(WriteStreamed(*t, MhKey(3), small).ok());
  CHECK(ReadStreamed(*t, MhKey(1)) == text);
  CHECK(ReadStreamed(*t, MhKey(2)) == noise);
  CHECK(ReadStreamed(*t, MhKey(3)) == small);
  CHECK(GetBytes(*t, MhKey(1)) == text);
  CHECK(GetBytes(*t, MhKey(2)) == noise);

  // The stored format follows the data: compressible text is zstd and much smaller.
  const std::string text_file = ReadFile(BlockFile(dir.path(), MhKey(1)));
  CHECK(text_file[4] == '\x01');
  CHECK(text_file.size() < text.size() / 4);
  const std::string noise_file = ReadFile(BlockFile(dir.path(), MhKey(2)));
  CHECK(noise_file[4] == '\x00');
  CHECK(noise_file.size() == kHeaderBytes + noise.size());

  // A zstd reader seeks back and forth; a Put block reads through a reader too.
  std::unique_ptr<boxcar::BlockReader> reader;
  REQUIRE(t->OpenReader(MhKey(1), &reader).ok());
  std::vector<char> buf(1000);
  for (uint64_t offset : {uint64_t{4 * kMiB + 7}, uint64_t{10}, uint64_t{3 * kMiB - 500},
                          uint64_t{5 * kMiB - 1}, uint64_t{0}}) {
    CAPTURE(offset);
    size_t got = 0;
    REQUIRE(reader->Read(offset, buf.size(), buf.data(), &got).ok());
    REQUIRE(got > 0);
    CHECK(std::string_view(buf.data(), got) == std::string_view(text).substr(offset, got));
  }
  size_t got = 1;
  REQUIRE(reader->Read(text.size(), buf.size(), buf.data(), &got).ok());
  CHECK(got == 0);
  const std::string put = TextBytes(3 * kMiB + 17, 4);
  REQUIRE(t->Put(MhKey(4), Data(put), PutReason::kWrite).ok());
  CHECK(ReadStreamed(*t, MhKey(4)) == put);

  const boxcar::TierStats stats = t->Stats();
  CHECK(stats.entries == 4);
  CHECK(stats.bytes == text.size() + noise.size() + small.size() + put.size());
  CHECK(t.Metric("flatfs_compression_saved_bytes_total") > 0);
}

TEST_CASE("flatfs: a streamed block is invisible before commit and checked against its size") {
  TempDir dir;
  Tier t(dir.path());
  const std::string data = RandomBytes(2 * kMiB, 4);
  CheckWriterContract(*t, MhKey(1), data);

  // A writer dropped before commit leaves no file behind, temporary or not.
  std::unique_ptr<boxcar::BlockWriter> writer;
  REQUIRE(t->OpenWriter(MhKey(2), data.size(), PutReason::kWrite, &writer).ok());
  REQUIRE(writer->Append(std::string_view(data).substr(0, kMiB)).ok());
  CHECK(FilesStartingWith(dir.path(), ".put-").size() == 1);
  writer.reset();
  uint64_t size = 0;
  CHECK(t->Contains(MhKey(2), &size).IsNotFound());
  CHECK(FilesStartingWith(dir.path(), ".put-").empty());
  CHECK(t->Stats().entries == 1);
}

TEST_CASE("flatfs: data and exact stats survive closing and reopening") {
  TempDir dir;
  Tier t(dir.path(), R"({"compression": "zstd"})");
  uint64_t bytes = 0;
  const std::vector<std::string> blocks = PutTwentyDeleteTwo(*t, &bytes);
  CHECK(t->Stats().entries == 18);
  CHECK(t->Stats().bytes == bytes);

  t.Close();
  t.Open();
  CHECK(t->Stats().entries == 18);
  CHECK(t->Stats().bytes == bytes);
  CheckTwentyDeleteTwo(*t, blocks);
}

TEST_CASE("flatfs: scan visits every block with its size; delete removes the file") {
  TempDir dir;
  Tier t(dir.path(), R"({"compression": "zstd"})");
  std::vector<std::pair<std::string, uint64_t>> expected;
  for (int i = 0; i < 30; ++i) {
    const size_t size = 100 + static_cast<size_t>(i) * 1000;
    REQUIRE(t->Put(MhKey(i), Data(TextBytes(size, i)), PutReason::kWrite).ok());
    expected.emplace_back(MhKey(i), size);
  }
  std::sort(expected.begin(), expected.end());
  std::vector<std::pair<std::string, uint64_t>> seen;
  REQUIRE(t->Scan([&](std::string_view key, uint64_t size) {
             seen.emplace_back(std::string(key), size);
             return true;
           }).ok());
  std::sort(seen.begin(), seen.end());
  CHECK(seen == expected);

  int visited = 0;
  REQUIRE(t->Scan([&](std::string_view, uint64_t) { return ++visited < 5; }).ok());
  CHECK(visited == 5);

  for (int i = 0; i < 30; ++i) {
    REQUIRE(t->Delete(MhKey(i)).ok());
    CHECK_FALSE(fs::exists(BlockFile(dir.path(), MhKey(i))));
  }
  CHECK(t->Delete(MhKey(0)).ok());  // absent is fine
  CHECK(t->Stats().entries == 0);
  CHECK(t->Stats().bytes == 0);
  seen.clear();
  REQUIRE(t->Scan([&](std::string_view key, uint64_t size) {
             seen.emplace_back(std::string(key), size);
             return true;
           }).ok());
  CHECK(seen.empty());
}

TEST_CASE("flatfs: a present block is not rewritten, and duplicates count once") {
  TempDir dir;
  Tier t(dir.path());
  const BlockData block = Data(RandomBytes(5000, 1));
  REQUIRE(t->Put(MhKey(1), block, PutReason::kWrite).ok());
  struct stat before;
  REQUIRE(::stat(BlockFile(dir.path(), MhKey(1)).c_str(), &before) == 0);
  REQUIRE(t->Put(MhKey(1), block, PutReason::kWrite).ok());
  REQUIRE(t->Put(MhKey(1), block, PutReason::kDemotion).ok());
  REQUIRE(WriteStreamed(*t, MhKey(1), *block).ok());
  struct stat after;
  REQUIRE(::stat(BlockFile(dir.path(), MhKey(1)).c_str(), &after) == 0);
  CHECK(before.st_ino == after.st_ino);
  CHECK(t.Metric("flatfs_puts_total") == 1);

  std::vector<std::pair<std::string, BlockData>> batch = {
      {MhKey(2), block}, {MhKey(3), block}, {MhKey(2), block}, {MhKey(1), block}};
  REQUIRE(t->PutBatch(batch, PutReason::kWrite).ok());
  CHECK(t.Metric("flatfs_puts_total") == 3);
  CHECK(t->Stats().entries == 3);
  CHECK(t->Stats().bytes == 3 * block->size());
  CHECK(FilesStartingWith(dir.path(), ".put-").empty());
  t.Close();
  t.Open();
  CHECK(t->Stats().entries == 3);
  CHECK(t->Stats().bytes == 3 * block->size());
}

TEST_CASE("flatfs: a durable put of a block an unsynced write stored syncs it") {
  TempDir dir;
  Tier t(dir.path());
  const BlockData block = Data(RandomBytes(5000, 1));
  REQUIRE(t->Put(MhKey(1), block, PutReason::kDemotion).ok());
  CHECK(t.Metric("flatfs_syncs_total") == 0);
  REQUIRE(t->Put(MhKey(1), block, PutReason::kWrite).ok());
  CHECK(t.Metric("flatfs_syncs_total") == 2);  // the file and its directory
  REQUIRE(WriteStreamed(*t, MhKey(1), *block).ok());
  CHECK(t.Metric("flatfs_syncs_total") == 4);
  CHECK(t.Metric("flatfs_puts_total") == 1);
  CHECK(t->Stats().entries == 1);
}

TEST_CASE("flatfs: zstd stores compressible data smaller and incompressible data raw") {
  TempDir dir;
  Tier t(dir.path(), R"({"compression": "zstd", "compress_min_bytes": 1000})");
  const std::string text = TextBytes(60 * kKiB, 1);
  const std::string noise = RandomBytes(60 * kKiB, 2);
  const std::string tiny = TextBytes(999, 3);
  REQUIRE(t->Put(MhKey(1), Data(text), PutReason::kWrite).ok());
  REQUIRE(t->Put(MhKey(2), Data(noise), PutReason::kWrite).ok());
  REQUIRE(t->Put(MhKey(3), Data(tiny), PutReason::kWrite).ok());
  CHECK(GetBytes(*t, MhKey(1)) == text);
  CHECK(GetBytes(*t, MhKey(2)) == noise);
  CHECK(GetBytes(*t, MhKey(3)) == tiny);
  const std::string text_file = ReadFile(BlockFile(dir.path(), MhKey(1)));
  CHECK(text_file.substr(0, 5) == std::string("BXF\x01\x01", 5));  // magic, zstd
  CHECK(text_file.size() < text.size() / 4);
  CHECK(ReadFile(BlockFile(dir.path(), MhKey(2)))[4] == '\x00');  // raw: zstd would not save 1/8
  CHECK(ReadFile(BlockFile(dir.path(), MhKey(3)))[4] == '\x00');  // under compress_min_bytes

  // Compression is a param applied in place; stored blocks keep their format.
  REQUIRE(t->Reconfigure(t.harness().ParseParams(R"({"compression": "none"})")).ok());
  REQUIRE(t->Put(MhKey(4), Data(text), PutReason::kWrite).ok());
  CHECK(ReadFile(BlockFile(dir.path(), MhKey(4)))[4] == '\x00');
  CHECK(GetBytes(*t, MhKey(1)) == text);
}

TEST_CASE("flatfs: damaged files are Corruption naming the file, never wrong bytes") {
  TempDir dir;
  Tier t(dir.path(), R"({"compression": "zstd"})");
  for (int i = 0; i < 6; ++i) {
    REQUIRE(t->Put(MhKey(i), Data(TextBytes(20 * kKiB, i)), PutReason::kWrite).ok());
  }
  const std::string big = TextBytes(2 * kMiB, 6);
  REQUIRE(WriteStreamed(*t, MhKey(6), big).ok());
  REQUIRE(t->Put(MhKey(7), Data(RandomBytes(5000, 7)), PutReason::kWrite).ok());
  t.Close();

  const auto file = [&](int i) { return BlockFile(dir.path(), MhKey(i)); };
  std::string content = ReadFile(file(0));  // flipped bytes inside the frame
  for (size_t i = content.size() / 2; i < content.size() / 2 + 4; ++i) content[i] ^= 0x5a;
  WriteFile(file(0), content);
  content = ReadFile(file(1));  // bad magic
  content[0] = 'Z';
  WriteFile(file(1), content);
  content = ReadFile(file(2));  // unknown format byte
  content[4] = '\x09';
  WriteFile(file(2), content);
  content = ReadFile(file(3));  // header size disagrees with the frame
  content[5] = static_cast<char>(content[5] ^ 0x01);
  WriteFile(file(3), content);
  content = ReadFile(file(4));  // truncated frame
  WriteFile(file(4), content.substr(0, content.size() - 10));
  content = ReadFile(file(7));  // truncated raw file
  WriteFile(file(7), content.substr(0, 3000));
  content = ReadFile(file(6));  // damage in the middle of a many-frame file
  REQUIRE(content[4] == '\x01');
  const size_t damage_at = content.size() * 6 / 10;
  for (size_t i = damage_at; i < damage_at + 16; ++i) content[i] ^= 0x5a;
  WriteFile(file(6), content);

  t.Open();
  CHECK(t->Stats().entries == 8);
  for (int i : {0, 1, 2, 3, 4, 6, 7}) {
    CAPTURE(i);
    BlockData out;
    const Status s = t->Get(MhKey(i), &out);
    CHECK(s.code() == Status::Code::kCorruption);
    CHECK(s.message().find(file(i).string()) != std::string::npos);
    CHECK(out == nullptr);
  }
  CHECK(GetBytes(*t, MhKey(5)) == TextBytes(20 * kKiB, 5));  // the undamaged one
  uint64_t size = 0;
  CHECK(t->Contains(MhKey(1), &size).code() == Status::Code::kCorruption);
  CHECK(t->Contains(MhKey(7), &size).code() == Status::Code::kCorruption);

  // The streamed reader serves the intact pieces, then stops at the damaged one.
  std::unique_ptr<boxcar::BlockReader> reader;
  REQUIRE(t->OpenReader(MhKey(6), &reader).ok());
  std::string read;
  std::vector<char> buf(64 * kKiB);
  Status s;
  while (read.size() < big.size()) {
    size_t got = 0;
    s = reader->Read(read.size(), buf.size(), buf.data(), &got);
    if (!s.ok()) break;
    read.append(buf.data(), got);
  }
  CHECK(s.code() == Status::Code::kCorruption);
  CHECK(s.message().find(file(6).string()) != std::string::npos);
  CHECK(read.size() < big.size());
  CHECK(read == big.substr(0, read.size()));

  // A scan visits every file, with the size its header gives or 0, so GC can remove damaged
  // blocks and a scrub can find them.
  std::map<std::string, uint64_t> scanned;
  REQUIRE(t->Scan([&](std::string_view key, uint64_t stored) {
             scanned[std::string(key)] = stored;
             return true;
           }).ok());
  CHECK(scanned.size() == 8);
  CHECK(scanned[MhKey(1)] == 0);  // bad magic
  CHECK(scanned[MhKey(2)] == 0);  // unknown format
  CHECK(scanned[MhKey(7)] == 5000);
  CHECK(scanned[MhKey(5)] == 20 * kKiB);
  CHECK(t.Metric("flatfs_corrupt_files_total") >= 10);

  // Damaged blocks can be deleted.
  for (int i = 0; i < 8; ++i) REQUIRE(t->Delete(MhKey(i)).ok());
  CHECK(t->Stats().entries == 0);
}

TEST_CASE("flatfs: temporary files left by a crash are removed at open") {
  TempDir dir;
  Tier t(dir.path());
  REQUIRE(t->Put(MhKey(1), Data("block"), PutReason::kWrite).ok());
  t.Close();
  const fs::path shard = BlockFile(dir.path(), MhKey(1)).parent_path();
  WriteFile(shard / ".put-abc123", "half a block");
  WriteFile(dir / ".put-xyz789", "half a SHARDING file");
  REQUIRE(FilesStartingWith(dir.path(), ".put-").size() == 2);
  t.Open();
  CHECK(FilesStartingWith(dir.path(), ".put-").empty());
  CHECK(t->Stats().entries == 1);
  CHECK(GetBytes(*t, MhKey(1)) == "block");
}

TEST_CASE("flatfs: a directory sharded another way is refused") {
  TempDir dir;
  dir.Write("SHARDING", "/repo/flatfs/shard/v1/prefix/2\n");
  PluginHarness h;
  h.SetDataDir(dir.path().string());
  const std::string error = h.CreateError("{}");
  CHECK(error.find("SHARDING") != std::string::npos);
  CHECK(error.find("/repo/flatfs/shard/v1/prefix/2") != std::string::npos);
  CHECK(error.find("/repo/flatfs/shard/v1/next-to-last/2") != std::string::npos);

  // The same spelling with other whitespace is the same sharding.
  dir.Write("SHARDING", "  /repo/flatfs/shard/v1/next-to-last/2");
  CHECK(h.CreateError("{}").empty());
}

TEST_CASE("flatfs: every sync policy stores durable batches; batch syncs each directory once") {
  // Keys sharing their last two bytes share a shard directory.
  const std::vector<std::pair<std::string, BlockData>> batch = [] {
    std::vector<std::pair<std::string, BlockData>> entries;
    for (int i = 0; i < 40; ++i) {
      entries.emplace_back(MhKey(i).substr(0, 32) + "\xab\xcd", Data(RandomBytes(3000, i)));
    }
    return entries;
  }();
  std::vector<double> syncs;
  for (const char* policy : {"always", "batch", "never"}) {
    CAPTURE(policy);
    TempDir dir;
    Tier t(dir.path(), std::string(R"({"sync": ")") + policy + "\"}");
    REQUIRE(t->PutBatch(batch, PutReason::kWrite).ok());
    REQUIRE(t->Put(MhKey(100), Data("one more"), PutReason::kWrite).ok());
    syncs.push_back(t.Metric("flatfs_syncs_total"));
    t.Close();
    t.Open();
    CHECK(t->Stats().entries == batch.size() + 1);
    for (const auto& [key, data] : batch) CHECK(GetBytes(*t, key) == *data);
  }
  CHECK(syncs[2] == 0);       // never
  CHECK(syncs[0] >= 2 * 40);  // always: each file and its directory
  CHECK(syncs[1] >= 40 + 1);  // batch: each file, and the shared directory once
  CHECK(syncs[1] < syncs[0] - 30);
}

TEST_CASE("flatfs: in-place reconfigures under concurrent reads and writes") {
  TempDir dir;
  Tier t(dir.path());
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
        if (!t->Put(MhKey(id), Data(TextBytes(2000 + 10 * (n % 50), id)), PutReason::kWrite).ok()) {
          ++errors;
        }
        ++n;
        const int earlier = w * 1'000'000 + (n * 7919) % n;
        BlockData out;
        if (!t->Get(MhKey(earlier), &out).ok() ||
            *out != TextBytes(2000 + 10 * ((earlier % 1'000'000) % 50), earlier)) {
          ++errors;
        }
      }
      written[w] = n;
    });
  }
  for (const char* config :
       {R"({"compression": "zstd", "zstd_level": 5})", R"({"sync": "never"})",
        R"({"sync": "batch", "compression": "zstd", "compress_min_bytes": 4096})", R"({})"}) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const Status s = t->Reconfigure(t.harness().ParseParams(config));
    INFO(config, " -> ", s.ToString());
    CHECK(s.ok());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  stop = true;
  for (auto& th : threads) th.join();
  CHECK(errors == 0);
  uint64_t total = 0;
  for (int w = 0; w < kThreads; ++w) total += static_cast<uint64_t>(written[w]);
  CHECK(total > 100);  // the writers ran through the reconfigures
  CHECK(t->Stats().entries == total);
  t.Close();
  t.Open();
  CHECK(t->Stats().entries == total);
  for (int w = 0; w < kThreads; ++w) {
    for (int n = 0; n < written[w]; ++n) {
      const int id = w * 1'000'000 + n;
      REQUIRE(GetBytes(*t, MhKey(id)) == TextBytes(2000 + 10 * (n % 50), id));
    }
  }
}

TEST_CASE("flatfs: bad params, keys and a missing data directory are refused clearly") {
  TempDir dir;
  PluginHarness h;
  CHECK(h.CreateError("{}").find("data_dir is empty") != std::string::npos);
  h.SetDataDir(dir.path().string());
  CHECK(h.CreateError(R"({"compression": "lz4"})").find("compression") != std::string::npos);
  CHECK(h.CreateError(R"({"sync": "sometimes"})").find("sync") != std::string::npos);
  CHECK(h.CreateError(R"({"zstd_level": 30})").find("zstd_level") != std::string::npos);
  CHECK(h.CreateError(R"({"shards": 4})").find("shards") != std::string::npos);
  CHECK(h.CreateError("{}").empty());
  CHECK(h.info().Has(boxcar::kPersistent));
  CHECK(h.info().Has(boxcar::kThreadSafe));
  CHECK(h.info().Has(boxcar::kReconfigure));

  auto plugin = h.Create("{}");
  auto* tier = static_cast<CacheTier*>(plugin.get());
  const Status long_key = tier->Put(std::string(200, 'k'), Data("x"), PutReason::kWrite);
  CHECK(long_key.code() == Status::Code::kInvalidArgument);
  CHECK(long_key.message().find("longer than") != std::string::npos);
  CHECK(tier->Put("", Data("x"), PutReason::kWrite).code() == Status::Code::kInvalidArgument);
  CHECK(tier->Put(MhKey(1), nullptr, PutReason::kWrite).code() == Status::Code::kInvalidArgument);
}

TEST_CASE("flatfs: keeps the cache_tier contract") {
  boxcar_plugins::testing::CheckStoredTierContract("{}");
}
