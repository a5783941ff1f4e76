#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "boxcar/cache_tier.h"
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

BlockData Data(std::string bytes) { return std::make_shared<const std::string>(std::move(bytes)); }

// A multihash-shaped key: 0x12 0x20 and 32 bytes derived from `i`.
std::string Key(int i) {
  std::string key = "\x12\x20";
  for (int j = 0; j < 32; ++j) key.push_back(static_cast<char>((i * 31 + j * 7) & 0xff));
  return key;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

// The tier on a data directory in `root`/data, with its fault file at `root`/fault, re-creatable to
// test persistence.
class Tier {
 public:
  explicit Tier(const TempDir& root)
      : root_(root.path()), harness_(std::make_unique<PluginHarness>()) {
    fs::create_directories(data_dir());
    harness_->SetDataDir(data_dir().string());
    Open();
  }

  CacheTier* operator->() { return tier_.get(); }
  CacheTier& operator*() { return *tier_; }
  PluginHarness& harness() { return *harness_; }

  void Open() {
    auto plugin = harness_->Create(R"({"fault_file": ")" + fault_file().string() + R"("})");
    tier_.reset(static_cast<CacheTier*>(plugin.release()));
  }
  void Close() { tier_.reset(); }

  fs::path data_dir() const { return root_ / "data"; }
  fs::path fault_file() const { return root_ / "fault"; }

  // Replaces the fault file by rename, as the plugin's documentation asks.
  void SetFault(std::string_view content) {
    const fs::path temp = root_ / "fault.new";
    std::ofstream(temp, std::ios::binary | std::ios::trunc) << content;
    fs::rename(temp, fault_file());
  }

 private:
  fs::path root_;
  std::unique_ptr<PluginHarness> harness_;
  std::unique_ptr<CacheTier> tier_;  // before the harness, which keeps the library mapped
};

std::string GetBytes(CacheTier& tier, const std::string& key) {
  BlockData out;
  const Status s = tier.Get(key, &out);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return *out;
}

Status WriteStreamed(CacheTier& tier, const std::string& key, std::string_view data) {
  std::unique_ptr<boxcar::BlockWriter> writer;
  if (Status s = tier.OpenWriter(key, data.size(), PutReason::kWrite, &writer); !s.ok()) return s;
  for (size_t at = 0; at < data.size(); at += 1000) {
    if (Status s = writer->Append(data.substr(at, 1000)); !s.ok()) return s;
  }
  return writer->Commit();
}

std::string ReadStreamed(CacheTier& tier, const std::string& key) {
  std::unique_ptr<boxcar::BlockReader> reader;
  Status s = tier.OpenReader(key, &reader);
  INFO(s.ToString());
  REQUIRE(s.ok());
  std::string out;
  char buf[777];
  for (;;) {
    size_t got = 0;
    REQUIRE(reader->Read(out.size(), sizeof(buf), buf, &got).ok());
    if (got == 0) break;
    out.append(buf, got);
  }
  CHECK(out.size() == reader->size());
  return out;
}

std::vector<std::string> Files(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  return names;
}

void CheckStats(CacheTier& tier, uint64_t entries, uint64_t bytes) {
  const boxcar::TierStats stats = tier.Stats();
  CHECK(stats.entries == entries);
  CHECK(stats.bytes == bytes);
}

// Which of `calls` Gets of a stored key fail with an injected fault (1-based).
std::vector<int> FailingGets(CacheTier& tier, const std::string& key, int calls) {
  std::vector<int> failed;
  for (int n = 1; n <= calls; ++n) {
    BlockData out;
    const Status s = tier.Get(key, &out);
    if (!s.ok()) {
      CHECK(s.code() == Status::Code::kIOError);
      failed.push_back(n);
    }
  }
  return failed;
}

}  // namespace

