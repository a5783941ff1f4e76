// The Bitswap client between two real boxcar nodes on 127.0.0.1: B fetches what only A holds
// through pin/add, block/get (RPC and CLI) and the gateway's fetch_missing.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bitswap/message.h"
#include "support/bitswap_peer.h"
#include "support/car_fixture.h"
#include "support/http_client.h"
#include "support/node_config.h"
#include "support/node_process.h"
#include "support/p2p_node.h"
#include "support/temp_dir.h"

using namespace boxcar::testing;
using nlohmann::json;

namespace {

constexpr const char* kDagFixture = "subdir-with-mixed-block-files.car";
constexpr const char* kRawFixture = "gateway-raw-block.car";
// A CID nobody holds (the sha2-256 of "nobody has this block", raw codec).
constexpr const char* kAbsentCid = "bafkreidr3nudcb7c2lt6gpxzvvutosxn6se2v7noitmxh6ywfcfirjm2f4";

struct Node {
  explicit Node(json patch = json::object())
      : file(dir.Write("node.json", Config(std::move(patch)).dump(2))), process(file) {
    REQUIRE_MESSAGE(process.WaitReady(), process.Output());
    endpoints = ReadP2pEndpoints(process);
    REQUIRE(!endpoints.addresses.empty());
  }
  ~Node() {
    process.Signal(SIGTERM);
    CHECK_MESSAGE(process.WaitExit() == 0, process.Output());
  }
  json Config(json patch) {
    json config = P2pNodeConfig(dir);
    config["reload"] = {{"watch_config", false}};
    config.merge_patch(patch);
    return config;
  }
  Response Post(const std::string& command) {
    return Fetch(process.rpc(), "POST", "/api/v0/" + command);
  }
  void Import(const std::string& fixture) {
    const HttpResult r =
        HttpRequest(process.admin(), "POST", "/admin/import", ReadWholeFile(kFixtureDir / fixture));
    REQUIRE_MESSAGE(r.status == 200, fixture << ": " << r.body);
  }
  void Connect(const Node& other) {
    std::string escaped;
    for (char c : other.endpoints.addresses[0]) escaped += c == '/' ? "%2F" : std::string(1, c);
    Response r = Post("swarm/connect?arg=" + escaped);
    REQUIRE_MESSAGE(r.status == 200, r.body);
  }
  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), BoxcarBinary().string());
    args.insert(args.end(), {"--api", process.rpc()});
    return RunCommand(args, std::chrono::seconds(60));
  }

  TempDir dir;
  std::filesystem::path file;
  NodeProcess process;
  P2pEndpoints endpoints;
};

std::vector<json> JsonLines(const std::string& body) {
  std::vector<json> lines;
  for (size_t start = 0, nl; (nl = body.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(json::parse(body.substr(start, nl - start)));
  }
  return lines;
}

// The CIDs of a CAR response's blocks.
std::set<std::string> CarBlocks(const std::string& car) {
  std::istringstream in(car);
  std::set<std::string> cids;
  for (const std::string& cid : ReadCar(in).CidStrings()) cids.insert(cid);
  return cids;
}

}  // namespace

