// The Kubo RPC API of the real binary: the ready file's "rpc" address, Kubo's conventions,
// version and id, authorizations and their live reload, and the `boxcar id|swarm|ping` CLI.
#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "http_client.h"
#include "node_config.h"
#include "node_process.h"
#include "p2p/keys.h"
#include "p2p/peer_id.h"
#include "rpc/rpc_auth.h"
#include "support/p2p_node.h"
#include "temp_dir.h"

using namespace boxcar::testing;
using nlohmann::json;

namespace {

CommandResult Boxcar(std::vector<std::string> args) {
  args.insert(args.begin(), BoxcarBinary().string());
  return RunCommand(args, std::chrono::seconds(60));
}

json RpcNodeConfig(const TempDir& dir, json rpc = json::object()) {
  json config = TestNodeConfig(dir / "data");
  rpc["listen"] = "127.0.0.1:0";
  config["rpc"] = rpc;
  config["reload"] = {{"watch_config", false}};
  return config;
}

// A node with an rpc section, stopped with SIGTERM at the end.
class RpcNode {
 public:
  explicit RpcNode(const json::object_t& rpc = {}) : config_(RpcNodeConfig(dir_, rpc)) {
    file_ = dir_.Write("node.json", config_.dump(2));
    node_ = std::make_unique<NodeProcess>(file_);
    REQUIRE_MESSAGE(node_->WaitReady(), node_->Output());
    REQUIRE_MESSAGE(!node_->rpc().empty(), "the ready file has no rpc address");
  }
  ~RpcNode() {
    node_->Signal(SIGTERM);
    CHECK(node_->WaitExit() == 0);
  }

  Response Post(const std::string& command, const std::vector<std::string>& headers = {}) {
    return Fetch(node_->rpc(), "POST", "/api/v0/" + command, headers);
  }
  // Rewrites the config file and reloads it through the admin endpoint.
  void Reload(const json& config) {
    dir_.Write("node.json", config.dump(2));
    auto r = HttpRequest(node_->admin(), "POST", "/admin/reload");
    REQUIRE_MESSAGE(r.status == 200, r.body);
  }

  TempDir dir_;
  json config_;
  std::filesystem::path file_;
  std::unique_ptr<NodeProcess> node_;
};

std::string VersionOfBinary() {
  const std::string text = Boxcar({"--version"}).out;  // "boxcar 0.11.0 (plugin API 1.2)"
  return text.substr(7, text.find(' ', 7) - 7);
}

}  // namespace

TEST_CASE("the rpc section opens Kubo's RPC API with Kubo's conventions") {
  RpcNode node;
  Response version = node.Post("version");
  REQUIRE(version.status == 200);
  CHECK(version.Header("content-type") == "application/json");
  CHECK(version.Header("trailer") == "X-Stream-Error");
  // Kubo's field order, which clients that print the answer show.
  CHECK(version.body.rfind(R"({"Version":)", 0) == 0);
  const json v = json::parse(version.body);
  CHECK(v["Version"] == VersionOfBinary());
  for (const char* key : {"Commit", "Repo", "System", "Golang"}) CHECK(v.contains(key));

  CHECK(Fetch(node.node_->rpc(), "GET", "/api/v0/version").status == 405);
  CHECK(node.Post("version", {"Origin: https://evil.example"}).status == 403);
  Response unknown = node.Post("frobnicate");
  CHECK(unknown.status == 404);
  CHECK(unknown.body == "404 page not found\n");
  Response missing = node.Post("swarm/connect");
  CHECK(missing.status == 400);
  CHECK(missing.body == "argument \"address\" is required\n");
}

TEST_CASE("without a p2p section the p2p commands answer Kubo's error JSON") {
  RpcNode node;
  for (const char* command : {"id", "swarm/peers", "swarm/connect?arg=/ip4/127.0.0.1/tcp/1",
                              "ping?arg=12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"}) {
    CAPTURE(command);
    Response r = node.Post(command);
    CHECK(r.status == 500);
    CHECK(r.body.rfind(R"({"Message":)", 0) == 0);
    const json error = json::parse(r.body);
    CHECK(error["Type"] == "error");
    CHECK(error["Code"] == 0);
    CHECK(error["Message"].get<std::string>().find("p2p is not enabled") != std::string::npos);
  }
  CommandResult cli = Boxcar({"id", "--api", node.node_->rpc()});
  CHECK(cli.exit_code == 1);
  CHECK(cli.out.find("Error: p2p is not enabled") != std::string::npos);
}

