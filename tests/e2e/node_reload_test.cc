// What a reload of the real binary does with every kind of config key: applied live (the admin
// token, the gateway's limits, plugin params) or refused with "needs a restart: KEY".
#include <doctest/doctest.h>

#include <signal.h>

#include <functional>

#include <nlohmann/json.hpp>

#include "http_client.h"
#include "node_config.h"
#include "node_process.h"
#include "temp_dir.h"

using namespace boxcar::testing;
using nlohmann::json;

namespace {

json NodeConfig(const TempDir& dir) {
  json config = TestNodeConfig(dir / "data");
  config["reload"] = {{"watch_config", false}};  // each test reloads when it chooses
  return config;
}

// A running node whose config file the test rewrites before each POST /admin/reload.
class ReloadableNode {
 public:
  // `adjust` edits the config the node starts with.
  explicit ReloadableNode(const std::function<void(json&)>& adjust = {})
      : config_(NodeConfig(dir_)) {
    if (adjust) adjust(config_);
    file_ = dir_.Write("node.json", config_.dump(2));
    node_ = std::make_unique<NodeProcess>(file_);
    REQUIRE_MESSAGE(node_->WaitReady(), node_->Output());
  }
  ~ReloadableNode() {
    node_->Signal(SIGTERM);
    CHECK(node_->WaitExit() == 0);
  }

  json& config() { return config_; }
  NodeProcess& node() { return *node_; }

  // Writes the config and reloads; the answer's status and body.
  std::pair<int, json> Reload(const std::string& authorization = "") {
    dir_.Write("node.json", config_.dump(2));
    HttpResult r = HttpRequest(node_->admin(), "POST", "/admin/reload", "", authorization);
    return {r.status, json::parse(r.body, nullptr, false)};
  }

  // GET /admin/plugins: the slots of the running generation.
  json Slots() {
    HttpResult r = HttpRequest(node_->admin(), "GET", "/admin/plugins");
    return json::parse(r.body, nullptr, false)["slots"];
  }

  int PluginsStatus(const std::string& authorization = "") {
    return HttpRequest(node_->admin(), "GET", "/admin/plugins", "", authorization).status;
  }

