// The gateway under stress, on the real binary: the circuit breaker around a failing tier (the
// `faulty` test tier injects the faults), shedding bulk before interactive work and recovering,
// connection admission and trimming by the conn_manager plugin, and strategy swaps under load.
#include <doctest/doctest.h>

#include <atomic>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "format/car.h"
#include "format/dagpb.h"
#include "format/multihash.h"
#include "support/car_fixture.h"
#include "support/gateway_node.h"
#include "support/http_client.h"
#include "support/node_process.h"
#include "support/temp_dir.h"

namespace boxcar::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

void WriteFile(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  std::ofstream(tmp) << text;
  fs::rename(tmp, path);
}

// The value of one Prometheus series in the node's /metrics text; -1 when absent.
double Metric(const NodeProcess& node, const std::string& series) {
  const std::string text = HttpRequest(node.admin(), "GET", "/metrics").body;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

json Config(const TempDir& dir, const json& tiers, const json& engine,
            const json& conn_manager = {{"plugin", "watermark"}}) {
  json config = GatewayNodeConfig(dir);
  config["engine"] = engine;
  config["strategies"]["batcher"] = {{"plugin", "fixed"}};
  config["strategies"]["conn_manager"] = conn_manager;
  config["store"]["tiers"] = tiers;
  return config;
}

// lru over leveldb, with the fair prioritizer skipping a peer once `budget` bytes it was given
// are not yet written.
json FairBudgetConfig(const TempDir& dir, int budget) {
  json config = Config(dir, {{{"plugin", "lru"}}, {{"plugin", "leveldb"}}}, json::object());
  config["strategies"]["prioritizer"]["params"] = {{"max_outstanding_bytes_per_peer", budget}};
  return config;
}

std::string RootOf(const std::string& fixture) { return LoadFixture(fixture).root().ToString(); }

// A dag-pb root linking `count` random raw blocks, as a CAR in the order a dfs CAR request for
// the root answers with.
struct Dag {
  std::string root;
  std::vector<std::string> leaves;
  std::string car;
};

Dag ImportDag(const NodeProcess& node, size_t count, size_t size) {
  std::mt19937_64 rng(count * size);
  format::PbNode root_node;
  std::vector<std::pair<format::Cid, std::string>> blocks;
  Dag dag;
  for (size_t i = 0; i < count; ++i) {
    std::string data(size, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    const format::Cid cid =
        format::Cid::V1(format::kRaw, format::Multihash::Sum(format::kSha2_256, data));
    root_node.links.push_back({cid, std::nullopt, data.size()});
    dag.leaves.push_back(cid.ToString());
    blocks.emplace_back(cid, std::move(data));
  }
  const std::string root_block = format::EncodePbNode(root_node);
  const format::Cid root =
      format::Cid::V1(format::kDagPb, format::Multihash::Sum(format::kSha2_256, root_block));
  dag.root = root.ToString();
  std::ostringstream out;
  format::CarWriter writer(out);
  REQUIRE(writer.WriteHeader({root}).ok());
  REQUIRE(writer.WriteBlock(root, root_block).ok());
  for (const auto& [cid, data] : blocks) REQUIRE(writer.WriteBlock(cid, data).ok());
  dag.car = out.str();
  const HttpResult r = HttpRequest(node.admin(), "POST", "/admin/import", dag.car);
  REQUIRE_MESSAGE(r.status == 200, r.body);
  return dag;
}

}  // namespace

TEST_CASE("overload: the breaker opens on a failing tier, answers 503 fast and recovers") {
  TempDir dir;
  const fs::path fault = dir / "fault";
  WriteFile(fault, "ok");
  const json tiers = {{{"plugin", "faulty"}, {"params", {{"fault_file", fault.string()}}}}};
  const json engine = {
      {"breaker",
       {{"failure_threshold", 3}, {"open_ms", 400}, {"max_open_ms", 2000}, {"recovery_ms", 300}}}};
  NodeProcess node(dir.Write("boxcar.json", Config(dir, tiers, engine).dump(2)));
  REQUIRE(node.WaitReady());
  ImportFixture(node, "gateway-raw-block.car");
  const std::string target = "/ipfs/" + RootOf("gateway-raw-block.car") + "?format=raw";
  REQUIRE(Fetch(node.gateway(), "GET", target).status == 200);

  WriteFile(fault, "fail");
  for (int i = 0; i < 3; ++i) {
    const Response r = Fetch(node.gateway(), "GET", target);
    CHECK(r.status == 503);
    CHECK(r.body.find("injected fault") != std::string::npos);
  }
  const auto start = std::chrono::steady_clock::now();
  const Response open = Fetch(node.gateway(), "GET", target);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(200));
  CHECK(open.status == 503);
  CHECK(open.Has("retry-after"));
  CHECK(open.body.find("circuit breaker is open") != std::string::npos);
  CHECK(Metric(node, "boxcar_store_breaker_state{tier=\"faulty\"}") == 1);
  CHECK(Metric(node, "boxcar_store_breaker_transitions_total{tier=\"faulty\",to=\"open\"}") == 1);
  CHECK(node.Output().find("closed -> open") != std::string::npos);

  WriteFile(fault, "ok");
  CHECK(Eventually([&] { return Fetch(node.gateway(), "GET", target).status == 200; },
                   std::chrono::seconds(5)));
  // Half-open lets a growing share through; successes then close it.
  CHECK(Eventually(
      [&] {
        Fetch(node.gateway(), "GET", target);
        return Metric(node, "boxcar_store_breaker_state{tier=\"faulty\"}") == 0;
      },
      std::chrono::seconds(5)));
}

