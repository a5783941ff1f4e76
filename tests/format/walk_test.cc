#include "format/walk.h"

#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "format/dagpb.h"
#include "format/unixfs.h"
#include "format_test_util.h"

namespace {

using boxcar::Status;
using namespace boxcar::format;
using boxcar::format::testing::CarContents;
using boxcar::format::testing::FixtureTable;
using boxcar::format::testing::ParseCid;
using boxcar::format::testing::ReadCar;
using boxcar::format::testing::ReadFixture;

constexpr const char* kMultiblock = "bafybeigcisqd7m5nf3qmuvjdbakl5bdnh4ocrmacaqkpuh77qjvggmt2sa";
constexpr const char* kDocument = "bafyreidy4q6mmetut5jzc54ambsfnatbyoujmwbfzyyolqw24majazwgha";

// Every block of every fixture, by CID bytes.
class Store {
 public:
  Store() {
    for (const auto& row : FixtureTable()) {
      const CarContents car = ReadCar(ReadFixture(row.file));
      for (const auto& block : car.blocks) blocks_[block.cid.bytes()] = block.data;
    }
  }

  BlockFetcher Fetcher() {
    return [this](const Cid& cid, std::string* data) {
      ++fetches_;
      const auto it = blocks_.find(cid.bytes());
      if (it == blocks_.end()) return Status::NotFound("no such block");
      *data = it->second;
      return Status::OK();
    };
  }

  std::map<std::string, std::string>& blocks() { return blocks_; }
  size_t fetches() const { return fetches_; }