TEST_CASE("pin/add fetches a multi-block DAG only the peer holds; block/get fetches one block") {
  Node a, b;
  a.Import(kDagFixture);
  a.Import(kRawFixture);
  const CarContents dag = LoadFixture(kDagFixture);
  const std::string root = dag.root().ToString();
  REQUIRE(dag.blocks.size() > 3);
  // B holds nothing of it yet: its gateway answers 404 without fetch_missing.
  CHECK(Fetch(b.process.gateway(), "GET", "/ipfs/" + root + "?format=raw").status == 404);
  b.Connect(a);

  Response pinned = b.Post("pin/add?arg=" + root + "&progress=true");
  REQUIRE_MESSAGE(pinned.status == 200, pinned.body);
  CHECK(pinned.Header("x-chunked-output") == "1");
  const std::vector<json> lines = JsonLines(pinned.body);
  REQUIRE(lines.size() >= 2);
  for (size_t i = 0; i + 1 < lines.size(); ++i) CHECK(lines[i].contains("Progress"));
  CHECK(lines[lines.size() - 2]["Progress"] == dag.blocks.size());
  CHECK(lines.back() == json{{"Pins", {root}}});
  CHECK(pinned.trailers.empty());

  // Every block of the DAG is in B's store now: B's own gateway exports the same CAR blocks.
  Response car = Fetch(b.process.gateway(), "GET", "/ipfs/" + root + "?format=car&dag-scope=all");
  REQUIRE(car.status == 200);
  const std::vector<std::string> all = dag.CidStrings();
  const std::set<std::string> expected(all.begin(), all.end());
  CHECK(CarBlocks(car.body) == expected);
  // Pinned: without progress the answer is one value, and the pin is idempotent.
  Response again = b.Post("pin/add?arg=" + root);
  REQUIRE(again.status == 200);
  CHECK(json::parse(again.body) == json{{"Pins", {root}}});

  // One block by RPC: the raw bytes, Kubo's text/plain stream.
  const CarContents raw = LoadFixture(kRawFixture);
  Response block = b.Post("block/get?arg=" + raw.root().ToString());
  REQUIRE_MESSAGE(block.status == 200, block.body);
  CHECK(block.Header("content-type") == "text/plain");
  CHECK(block.Header("x-stream-output") == "1");
  CHECK(block.body == raw.blocks.at(0).second);

  // Counters: B received what it fetched, no bad blocks.
  const json stat = json::parse(b.Post("bitswap/stat").body);
  CHECK(stat["BlocksReceived"].get<uint64_t>() >= dag.blocks.size() + 1);
  CHECK(stat["Wantlist"].is_null());
  CHECK(stat["Peers"] == json{a.endpoints.peer_id});
  CHECK(MetricSum(b.process, "boxcar_bitswap_client_bad_blocks_total") == 0);
  CHECK(MetricSum(b.process, "boxcar_bitswap_client_fetch_seconds_count") >= 2);
  CHECK(json::parse(b.Post("bitswap/wantlist").body) == json{{"Keys", nullptr}});
}

TEST_CASE("block/get and pin/add time out with the CID named; the CLI prints what ipfs prints") {
  Node a, b;
  a.Import(kRawFixture);
  a.Import(kDagFixture);
  b.Connect(a);
  Response missing = b.Post(std::string("block/get?arg=") + kAbsentCid + "&timeout=300ms");
  CHECK(missing.status == 500);
  CHECK(json::parse(missing.body)["Message"].get<std::string>().find(kAbsentCid) !=
        std::string::npos);
  Response bad = b.Post("block/get?arg=notacid");
  CHECK(bad.status == 500);
  CHECK(json::parse(bad.body)["Message"].get<std::string>().find("invalid CID") !=
        std::string::npos);
  CHECK(b.Post("block/get?arg=" + std::string(kAbsentCid) + "&timeout=soon").status == 400);

  const CarContents raw = LoadFixture(kRawFixture);
  CommandResult got = b.Cli({"block", "get", raw.root().ToString()});
  CHECK(got.exit_code == 0);
  CHECK(got.out == raw.blocks.at(0).second);
  const std::string root = LoadFixture(kDagFixture).root().ToString();
  CommandResult pin = b.Cli({"pin", "add", root});
  CHECK(pin.exit_code == 0);
  CHECK(pin.out == "pinned " + root + " recursively\n");
  CommandResult absent = b.Cli({"block", "get", kAbsentCid, "--timeout", "200ms"});
  CHECK(absent.exit_code == 1);
  CHECK(absent.out.find("Error: ") == 0);
}