TEST_CASE("overload: bulk is shed before interactive, with Retry-After, and the node recovers") {
  TempDir dir;
  const fs::path fault = dir / "fault";
  WriteFile(fault, "ok");
  const json tiers = {{{"plugin", "faulty"}, {"params", {{"fault_file", fault.string()}}}}};
  // One worker taking one task at a time: bulk is refused from 90 queued, interactive at 120.
  const json engine = {{"workers", 1},
                       {"max_batch", 1},
                       {"queue_limit", 120},
                       {"max_queue_wait_ms", 30000},
                       {"retry_after_s", 2}};
  NodeProcess node(dir.Write("boxcar.json", Config(dir, tiers, engine).dump(2)));
  REQUIRE(node.WaitReady());
  ImportFixture(node, "subdir-with-mixed-block-files.car");
  const std::string root = RootOf("subdir-with-mixed-block-files.car");
  const std::string raw = "/ipfs/" + root + "?format=raw";
  const std::string car = "/ipfs/" + root + "?format=car";

  WriteFile(fault, "slow:25");  // 40 reads a second
  std::string batch;
  for (int i = 0; i < 58; ++i) batch += RequestText("GET", raw);
  std::vector<std::unique_ptr<Client>> floods;
  for (int i = 0; i < 2; ++i) {
    floods.push_back(std::make_unique<Client>(node.gateway(), std::chrono::seconds(30)));
    REQUIRE(floods.back()->Send(batch));
  }
  CHECK(Eventually([&] { return Metric(node, "boxcar_engine_queued_tasks") >= 100; },
                   std::chrono::seconds(3)));

  const Response shed = Fetch(node.gateway(), "GET", car);
  CHECK(shed.status == 503);
  CHECK(shed.Header("retry-after") == "2");
  Client interactive(node.gateway(), std::chrono::seconds(30));
  REQUIRE(interactive.Send(RequestText("GET", raw)));  // still below the interactive limit

  for (auto& flood : floods) {
    for (int i = 0; i < 58; ++i) CHECK(flood->Receive().status == 200);
  }
  CHECK(interactive.Receive().status == 200);
  CHECK(Metric(node, "boxcar_engine_tasks_total{class=\"bulk\",outcome=\"shed\"}") >= 1);
  CHECK(Metric(node, "boxcar_engine_tasks_total{class=\"interactive\",outcome=\"shed\"}") == 0);

  WriteFile(fault, "ok");
  const Response recovered = Fetch(node.gateway(), "GET", car);
  CHECK(recovered.status == 200);
  CHECK(recovered.trailers.empty());
}