TEST_CASE("faulty: blocks round-trip as one hex-named file each, with exact stats") {
  TempDir root;
  Tier t(root);
  BlockData out;
  CHECK(t->Get(Key(1), &out).IsNotFound());
  REQUIRE(t->Put(Key(1), Data("hello"), PutReason::kWrite).ok());
  REQUIRE(t->Put(Key(2), Data(""), PutReason::kPromotion).ok());
  REQUIRE(t->PutBatch({{Key(3), Data("abc")}, {Key(4), Data(std::string(5000, 'z'))}},
                      PutReason::kWrite)
              .ok());
  REQUIRE(WriteStreamed(*t, Key(5), std::string(2500, 's')).ok());
  CHECK(GetBytes(*t, Key(1)) == "hello");
  CHECK(GetBytes(*t, Key(2)).empty());
  CHECK(ReadStreamed(*t, Key(4)) == std::string(5000, 'z'));
  CHECK(ReadStreamed(*t, Key(5)) == std::string(2500, 's'));
  CheckStats(*t, 5, 5 + 0 + 3 + 5000 + 2500);

  uint64_t size = 0;
  REQUIRE(t->Contains(Key(4), &size).ok());
  CHECK(size == 5000);
  CHECK(t->Contains(Key(9), &size).IsNotFound());
  CHECK(fs::file_size(t.data_dir() / Hex(Key(1))) == 5);
  CHECK(Files(t.data_dir()).size() == 5);  // no temporary files left behind

  std::vector<BlockData> many;
  std::vector<Status> statuses;
  const std::string k1 = Key(1), k9 = Key(9);
  t->GetMany({k1, k9}, &many, &statuses);
  REQUIRE(statuses.size() == 2);
  CHECK(statuses[0].ok());
  CHECK(*many[0] == "hello");
  CHECK(statuses[1].IsNotFound());

  REQUIRE(t->Put(Key(1), Data("hello"), PutReason::kWrite).ok());  // present: not counted twice
  REQUIRE(t->Delete(Key(3)).ok());
  REQUIRE(t->Delete(Key(3)).ok());  // absent is fine
  CheckStats(*t, 4, 5 + 0 + 5000 + 2500);

  std::set<std::string> scanned;
  REQUIRE(t->Scan([&](std::string_view key, uint64_t) {
             scanned.insert(std::string(key));
             return true;
           }).ok());
  CHECK(scanned == std::set<std::string>{Key(1), Key(2), Key(4), Key(5)});
}

TEST_CASE(
    "faulty: data survives a reopen, and leftover temporary files are "
    "removed") {
  TempDir root;
  Tier t(root);
  REQUIRE(t->Put(Key(1), Data("persist me"), PutReason::kWrite).ok());
  REQUIRE(WriteStreamed(*t, Key(2), std::string(3000, 'q')).ok());
  t.Close();
  std::ofstream(t.data_dir() / ".tmp-crashed", std::ios::binary) << "half a block";
  t.Open();
  CHECK(GetBytes(*t, Key(1)) == "persist me");
  CHECK(ReadStreamed(*t, Key(2)) == std::string(3000, 'q'));
  CheckStats(*t, 2, 10 + 3000);
  CHECK_FALSE(fs::exists(t.data_dir() / ".tmp-crashed"));
}

TEST_CASE(
    "faulty: stream writers check the declared size and leave nothing "
    "when dropped") {
  TempDir root;
  Tier t(root);
  std::unique_ptr<boxcar::BlockWriter> writer;
  REQUIRE(t->OpenWriter(Key(1), 4, PutReason::kWrite, &writer).ok());
  CHECK(writer->Append("abc").ok());
  Status s = writer->Append("de");
  CHECK(s.code() == Status::Code::kInvalidArgument);
  CHECK(s.message() == "appending 2 bytes at 3 passes the declared size of 4 bytes");
  s = writer->Commit();
  CHECK(s.message() == "commit after 3 bytes, but the declared size is 4");
  writer.reset();
  CHECK(Files(t.data_dir()).empty());
  CheckStats(*t, 0, 0);
}

