// Helia (tests/interop/helia-bitswap: Helia 7 with @helia/bitswap over TCP, Noise and Yamux on
// 127.0.0.1) and the real binary exchange UnixFS files over Bitswap in both directions.
#include <doctest/doctest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/bitswap_interop.h"
#include "support/car_fixture.h"
#include "support/node_process.h"
#include "support/p2p_node.h"
#include "support/temp_dir.h"

namespace boxcar::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr size_t kFiveMiBAndABit = 5 * 1024 * 1024 + 4321;  // 21 leaves, the last one short
const char* const kHamtFixture = "single-layer-hamt-with-multi-block-files.car";

// The number of Bitswap streams `helia` opened to `peer` so far.
int BitswapStreamsTo(JsScript& helia, const std::string& peer) {
  const json stats = MustCall(helia, {{"cmd", "stats"}});
  return stats["bitswapStreamsOut"].value(peer, 0);
}

}  // namespace

TEST_CASE("helia bitswap: Helia cats from boxcar a 5 MiB file, a raw block and a file in a HAMT") {
  RequireHeliaBitswapInstalled();
  BitswapNode boxcar;
  boxcar.Start();
  auto maker = StartHeliaPeer();  // builds the DAGs; never connected to boxcar
  const BuiltDag big = BuildDag(
      *maker, boxcar.dir, WriteRandomFile(boxcar.dir, "big.bin", kFiveMiBAndABit, 1), "big.car");
  REQUIRE(big.blocks.size() == 22);
  const BuiltDag small =
      BuildDag(*maker, boxcar.dir, WriteRandomFile(boxcar.dir, "small.bin", 1024, 2), "small.car");
  REQUIRE(small.blocks.size() == 1);
  REQUIRE(small.root.rfind("bafkrei", 0) == 0);  // a raw block
  ImportCar(boxcar.node, big.car);
  ImportCar(boxcar.node, small.car);
  ImportCar(boxcar.node, kFixtureDir / kHamtFixture);

  // What the HAMT file holds, read by the maker from the fixture itself.
  const json hamt =
      MustCall(*maker, {{"cmd", "import-car"}, {"path", (kFixtureDir / kHamtFixture).string()}});
  const std::string hamt_root = hamt["roots"][0].get<std::string>();
  const json listing = MustCall(*maker, {{"cmd", "ls"}, {"cid", hamt_root}});
  REQUIRE(!listing["entries"].empty());
  const std::string hamt_name = listing["entries"].back()["name"].get<std::string>();
  const json hamt_expected =
      MustCall(*maker, {{"cmd", "cat"}, {"cid", hamt_root}, {"path", hamt_name}});

  auto helia = StartHeliaPeer();
  const json dialed = MustCall(*helia, {{"cmd", "dial"}, {"addr", boxcar.endpoints.addresses[0]}});
  CHECK(dialed["peer"] == boxcar.endpoints.peer_id);

  SUBCASE("the 5 MiB file, byte for byte") {
    const fs::path out = boxcar.dir / "big.out";
    const json cat = helia->Call(
        {{"cmd", "cat"}, {"cid", big.root}, {"out", out.string()}, {"timeout_ms", 60000}},
        std::chrono::seconds(70));
    INFO(cat.dump(), "\nboxcar: ", boxcar.node.Output());
    REQUIRE(cat.value("ok", false));
    CHECK(cat["bytes"] == kFiveMiBAndABit);
    CHECK(cat["sha256"] == big.sha256);
    CHECK(ReadWholeFile(out) == ReadWholeFile(boxcar.dir / "big.bin"));
  }
  SUBCASE("the 1 KiB raw block") {
    const json cat = helia->Call({{"cmd", "cat"}, {"cid", small.root}, {"timeout_ms", 20000}},
                                 std::chrono::seconds(30));
    INFO(cat.dump(), "\nboxcar: ", boxcar.node.Output());
    REQUIRE(cat.value("ok", false));
    CHECK(cat["bytes"] == 1024);
    CHECK(cat["sha256"] == small.sha256);
  }
  SUBCASE("a file inside the HAMT-sharded directory") {
    const json cat = helia->Call(
        {{"cmd", "cat"}, {"cid", hamt_root}, {"path", hamt_name}, {"timeout_ms", 30000}},
        std::chrono::seconds(40));
    INFO(cat.dump(), "\nboxcar: ", boxcar.node.Output());
    REQUIRE(cat.value("ok", false));
    CHECK(cat["sha256"] == hamt_expected["sha256"]);
    CHECK(cat["bytes"] == hamt_expected["bytes"]);
  }
}