 private:
  std::map<std::string, std::string> blocks_;
  size_t fetches_ = 0;
};

struct Result {
  Status status;
  std::vector<std::string> order;  // CID strings in visit order
};

Result Run(Store& store, const Cid& root, DagScope scope, bool dups) {
  Result result;
  WalkOptions options;
  options.scope = scope;
  options.dups = dups;
  result.status = Walk(root, options, store.Fetcher(), [&](const Cid& cid, std::string_view data) {
    CHECK(cid.Verify(data).ok());
    result.order.push_back(cid.ToString());
    return Status::OK();
  });
  return result;
}

std::vector<std::string> CarOrder(const std::string& file) {
  std::vector<std::string> order;
  for (const auto& block : ReadCar(ReadFixture(file)).blocks) order.push_back(block.cid.ToString());
  return order;
}

TEST_CASE("walk: dag-scope=all with dups=n reproduces each fixture's depth-first block order") {
  Store store;
  for (const auto& row : FixtureTable()) {
    if (row.file == "file-3k-and-3-blocks-missing-block.car") continue;
    INFO("fixture ", row.file);
    const Result result = Run(store, ParseCid(row.root), DagScope::kAll, /*dups=*/false);
    REQUIRE_MESSAGE(result.status.ok(), result.status.ToString());
    CHECK(result.order == CarOrder(row.file));
  }
}

TEST_CASE("walk: dups=y repeats a block each time it is linked") {
  Store store;
  const std::string root = "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy";
  const Result with = Run(store, ParseCid(root), DagScope::kAll, /*dups=*/true);
  REQUIRE(with.status.ok());
  const std::vector<std::string> car = CarOrder("dir-with-duplicate-files.car");
  // ascii-copy.txt and ascii.txt are the same block.
  std::vector<std::string> expected = car;
  expected.insert(expected.begin() + 2, car[1]);
  CHECK(with.order == expected);
  const Result without = Run(store, ParseCid(root), DagScope::kAll, /*dups=*/false);
  CHECK(without.order == car);
}

TEST_CASE("walk: dag-scope=block is the root only") {
  Store store;
  for (const auto& row : FixtureTable()) {
    const Result result = Run(store, ParseCid(row.root), DagScope::kBlock, true);
    REQUIRE(result.status.ok());
    CHECK(result.order == std::vector<std::string>{row.root});
  }
}

TEST_CASE("walk: dag-scope=entity per the trustless gateway conformance cases") {
  Store store;
  SUBCASE("a plain directory is its own node") {
    const std::string dir = "bafybeietjm63oynimmv5yyqay33nui4y4wx6u3peezwetxgiwvfmelutzu";
    CHECK(Run(store, ParseCid(dir), DagScope::kEntity, true).order ==
          std::vector<std::string>{dir});
  }
  SUBCASE("a HAMT directory is all its shard nodes, none of the entries") {
    const std::string root = "bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i";
    // Shard nodes, depth-first: sub-shard links carry the two-hex-digit bucket name alone.
    std::vector<std::string> expected;
    std::function<void(const Cid&)> add_shards = [&](const Cid& cid) {
      expected.push_back(cid.ToString());
      PbNode node;
      REQUIRE(DecodePbNode(store.blocks().at(cid.bytes()), &node).ok());
      UnixfsData data;
      REQUIRE(DecodeUnixfs(*node.data, &data).ok());
      CHECK(data.type == UnixfsType::kHamtShard);
      for (const PbLink& link : node.links) {
        if (link.name->size() == 2) add_shards(link.cid);
      }
    };
    add_shards(ParseCid(root));
    CHECK(expected.size() > 200);
    const Result result = Run(store, ParseCid(root), DagScope::kEntity, true);
    REQUIRE(result.status.ok());
    CHECK(result.order == expected);
  }
  SUBCASE("a chunked file is the file node and all its leaves") {
    const Result result = Run(store, ParseCid(kMultiblock), DagScope::kEntity, true);
    REQUIRE(result.status.ok());
    const std::vector<std::string> car = CarOrder("subdir-with-mixed-block-files.car");
    // In that CAR the file is block 5 and its five leaves follow it.
    CHECK(result.order == std::vector<std::string>(car.begin() + 4, car.end()));
  }
  SUBCASE("a raw file is one block") {
    const std::string raw = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4";
    CHECK(Run(store, ParseCid(raw), DagScope::kEntity, true).order ==
          std::vector<std::string>{raw});
  }
  SUBCASE("a dag-cbor document is itself, not what it links to") {
    CHECK(Run(store, ParseCid(kDocument), DagScope::kEntity, true).order ==
          std::vector<std::string>{kDocument});
    // dag-scope=all does follow its links.
    CHECK(Run(store, ParseCid(kDocument), DagScope::kAll, false).order.size() == 8);
  }
}

TEST_CASE("walk: a missing block is NotFound naming the first missing CID") {
  Store store;
  const std::string root = "QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk";
  const Cid root_cid = ParseCid(root);
  PbNode node;
  REQUIRE(DecodePbNode(store.blocks().at(root_cid.bytes()), &node).ok());
  REQUIRE(node.links.size() == 3);
  const std::string missing = node.links[1].cid.ToString();
  for (DagScope scope : {DagScope::kAll, DagScope::kEntity}) {
    const Result result = Run(store, root_cid, scope, true);
    CHECK(result.status.code() == boxcar::Status::Code::kNotFound);
    CHECK(result.status.message() == "block " + missing + " is missing");
    CHECK(result.order == std::vector<std::string>{root, node.links[0].cid.ToString()});
  }
  CHECK(Run(store, root_cid, DagScope::kBlock, true).status.ok());
}

TEST_CASE("walk: identity CIDs are visited without fetching") {
  Store store;
  const Cid inlined = ParseCid("bafkqaf3imvwgy3zaneqgc3janfxgy2lomvscay3jmqfa");
  std::string seen;
  Status status = Walk(inlined, {}, store.Fetcher(), [&](const Cid&, std::string_view data) {
    seen = data;
    return Status::OK();
  });
  REQUIRE(status.ok());
  CHECK(seen == "hello i am inlined cid\n");
  CHECK(store.fetches() == 0);

  // A directory linking to an identity CID.
  PbNode dir;
  dir.links.push_back({inlined, "inline.txt", 23});
  const std::string block = EncodePbNode(dir);
  const Cid dir_cid = Cid::V1(kDagPb, Multihash::Sum(kSha2_256, block));
  store.blocks()[dir_cid.bytes()] = block;
  const Result result = Run(store, dir_cid, DagScope::kAll, true);
  REQUIRE(result.status.ok());
  CHECK(result.order == std::vector<std::string>{dir_cid.ToString(), inlined.ToString()});
  CHECK(store.fetches() == 1);
}

TEST_CASE("walk: corrupt blocks, fetch errors and visitor errors stop the walk") {
  Store store;
  const Cid root = ParseCid("bafybeiegxwlgmoh2cny7qlolykdf7aq7g6dlommarldrbm7c4hbckhfcke");
  const Cid bad = ParseCid("bafkreic3ondyhizrzeoufvoodehinugpj3ecruwokaygl7elezhn2khqfa");
  store.blocks()[bad.bytes()] += "!";
  Result result = Run(store, root, DagScope::kAll, true);
  CHECK(result.status.code() == Status::Code::kCorruption);
  CHECK(result.status.message().rfind("block " + bad.ToString() + ": sha2-256 digest mismatch",
                                      0) == 0);

  const BlockFetcher failing = [](const Cid&, std::string*) {
    return Status::IOError("disk on fire");
  };
  Status status =
      Walk(root, {}, failing, [](const Cid&, std::string_view) { return Status::OK(); });
  CHECK(status.ToString() == "IOError: disk on fire");

  size_t visits = 0;
  status = Walk(root, {}, store.Fetcher(), [&](const Cid&, std::string_view) {
    return ++visits == 2 ? Status::Busy("enough") : Status::OK();
  });
  CHECK(status.ToString() == "Busy: enough");
  CHECK(visits == 2);
}

TEST_CASE("walk: dag-scope names") {
  DagScope scope = DagScope::kAll;
  REQUIRE(ParseDagScope("block", &scope).ok());
  CHECK(scope == DagScope::kBlock);
  REQUIRE(ParseDagScope("entity", &scope).ok());
  CHECK(scope == DagScope::kEntity);
  REQUIRE(ParseDagScope("all", &scope).ok());
  CHECK(scope == DagScope::kAll);
  CHECK(DagScopeName(DagScope::kEntity) == std::string("entity"));
  Status status = ParseDagScope("ALL", &scope);
  CHECK(status.code() == Status::Code::kInvalidArgument);
  CHECK(status.message() == "invalid dag-scope \"ALL\" (use block, entity or all)");
}

}  // namespace
