// The cache_tier contract as a test kit: the behaviour every tier must show whatever its policy,
// checked through the CacheTier interface alone. Every bundled tier's tests run it, and a third
// party's tier test can too (it is installed with the plugin API headers):
//
//   boxcar::testing::TierContract contract;
//   contract.make = [&] { return std::shared_ptr<boxcar::CacheTier>(/* a fresh, empty tier */); };
//   contract.capacity_bytes = 1 << 20;  // a memory tier's capacity; 0 for a persistent tier
//   for (const std::string& failure : boxcar::testing::RunTierContract(contract)) report(failure);
//
// It uses the standard library alone and no test framework: it returns one line per broken rule,
// naming the check and what was wrong, and the caller hands them to its own framework.
//
// Thread safety: RunTierContract calls the tier from several threads in its concurrency check,
// as the host does; it is not itself meant to be called concurrently.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "boxcar/cache_tier.h"

namespace boxcar::testing {

struct TierContract {
  // A fresh, empty tier for each check (for a persistent tier, in a new directory).
  std::function<std::shared_ptr<CacheTier>()> make;
  // The capacity `make` configured for a memory tier; 0 for a persistent tier, which must keep
  // every block it acknowledged.
  uint64_t capacity_bytes = 0;
  // For a persistent tier: closes nothing, opens another instance over the directory of the tier
  // `make` returned last (after that one was released), to check that blocks survive. Optional.
  std::function<std::shared_ptr<CacheTier>()> reopen;
  // Largest block the checks write whole (and, when the tier streams, the streamed size).
  size_t large_block_bytes = 300 * 1024;
};

namespace contract_detail {

// Keys shaped like the host's: a sha2-256 multihash (0x12 0x20 and 32 bytes).
inline std::string Key(uint64_t i) {
  std::string key("\x12\x20", 2);
  uint64_t x = i * 0x9e3779b97f4a7c15ULL + 0x1234567;
  for (int b = 0; b < 32; ++b) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    key.push_back(static_cast<char>(x));
  }
  return key;
}

inline BlockData Bytes(size_t size, uint64_t seed) {
  auto data = std::make_shared<std::string>(size, '\0');
  uint64_t x = seed + 1;
  for (char& c : *data) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    c = static_cast<char>(x >> 56);
  }
  return data;
}

class Report {
 public:
  explicit Report(std::vector<std::string>* failures) : failures_(failures) {}
  void Check(bool ok, const std::string& check, const std::string& what) {
    if (!ok) failures_->push_back(check + ": " + what);
  }
  void Ok(const Status& s, const std::string& check, const std::string& call) {
    if (!s.ok()) failures_->push_back(check + ": " + call + " failed: " + s.ToString());
  }

 private:
  std::vector<std::string>* failures_;
};

inline bool Stored(CacheTier& tier, const std::string& key, const BlockData& data) {
  BlockData got;
  return tier.Get(key, &got).ok() && got != nullptr && *got == *data;
}

inline void CheckRoundTrip(const TierContract& c, Report& r) {
  const std::string check = "round trip";
  std::shared_ptr<CacheTier> tier = c.make();
  BlockData got;
  uint64_t size = 0;
  r.Check(tier->Get(Key(1), &got).IsNotFound(), check, "Get of an absent key is not NotFound");
  r.Check(tier->Contains(Key(1), &size).IsNotFound(), check,
          "Contains of an absent key is not NotFound");
  r.Ok(tier->Delete(Key(1)), check, "Delete of an absent key");
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{1000}, c.large_block_bytes}) {
    const std::string key = Key(100 + bytes);
    const BlockData data = Bytes(bytes, bytes);
    r.Ok(tier->Put(key, data, PutReason::kWrite), check, "Put of " + std::to_string(bytes));
    r.Check(Stored(*tier, key, data), check,
            "Get does not return the " + std::to_string(bytes) + " bytes put");
    size = 0;
    r.Ok(tier->Contains(key, &size), check, "Contains after Put");
    r.Check(size == bytes, check,
            "Contains reports " + std::to_string(size) + " bytes, not " + std::to_string(bytes));
  }
  const TierStats stats = tier->Stats();
  r.Check(stats.entries == 4, check,
          "Stats().entries is " + std::to_string(stats.entries) + " after 4 puts, not 4");
  r.Check(stats.bytes >= 1001 + c.large_block_bytes, check,
          "Stats().bytes counts less than the bytes held");
}