TEST_CASE("gateway.fetch_missing: raw and CAR requests fetch from peers; past the timeout 504") {
  Node a;
  Node b(json{{"gateway", {{"fetch_missing", true}, {"fetch_timeout_ms", 500}}}});
  a.Import(kRawFixture);
  a.Import(kDagFixture);
  b.Connect(a);

  const CarContents raw = LoadFixture(kRawFixture);
  // only-if-cached never fetches.
  CHECK(Fetch(b.process.gateway(), "GET", "/ipfs/" + raw.root().ToString() + "?format=raw",
              {"Cache-Control: only-if-cached"})
            .status == 412);
  Response block =
      Fetch(b.process.gateway(), "GET", "/ipfs/" + raw.root().ToString() + "?format=raw");
  REQUIRE_MESSAGE(block.status == 200, block.body);
  CHECK(block.body == raw.blocks.at(0).second);

  const CarContents dag = LoadFixture(kDagFixture);
  Response car =
      Fetch(b.process.gateway(), "GET", "/ipfs/" + dag.root().ToString() + "?format=car");
  REQUIRE_MESSAGE(car.status == 200, car.body);
  const std::vector<std::string> all = dag.CidStrings();
  CHECK(CarBlocks(car.body) == std::set<std::string>(all.begin(), all.end()));

  const auto started = std::chrono::steady_clock::now();
  Response absent =
      Fetch(b.process.gateway(), "GET", std::string("/ipfs/") + kAbsentCid + "?format=raw");
  const auto waited = std::chrono::steady_clock::now() - started;
  CHECK(absent.status == 504);
  CHECK(absent.body.find(kAbsentCid) != std::string::npos);
  CHECK(waited >= std::chrono::milliseconds(450));
  CHECK(waited < std::chrono::seconds(5));
  // A pipelined request behind a CAR that times out is still answered, in order.
  Client client(b.process.gateway());
  REQUIRE(client.Send(RequestText("GET", std::string("/ipfs/") + kAbsentCid + "?format=car") +
                      RequestText("GET", "/ipfs/" + raw.root().ToString() + "?format=raw")));
  CHECK(client.Receive().status == 504);
  Response second = client.Receive();
  CHECK(second.status == 200);
  CHECK(second.body == raw.blocks.at(0).second);
}

TEST_CASE("gateway.fetch_missing needs a p2p section; fetch_timeout_ms is checked") {
  TempDir dir;
  json config = TestNodeConfig(dir / "store");
  config["gateway"]["fetch_missing"] = true;
  const auto file = dir.Write("node.json", config.dump(2));
  CommandResult check =
      RunCommand({BoxcarBinary().string(), "check-config", "--config", file.string()});
  CHECK(check.exit_code != 0);
  CHECK(check.out.find("/gateway/fetch_missing") != std::string::npos);
  CHECK(check.out.find("p2p") != std::string::npos);
  config["gateway"]["fetch_missing"] = false;
  config["gateway"]["fetch_timeout_ms"] = 0;
  const auto bad_timeout = dir.Write("bad.json", config.dump(2));
  check = RunCommand({BoxcarBinary().string(), "check-config", "--config", bad_timeout.string()});
  CHECK(check.exit_code != 0);
  CHECK(check.out.find("fetch_timeout_ms") != std::string::npos);
}

TEST_CASE("a peer that sends a block nothing asked for is disconnected and counted") {
  Node a, b;
  a.Import(kDagFixture);
  BitswapTestPeer rogue;
  rogue.Connect(b.endpoints.addresses[0]);
  REQUIRE(
      Eventually([&] { return json::parse(b.Post("bitswap/stat").body)["Peers"].size() == 1; }));
  // Bytes B never wanted: the decoder names them by their own hash, which matches no want.
  const std::string junk = "not what anyone asked for";
  const boxcar::format::Cid junk_cid = boxcar::format::Cid::V1(
      boxcar::format::kRaw, boxcar::format::Multihash::Sum(boxcar::format::kSha2_256, junk));
  boxcar::bitswap::Encoder encoder(boxcar::bitswap::Version::k120);
  REQUIRE(encoder.AddBlock(junk_cid, junk));
  std::string framed;
  encoder.Finish(&framed);
  REQUIRE(rogue.SendFramed(std::move(framed)).ok());
  CHECK(Eventually([&] { return !rogue.connected(); }));
  CHECK(Eventually(
      [&] { return MetricSum(b.process, "boxcar_bitswap_client_bad_blocks_total") == 1; }));
  CHECK(MetricSum(b.process, "boxcar_bitswap_client_blocks_received_total") == 0);
  // Other peers are unaffected: B still fetches from A.
  b.Connect(a);
  const std::string root = LoadFixture(kDagFixture).root().ToString();
  Response pinned = b.Post("pin/add?arg=" + root);
  REQUIRE_MESSAGE(pinned.status == 200, pinned.body);
  CHECK(json::parse(pinned.body) == json{{"Pins", {root}}});
}
