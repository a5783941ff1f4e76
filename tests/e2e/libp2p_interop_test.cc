// js-libp2p (tests/interop/libp2p, pinned npm packages on the project's Node.js) and the real
// binary dial each other over 127.0.0.1: identify, ping, 200 streams at once each way, and the
// PeerID check of swarm/connect.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/node_process.h"
#include "support/p2p_node.h"
#include "support/raw_peer.h"
#include "support/temp_dir.h"

namespace boxcar::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const fs::path kJs = fs::path(BOXCAR_SOURCE_DIR) / "tests/interop/libp2p";

void RequireJsInstalled() {
  const bool installed = fs::exists(BOXCAR_NODEJS) && fs::exists(kJs / "node_modules");
  REQUIRE_MESSAGE(installed,
                  "run tools/install-deps.sh: it installs Node.js and the js-libp2p packages");
}

bool Contains(const json& list, const std::string& value) {
  return list.is_array() && std::find(list.begin(), list.end(), value) != list.end();
}

// The js peer of peer.mjs, listening on loopback; its address and PeerID once it reported them.
struct JsPeer {
  ChildProcess process{{BOXCAR_NODEJS, (kJs / "peer.mjs").string()}};
  std::string address;
  std::string peer_id;

  bool Start() {
    const auto listening =
        process.WaitFor([](const json& e) { return e.value("event", "") == "listening"; },
                        std::chrono::seconds(30));
    if (!listening || (*listening)["addrs"].empty()) return false;
    address = (*listening)["addrs"][0].get<std::string>();
    peer_id = (*listening)["peer"].get<std::string>();
    return true;
  }
  // Connection closes the peer reported with an error (a yamux protocol error shows here).
  std::vector<std::string> CloseErrors() const {
    std::vector<std::string> errors;
    for (const std::string& line : process.lines()) {
      const json e = json::parse(line, nullptr, false);
      if (e.is_object() && e.value("event", "") == "connection:close" && e["error"].is_string()) {
        errors.push_back(e["error"].get<std::string>());
      }
    }
    return errors;
  }
};

}  // namespace

TEST_CASE("libp2p interop: js dials boxcar, identifies it, pings, opens 200 streams at once") {
  RequireJsInstalled();
  TempDir dir;
  NodeProcess node(dir.Write("boxcar.json", P2pNodeConfig(dir).dump(2)));
  REQUIRE(node.WaitReady());
  const P2pEndpoints boxcar = ReadP2pEndpoints(node);
  REQUIRE_MESSAGE(!boxcar.addresses.empty(), "the ready file has no p2p address");

  const CommandResult run =
      RunCommand({BOXCAR_NODEJS, (kJs / "dial.mjs").string(), "--addr", boxcar.addresses.front(),
                  "--streams", "200", "--pings", "3"},
                 std::chrono::seconds(90));
  INFO(run.out);
  json summary;
  std::istringstream lines(run.out);
  for (std::string line; std::getline(lines, line);) {
    const json e = json::parse(line, nullptr, false);
    if (e.is_object() && e.value("summary", false)) summary = e;
  }
  REQUIRE(summary.is_object());
  CHECK(summary["error"].is_null());
  CHECK(summary["peer"] == boxcar.peer_id);
  for (const char* protocol : {"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0", "/ipfs/id/push/1.0.0"}) {
    CHECK_MESSAGE(Contains(summary["protocols"], protocol), protocol);
  }
  CHECK(summary["agentVersion"].get<std::string>().rfind("boxcar/", 0) == 0);
  CHECK(summary["pings"].size() == 3);
  CHECK(summary["streams"]["echoed"] == 200);
  CHECK(summary["streams"]["errors"].empty());
  CHECK(summary["connection"] == "open");
  CHECK(summary["closeErrors"].empty());
  CHECK(run.exit_code == 0);
}