TEST_CASE("overload: a peer over its budget waits, then gets 429; other peers are served") {
  constexpr int kMaxWaitMs = 1000;
  TempDir dir;
  const json tiers = {{{"plugin", "lru"}}, {{"plugin", "leveldb"}}};
  // A CAR chunk is charged 256 KiB: one fits the budget, the next waits in the backlog.
  const json engine = {{"peer_budget_bytes", 300000},
                       {"peer_budget_min_bytes", 300000},
                       {"peer_budget_max_bytes", 300000},
                       {"peer_backlog_limit", 2},
                       {"max_queue_wait_ms", kMaxWaitMs}};
  json config = Config(dir, tiers, engine);
  config["gateway"]["peer_header"] = "X-Peer";
  // The stalled client below must outlast max_queue_wait_ms however slow this machine is, and
  // must not be dropped for it.
  config["gateway"]["write_timeout_ms"] = 600000;
  NodeProcess node(dir.Write("boxcar.json", config.dump(2)));
  REQUIRE(node.WaitReady());
  const Dag big = ImportDag(node, 200, 64 << 10);  // 12.5 MiB: more than the socket buffers hold
  const std::string car = "/ipfs/" + big.root + "?format=car";

  // A client that stops reading: its stream fills the socket, and its next chunk waits for budget.
  Client stalled(node.gateway(), std::chrono::seconds(30));
  REQUIRE(stalled.Send(RequestText("GET", car, {"X-Peer: greedy"})));
  // Each chunk produced while the previous one is still being written waits in the backlog; once
  // the socket is full, the count stops rising.
  double backlogged = 0;
  REQUIRE(Eventually([&] {
    const double before = Metric(node, "boxcar_engine_backlogged_total");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    backlogged = Metric(node, "boxcar_engine_backlogged_total");
    return backlogged > 0 && backlogged == before;
  }));
  // The same peer on another connection waits behind it; a third request finds the backlog full.
  Client waiting(node.gateway(), std::chrono::seconds(30));
  REQUIRE(waiting.Send(RequestText("GET", car, {"X-Peer: greedy"})));
  REQUIRE(
      Eventually([&] { return Metric(node, "boxcar_engine_backlogged_total") == backlogged + 1; }));
  const Response refused = Fetch(node.gateway(), "GET", car, {"X-Peer: greedy"});
  CHECK(refused.status == 429);
  CHECK(refused.Has("retry-after"));
  CHECK(Metric(node, "boxcar_engine_peer_refusals_total") == 1);
  // Another peer is served meanwhile.
  const Response polite = Fetch(node.gateway(), "GET", car, {"X-Peer: polite"});
  CHECK(polite.status == 200);
  CHECK(polite.body == big.car);

  // Once the stalled client reads, its stream finishes byte for byte: its next chunk waited on
  // that client, not on the node, so max_queue_wait_ms does not cut it. The waiting request had
  // not started, and waited past max_queue_wait_ms: it is answered 503 rather than served late.
  std::this_thread::sleep_for(std::chrono::milliseconds(kMaxWaitMs + 200));
  Response first, second;
  std::thread reader([&] { first = stalled.Receive(); });
  second = waiting.Receive();
  reader.join();
  CHECK_MESSAGE(first.status == 200, first.error);
  CHECK_MESSAGE(first.body == big.car, first.body.size(), " of ", big.car.size(), " bytes");
  CHECK(first.trailers.empty());
  CHECK_MESSAGE(second.status == 503, second.error);
  CHECK(second.Has("retry-after"));
}