TEST_CASE("faulty: fail makes every data call an IOError until the file says ok") {
  TempDir root;
  Tier t(root);
  REQUIRE(t->Put(Key(1), Data("x"), PutReason::kWrite).ok());
  t.SetFault("fail\n");
  BlockData out;
  Status s = t->Get(Key(1), &out);
  CHECK(s.code() == Status::Code::kIOError);
  CHECK(s.message() == "injected fault fail in Get (fault file " + t.fault_file().string() + ")");
  uint64_t size = 0;
  CHECK(t->Contains(Key(1), &size).code() == Status::Code::kIOError);
  std::unique_ptr<boxcar::BlockReader> reader;
  CHECK(t->OpenReader(Key(1), &reader).code() == Status::Code::kIOError);
  std::vector<BlockData> many;
  std::vector<Status> statuses;
  const std::string k1 = Key(1);
  t->GetMany({k1, k1}, &many, &statuses);
  REQUIRE(statuses.size() == 2);
  CHECK(statuses[0].message().starts_with("injected fault fail in GetMany"));
  CHECK(statuses[1].code() == Status::Code::kIOError);
  CHECK(t->Put(Key(2), Data("y"), PutReason::kWrite).code() == Status::Code::kIOError);
  CHECK(t->Scan([](std::string_view, uint64_t) { return true; }).code() == Status::Code::kIOError);
  CheckStats(*t, 1, 1);  // Stats never fails

  t.SetFault("ok");
  CHECK(GetBytes(*t, Key(1)) == "x");
  t.SetFault("fail");
  CHECK_FALSE(t->Get(Key(1), &out).ok());
  fs::remove(t.fault_file());  // absent: no fault
  CHECK(GetBytes(*t, Key(1)) == "x");
}

TEST_CASE("faulty: fail_writes refuses writes and deletes but serves reads") {
  TempDir root;
  Tier t(root);
  REQUIRE(t->Put(Key(1), Data("kept"), PutReason::kWrite).ok());
  std::unique_ptr<boxcar::BlockWriter> writer;
  REQUIRE(t->OpenWriter(Key(3), 2, PutReason::kWrite, &writer).ok());
  REQUIRE(writer->Append("ab").ok());

  t.SetFault("fail_writes");
  CHECK(GetBytes(*t, Key(1)) == "kept");
  Status s = t->Put(Key(2), Data("new"), PutReason::kWrite);
  CHECK(s.code() == Status::Code::kIOError);
  CHECK(s.message().starts_with("injected fault fail_writes in Put"));
  CHECK(t->PutBatch({{Key(2), Data("new")}}, PutReason::kWrite).code() == Status::Code::kIOError);
  CHECK(t->Delete(Key(1)).code() == Status::Code::kIOError);
  std::unique_ptr<boxcar::BlockWriter> refused;
  CHECK(t->OpenWriter(Key(2), 3, PutReason::kWrite, &refused).code() == Status::Code::kIOError);
  s = writer->Commit();  // opened before the fault, committed under it
  CHECK(s.message().starts_with("injected fault fail_writes in Commit"));
  writer.reset();
  CheckStats(*t, 1, 4);
  CHECK(Files(t.data_dir()).size() == 1);
}

TEST_CASE("faulty: slow delays reads only") {
  TempDir root;
  Tier t(root);
  REQUIRE(t->Put(Key(1), Data("x"), PutReason::kWrite).ok());
  t.SetFault("slow:300");
  using Clock = std::chrono::steady_clock;
  const auto delay = std::chrono::milliseconds(300);
  auto start = Clock::now();
  CHECK(GetBytes(*t, Key(1)) == "x");
  CHECK(Clock::now() - start >= delay);

  start = Clock::now();
  REQUIRE(t->Put(Key(2), Data("y"), PutReason::kPromotion).ok());  // no sync, no delay
  CHECK(Clock::now() - start < delay);

  t.SetFault("slow:0");
  start = Clock::now();
  CHECK(GetBytes(*t, Key(1)) == "x");
  CHECK(Clock::now() - start < delay);
}