 private:
  TempDir dir_;
  json config_;
  std::filesystem::path file_;
  std::unique_ptr<NodeProcess> node_;
};

bool Lists(const json& changes, const std::string& line) {
  for (const json& c : changes) {
    if (c.get<std::string>() == line) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a reload adds, changes and revokes the admin token without a restart") {
  ReloadableNode n;
  CHECK(n.PluginsStatus() == 200);

  n.config()["admin"]["token"] = "first-token-0123456789";
  auto [added, added_body] = n.Reload();
  REQUIRE_MESSAGE(added == 200, added_body.dump());
  CHECK(added_body["ok"] == true);
  CHECK_MESSAGE(Lists(added_body["changes"], "admin.token: changed"), added_body.dump());
  CHECK(n.PluginsStatus() == 401);
  CHECK(n.PluginsStatus("Bearer first-token-0123456789") == 200);

  n.config()["admin"]["token"] = "second-token-0123456789";
  auto [changed, changed_body] = n.Reload("Bearer first-token-0123456789");
  REQUIRE_MESSAGE(changed == 200, changed_body.dump());
  CHECK(n.PluginsStatus("Bearer first-token-0123456789") == 401);
  CHECK(n.PluginsStatus("Bearer second-token-0123456789") == 200);

  n.config()["admin"]["token"] = "";
  auto [emptied, emptied_body] = n.Reload("Bearer second-token-0123456789");
  REQUIRE_MESSAGE(emptied == 200, emptied_body.dump());
  CHECK(n.PluginsStatus() == 200);

  // The log names the key and never the secret.
  const std::string log = n.node().Output();
  CHECK(log.find("admin.token: changed") != std::string::npos);
  CHECK(log.find("first-token-0123456789") == std::string::npos);
}

TEST_CASE("a reload applies the gateway's limits to the running server") {
  ReloadableNode n;
  const std::string padded = "X-Padding: " + std::string(3000, 'p');
  CHECK(Fetch(n.node().gateway(), "GET", "/ipfs/bafkqaaa?format=raw", {padded}).status == 200);

  n.config()["gateway"]["max_header_bytes"] = 1024;
  n.config()["gateway"]["idle_timeout_ms"] = 30000;
  auto [status, body] = n.Reload();
  REQUIRE_MESSAGE(status == 200, body.dump());
  CHECK_MESSAGE(Lists(body["changes"], "gateway.max_header_bytes: 8192 -> 1024"), body.dump());
  CHECK(Lists(body["changes"], "gateway.idle_timeout_ms: 60000 -> 30000"));
  CHECK(Fetch(n.node().gateway(), "GET", "/ipfs/bafkqaaa?format=raw", {padded}).status == 431);
  CHECK(Fetch(n.node().gateway(), "GET", "/ipfs/bafkqaaa?format=raw").status == 200);
}

TEST_CASE("a reload refuses keys that need a restart, naming each, and changes nothing") {
  ReloadableNode n;
  n.config()["gateway"]["io_threads"] = 2;
  n.config()["gateway"]["listen"] = "127.0.0.1:1";
  n.config()["admin"]["listen"] = "127.0.0.1:2";
  n.config()["gateway"]["max_header_bytes"] = 1024;  // live, but the reload is all or nothing
  auto [status, body] = n.Reload();
  CHECK(status == 422);
  CHECK(body["ok"] == false);
  CHECK(body["generation"] == 1);
  CHECK_MESSAGE(body["error"].get<std::string>().rfind(
                    "needs a restart: admin.listen, gateway.io_threads, gateway.listen", 0) == 0,
                body.dump());
  const std::string padded = "X-Padding: " + std::string(3000, 'p');
  CHECK(Fetch(n.node().gateway(), "GET", "/ipfs/bafkqaaa?format=raw", {padded}).status == 200);
  CHECK(n.node().Output().find("needs a restart: admin.listen") != std::string::npos);
}

TEST_CASE("a reload names each changed param in its answer and its log") {
  ReloadableNode n;
  n.config()["strategies"]["batcher"]["params"] = {{"max_items", 64}};
  n.config()["log"]["level"] = "debug";
  auto [status, body] = n.Reload();
  REQUIRE_MESSAGE(status == 200, body.dump());
  CHECK_MESSAGE(Lists(body["changes"], "strategies.batcher.params.max_items: (unset) -> 64"),
                body.dump());
  CHECK(Lists(body["changes"], "log.level: \"info\" -> \"debug\""));
  CHECK(n.node().Output().find("strategies.batcher.params.max_items: (unset) -> 64") !=
        std::string::npos);

  auto [again, again_body] = n.Reload();
  CHECK(again == 200);
  CHECK(again_body["changes"].empty());
}

TEST_CASE(
    "without a p2p section its conn_manager is Kubo's watermark; adding the section needs "
    "a restart") {
  ReloadableNode n;
  const json slots = n.Slots();
  REQUIRE(slots.size() >= 6);
  CHECK(slots[4]["slot"] == "p2p.conn_manager");
  CHECK(slots[4]["plugin"] == "watermark");
  CHECK(slots[4]["params"]["high_water"] == 96);
  CHECK(slots[5]["slot"] == "store.tiers[0]");

  n.config()["p2p"] = json::object();
  auto [status, body] = n.Reload();
  CHECK(status == 422);
  CHECK_MESSAGE(body["error"].get<std::string>().rfind("needs a restart: p2p (", 0) == 0,
                body.dump());
}

TEST_CASE("a reload swaps the p2p conn_manager live, and refuses p2p.listen and a new rpc") {
  ReloadableNode n([](json& config) { config["p2p"] = json::object(); });
  CHECK(n.Slots()[4]["plugin"] == "watermark");

  n.config()["p2p"]["conn_manager"] = {{"plugin", "adaptive"},
                                       {"params", {{"high_water", 50}, {"low_water", 20}}}};
  auto [swapped, swapped_body] = n.Reload();
  REQUIRE_MESSAGE(swapped == 200, swapped_body.dump());
  CHECK_MESSAGE(
      Lists(swapped_body["changes"], "p2p.conn_manager.plugin: \"watermark\" -> \"adaptive\""),
      swapped_body.dump());
  const json slots = n.Slots();
  CHECK(slots[4]["plugin"] == "adaptive");
  CHECK(slots[4]["params"]["high_water"] == 50);
  CHECK(slots[5]["slot"] == "store.tiers[0]");

  n.config()["p2p"]["listen"] = {"/ip4/127.0.0.1/tcp/0"};
  n.config()["rpc"] = json::object();
  auto [refused, refused_body] = n.Reload();
  CHECK(refused == 422);
  CHECK_MESSAGE(refused_body["error"].get<std::string>().rfind(
                    "needs a restart: p2p.listen.0, rpc (", 0) == 0,
                refused_body.dump());
  CHECK(n.Slots()[4]["plugin"] == "adaptive");
}