TEST_CASE("overload: pipelined CAR requests of one peer on many connections all complete") {
  TempDir dir;
  // Four chunks per peer in the prioritizer: fewer than the connections' first chunks.
  NodeProcess node(dir.Write("boxcar.json", FairBudgetConfig(dir, 1 << 20).dump(2)));
  REQUIRE(node.WaitReady());
  const Dag dag = ImportDag(node, 40, 64 << 10);
  const std::string car = "/ipfs/" + dag.root + "?format=car";
  const std::string raw = "/ipfs/" + dag.leaves.front() + "?format=raw";

  constexpr int kClients = 8;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<Client>(node.gateway(), std::chrono::seconds(20)));
    REQUIRE(clients.back()->Send(RequestText("GET", car) + RequestText("GET", car) +
                                 RequestText("GET", raw)));
  }
  std::vector<std::vector<Response>> responses(kClients);
  std::vector<std::thread> readers;
  for (int i = 0; i < kClients; ++i) {
    readers.emplace_back([&, i] {
      for (int r = 0; r < 3; ++r) responses[i].push_back(clients[i]->Receive());
    });
  }
  for (std::thread& reader : readers) reader.join();
  for (const std::vector<Response>& answers : responses) {
    CHECK_MESSAGE(answers[0].status == 200, answers[0].error);
    CHECK(answers[0].body == dag.car);
    CHECK_MESSAGE(answers[1].status == 200, answers[1].error);
    CHECK(answers[1].body == dag.car);
    CHECK_MESSAGE(answers[2].status == 200, answers[2].error);
    CHECK(answers[2].body.size() == 64 << 10);
  }
}

TEST_CASE("overload: a raw request costs its block's size, so small reads share a peer budget") {
  TempDir dir;
  // One task of unknown size (charged 256 KiB) fills this; 64 priced 1 KiB responses do not.
  NodeProcess node(dir.Write("boxcar.json", FairBudgetConfig(dir, 256 << 10).dump(2)));
  REQUIRE(node.WaitReady());
  const Dag dag = ImportDag(node, 64, 1024);  // the import tells the store every block's size

  Client client(node.gateway(), std::chrono::seconds(20));
  std::string pipelined;
  for (const std::string& leaf : dag.leaves) {
    pipelined += RequestText("GET", "/ipfs/" + leaf + "?format=raw");
  }
  REQUIRE(client.Send(pipelined));
  for (size_t i = 0; i < dag.leaves.size(); ++i) {
    const Response answer = client.Receive();
    REQUIRE_MESSAGE(answer.status == 200, answer.error);
    CHECK(answer.body.size() == 1024);
  }
  CHECK(Metric(node,
               "boxcar_plugin_fair_budget_skips_total{plugin=\"fair\",slot=\"prioritizer\"}") == 0);
}

TEST_CASE("overload: the per-peer budget grows while the node is idle") {
  TempDir dir;
  const json tiers = {{{"plugin", "lru"}}, {{"plugin", "leveldb"}}};
  const json engine = {{"peer_budget_bytes", 1 << 20}, {"peer_budget_min_bytes", 1 << 20}};
  NodeProcess node(dir.Write("boxcar.json", Config(dir, tiers, engine).dump(2)));
  REQUIRE(node.WaitReady());
  CHECK(Metric(node, "boxcar_engine_peer_budget_bytes") == 1 << 20);
  // The budget adapts as tasks are taken from the queue, at most every 100 ms.
  CHECK(Eventually(
      [&] {
        Fetch(node.gateway(), "GET", "/ipfs/bafkqaaa?format=raw");
        return Metric(node, "boxcar_engine_peer_budget_bytes") > 2 << 20;
      },
      std::chrono::seconds(5)));
}

