// The p2p and rpc sections: optional, defaults, multiaddr and listen checks, the rule that an
// RPC listener beyond loopback needs an authorization, the always-present p2p.conn_manager slot,
// and which of their keys a reload can apply.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "config_fixture.h"
#include "runtime/config.h"
#include "runtime/config_diff.h"

using boxcar::PluginKind;
using boxcar::runtime::Config;
using boxcar::runtime::ConfigChange;
using boxcar::runtime::DiffConfigs;
using boxcar::runtime::LoadResult;
using boxcar::runtime::SchemaError;
using boxcar::testing::ConfigDir;
using boxcar::testing::Errors;
using boxcar::testing::Loaded;
using boxcar::testing::MinimalConfig;
using nlohmann::json;

namespace {

// The message of the error at `pointer`, or "" when there is none.
std::string ErrorAt(const LoadResult& r, const std::string& pointer) {
  for (const SchemaError& e : r.errors) {
    if (e.pointer == pointer) return e.message;
  }
  return "";
}

json WithP2p(json p2p) {
  json doc = MinimalConfig();
  doc["p2p"] = std::move(p2p);
  return doc;
}

json WithRpc(json rpc) {
  json doc = MinimalConfig();
  doc["rpc"] = std::move(rpc);
  return doc;
}

const ConfigChange* Find(const std::vector<ConfigChange>& changes, const std::string& key) {
  for (const ConfigChange& c : changes) {
    if (c.key == key) return &c;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("without p2p and rpc sections neither is enabled, and p2p.conn_manager is Kubo's") {
  ConfigDir loader;
  const Config c = Loaded(loader.Load(MinimalConfig()));
  CHECK_FALSE(c.p2p.enabled);
  CHECK_FALSE(c.rpc.enabled);
  CHECK_FALSE(c.document.contains("p2p"));
  CHECK_FALSE(c.document.contains("rpc"));
  REQUIRE(c.slots.size() == 6);
  const auto& slot = c.slots[4];
  CHECK(slot.slot == "p2p.conn_manager");
  CHECK(slot.pointer == "/p2p/conn_manager");
  CHECK(slot.kind == PluginKind::kConnManager);
  CHECK(slot.plugin == "watermark");
  CHECK(slot.params == json({{"low_water", 32},
                             {"high_water", 96},
                             {"grace_period_ms", 20000},
                             {"silence_period_ms", 10000}}));
}

TEST_CASE("an empty p2p section enables the host with every default") {
  ConfigDir loader;
  const Config c = Loaded(loader.Load(WithP2p(json::object())));
  CHECK(c.p2p.enabled);
  CHECK(c.p2p.listen.empty());
  CHECK(c.p2p.peers.empty());
  CHECK(c.p2p.identity_file == loader.root() / "etc" / "data" / "identity.key");
  CHECK(c.p2p.identity_file.is_absolute());
  CHECK(c.p2p.io_threads == 1);
  CHECK(c.p2p.max_conns_per_peer == 8);
  CHECK(c.p2p.max_inbound_streams_per_peer == 256);
  CHECK(c.p2p.max_pending_handshakes == 64);
  CHECK(c.p2p.max_pending_handshakes_per_ip == 8);
  CHECK(c.p2p.max_conn_buffer_bytes == 8u << 20);
  CHECK(c.p2p.handshake_timeout_ms == 10000);
  CHECK(c.slots[4].plugin == "watermark");
  CHECK(c.slots[4].params["high_water"] == 96);
  CHECK(c.document["p2p"]["conn_manager"]["plugin"] == "watermark");
}

TEST_CASE("p2p values are read, identity_file resolves against the config file") {
  ConfigDir loader;
  const Config c = Loaded(loader.Load(WithP2p(
      {{"listen", {"/ip4/127.0.0.1/tcp/0", "/ip6/::1/tcp/4001"}},
       {"peers",
        {"/dns4/node.example/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
         "/ip4/10.0.0.1/tcp/4001/ipfs/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"}},
       {"identity_file", "../keys/node.key"},
       {"io_threads", 2},
       {"max_conns_per_peer", 4},
       {"max_inbound_streams_per_peer", 100},
       {"max_pending_handshakes", 16},
       {"max_pending_handshakes_per_ip", 3},
       {"max_conn_buffer_bytes", 1 << 20},
       {"handshake_timeout_ms", 5000},
       {"conn_manager", {{"plugin", "adaptive"}}}})));
  CHECK(c.p2p.listen == std::vector<std::string>{"/ip4/127.0.0.1/tcp/0", "/ip6/::1/tcp/4001"});
  CHECK(c.p2p.peers.size() == 2);
  CHECK(c.p2p.identity_file == loader.root() / "keys" / "node.key");
  CHECK(c.p2p.io_threads == 2);
  CHECK(c.p2p.max_conns_per_peer == 4);
  CHECK(c.p2p.max_inbound_streams_per_peer == 100);
  CHECK(c.p2p.max_pending_handshakes == 16);
  CHECK(c.p2p.max_pending_handshakes_per_ip == 3);
  CHECK(c.p2p.max_conn_buffer_bytes == 1u << 20);
  CHECK(c.p2p.handshake_timeout_ms == 5000);
  CHECK(c.slots[4].plugin == "adaptive");
  CHECK(c.slots[4].params == json::object());
}

TEST_CASE("bad multiaddrs in p2p.listen and p2p.peers are errors that say what is wrong") {
  ConfigDir loader;
  const std::string id = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
  const LoadResult r = loader.Load(
      WithP2p({{"listen",
                {"ip4/0.0.0.0/tcp/4001", "/ip4/1.2.3/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic",
                 "/ip4/0.0.0.0/tcp/70000", "/dns4/example.com/tcp/4001",
                 "/ip4/0.0.0.0/tcp/4001/p2p/" + id, "/unix/tmp/x/tcp/1"}},
               {"peers",
                {"/ip4/10.0.0.1/tcp/4001", "/ip4/10.0.0.1/tcp/4001/p2p/" + id + "/x",
                 "/ip4/10.0.0.1/tcp/4001/p2p/" + id, "/p2p/" + id}}}));
  CHECK_FALSE(r.config.has_value());
  INFO(Errors(r));
  // Multiaddr::Parse's own messages, then the shapes the swarm can use.
  CHECK(ErrorAt(r, "/p2p/listen/0").find("must start with '/'") != std::string::npos);
  CHECK(ErrorAt(r, "/p2p/listen/1").find("'1.2.3'") != std::string::npos);
  CHECK(ErrorAt(r, "/p2p/listen/1").find("/ip4/1.2.3/tcp/4001") != std::string::npos);
  CHECK(ErrorAt(r, "/p2p/listen/2").find("unsupported protocol 'udp'") != std::string::npos);
  CHECK(ErrorAt(r, "/p2p/listen/3").find("'70000'") != std::string::npos);
  CHECK(ErrorAt(r, "/p2p/listen/4").rfind("listen addresses need an ip4 or ip6", 0) == 0);
  CHECK(ErrorAt(r, "/p2p/listen/5").rfind("listen addresses must not name a peer", 0) == 0);
  CHECK(ErrorAt(r, "/p2p/listen/6").find("unsupported protocol 'unix'") != std::string::npos);
  CHECK(ErrorAt(r, "/p2p/peers/0").rfind("a peer address must end in /p2p/ID", 0) == 0);
  CHECK(ErrorAt(r, "/p2p/peers/0").find("found \"/ip4/10.0.0.1/tcp/4001\"") != std::string::npos);
  CHECK_FALSE(ErrorAt(r, "/p2p/peers/1").empty());
  CHECK(ErrorAt(r, "/p2p/peers/2").empty());
  CHECK(ErrorAt(r, "/p2p/peers/3").rfind("expected /ip4|ip6|dns|dns4|dns6/HOST/tcp/PORT", 0) == 0);
}

TEST_CASE("p2p limits and its conn_manager slot are checked by the schema") {
  ConfigDir loader;
  const LoadResult r = loader.Load(WithP2p({{"max_conns_per_peer", 0},
                                            {"handshake_timeout_ms", 10},
                                            {"conn_manager", {{"params", json::object()}}},
                                            {"listen", "/ip4/0.0.0.0/tcp/4001"}}));
  INFO(Errors(r));
  CHECK_FALSE(ErrorAt(r, "/p2p/max_conns_per_peer").empty());
  CHECK_FALSE(ErrorAt(r, "/p2p/handshake_timeout_ms").empty());
  CHECK(ErrorAt(r, "/p2p/conn_manager").find("missing required key \"plugin\"") !=
        std::string::npos);
  CHECK_FALSE(ErrorAt(r, "/p2p/listen").empty());
}

TEST_CASE("an rpc section enables the RPC API on 127.0.0.1:5001 by default") {
  ConfigDir loader;
  const Config c = Loaded(loader.Load(WithRpc(json::object())));
  CHECK(c.rpc.enabled);
  CHECK(c.rpc.listen == "127.0.0.1:5001");
  CHECK(c.rpc.authorizations.empty());
}

TEST_CASE("rpc authorizations are read as Kubo's API.Authorizations") {
  ConfigDir loader;
  const Config c = Loaded(loader.Load(
      WithRpc({{"listen", "0.0.0.0:5001"},
               {"authorizations",
                {{"ops", {{"auth_secret", "bearer:s3cret"}, {"allowed_paths", {"/api/v0"}}}},
                 {"viewer",
                  {{"auth_secret", "basic:alice:pa:ss"},
                   {"allowed_paths", {"/api/v0/id", "/api/v0/swarm/peers"}}}}}}})));
  REQUIRE(c.rpc.authorizations.size() == 2);
  CHECK(c.rpc.listen == "0.0.0.0:5001");
  CHECK(c.rpc.authorizations[0].name == "ops");
  CHECK(c.rpc.authorizations[0].auth_secret == "bearer:s3cret");
  CHECK(c.rpc.authorizations[0].allowed_paths == std::vector<std::string>{"/api/v0"});
  CHECK(c.rpc.authorizations[1].name == "viewer");
  CHECK(c.rpc.authorizations[1].auth_secret == "basic:alice:pa:ss");
  CHECK(c.rpc.authorizations[1].allowed_paths.size() == 2);
}

TEST_CASE("rpc beyond loopback without an authorization is refused with the fix") {
  ConfigDir loader;
  const LoadResult r = loader.Load(WithRpc({{"listen", "0.0.0.0:5001"}}));
  CHECK_FALSE(r.config.has_value());
  const std::string message = ErrorAt(r, "/rpc/authorizations");
  CHECK(message.rfind("an authorization is required when rpc listens beyond loopback", 0) == 0);
  CHECK(message.find("listen on 127.0.0.1") != std::string::npos);
  CHECK(Loaded(loader.Load(WithRpc({{"listen", "[::1]:5001"}}))).rpc.enabled);
  CHECK(Loaded(loader.Load(WithRpc({{"listen", "localhost:0"}}))).rpc.enabled);
}

TEST_CASE("bad rpc listen addresses and secrets are errors") {
  ConfigDir loader;
  const LoadResult r = loader.Load(WithRpc(
      {{"listen", "5001"},
       {"authorizations",
        {{"a", {{"auth_secret", "token"}, {"allowed_paths", {"/api/v0"}}}},
         {"b", {{"auth_secret", "bearer:x"}, {"allowed_paths", {"/admin"}}}},
         {"c", {{"auth_secret", "basic:nopassword"}, {"allowed_paths", json::array()}}}}}}));
  INFO(Errors(r));
  CHECK(ErrorAt(r, "/rpc/listen").rfind("expected host:port", 0) == 0);
  CHECK_FALSE(ErrorAt(r, "/rpc/authorizations/a/auth_secret").empty());
  CHECK_FALSE(ErrorAt(r, "/rpc/authorizations/b/allowed_paths/0").empty());
  CHECK_FALSE(ErrorAt(r, "/rpc/authorizations/c/auth_secret").empty());
  CHECK_FALSE(ErrorAt(r, "/rpc/authorizations/c/allowed_paths").empty());
}

TEST_CASE("p2p and rpc restart keys: listeners, identity and threads; the rest is live") {
  ConfigDir loader;
  json before =
      WithRpc({{"authorizations",
                {{"ops", {{"auth_secret", "bearer:old"}, {"allowed_paths", {"/api/v0"}}}}}}});
  before["p2p"] = {{"listen", {"/ip4/127.0.0.1/tcp/4001"}},
                   {"conn_manager", {{"plugin", "watermark"}, {"params", {{"high_water", 96}}}}}};
  json after = before;
  after["p2p"]["listen"][0] = "/ip4/127.0.0.1/tcp/4002";
  after["p2p"]["identity_file"] = "other.key";
  after["p2p"]["io_threads"] = 2;
  after["p2p"]["peers"] = {
      "/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"};
  after["p2p"]["max_conns_per_peer"] = 4;
  after["p2p"]["conn_manager"]["params"]["high_water"] = 200;
  after["rpc"]["listen"] = "127.0.0.1:5002";
  after["rpc"]["authorizations"]["ops"]["auth_secret"] = "bearer:new";
  const Config old_config = Loaded(loader.Load(before));
  const Config new_config = Loaded(loader.Load(after));
  const std::vector<ConfigChange> changes = DiffConfigs(old_config.document, new_config.document);

  for (const char* key : {"p2p.listen.0", "p2p.identity_file", "p2p.io_threads", "rpc.listen"}) {
    CAPTURE(key);
    const ConfigChange* change = Find(changes, key);
    REQUIRE(change != nullptr);
    CHECK(change->needs_restart);
  }
  for (const char* key :
       {"p2p.peers.0", "p2p.max_conns_per_peer", "p2p.conn_manager.params.high_water",
        "rpc.authorizations.ops.auth_secret"}) {
    CAPTURE(key);
    const ConfigChange* change = Find(changes, key);
    REQUIRE(change != nullptr);
    CHECK_FALSE(change->needs_restart);
  }
  const ConfigChange* secret = Find(changes, "rpc.authorizations.ops.auth_secret");
  CHECK(secret->Describe() == "rpc.authorizations.ops.auth_secret: changed");
}

TEST_CASE("adding or removing the p2p or rpc section is one change that needs a restart") {
  ConfigDir loader;
  json with = MinimalConfig();
  with["p2p"] = json::object();
  with["rpc"] = {{"authorizations",
                  {{"ops", {{"auth_secret", "bearer:hidden"}, {"allowed_paths", {"/api/v0"}}}}}}};
  const Config without_sections = Loaded(loader.Load(MinimalConfig()));
  const Config with_sections = Loaded(loader.Load(with));

  const std::vector<ConfigChange> added =
      DiffConfigs(without_sections.document, with_sections.document);
  REQUIRE(added.size() == 2);
  CHECK(added[0].key == "p2p");
  CHECK(added[0].needs_restart);
  CHECK(added[0].Describe() == "p2p: section added");
  CHECK(added[1].key == "rpc");
  CHECK(added[1].Describe() == "rpc: section added");
  CHECK(added[1].Describe().find("hidden") == std::string::npos);

  const std::vector<ConfigChange> removed =
      DiffConfigs(with_sections.document, without_sections.document);
  REQUIRE(removed.size() == 2);
  CHECK(removed[0].needs_restart);
  CHECK(removed[1].Describe() == "rpc: section removed");
}