TEST_CASE("authorizations: bearer and basic secrets, path prefixes, and a live reload") {
  json authorizations = {
      {"ops", {{"auth_secret", "bearer:t0ken"}, {"allowed_paths", {"/api/v0/version"}}}},
      {"admin", {{"auth_secret", "basic:admin:pw"}, {"allowed_paths", {"/api/v0"}}}}};
  RpcNode node(json::object_t{{"authorizations", authorizations}});
  const std::string denied = "Kubo RPC Access Denied";
  Response none = node.Post("version");
  CHECK(none.status == 403);
  CHECK(none.body.rfind(denied, 0) == 0);
  CHECK(node.Post("version", {"Authorization: Bearer wrong"}).status == 403);
  CHECK(node.Post("version", {"Authorization: Bearer t0ken"}).status == 200);
  CHECK(node.Post("id", {"Authorization: Bearer t0ken"}).status == 403);        // not its path
  CHECK(node.Post("id", {"Authorization: Basic YWRtaW46cHc="}).status == 500);  // no p2p
  CHECK(Boxcar({"id", "--api", node.node_->rpc()}).out.find(denied) != std::string::npos);
  CommandResult with_auth =
      Boxcar({"id", "--api", node.node_->rpc(), "--api-auth", "basic:admin:pw"});
  CHECK(with_auth.out.find("p2p is not enabled") != std::string::npos);

  json config = node.config_;
  config["rpc"]["authorizations"] = {
      {"ops", {{"auth_secret", "bearer:rotated"}, {"allowed_paths", {"/api/v0"}}}}};
  node.Reload(config);
  CHECK(node.Post("version", {"Authorization: Bearer t0ken"}).status == 403);
  CHECK(node.Post("version", {"Authorization: Bearer rotated"}).status == 200);
}

TEST_CASE("the RPC CLI: usage errors exit 2, an absent node exits 1 with the address") {
  for (const std::vector<std::string>& mistake :
       std::vector<std::vector<std::string>>{{"swarm"},
                                             {"swarm", "frob"},
                                             {"swarm", "connect"},
                                             {"ping"},
                                             {"ping", "a", "b"},
                                             {"ping", "p", "-n", "x"},
                                             {"id", "--bogus"}}) {
    CAPTURE(mistake);
    CHECK(Boxcar(mistake).exit_code == 2);
  }
  for (const char* command : {"id", "swarm", "ping"}) {
    CommandResult help = Boxcar({command, "--help"});
    CHECK(help.exit_code == 0);
    CHECK(help.out.rfind(std::string("Usage: boxcar ") + command, 0) == 0);
  }
  CommandResult absent = Boxcar({"swarm", "peers", "--api", "127.0.0.1:1"});
  CHECK(absent.exit_code == 1);
  CHECK(absent.out.find("cannot reach the RPC API at 127.0.0.1:1") != std::string::npos);
}

TEST_CASE("boxcar id --config works offline from the key file when no node answers") {
  TempDir dir;
  json config = RpcNodeConfig(dir);
  config["rpc"]["listen"] = "127.0.0.1:1";  // nothing listens there
  const std::string file = dir.Write("node.json", config.dump(2)).string();
  CommandResult no_key = Boxcar({"id", "--config", file});
  CHECK(no_key.exit_code == 1);
  CHECK(no_key.out.find("no identity key at") != std::string::npos);

  boxcar::p2p::Ed25519Key key;
  bool created = false;
  REQUIRE(boxcar::p2p::LoadOrCreateIdentity(dir / "data" / "identity.key", &key, &created).ok());
  CommandResult offline = Boxcar({"id", "--config", file});
  REQUIRE_MESSAGE(offline.exit_code == 0, offline.out);
  const json id = json::parse(offline.out);
  const std::string proto = key.PublicKeyProto();
  CHECK(id["ID"] == boxcar::p2p::PeerId::FromPublicKeyProto(proto).ToString());
  CHECK(id["ID"].get<std::string>().rfind("12D3KooW", 0) == 0);
  CHECK(id["PublicKey"] == boxcar::rpc::Base64Encode(proto));
  CHECK(id["Addresses"].is_null());
  // A PEER argument needs a running node.
  CHECK(Boxcar({"id", "--config", file, id["ID"].get<std::string>()}).exit_code == 1);
}