inline void CheckReplaceAndDelete(const TierContract& c, Report& r) {
  const std::string check = "put twice, delete";
  std::shared_ptr<CacheTier> tier = c.make();
  const BlockData data = Bytes(500, 7);
  r.Ok(tier->Put(Key(2), data, PutReason::kWrite), check, "Put");
  const uint64_t bytes_once = tier->Stats().bytes;
  r.Ok(tier->Put(Key(2), data, PutReason::kWrite), check, "a second Put of the same block");
  r.Check(tier->Stats().entries == 1, check, "a block put twice counts twice in entries");
  r.Check(tier->Stats().bytes == bytes_once, check, "a block put twice counts twice in bytes");
  r.Ok(tier->Delete(Key(2)), check, "Delete");
  BlockData got;
  r.Check(tier->Get(Key(2), &got).IsNotFound(), check, "Get after Delete is not NotFound");
  r.Check(tier->Stats().entries == 0 && tier->Stats().bytes == 0, check,
          "Stats() after deleting the only block is not empty");
  r.Ok(tier->Delete(Key(2)), check, "a second Delete");
}

inline void CheckBatches(const TierContract& c, Report& r) {
  const std::string check = "PutBatch and GetMany";
  std::shared_ptr<CacheTier> tier = c.make();
  std::vector<std::pair<std::string, BlockData>> entries;
  for (uint64_t i = 0; i < 20; ++i) entries.emplace_back(Key(200 + i), Bytes(100 + i, i));
  r.Ok(tier->PutBatch(entries, PutReason::kWrite), check, "PutBatch of 20");
  std::vector<std::string_view> keys;
  const std::string absent = Key(999);
  for (size_t i = 0; i < entries.size(); i += 2) {
    keys.push_back(entries[i].first);
    keys.push_back(absent);
  }
  std::vector<BlockData> out;
  std::vector<Status> status;
  tier->GetMany(keys, &out, &status);
  if (out.size() != keys.size() || status.size() != keys.size()) {
    r.Check(false, check,
            "GetMany answered " + std::to_string(status.size()) + " of " +
                std::to_string(keys.size()) + " keys");
    return;
  }
  for (size_t k = 0; k < keys.size(); ++k) {
    if (k % 2 == 1) {
      r.Check(status[k].IsNotFound(), check, "GetMany of an absent key is not NotFound");
    } else {
      const BlockData& want = entries[k].second;  // keys[k] came from entries[k]
      r.Check(status[k].ok() && out[k] && *out[k] == *want, check,
              "GetMany answer " + std::to_string(k) + " is not the block at that position");
    }
  }
  r.Check(tier->Stats().entries == entries.size(), check, "Stats().entries after PutBatch");
}

inline void CheckScan(const TierContract& c, Report& r) {
  const std::string check = "Scan";
  std::shared_ptr<CacheTier> tier = c.make();
  std::map<std::string, uint64_t> put;
  for (uint64_t i = 0; i < 10; ++i) {
    put[Key(300 + i)] = 50 + i;
    r.Ok(tier->Put(Key(300 + i), Bytes(50 + i, i), PutReason::kWrite), check, "Put");
  }
  std::map<std::string, uint64_t> seen;
  Status s = tier->Scan([&](std::string_view key, uint64_t size) {
    seen[std::string(key)] = size;
    return true;
  });
  if (s.IsNotSupported()) return;
  r.Ok(s, check, "Scan");
  r.Check(seen == put, check, "Scan did not visit every key once with its size");
  int visits = 0;
  r.Ok(tier->Scan([&](std::string_view, uint64_t) { return ++visits < 3; }), check,
       "a stopped Scan");
  r.Check(visits == 3, check, "Scan went on after the visitor returned false");
}

inline void CheckMemoryBounds(const TierContract& c, Report& r) {
  if (c.capacity_bytes == 0) return;
  const std::string check = "capacity";
  std::shared_ptr<CacheTier> tier = c.make();
  const size_t value = std::max<size_t>(1, c.capacity_bytes / 64);
  for (uint64_t i = 0; i < 256; ++i) {
    const Status s = tier->Put(Key(400 + i), Bytes(value, i), PutReason::kWrite);
    r.Check(s.ok() || s.IsBusy(), check, "Put answered " + s.ToString());
    if (tier->Stats().bytes > c.capacity_bytes) {
      r.Check(false, check, "Stats().bytes passed capacity_bytes");
      break;
    }
  }
  r.Check(tier->Stats().capacity_bytes == c.capacity_bytes, check,
          "Stats().capacity_bytes is not the configured capacity");
  uint64_t exported = 0;
  for (const auto& [key, data] : tier->ExportHot(c.capacity_bytes / 4)) exported += data->size();
  r.Check(exported <= c.capacity_bytes / 4, check, "ExportHot returned more than max_bytes");
  const uint64_t held = tier->Shrink(c.capacity_bytes / 8);
  r.Check(held <= c.capacity_bytes / 8, check, "Shrink returned more than the target");
  r.Check(tier->Stats().bytes <= c.capacity_bytes / 8, check, "Shrink left more than the target");
}

