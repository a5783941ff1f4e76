// CAR import and export over the store with the gateway conformance fixtures, pins and GC.
#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "format/car.h"
#include "store/dag_transfer.h"
#include "store/pin_store.h"
#include "store/store_fixture.h"

namespace boxcar::testing {
namespace {

using format::Cid;
using nlohmann::json;

const std::filesystem::path kFixtures =
    std::filesystem::path(BOXCAR_SOURCE_DIR) / "tests/fixtures/trustless-gateway";

const char* const kCompleteFixtures[] = {"gateway-raw-block.car",
                                         "subdir-with-two-single-block-files.car",
                                         "subdir-with-mixed-block-files.car",
                                         "single-layer-hamt-with-multi-block-files.car",
                                         "dir-with-duplicate-files.car",
                                         "dir-with-dag-cbor-with-links.car",
                                         "dag-pb.car"};

json Tiers() { return {{"tiers", json::array({{{"plugin", "lru"}}, {{"plugin", "leveldb"}}})}}; }

struct Blocks {
  std::vector<Cid> roots;
  std::vector<std::pair<Cid, std::string>> blocks;
};

Blocks ReadCar(std::istream& in) {
  Blocks out;
  format::CarReader reader(in);
  format::CarHeader header;
  REQUIRE(reader.ReadHeader(&header).ok());
  out.roots = header.roots;
  for (;;) {
    Cid cid;
    uint64_t size = 0;
    bool end = false;
    REQUIRE(reader.NextSection(&cid, &size, &end).ok());
    if (end) break;
    std::string body;
    REQUIRE(reader.ReadBody(&body).ok());
    out.blocks.emplace_back(cid, body);
  }
  return out;
}

Blocks ReadCarFile(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  REQUIRE(in.good());
  return ReadCar(in);
}

class Pins {
 public:
  explicit Pins(const StoreFixture& f) {
    REQUIRE(store::PinStore::Open(f.dir() / "pins", &pins_).ok());
  }
  store::PinStore& operator*() { return *pins_; }
  store::PinStore* operator->() { return pins_.get(); }

