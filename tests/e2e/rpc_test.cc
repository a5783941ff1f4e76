// The Kubo RPC API of the real binary: the ready file's "rpc" address, Kubo's conventions,
// version and id, authorizations and their live reload, and the `boxcar id|swarm|ping` CLI.
#include <doctest/doctest.h>

#include <signal.h>

#include <nlohmann/json.hpp>

#include "http_client.h"
#include "node_config.h"
#include "node_process.h"
#include "p2p/keys.h"
#include "p2p/peer_id.h"
#include "rpc/rpc_auth.h"
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
