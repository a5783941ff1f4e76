// Bitswap peers that are not Helia against the real binary: a raw js-libp2p peer
// (tests/interop/helia-bitswap/bitswap-raw.mjs) that cancels wants, and a second boxcar that
// fetches a 20 MiB DAG from the first while the raw peer floods the first with wants.
#include <doctest/doctest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/bitswap_interop.h"
#include "support/node_process.h"
#include "support/p2p_node.h"
#include "support/temp_dir.h"

namespace boxcar::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

bool IsBlockEvent(const json& e, const std::string& cid) {
  return e.value("event", "") == "block" && e.value("cid", "") == cid;
}

// The lines of the node's /metrics that mention bitswap, for the test's log.
std::string BitswapMetricLines(const NodeProcess& node) {
  const std::string text = HttpRequest(node.admin(), "GET", "/metrics").body;
  std::string out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("bitswap") != std::string::npos && line[0] != '#') out += line + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("bitswap peers: after a cancel boxcar sends nothing for that want") {
  RequireHeliaBitswapInstalled();
  // A Helia-like peer sends each message on a new stream; a Boxo-like one keeps one open.
  for (const char* stream_mode : {"new", "keep"}) {
    CAPTURE(stream_mode);
    BitswapNode boxcar;
    boxcar.Start();
    auto maker = StartHeliaPeer();
    const BuiltDag kept =
        BuildDag(*maker, boxcar.dir, WriteRandomFile(boxcar.dir, "kept.bin", 3000, 5), "kept.car");
    const BuiltDag cancelled = BuildDag(
        *maker, boxcar.dir, WriteRandomFile(boxcar.dir, "cancelled.bin", 3000, 6), "cancelled.car");
    auto raw = StartRawBitswapPeer();
    const json dialed = MustCall(*raw, {{"cmd", "dial"}, {"addr", boxcar.endpoints.addresses[0]}});
    REQUIRE(dialed["peer"] == boxcar.endpoints.peer_id);

    // Both wanted while boxcar lacks them, then one cancelled; then both arrive in boxcar.
    MustCall(*raw, {{"cmd", "want"},
                    {"cids", {kept.root, cancelled.root}},
                    {"type", "block"},
                    {"stream", stream_mode}});
    MustCall(*raw, {{"cmd", "cancel"}, {"cids", {cancelled.root}}, {"stream", stream_mode}});
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ImportCar(boxcar.node, cancelled.car);
    ImportCar(boxcar.node, kept.car);

    const auto served = raw->Find([&](const json& e) { return IsBlockEvent(e, kept.root); },
                                  std::chrono::seconds(15));
    INFO("boxcar: ", boxcar.node.Output());
    REQUIRE_MESSAGE(served.has_value(), "the live want was not served after its block arrived");
    CHECK((*served)["sha256"] == kept.sha256);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const json received = MustCall(*raw, {{"cmd", "received"}});
    INFO(received.dump());
    CHECK(!received["blocks"].contains(cancelled.root));
    CHECK(!received["presences"].contains(cancelled.root));
    CHECK(received["invalid"].empty());
    CHECK(MetricSum(boxcar.node, "boxcar_bitswap_wants_received_total", "type=\"cancel\"") >= 1);
  }
}

// More wanted bytes than the per-peer send queue holds (8 MiB by default): the replies that do
// not fit must still go out once the queue drains, not stay in the ledger.
TEST_CASE("bitswap peers: a peer that wants a whole 20 MiB DAG at once receives every block") {
  RequireHeliaBitswapInstalled();
  BitswapNode boxcar;
  boxcar.Start();
  auto maker = StartHeliaPeer();
  const BuiltDag dag = BuildDag(
      *maker, boxcar.dir, WriteRandomFile(boxcar.dir, "dag.bin", 20 * 1024 * 1024, 8), "dag.car");
  ImportCar(boxcar.node, dag.car);
  auto raw = StartRawBitswapPeer();
  MustCall(*raw, {{"cmd", "record"}, {"on", false}});
  MustCall(*raw, {{"cmd", "dial"}, {"addr", boxcar.endpoints.addresses[0]}});
  MustCall(*raw, {{"cmd", "want"}, {"cids", dag.blocks}, {"type", "block"}});

  // Polled twice a second for up to 30 s: 20 MiB over loopback takes well under that.
  json received;
  bool all = false;
  for (int poll = 0; poll < 60 && !all; ++poll) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    received = MustCall(*raw, {{"cmd", "received"}});
    all = received["blocks"].size() == dag.blocks.size();
  }
  INFO("received ", received["blocks"].size(), " of ", dag.blocks.size(), " blocks\n",
       BitswapMetricLines(boxcar.node));
  CHECK(all);
  CHECK(received["invalid"].empty());
  CHECK(MetricSum(boxcar.node, "boxcar_bitswap_ledger", "size=\"wants\"") == 0);
}