inline void CheckPersistence(const TierContract& c, Report& r) {
  if (c.capacity_bytes != 0 || !c.reopen) return;
  const std::string check = "persistence";
  std::vector<std::pair<std::string, BlockData>> kept;
  {
    std::shared_ptr<CacheTier> tier = c.make();
    for (uint64_t i = 0; i < 30; ++i) {
      kept.emplace_back(Key(500 + i), Bytes(i * 997 % 5000, i));
      r.Ok(tier->Put(kept.back().first, kept.back().second, PutReason::kWrite), check, "Put");
    }
    r.Ok(tier->Delete(kept.back().first), check, "Delete");
  }
  std::shared_ptr<CacheTier> again = c.reopen();
  for (size_t i = 0; i + 1 < kept.size(); ++i) {
    r.Check(Stored(*again, kept[i].first, kept[i].second), check,
            "a block did not survive reopening");
  }
  BlockData got;
  r.Check(again->Get(kept.back().first, &got).IsNotFound(), check,
          "a deleted block came back after reopening");
  r.Check(again->Stats().entries == kept.size() - 1, check,
          "Stats().entries after reopening is not exact");
}

inline void CheckStreams(const TierContract& c, Report& r) {
  const std::string check = "streams";
  std::shared_ptr<CacheTier> tier = c.make();
  const BlockData data = Bytes(c.large_block_bytes, 11);
  std::unique_ptr<BlockWriter> writer;
  Status s = tier->OpenWriter(Key(600), data->size(), PutReason::kWrite, &writer);
  if (s.IsNotSupported()) return;
  r.Ok(s, check, "OpenWriter");
  if (!s.ok()) return;
  for (size_t at = 0; at < data->size(); at += 64 * 1024) {
    r.Ok(writer->Append(std::string_view(*data).substr(at, 64 * 1024)), check, "Append");
  }
  uint64_t size = 0;
  r.Check(tier->Contains(Key(600), &size).IsNotFound(), check, "a block is visible before Commit");
  r.Ok(writer->Commit(), check, "Commit");
  writer.reset();
  std::unique_ptr<BlockReader> reader;
  r.Ok(tier->OpenReader(Key(600), &reader), check, "OpenReader");
  if (!reader) return;
  r.Check(reader->size() == data->size(), check, "the reader's size is not the block's");
  std::string back;
  std::string piece(50 * 1000, '\0');
  for (;;) {
    size_t got = 0;
    const Status read = reader->Read(back.size(), piece.size(), piece.data(), &got);
    r.Ok(read, check, "Read");
    if (!read.ok() || got == 0) break;
    back.append(piece, 0, got);
  }
  r.Check(back == *data, check, "the streamed bytes differ from the written ones");
}

inline void CheckConcurrency(const TierContract& c, Report& r) {
  const std::string check = "concurrency";
  std::shared_ptr<CacheTier> tier = c.make();
  std::atomic<int> lost{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < 100; ++i) {
        const std::string key = Key(700 + (i % 50));  // every thread writes the same 50 blocks
        const BlockData data = Bytes(200, i % 50);
        if (!tier->Put(key, data, PutReason::kWrite).ok()) ++failed;
        BlockData got;
        const Status s = tier->Get(Key(700 + ((i + t) % 50)), &got);
        if (!s.ok() && !s.IsNotFound()) ++failed;
        if (s.ok() && *got != *Bytes(200, (i + t) % 50)) ++lost;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  r.Check(failed.load() == 0, check, std::to_string(failed.load()) + " calls failed");
  r.Check(lost.load() == 0, check, "a Get returned another block's bytes");
  if (c.capacity_bytes == 0) {
    r.Check(tier->Stats().entries == 50, check,
            "50 blocks written by 4 threads count " + std::to_string(tier->Stats().entries));
  }
}

}  // namespace contract_detail

// Runs every check; one line per broken rule, empty when the tier keeps the contract.
inline std::vector<std::string> RunTierContract(const TierContract& contract) {
  std::vector<std::string> failures;
  contract_detail::Report report(&failures);
  contract_detail::CheckRoundTrip(contract, report);
  contract_detail::CheckReplaceAndDelete(contract, report);
  contract_detail::CheckBatches(contract, report);
  contract_detail::CheckScan(contract, report);
  contract_detail::CheckMemoryBounds(contract, report);
  contract_detail::CheckPersistence(contract, report);
  contract_detail::CheckStreams(contract, report);
  contract_detail::CheckConcurrency(contract, report);
  return failures;
}

}  // namespace boxcar::testing
