// What the Bitswap interop tests (tests/e2e/helia_bitswap_test.cc, bitswap_peers_test.cc) share:
// the js peers of tests/interop/helia-bitswap, files of random bytes, importing CARs into a
// running node, long RPC calls, and the blocks `boxcar export` writes. Header-only; fails the
// calling test on errors.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/car_fixture.h"
#include "support/js_script.h"
#include "support/node_process.h"
#include "support/p2p_node.h"
#include "support/temp_dir.h"

namespace boxcar::testing {

inline const std::filesystem::path kHeliaBitswapJs =
    std::filesystem::path(BOXCAR_SOURCE_DIR) / "tests/interop/helia-bitswap";

inline void RequireHeliaBitswapInstalled() {
  const bool installed = std::filesystem::exists(BOXCAR_NODEJS) &&
                         std::filesystem::exists(kHeliaBitswapJs / "node_modules");
  REQUIRE_MESSAGE(installed,
                  "run tools/install-deps.sh: it installs Node.js and tests/interop/helia-bitswap");
}

// A boxcar node with p2p and rpc on 127.0.0.1 ephemeral ports, its store in its own directory.
struct BitswapNode {
  TempDir dir;
  std::filesystem::path config = dir.Write("boxcar.json", P2pNodeConfig(dir).dump(2));
  NodeProcess node{config};
  P2pEndpoints endpoints;

  // Waits until it is ready and reads its addresses.
  void Start() {
    REQUIRE(node.WaitReady());
    endpoints = ReadP2pEndpoints(node);
    REQUIRE_MESSAGE(!endpoints.addresses.empty(), "the ready file has no p2p address");
  }
};

// helia-peer.mjs, started: a Helia node listening on 127.0.0.1.
inline std::unique_ptr<JsScript> StartHeliaPeer(std::vector<std::string> args = {}) {
  auto peer = std::make_unique<JsScript>(kHeliaBitswapJs / "helia-peer.mjs", std::move(args));
  REQUIRE_MESSAGE(peer->Start(), "helia-peer.mjs did not start: ", peer->Stderr());
  return peer;
}

// bitswap-raw.mjs, started: the raw Bitswap peer.
inline std::unique_ptr<JsScript> StartRawBitswapPeer() {
  auto peer = std::make_unique<JsScript>(kHeliaBitswapJs / "bitswap-raw.mjs");
  REQUIRE_MESSAGE(peer->Start(), "bitswap-raw.mjs did not start: ", peer->Stderr());
  return peer;
}

// A command that must succeed; its reply.
inline nlohmann::json MustCall(JsScript& script, const nlohmann::json& command,
                               std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const nlohmann::json reply = script.Call(command, timeout);
  INFO(command.dump());
  REQUIRE_MESSAGE(reply.value("ok", false), reply.dump());
  return reply;
}

// `size` bytes from a generator seeded with `seed`, written to `name` in `dir`.
inline std::filesystem::path WriteRandomFile(const TempDir& dir, const std::string& name,
                                             size_t size, uint32_t seed) {
  std::mt19937 generator(seed);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(generator() & 0xff);
  return dir.Write(name, bytes);
}

// A UnixFS DAG that a helper Helia node built, as a CAR ready to import.
struct BuiltDag {
  std::string root;
  std::string sha256;               // of the file's bytes
  std::vector<std::string> blocks;  // every block CID of the DAG
  std::filesystem::path car;
};

// Adds `file` to `maker` (256 KiB raw leaves) and exports the DAG as `car_name` in `dir`.
inline BuiltDag BuildDag(JsScript& maker, const TempDir& dir, const std::filesystem::path& file,
                         const std::string& car_name) {
  const nlohmann::json added = MustCall(maker, {{"cmd", "add"}, {"path", file.string()}});
  BuiltDag dag;
  dag.root = added["cid"].get<std::string>();
  dag.sha256 = added["sha256"].get<std::string>();
  dag.car = dir / car_name;
  const nlohmann::json exported =
      MustCall(maker, {{"cmd", "export-car"}, {"cid", dag.root}, {"out", dag.car.string()}});
  dag.blocks = exported["blocks"].get<std::vector<std::string>>();
  return dag;
}

// POST /admin/import of a CAR file into a running node.
inline void ImportCar(const NodeProcess& node, const std::filesystem::path& car) {
  const HttpResult imported =
      HttpRequest(node.admin(), "POST", "/admin/import", ReadWholeFile(car));
  REQUIRE_MESSAGE(imported.status == 200, car.string(), ": ", imported.body);
}

// A Kubo RPC call that may take longer than HttpRequest's 10 s (pin/add fetching a DAG), through
// curl; its output (the body, or curl's error).
inline CommandResult SlowRpcCall(const std::string& rpc, const std::string& command_and_query,
                                 std::chrono::seconds timeout) {
  return RunCommand(
      {"/usr/bin/env", "curl", "-sS", "-X", "POST", "--max-time", std::to_string(timeout.count()),
       "http://" + rpc + "/api/v0/" + command_and_query},
      timeout + std::chrono::seconds(5));
}

// The answer of a pin/add that had to pin exactly `root`.
inline void RequirePinnedOnly(const CommandResult& pin, const std::string& root) {
  REQUIRE(pin.exit_code == 0);
  const nlohmann::json pinned = nlohmann::json::parse(pin.out, nullptr, false);
  REQUIRE(pinned.is_object());
  CHECK(pinned["Pins"] == nlohmann::json::array({root}));
}

// Stops `node` and returns the block CIDs `boxcar export` writes for `root` from its store.
inline std::set<std::string> StopAndExportBlocks(NodeProcess& node,
                                                 const std::filesystem::path& config,
                                                 const std::string& root, const TempDir& dir) {
  node.Signal(SIGTERM);
  REQUIRE(node.WaitExit() == 0);
  const std::filesystem::path out = dir / ("export-" + root + ".car");
  const std::string cmd = "'" + BoxcarBinary().string() + "' export --config '" + config.string() +
                          "' " + root + " > '" + out.string() + "'";
  const CommandResult exported = RunCommand({"/bin/bash", "-c", cmd});
  REQUIRE_MESSAGE(exported.exit_code == 0, exported.out);
  std::ifstream in(out, std::ios::binary);
  const CarContents car = ReadCar(in);
  const std::vector<std::string> cids = car.CidStrings();
  return {cids.begin(), cids.end()};
}

// The peak resident set (VmHWM) of a process in KiB; 0 when /proc does not say.
inline uint64_t PeakRssKiB(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

}  // namespace boxcar::testing