TEST_CASE("bitswap peers: a boxcar fetches a 20 MiB DAG from another while a third peer floods") {
  RequireHeliaBitswapInstalled();
  BitswapNode holder;
  holder.Start();
  BitswapNode fetcher;
  fetcher.Start();
  auto maker = StartHeliaPeer();
  const BuiltDag dag = BuildDag(
      *maker, holder.dir, WriteRandomFile(holder.dir, "dag.bin", 20 * 1024 * 1024, 7), "dag.car");
  REQUIRE(dag.blocks.size() == 81);  // 80 leaves of 256 KiB and the root
  ImportCar(holder.node, dag.car);

  // The flooder wants every block of the DAG, 40 times over (800 MiB if all were sent).
  auto flooder = StartRawBitswapPeer();
  MustCall(*flooder, {{"cmd", "record"}, {"on", false}});
  MustCall(*flooder, {{"cmd", "dial"}, {"addr", holder.endpoints.addresses[0]}});
  const int flood = flooder->Send({{"cmd", "flood"},
                                   {"cids", dag.blocks},
                                   {"messages", 40},
                                   {"interval_ms", 10},
                                   {"type", "block"}});

  const RpcResult connect =
      RpcCall(fetcher.endpoints.rpc, "swarm/connect?arg=" + holder.endpoints.addresses[0]);
  INFO(connect.text);
  REQUIRE(connect.status == 200);
  const CommandResult pin =
      SlowRpcCall(fetcher.endpoints.rpc, "pin/add?arg=" + dag.root, std::chrono::seconds(120));

  // The flood first, so a failed pin still shows what the holder did with it.
  const json flooded = flooder->Reply(flood, std::chrono::seconds(120));
  const json received = MustCall(*flooder, {{"cmd", "received"}});
  const uint64_t holder_peak_kib = PeakRssKiB(holder.node.pid());
  {
    INFO("flood: ", flooded.dump(), "\nflooder received ", received["blockBytes"],
         " block bytes in ", received["messages"], " messages\nholder metrics:\n",
         BitswapMetricLines(holder.node), "holder peak RSS KiB: ", holder_peak_kib);
    CHECK(flooded.value("ok", false));
    CHECK(received["invalid"].empty());
    // Shed or served within its budget: the holder's memory stays far below the 4 GiB the
    // flood asked for, and the holder still answers.
    CHECK(holder_peak_kib > 0);
    // Every want of the flood ends served or shed: none stays in the holder's ledger.
    CHECK(Eventually(
        [&] { return MetricSum(holder.node, "boxcar_bitswap_ledger", "size=\"wants\"") == 0; },
        std::chrono::seconds(15)));
    CHECK(holder_peak_kib < 512 * 1024);
    CHECK(HttpRequest(holder.node.admin(), "GET", "/metrics").status == 200);
  }

  INFO("pin/add: ", pin.out, "\nholder: ", holder.node.Output(),
       "\nfetcher: ", fetcher.node.Output());
  RequirePinnedOnly(pin, dag.root);

  const std::set<std::string> held =
      StopAndExportBlocks(fetcher.node, fetcher.config, dag.root, fetcher.dir);
  CHECK(held == std::set<std::string>(dag.blocks.begin(), dag.blocks.end()));
}

}  // namespace boxcar::testing