TEST_CASE("libp2p interop: boxcar dials js through swarm/connect and checks the PeerID") {
  RequireJsInstalled();
  JsPeer js;
  REQUIRE_MESSAGE(js.Start(), js.process.Stderr());
  TempDir dir;
  NodeProcess node(dir.Write("boxcar.json", P2pNodeConfig(dir).dump(2)));
  REQUIRE(node.WaitReady());
  const P2pEndpoints boxcar = ReadP2pEndpoints(node);
  REQUIRE(!boxcar.rpc.empty());

  SUBCASE("a wrong PeerID in the multiaddr fails the dial") {
    RawPeer stranger;  // any valid PeerID other than the js peer's
    const std::string address = js.address.substr(0, js.address.rfind("/p2p/")) + "/p2p/" +
                                stranger.local_peer().ToString();
    const RpcResult connect = RpcCall(boxcar.rpc, "swarm/connect?arg=" + address);
    INFO(connect.text);
    CHECK(connect.status == 500);
    CHECK(connect.body.value("Type", "") == "error");
    const RpcResult peers = RpcCall(boxcar.rpc, "swarm/peers");
    CHECK(peers.text.find(js.peer_id) == std::string::npos);
  }

  SUBCASE("the right PeerID connects; js identifies boxcar; swarm/peers and ping see js") {
    const RpcResult connect = RpcCall(boxcar.rpc, "swarm/connect?arg=" + js.address);
    INFO(connect.text);
    REQUIRE(connect.status == 200);
    CHECK(Contains(connect.body["Strings"], "connect " + js.peer_id + " success"));

    const auto identified = js.process.WaitFor(
        [&](const json& e) {
          return e.value("event", "") == "peer:identify" && e.value("peer", "") == boxcar.peer_id;
        },
        std::chrono::seconds(15));
    REQUIRE_MESSAGE(identified.has_value(), js.process.Stderr());
    CHECK(Contains((*identified)["protocols"], "/ipfs/id/1.0.0"));
    CHECK(Contains((*identified)["protocols"], "/ipfs/ping/1.0.0"));

    const RpcResult peers = RpcCall(boxcar.rpc, "swarm/peers");
    INFO(peers.text);
    bool listed = false;
    for (const json& peer : peers.body.value("Peers", json::array())) {
      listed = listed || peer.value("Peer", "") == js.peer_id;
    }
    CHECK(listed);

    const RpcResult ping = RpcCall(boxcar.rpc, "ping?arg=" + js.peer_id + "&count=3");
    INFO(ping.text);
    CHECK(ping.status == 200);
    CHECK(ping.text.find("\"Success\":true") != std::string::npos);
    CHECK(ping.text.find("\"Success\":false") == std::string::npos);

    // A protocol js registers now reaches boxcar by identify push (js pushes to peers that
    // advertise /ipfs/id/push/1.0.0), and boxcar merges it into what it knows of js.
    const std::string pushed = "/boxcar-interop/pushed/1.0.0";
    REQUIRE(js.process.WriteLine("handle " + pushed));
    CHECK(Eventually(
        [&] {
          const RpcResult peers_now = RpcCall(boxcar.rpc, "swarm/peers?identify=true");
          for (const json& peer : peers_now.body.value("Peers", json::array())) {
            if (peer.value("Peer", "") == js.peer_id &&
                Contains(peer["Identify"]["Protocols"], pushed)) {
              return true;
            }
          }
          return false;
        },
        std::chrono::seconds(10)));

    // js's connection monitor pings every connection after 10 s and aborts it on a failure.
    std::this_thread::sleep_for(std::chrono::seconds(12));
    REQUIRE(js.process.WriteLine("connections"));
    const auto connections =
        js.process.WaitFor([](const json& e) { return e.value("event", "") == "connections"; },
                           std::chrono::seconds(10));
    REQUIRE(connections.has_value());
    bool open = false;
    for (const json& c : (*connections)["list"]) {
      open = open || (c.value("peer", "") == boxcar.peer_id && c["status"] == "open");
    }
    CHECK_MESSAGE(open, connections->dump());
    CHECK(js.CloseErrors().empty());
  }
}

}  // namespace boxcar::testing
