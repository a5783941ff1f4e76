// The block store inside the running binary: the memory budget under load, and the store's
// metrics as a fresh node exports them.
#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "format/car.h"
#include "format/cid.h"
#include "format/multihash.h"
#include "support/gateway_node.h"
#include "support/http_client.h"
#include "support/node_process.h"
#include "support/temp_dir.h"

namespace boxcar::testing {
namespace {

using format::Cid;
using nlohmann::json;
namespace fs = std::filesystem;

// A CAR of `count` random raw blocks of `size` bytes; returns their CIDs.
std::vector<Cid> WriteRawBlocksCar(const fs::path& file, int count, size_t size) {
  std::mt19937_64 random(7);
  std::ofstream out(file, std::ios::binary);
  format::CarWriter writer(out);
  std::vector<Cid> cids;
  for (int i = 0; i < count; ++i) {
    std::string data(size, '\0');
    for (size_t j = 0; j + 8 <= data.size(); j += 8) {
      const uint64_t r = random();
      std::memcpy(data.data() + j, &r, 8);
    }
    const Cid cid = Cid::V1(format::kRaw, format::Multihash::Sum(format::kSha2_256, data));
    if (i == 0) REQUIRE(writer.WriteHeader({cid}).ok());
    REQUIRE(writer.WriteBlock(cid, data).ok());
    cids.push_back(cid);
  }
  return cids;
}

uint64_t MemoryUsed(const std::string& admin) {
  const HttpResult r = HttpRequest(admin, "GET", "/admin/store");
  REQUIRE(r.status == 200);
  return json::parse(r.body)["memory"]["used_bytes"].get<uint64_t>();
}

TEST_CASE("random GETs of blocks larger in sum than the budget never push memory past it") {
  constexpr uint64_t kBudget = 16 << 20;
  TempDir dir;
  json config = GatewayNodeConfig(dir);
  config["store"]["memory_budget_bytes"] = kBudget;
  config["store"]["tiers"][0]["params"] = {{"capacity_bytes", 256 << 20}};
  const fs::path config_file = dir.Write("boxcar.json", config.dump(2));
  const std::vector<Cid> cids = WriteRawBlocksCar(dir / "blocks.car", 240, 256 << 10);
  const CommandResult imported = RunCommand({BoxcarBinary().string(), "import", "--config",
                                             config_file.string(), (dir / "blocks.car").string()},
                                            std::chrono::seconds(120));
  INFO(imported.out);
  REQUIRE(imported.exit_code == 0);

  NodeProcess node(config_file);
  REQUIRE(node.WaitReady());
  CHECK(node.Output().find("capped at the budget") != std::string::npos);

  // 16 clients, 60 random raw GETs each (about 240 MiB in all), while /admin/store is sampled.
  std::atomic<int> clients_left{16};
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 16; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937 random(c);
      Client client(node.gateway());
      for (int i = 0; i < 60 && client.connected(); ++i) {
        const Cid& cid = cids[random() % cids.size()];
        client.Send(RequestText("GET", "/ipfs/" + cid.ToString() + "?format=raw"));
        const Response r = client.Receive();
        if (r.status != 200 || r.body.size() != (256 << 10)) ++failures;
      }
      --clients_left;
    });
  }
  std::vector<uint64_t> samples;
  while (clients_left.load() > 0) {
    samples.push_back(MemoryUsed(node.admin()));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (std::thread& t : clients) t.join();
  samples.push_back(MemoryUsed(node.admin()));
  CHECK(failures.load() == 0);
  CHECK(samples.size() >= 3);
  uint64_t max_used = 0;
  for (uint64_t used : samples) max_used = std::max(max_used, used);
  INFO("samples: " << samples.size() << ", max used " << max_used);
  CHECK(max_used <= kBudget);
  CHECK(max_used > kBudget / 4);  // the tier was used, only within the budget
}

TEST_CASE("a fresh node exports the store's corruption counter at 0 for every tier") {
  TempDir dir;
  const fs::path config_file = dir.Write("boxcar.json", GatewayNodeConfig(dir).dump(2));
  NodeProcess node(config_file);
  REQUIRE(node.WaitReady());
  const HttpResult metrics = HttpRequest(node.admin(), "GET", "/metrics");
  REQUIRE(metrics.status == 200);
  INFO(metrics.body.substr(0, 2000));
  CHECK(metrics.body.find("boxcar_store_corruption_total{tier=\"store.tiers[0] (lru)\"} 0") !=
        std::string::npos);
  CHECK(metrics.body.find("boxcar_store_corruption_total{tier=\"store.tiers[1] (leveldb)\"} 0") !=
        std::string::npos);
}

}  // namespace
}  // namespace boxcar::testing
