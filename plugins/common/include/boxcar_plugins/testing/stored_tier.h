// Helpers for the tests of cache_tier plugins that keep blocks in a data directory (flatfs,
// leveldb): block bytes that do and do not compress, multihash-shaped keys, the tier on a
// directory it can be reopened on, and whole and streamed reads and writes.
//
// The helpers fail the running doctest test on an error they do not return. A Tier's Open and
// Close must not overlap other uses of it; between them its CacheTier may be used from many
// threads, as the cache_tier contract allows.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "boxcar/cache_tier.h"
#include "boxcar_plugins/testing/cache_tier.h"
#include "plugin_harness.h"

namespace boxcar_plugins::testing {

// The pieces WriteStreamed appends and ReadStreamed reads.
inline constexpr size_t kStreamPieceBytes = 64 * 1024;

inline uint64_t SplitMix(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Incompressible bytes.
inline std::string RandomBytes(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  uint64_t state = seed;
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t word = SplitMix(&state);
    for (size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<char>(word >> (8 * j));
  }
  return out;
}

// Compressible bytes that still differ along the block, so a misplaced piece or chunk shows.
inline std::string TextBytes(size_t n, int seed = 0) {
  std::string out;
  out.reserve(n + 64);
  for (size_t line = 0; out.size() < n; ++line) {
    out += "line " + std::to_string(line) + " of block " + std::to_string(seed) + ": lorem ipsum\n";
  }
  out.resize(n);
  return out;
}

// A binary sha2-256 multihash shape: 0x12 0x20 and 32 digest bytes.
inline std::string MhKey(int i) {
  return "\x12\x20" + RandomBytes(32, 1000 + static_cast<uint64_t>(i));
}

inline boxcar::BlockData Data(std::string bytes) {
  return std::make_shared<const std::string>(std::move(bytes));
}

// An instance of the tier on a data directory, re-creatable to test persistence.
class Tier {
 public:
  explicit Tier(const std::filesystem::path& dir, std::string_view params = "{}")
      : harness_(std::make_unique<boxcar::testing::PluginHarness>()) {
    harness_->SetDataDir(dir.string());
    Open(params);
  }

  boxcar::CacheTier* operator->() { return tier_.get(); }
  boxcar::CacheTier& operator*() { return *tier_; }
  boxcar::testing::PluginHarness& harness() { return *harness_; }

  void Open(std::string_view params = "{}") {
    auto plugin = harness_->Create(params);
    tier_.reset(static_cast<boxcar::CacheTier*>(plugin.release()));
  }
  void Close() { tier_.reset(); }

  // The value of the plugin's metric `name` (without the boxcar_plugin_ prefix), 0 when absent.
  double Metric(const std::string& name) {
    const std::string value = MetricValue(harness_->MetricsText(), "boxcar_plugin_" + name);
    return value.empty() ? 0 : std::stod(value);
  }

 private:
  std::unique_ptr<boxcar::testing::PluginHarness> harness_;
  std::unique_ptr<boxcar::CacheTier> tier_;  // before the harness, which keeps the library mapped
};

inline std::string GetBytes(boxcar::CacheTier& tier, const std::string& key) {
  boxcar::BlockData out;
  const boxcar::Status s = tier.Get(key, &out);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return *out;
}

inline boxcar::Status WriteStreamed(boxcar::CacheTier& tier, const std::string& key,
                                    std::string_view data,
                                    boxcar::PutReason reason = boxcar::PutReason::kWrite) {
  std::unique_ptr<boxcar::BlockWriter> writer;
  if (boxcar::Status s = tier.OpenWriter(key, data.size(), reason, &writer); !s.ok()) return s;
  for (size_t at = 0; at < data.size(); at += kStreamPieceBytes) {
    if (boxcar::Status s = writer->Append(data.substr(at, kStreamPieceBytes)); !s.ok()) return s;
  }
  return writer->Commit();
}

inline std::string ReadStreamed(boxcar::CacheTier& tier, const std::string& key) {
  std::unique_ptr<boxcar::BlockReader> reader;
  boxcar::Status s = tier.OpenReader(key, &reader);
  INFO(s.ToString());
  REQUIRE(s.ok());
  std::string out;
  std::vector<char> buf(kStreamPieceBytes);
  while (true) {
    size_t got = 0;
    s = reader->Read(out.size(), buf.size(), buf.data(), &got);
    INFO(s.ToString());
    REQUIRE(s.ok());
    if (got == 0) break;
    out.append(buf.data(), got);
  }
  CHECK(out.size() == reader->size());
  return out;
}

// Checks the BlockWriter contract on `data` (at least 2 bytes) written under `key`, which must
// be absent: the block stays invisible until Commit, a Commit short of the declared size and an
// Append past it are InvalidArgument, and after Commit the block reads back whole.
inline void CheckWriterContract(boxcar::CacheTier& tier, const std::string& key,
                                std::string_view data) {
  const size_t half = data.size() / 2;
  std::unique_ptr<boxcar::BlockWriter> writer;
  REQUIRE(tier.OpenWriter(key, data.size(), boxcar::PutReason::kWrite, &writer).ok());
  REQUIRE(writer->Append(data.substr(0, half)).ok());
  uint64_t size = 0;
  CHECK(tier.Contains(key, &size).IsNotFound());
  const boxcar::Status early = writer->Commit();
  CHECK(early.code() == boxcar::Status::Code::kInvalidArgument);
  CHECK(early.message().find("declared") != std::string::npos);
  REQUIRE(writer->Append(data.substr(half)).ok());
  const boxcar::Status over = writer->Append("x");
  CHECK(over.code() == boxcar::Status::Code::kInvalidArgument);
  CHECK(over.message().find("exceeds the declared size") != std::string::npos);
  REQUIRE(writer->Commit().ok());
  CHECK(GetBytes(tier, key) == data);
}

// Puts twenty blocks under MhKey(0) to MhKey(19), of 1000 bytes up to just over 2 MiB,
// compressible and not in turn, then deletes MhKey(1) and MhKey(5). Returns the blocks by key
// number, and in *bytes the bytes the eighteen left hold.
inline std::vector<std::string> PutTwentyDeleteTwo(boxcar::CacheTier& tier, uint64_t* bytes) {
  *bytes = 0;
  std::vector<std::string> blocks;
  for (int i = 0; i < 20; ++i) {
    const size_t size = (i % 5 == 0) ? 2 * 1024 * 1024 + static_cast<size_t>(i) : 1000 * (i + 1);
    blocks.push_back(i % 2 == 0 ? TextBytes(size, i) : RandomBytes(size, i));
    REQUIRE(tier.Put(MhKey(i), Data(blocks.back()), boxcar::PutReason::kWrite).ok());
    *bytes += size;
  }
  for (int i : {1, 5}) {
    uint64_t size = 0;
    REQUIRE(tier.Contains(MhKey(i), &size).ok());
    REQUIRE(tier.Delete(MhKey(i)).ok());
    *bytes -= size;
  }
  return blocks;
}

// Checks that `tier` holds what PutTwentyDeleteTwo left: its eighteen blocks, not the two deleted.
inline void CheckTwentyDeleteTwo(boxcar::CacheTier& tier, const std::vector<std::string>& blocks) {
  for (int i = 0; i < 20; ++i) {
    boxcar::BlockData out;
    if (i == 1 || i == 5) {
      CHECK(tier.Get(MhKey(i), &out).IsNotFound());
    } else {
      CHECK(GetBytes(tier, MhKey(i)) == blocks[static_cast<size_t>(i)]);
    }
  }
}

}  // namespace boxcar_plugins::testing