 private:
  std::unique_ptr<store::PinStore> pins_;
};

Status Import(StoreFixture& f, store::PinStore& pins, const std::string& fixture,
              store::ImportSummary* summary) {
  std::ifstream in(kFixtures / fixture, std::ios::binary);
  store::ImportOptions options;
  options.pin = true;
  return store::ImportCar(f.store(), &pins, in, options, summary);
}

TEST_CASE("every complete fixture imports, pins its root and exports its DAG in DFS order") {
  for (const char* fixture : kCompleteFixtures) {
    CAPTURE(fixture);
    StoreFixture f(Tiers());
    Pins pins(f);
    store::ImportSummary summary;
    REQUIRE(Import(f, *pins, fixture, &summary).ok());
    const Blocks original = ReadCarFile(kFixtures / fixture);
    REQUIRE(summary.pinned.size() == 1);
    CHECK(summary.pinned[0] == original.roots[0]);

    // scope=all: the fixtures are CARs of their whole DAG in DFS order.
    std::ostringstream out;
    store::ExportSummary exported;
    REQUIRE(store::ExportCar(f.store(), original.roots[0], format::DagScope::kAll, out, &exported)
                .ok());
    std::istringstream in(out.str());
    const Blocks back = ReadCar(in);
    CHECK(back.roots == original.roots);
    std::set<std::string> expected, got;
    for (const auto& [cid, data] : original.blocks) expected.insert(cid.bytes());
    for (const auto& [cid, data] : back.blocks) got.insert(cid.bytes());
    CHECK(got == expected);
    CHECK(back.blocks.front().first == original.roots[0]);

    // scope=block: the root alone.
    std::ostringstream block_out;
    store::ExportSummary block_summary;
    REQUIRE(store::ExportCar(f.store(), original.roots[0], format::DagScope::kBlock, block_out,
                             &block_summary)
                .ok());
    CHECK(block_summary.blocks == 1);

    // scope=entity lies between the two.
    std::ostringstream entity_out;
    store::ExportSummary entity;
    REQUIRE(store::ExportCar(f.store(), original.roots[0], format::DagScope::kEntity, entity_out,
                             &entity)
                .ok());
    CHECK(entity.blocks >= 1);
    CHECK(entity.blocks <= exported.blocks);

    std::vector<store::CorruptBlock> corrupt;
    uint64_t checked = 0;
    REQUIRE(f.store().Scrub(&corrupt, &checked).ok());
    CHECK(corrupt.empty());
  }
}

TEST_CASE(
    "the fixture with a missing block imports what it has, is not pinned, and exports "
    "with an error naming the missing block") {
  StoreFixture f(Tiers());
  Pins pins(f);
  store::ImportSummary summary;
  const Status s = Import(f, *pins, "file-3k-and-3-blocks-missing-block.car", &summary);
  CHECK(s.IsNotFound());
  CHECK(s.message().find("root QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk was not pinned") !=
        std::string::npos);
  CHECK(summary.pinned.empty());
  CHECK(summary.totals.blocks == 3);
  std::vector<store::Pin> list;
  REQUIRE(pins->List(&list).ok());
  CHECK(list.empty());

  Cid root;
  REQUIRE(Cid::Parse("QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk", &root).ok());
  std::ostringstream out;
  store::ExportSummary exported;
  const Status e = store::ExportCar(f.store(), root, format::DagScope::kAll, out, &exported);
  CHECK(e.IsNotFound());
  CHECK(e.message().find(" is missing") != std::string::npos);
  CHECK(exported.blocks >= 1);
}

TEST_CASE("GC removes what no pin reaches and keeps every pinned DAG whole") {
  StoreFixture f(Tiers());
  Pins pins(f);
  store::ImportSummary kept;
  REQUIRE(Import(f, *pins, "subdir-with-mixed-block-files.car", &kept).ok());
  // Unpinned: imported without --pin. Some of its blocks are also in the pinned DAG.
  std::ifstream in(kFixtures / "dir-with-dag-cbor-with-links.car", std::ios::binary);
  store::ImportSummary loose;
  REQUIRE(store::ImportCar(f.store(), pins.operator->(), in, {}, &loose).ok());
  std::vector<std::string> pinned_keys;
  uint64_t unused = 0;
  REQUIRE(store::MarkPinned(f.store(), *pins, &pinned_keys, &unused).ok());
  const std::set<std::string> pinned(pinned_keys.begin(), pinned_keys.end());
  uint64_t loose_only = 0;
  for (const auto& [cid, data] :
       ReadCarFile(kFixtures / "dir-with-dag-cbor-with-links.car").blocks) {
    if (pinned.count(cid.hash().bytes()) == 0) ++loose_only;
  }
  REQUIRE(loose_only > 0);
  const TestBlock direct = MakeBlock(500, 1);
  REQUIRE(f.store().Put(direct.cid, direct.data).ok());
  {
    auto hold = pins->Shared();
    REQUIRE(pins->Add(direct.cid, store::PinKind::kDirect).ok());
  }

  store::GcSummary gc;
  REQUIRE(store::CollectGarbage(f.store(), *pins, &gc).ok());
  CHECK(gc.kept == kept.totals.blocks + 1);
  CHECK(gc.removed == loose_only);
  BlockData got;
  CHECK(f.store().Get(loose.roots[0], &got).IsNotFound());
  CHECK(f.store().Get(direct.cid, &got).ok());
  std::ostringstream out;
  store::ExportSummary exported;
  CHECK(store::ExportCar(f.store(), kept.roots[0], format::DagScope::kAll, out, &exported).ok());

  std::vector<std::string> marked;
  uint64_t indirect = 0;
  REQUIRE(store::MarkPinned(f.store(), *pins, &marked, &indirect).ok());
  CHECK(indirect == kept.totals.blocks - 1);
}

TEST_CASE("a block written while GC runs is spared by its sweep") {
  StoreFixture f(Tiers());
  const TestBlock b = MakeBlock(700, 2);
  f.store().StartTrackingWrites();
  REQUIRE(f.store().Put(b.cid, b.data).ok());
  CHECK(f.store().WrittenWhileTracking(b.cid.hash().bytes()));
  CHECK_FALSE(f.store().WrittenWhileTracking(MakeBlock(700, 3).cid.hash().bytes()));
  f.store().StopTrackingWrites();
  CHECK_FALSE(f.store().WrittenWhileTracking(b.cid.hash().bytes()));
}

}  // namespace
}  // namespace boxcar::testing