namespace {

// A node with both a p2p listener and the RPC API (P2pNodeConfig).
struct P2pNode {
  P2pNode() : file(dir.Write("node.json", P2pNodeConfig(dir).dump(2))), process(file) {
    REQUIRE_MESSAGE(process.WaitReady(), process.Output());
    const json self = Id();
    peer = self["ID"].get<std::string>();
    address = self["Addresses"][0].get<std::string>();
  }
  ~P2pNode() {
    process.Signal(SIGTERM);
    CHECK(process.WaitExit() == 0);
  }
  Response Post(const std::string& command) {
    return Fetch(process.rpc(), "POST", "/api/v0/" + command);
  }
  json PostJson(const std::string& command) {
    Response r = Post(command);
    INFO(command << " -> " << r.status << " " << r.body);
    REQUIRE(r.status == 200);
    return json::parse(r.body);
  }
  json Id() { return PostJson("id"); }
  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.end(), {"--api", process.rpc()});
    return Boxcar(args);
  }

  TempDir dir;
  std::filesystem::path file;
  NodeProcess process;
  std::string peer;     // 12D3KooW...
  std::string address;  // /ip4/127.0.0.1/tcp/PORT/p2p/12D3KooW...
};

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '/' ? std::string("%2F") : std::string(1, c);
  return out;
}

std::vector<json> JsonLines(const std::string& body) {
  std::vector<json> lines;
  for (size_t start = 0, nl; (nl = body.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(json::parse(body.substr(start, nl - start)));
  }
  return lines;
}

}  // namespace

TEST_CASE("id: Kubo's shape, every address with /p2p/ID, identify's protocols") {
  P2pNode node;
  const json id = node.Id();
  CHECK(node.peer.rfind("12D3KooW", 0) == 0);
  CHECK(id["PublicKey"].get<std::string>().rfind("CAESI", 0) == 0);  // base64 of 08 01 12 20
  REQUIRE(id["Addresses"].is_array());
  for (const json& a : id["Addresses"]) {
    CHECK(a.get<std::string>().size() > node.peer.size());
    CHECK(a.get<std::string>().substr(a.get<std::string>().size() - node.peer.size()) == node.peer);
  }
  CHECK(id["AgentVersion"] == "boxcar/" + VersionOfBinary());
  const auto protocols = id["Protocols"].get<std::vector<std::string>>();
  CHECK(std::find(protocols.begin(), protocols.end(), "/ipfs/ping/1.0.0") != protocols.end());
  CHECK(std::find(protocols.begin(), protocols.end(), "/ipfs/id/1.0.0") != protocols.end());
  CommandResult cli = node.Cli({"id"});
  REQUIRE(cli.exit_code == 0);
  CHECK(json::parse(cli.out)["ID"] == node.peer);
  // --api also takes the multiaddr form the ipfs CLI uses.
  const std::string rpc = node.process.rpc();
  CommandResult by_multiaddr =
      Boxcar({"id", "--api", "/ip4/127.0.0.1/tcp/" + rpc.substr(rpc.rfind(':') + 1)});
  REQUIRE(by_multiaddr.exit_code == 0);
  CHECK(json::parse(by_multiaddr.out)["ID"] == node.peer);
}

TEST_CASE("two nodes: connect, peers on both sides, id of the peer, ping, disconnect") {
  P2pNode a, b;
  const json connected = a.PostJson("swarm/connect?arg=" + Escape(b.address));
  CHECK(connected == json{{"Strings", {"connect " + b.peer + " success"}}});

  const json peers = a.PostJson("swarm/peers?direction=true&latency=true");
  REQUIRE(peers["Peers"].size() == 1);
  const json& seen = peers["Peers"][0];
  CHECK(seen["Peer"] == b.peer);
  CHECK(seen["Addr"].get<std::string>() + "/p2p/" + b.peer == b.address);
  CHECK(seen["Direction"] == 2);  // outbound
  CHECK(seen.contains("Latency"));
  CHECK(seen["Identify"]["ID"] == "");  // present, empty unless asked
  CHECK(Eventually([&] {
    const json theirs = b.PostJson("swarm/peers?direction=1");
    return theirs["Peers"].is_array() && theirs["Peers"][0]["Peer"] == a.peer &&
           theirs["Peers"][0]["Direction"] == 1;  // inbound
  }));
  const json verbose = a.PostJson("swarm/peers?verbose=true");
  CHECK(verbose["Peers"][0]["Identify"]["ID"] == b.peer);
  CHECK(verbose["Peers"][0]["Identify"]["AgentVersion"] == "boxcar/" + VersionOfBinary());

  const json peer_id = a.PostJson("id?arg=" + b.peer);
  CHECK(peer_id["ID"] == b.peer);
  CHECK(peer_id["PublicKey"] == b.Id()["PublicKey"]);

  Response ping = a.Post("ping?arg=" + b.peer + "&count=2");
  REQUIRE(ping.status == 200);
  CHECK(ping.Header("x-chunked-output") == "1");
  const std::vector<json> pongs = JsonLines(ping.body);
  REQUIRE(pongs.size() == 4);
  CHECK(pongs[0] == json{{"Success", true}, {"Time", 0}, {"Text", "PING " + b.peer + "."}});
  for (int i : {1, 2}) {
    CHECK(pongs[i]["Success"] == true);
    CHECK(pongs[i]["Time"].get<int64_t>() > 0);
    CHECK(pongs[i]["Text"] == "");
  }
  CHECK(pongs[3]["Text"].get<std::string>().rfind("Average latency: ", 0) == 0);
  CHECK(ping.trailers.empty());

  CommandResult cli_ping = a.Cli({"ping", b.peer, "-n", "1"});
  CHECK(cli_ping.exit_code == 0);
  CHECK(cli_ping.out.find("PING " + b.peer + ".\nPong received: time=") == 0);
  CHECK(cli_ping.out.find("Average latency: ") != std::string::npos);
  CommandResult cli_peers = a.Cli({"swarm", "peers"});
  CHECK(cli_peers.out == b.address + "\n");

  const json disconnected = a.PostJson("swarm/disconnect?arg=" + Escape(b.address));
  CHECK(disconnected == json{{"Strings", {"disconnect " + b.peer + " success"}}});
  CHECK(Eventually([&] { return a.PostJson("swarm/peers")["Peers"].is_null(); }));
  CHECK(a.PostJson("swarm/disconnect?arg=" + Escape(b.address)) ==
        json{{"Strings", {"disconnect " + b.peer + " failure: not connected"}}});

  CommandResult cli_connect = a.Cli({"swarm", "connect", b.address});
  CHECK(cli_connect.exit_code == 0);
  CHECK(cli_connect.out == "connect " + b.peer + " success\n");
  CHECK(a.PostJson("swarm/peers")["Peers"].size() == 1);
}