TEST_CASE("helia bitswap: boxcar pins a 5 MiB file Helia added and holds exactly its blocks") {
  RequireHeliaBitswapInstalled();
  BitswapNode boxcar;
  boxcar.Start();
  auto helia = StartHeliaPeer();
  const BuiltDag dag =
      BuildDag(*helia, boxcar.dir, WriteRandomFile(boxcar.dir, "helia.bin", kFiveMiBAndABit, 3),
               "helia.car");
  REQUIRE(dag.blocks.size() == 22);

  const RpcResult connect = RpcCall(boxcar.endpoints.rpc, "swarm/connect?arg=" + helia->address());
  INFO(connect.text);
  REQUIRE(connect.status == 200);
  const CommandResult pin =
      SlowRpcCall(boxcar.endpoints.rpc, "pin/add?arg=" + dag.root, std::chrono::seconds(60));
  INFO("pin/add: ", pin.out, "\nboxcar: ", boxcar.node.Output());
  RequirePinnedOnly(pin, dag.root);

  const std::set<std::string> held =
      StopAndExportBlocks(boxcar.node, boxcar.config, dag.root, boxcar.dir);
  CHECK(held == std::set<std::string>(dag.blocks.begin(), dag.blocks.end()));
}

TEST_CASE("helia bitswap: a want boxcar cannot serve yet is served when the block arrives") {
  RequireHeliaBitswapInstalled();
  BitswapNode boxcar;
  boxcar.Start();
  auto maker = StartHeliaPeer();
  const BuiltDag later =
      BuildDag(*maker, boxcar.dir, WriteRandomFile(boxcar.dir, "later.bin", 1024, 4), "later.car");
  auto helia = StartHeliaPeer();
  MustCall(*helia, {{"cmd", "dial"}, {"addr", boxcar.endpoints.addresses[0]}});

  const int want = helia->Send({{"cmd", "get-block"}, {"cid", later.root}, {"timeout_ms", 30000}});
  // Helia's want reaches boxcar (and boxcar answers DONT_HAVE) well within this.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const int streams_before = BitswapStreamsTo(*helia, boxcar.endpoints.peer_id);
  CHECK(streams_before >= 1);
  const double wants_before =
      MetricSum(boxcar.node, "boxcar_bitswap_wants_received_total", "type=\"block\"");
  CHECK(wants_before >= 1);
  const json early = helia->Call({{"cmd", "has"}, {"cid", later.root}});
  REQUIRE_MESSAGE(early["has"] == false, "Helia got the block before boxcar had it");

  ImportCar(boxcar.node, later.car);
  const json got = helia->Reply(want, std::chrono::seconds(35));
  INFO(got.dump(), "\nboxcar: ", boxcar.node.Output());
  REQUIRE(got.value("ok", false));
  CHECK(got["bytes"] == 1024);
  CHECK(got["sha256"] == later.sha256);
  // Helia did not ask again: no Bitswap stream to boxcar since the want went out.
  CHECK(BitswapStreamsTo(*helia, boxcar.endpoints.peer_id) == streams_before);
  CHECK(MetricSum(boxcar.node, "boxcar_bitswap_wants_received_total", "type=\"block\"") ==
        wants_before);
}

}  // namespace boxcar::testing
