// bench-bitswap against the real binary: a short, small run of each mode, so the benchmark tool
// keeps working (its figures are in docs/benchmarks.md, from tools/bench/bitswap.sh).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/node_process.h"
#include "support/p2p_node.h"
#include "support/temp_dir.h"

namespace {

using boxcar::testing::CommandResult;
using boxcar::testing::NodeProcess;
using boxcar::testing::P2pNodeConfig;
using boxcar::testing::ReadP2pEndpoints;
using boxcar::testing::RunCommand;
using boxcar::testing::TempDir;
using nlohmann::json;

std::string Tool(const std::string& name) {
  return (std::filesystem::path(BOXCAR_BINARY_DIR) / "bin" / name).string();
}

// Runs bench-bitswap and returns its JSON report (stdout's last line).
json Bench(std::vector<std::string> args) {
  args.insert(args.begin(), Tool("bench-bitswap"));
  const CommandResult r = RunCommand(args, std::chrono::seconds(60));
  REQUIRE_MESSAGE(r.exit_code == 0, r.out);
  const size_t line = r.out.rfind("\n{");
  const json report =
      json::parse(line == std::string::npos ? r.out : r.out.substr(line + 1), nullptr, false);
  REQUIRE_MESSAGE(report.is_object(), r.out);
  return report;
}

void CheckNoFailures(const json& report) {
  INFO(report.dump());
  for (const char* kind :
       {"dont_have", "timeouts", "unexpected_blocks", "problems", "disconnected"}) {
    CHECK(report["failures"][kind] == 0);
  }
}

}  // namespace

TEST_CASE("bench-bitswap loads a boxcar node over Bitswap and reports verified blocks") {
  TempDir dir;
  const CommandResult data = RunCommand({Tool("bench-gateway-data"), "--blocks", "300", "--size",
                                         "1024", "--out", (dir / "k1").string()});
  REQUIRE_MESSAGE(data.exit_code == 0, data.out);
  const std::string config = dir.Write("node.json", P2pNodeConfig(dir).dump(2)).string();
  const CommandResult import =
      RunCommand({boxcar::testing::BoxcarBinary().string(), "import", "--config", config,
                  (dir / "k1" / "blocks.car").string()});
  REQUIRE_MESSAGE(import.exit_code == 0, import.out);
  NodeProcess node(config);
  REQUIRE_MESSAGE(node.WaitReady(), node.Output());
  const std::string target = ReadP2pEndpoints(node).tcp;
  REQUIRE(!target.empty());
  const std::string cids = (dir / "k1" / "cids.txt").string();
  const std::string pid = std::to_string(node.pid());

  SUBCASE("closed loop, want-block and want-have, on two threads") {
    const json report = Bench({"load", "--target", target, "--cids", cids, "--peers", "4",
                               "--threads", "2", "--wants", "8", "--want-have", "50", "--seconds",
                               "1", "--warmup", "0.2", "--pid", pid});
    CHECK(report["blocks"].get<uint64_t>() > 100);
    CHECK(report["alive"] == 4);
    CHECK(report["latency_ms"]["p99"].get<double>() > 0);
    CheckNoFailures(report);
  }
  SUBCASE("open loop at a fixed rate, bounded by count") {
    const json report =
        Bench({"load", "--target", target, "--cids", cids, "--peers", "3", "--wants", "16",
               "--rate", "2000", "--count", "500", "--warmup", "0", "--seconds", "10"});
    CHECK(report["blocks"] == 500);
    CHECK(report["wants_sent"] == 500);
    CheckNoFailures(report);
  }
  SUBCASE("a new peer's first block beside the load, and beside held wants") {
    for (const char* hold : {"--no-dont-have", "--hold-missing"}) {
      const json report = Bench({"new-peer", "--target", target, "--cids", cids, "--peers", "2",
                                 "--wants", "16", "--probes", "3", "--probe-gap-ms", "10",
                                 "--seconds", "0.5", "--warmup", "0.2", hold});
      INFO(report.dump());
      CHECK(report["new_peer"]["failed"] == 0);
      CHECK(report["new_peer"]["first_block_ms"]["p99"].get<double>() > 0);
    }
  }
  SUBCASE("idle peers with a wantlist each: the node's RSS per peer") {
    const json report =
        Bench({"idle", "--target", target, "--peers", "20", "--wants", "4", "--pid", pid});
    INFO(report.dump());
    CHECK(report["added"] == 20);
    CHECK(report["closed_by_server"] == 0);
    CHECK(report["rss_after_kib"].get<long>() > 0);
  }
}