TEST_CASE("overload: the conn_manager refuses connections over max_conns and trims idle ones") {
  TempDir dir;
  const json tiers = {{{"plugin", "lru"}}, {{"plugin", "leveldb"}}};
  const json manager = {{"plugin", "watermark"},
                        {"params",
                         {{"high_water", 4},
                          {"low_water", 2},
                          {"grace_period_ms", 0},
                          {"silence_period_ms", 0},
                          {"max_conns", 6}}}};
  NodeProcess node(dir.Write("boxcar.json", Config(dir, tiers, json::object(), manager).dump(2)));
  REQUIRE(node.WaitReady());
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(std::make_unique<Client>(node.gateway()));
    REQUIRE(clients.back()->Send(RequestText("GET", "/ipfs/bafkqaaa?format=raw")));
    REQUIRE(clients.back()->Receive().status == 200);  // admitted and served
  }
  Client refused(node.gateway());
  CHECK(refused.WaitClosed(std::chrono::seconds(2)));
  CHECK(Metric(node, "boxcar_gateway_connections_refused_total") >= 1);
  // Above high_water: trimmed down to low_water within a few maintenance rounds.
  size_t closed = 0;
  for (auto& c : clients) closed += c->WaitClosed(std::chrono::seconds(5)) ? 1 : 0;
  CHECK(closed == 4);
  CHECK(Metric(node, "boxcar_gateway_connections_closed_total{reason=\"trimmed\"}") == 4);
}

TEST_CASE("swap under load: prioritizer and batcher swapped while loadgen runs, no request fails") {
  TempDir dir;
  const json tiers = {{{"plugin", "lru"}}, {{"plugin", "leveldb"}}};
  json config = Config(dir, tiers, json::object());
  const fs::path config_file = dir.Write("boxcar.json", config.dump(2));
  NodeProcess node(config_file);
  REQUIRE(node.WaitReady());
  std::string cids;
  for (const char* fixture :
       {"subdir-with-mixed-block-files.car", "single-layer-hamt-with-multi-block-files.car"}) {
    ImportFixture(node, fixture);
    for (const std::string& cid : LoadFixture(fixture).CidStrings()) cids += cid + "\n";
  }
  const fs::path cid_file = dir.Write("cids.txt", cids);
  const fs::path report = dir / "loadgen.json";

  CommandResult load;
  std::atomic<bool> load_done{false};
  std::thread loadgen([&] {
    load = RunCommand(
        {(fs::path(BOXCAR_BINARY_DIR) / "bin" / "loadgen").string(), "--target", node.gateway(),
         "--cids", cid_file.string(), "--mix", "raw=80,head=10,car=10", "--connections", "32",
         "--depth", "4", "--duration", "12", "--max-failures", "0", "--json", report.string()},
        std::chrono::seconds(60));
    load_done = true;
  });
  // Swaps go on while the load runs, up to kSwaps: the load's 12 s leave room for a slow,
  // sanitized or shared machine, where a reload under load can take several hundred ms.
  constexpr int kSwaps = 20;
  int swaps = 0;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  while (swaps < kSwaps && !load_done) {
    const bool odd = swaps % 2 == 1;
    config["strategies"]["prioritizer"]["plugin"] = odd ? "fair" : "fifo";
    config["strategies"]["batcher"]["plugin"] = odd ? "fixed" : "adaptive";
    dir.Write("boxcar.json", config.dump(2));
    const HttpResult r = HttpRequest(node.admin(), "POST", "/admin/reload");
    CHECK_MESSAGE(r.status == 200, r.body);
    ++swaps;
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  loadgen.join();
  INFO(load.out);
  CHECK(load.exit_code == 0);
  CHECK(swaps == kSwaps);
  const json result = json::parse(ReadWholeFile(report));
  CHECK(result["failures"] == 0);
  CHECK(result["requests"].get<uint64_t>() > 1000);
  CHECK(result["status"].contains("200"));
}

}  // namespace boxcar::testing