TEST_CASE("swarm and ping errors have Kubo's error shape") {
  P2pNode a, b;
  // B's transport address with A's own PeerID: the handshake finds someone else.
  const std::string transport = b.address.substr(0, b.address.find("/p2p/"));
  Response wrong = a.Post("swarm/connect?arg=" + Escape(transport + "/p2p/" + a.peer));
  CHECK(wrong.status == 500);
  const json error = json::parse(wrong.body);
  CHECK(error["Type"] == "error");
  CHECK(error["Message"].get<std::string>().rfind("connect " + a.peer + " failure: ", 0) == 0);
  CHECK(a.PostJson("swarm/peers")["Peers"].is_null());

  CHECK(json::parse(a.Post("swarm/connect?arg=" + Escape(transport)).body)["Message"]
            .get<std::string>()
            .rfind("found no ipfs peers at", 0) == 0);
  CHECK(a.Post("swarm/connect?arg=not-a-multiaddr").status == 500);
  CHECK(json::parse(a.Post("ping?arg=" + a.peer).body)["Message"] == "error: can't ping self");
  CHECK(json::parse(a.Post("ping?arg=" + b.peer + "&count=0").body)["Message"] ==
        "ping count must be greater than 0, was 0");
  CHECK(json::parse(a.Post("ping?arg=" + b.peer).body)["Message"].get<std::string>().rfind(
            "peer lookup failed", 0) == 0);
  CHECK(json::parse(a.Post("id?arg=bogus").body)["Message"] == "invalid peer id");
  // A multiaddr argument connects first, as Kubo's ping does.
  Response by_address = a.Post("ping?arg=" + Escape(b.address) + "&count=1");
  CHECK(by_address.status == 200);
  CHECK(JsonLines(by_address.body).size() == 3);
}

TEST_CASE("kubo-rpc-client (npm) reads id, version, swarm peers and ping") {
  const std::filesystem::path client =
      std::filesystem::path(BOXCAR_SOURCE_DIR) / "tests/interop/kubo-rpc";
  const bool installed =
      std::filesystem::exists(BOXCAR_NODEJS) && std::filesystem::exists(client / "node_modules");
  REQUIRE_MESSAGE(installed, "run tools/install-deps.sh: it installs Node.js and kubo-rpc-client");
  P2pNode a, b;
  CommandResult run =
      RunCommand({BOXCAR_NODEJS, (client / "rpc-client.mjs").string(), "--api",
                  "http://" + a.process.rpc(), "--connect", b.address, "--ping", b.peer},
                 std::chrono::seconds(60));
  INFO(run.out);
  REQUIRE(run.exit_code == 0);
  const json report = json::parse(run.out.substr(run.out.find('{')));
  CHECK(report["id"]["id"] == a.peer);
  CHECK(report["id"]["agentVersion"] == "boxcar/" + VersionOfBinary());
  CHECK(report["version"]["version"] == VersionOfBinary());
  CHECK(report["connect"] == json::array({"connect " + b.peer + " success"}));
  REQUIRE(report["peers"].size() == 1);
  CHECK(report["peers"][0]["peer"] == b.peer);
  REQUIRE(report["ping"].size() == 4);
  CHECK(report["ping"][1]["success"] == true);
}