TEST_CASE("faulty: fail_rate fails exactly that share of calls, evenly spaced") {
  TempDir root;
  Tier t(root);
  REQUIRE(t->Put(Key(1), Data("x"), PutReason::kWrite).ok());

  t.SetFault("fail_rate:25");
  CHECK(FailingGets(*t, Key(1), 12) == std::vector<int>{4, 8, 12});
  t.SetFault("fail_rate:50");  // a new file restarts the numbering
  CHECK(FailingGets(*t, Key(1), 6) == std::vector<int>{2, 4, 6});
  t.SetFault("fail_rate:40");
  CHECK(FailingGets(*t, Key(1), 10) == std::vector<int>{3, 5, 8, 10});
  t.SetFault("fail_rate:0");
  CHECK(FailingGets(*t, Key(1), 10).empty());
  t.SetFault("fail_rate:100");
  CHECK(FailingGets(*t, Key(1), 3) == std::vector<int>{1, 2, 3});

  t.SetFault("fail_rate:50");  // writes are numbered too
  CHECK(t->Put(Key(2), Data("y"), PutReason::kWrite).ok());
  BlockData out;
  const Status s = t->Get(Key(1), &out);
  CHECK(s.message().starts_with("injected fault fail_rate in Get"));
}

TEST_CASE(
    "faulty: a malformed fault file fails every data call and says how "
    "to fix it") {
  TempDir root;
  Tier t(root);
  const std::string file = t.fault_file().string();
  BlockData out;
  t.SetFault("explode");
  Status s = t->Get(Key(1), &out);
  CHECK(s.code() == Status::Code::kInvalidArgument);
  CHECK(s.message() == "fault file " + file +
                           ": unknown fault \"explode\"; write one of ok, fail, fail_writes, "
                           "slow:<ms>, fail_rate:<percent>");
  t.SetFault("slow:abc");
  s = t->Put(Key(1), Data("x"), PutReason::kWrite);
  CHECK(s.message() == "fault file " + file +
                           ": \"slow:abc\": slow needs milliseconds from 0 to "
                           "60000, e.g. slow:200");
  t.SetFault("fail_rate:101");
  s = t->Get(Key(1), &out);
  CHECK(s.message() == "fault file " + file +
                           ": \"fail_rate:101\": fail_rate needs a percent from 0 to 100, e.g. "
                           "fail_rate:25");
  t.SetFault("");  // empty: no fault
  CHECK(t->Get(Key(1), &out).IsNotFound());
}

TEST_CASE("faulty: a fault file rewritten in place is noticed by its content") {
  TempDir root;
  Tier t(root);
  REQUIRE(t->Put(Key(1), Data("x"), PutReason::kWrite).ok());
  const auto rewrite = [&](std::string_view content) {
    std::ofstream(t.fault_file(), std::ios::binary | std::ios::trunc) << content;
  };
  rewrite("fail_rate:100");
  CHECK(FailingGets(*t, Key(1), 2) == std::vector<int>{1, 2});
  rewrite("fail_rate:000");  // same size, likely the same timestamps
  CHECK(FailingGets(*t, Key(1), 2).empty());
  rewrite("fail_rate:50");
  CHECK(FailingGets(*t, Key(1), 1).empty());
  rewrite("fail_rate:50");  // the same content keeps the numbering
  CHECK(FailingGets(*t, Key(1), 1) == std::vector<int>{1});
}

TEST_CASE("faulty: params and data directory are checked at creation") {
  TempDir root;
  Tier t(root);
  PluginHarness& h = t.harness();
  CHECK(h.CreateError(R"({"fault_file": "relative/fault"})").find("fault_file") !=
        std::string::npos);
  CHECK(h.CreateError(R"({"fault_file": ""})").empty());
  h.SetDataDir("");
  CHECK(h.CreateError("{}").find("needs a data directory") != std::string::npos);
}

TEST_CASE("faulty: concurrent writers of the same blocks keep the stats exact") {
  TempDir root;
  Tier t(root);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        const BlockData data = Data(std::string(static_cast<size_t>(i), 'b'));
        BlockData out;
        if (!t->Put(Key(i), data, PutReason::kPromotion).ok()) ++errors;
        if (!t->Get(Key(i), &out).ok() || *out != *data) ++errors;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(errors.load() == 0);
  CheckStats(*t, 50, 49 * 50 / 2);
  CHECK(Files(t.data_dir()).size() == 50);
}

TEST_CASE("faulty: keeps the cache_tier contract while its fault file is absent (pass-through)") {
  TempDir faults;
  boxcar_plugins::testing::CheckStoredTierContract(R"({"fault_file": ")" +
                                                   (faults.path() / "fault").string() + R"("})");
}
