// The real binary on 127.0.0.1 ephemeral ports: startup, admin endpoints, every reload trigger,
// failure isolation, tokens, and draining on SIGTERM.
#include <doctest/doctest.h>

#include <signal.h>

#include <nlohmann/json.hpp>

#include "node_process.h"
#include "temp_dir.h"

using namespace boxcar::testing;
using nlohmann::json;

namespace {

json BaseConfig(const TempDir& dir) {
  return {{"admin", {{"listen", "127.0.0.1:0"}}},
          {"gateway", {{"listen", "127.0.0.1:0"}}},
          {"plugins", {{"path", {BOXCAR_PLUGIN_DIR, (dir / "plugins").string()}}}},
          {"strategies",
           {{"prioritizer", {{"plugin", "probe"}}},
            {"batcher", {{"plugin", "fixed"}}},
            {"conn_manager", {{"plugin", "watermark"}}},
            {"tuner", {{"plugin", "static"}}}}},
          {"store",
           {{"path", (dir / "data").string()},
            {"tiers", {{{"plugin", "lru"}}, {{"plugin", "leveldb"}}}}}},
          {"control", {{"interval_ms", 100}}},
          {"reload", {{"debounce_ms", 50}}}};
}

json Get(const std::string& admin, const std::string& path) {
  HttpResult r = HttpRequest(admin, "GET", path);
  REQUIRE(r.status == 200);
  return json::parse(r.body);
}

uint64_t Generation(const std::string& admin) {
  return Get(admin, "/healthz")["generation"].get<uint64_t>();
}

}  // namespace

TEST_CASE("the node serves admin endpoints, reloads on every trigger and drains on SIGTERM") {
  TempDir dir;
  dir.Copy(TestPlugin("probe-v1"), "plugins/probe.so");
  json config = BaseConfig(dir);
  auto config_file = dir.Write("node.json", config.dump(2));
  NodeProcess node(config_file);
  REQUIRE_MESSAGE(node.WaitReady(), node.Output());
  const std::string admin = node.admin();
  CHECK(admin.rfind("127.0.0.1:", 0) == 0);

  CHECK(Generation(admin) == 1);
  HttpResult metrics = HttpRequest(admin, "GET", "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.content_type.find("text/plain") == 0);
  CHECK(metrics.body.find("boxcar_reloads_total{result=\"success\",trigger=\"startup\"} 1") !=
        std::string::npos);
  CHECK(metrics.body.find("boxcar_active_plugin{kind=\"prioritizer\",plugin=\"probe\","
                          "slot=\"prioritizer\",version=\"1.0.0\"} 1") != std::string::npos);
  CHECK(metrics.body.find("process_resident_memory_bytes") != std::string::npos);

  json plugins = Get(admin, "/admin/plugins");
  CHECK(plugins["generation"] == 1);
  REQUIRE(plugins["slots"].size() == 7);
  const json& first = plugins["slots"][0];
  for (const char* key : {"slot", "kind", "plugin", "version", "file", "loaded_at"}) {
    CHECK_MESSAGE(first.contains(key), key);
  }
  CHECK(first["plugin"] == "probe");
  CHECK(plugins["slots"][4]["slot"] == "p2p.conn_manager");
  CHECK(plugins["slots"][5]["slot"] == "store.tiers[0]");

  json store = Get(admin, "/admin/store");
  REQUIRE(store["tiers"].size() == 2);
  CHECK(store["tiers"][1]["plugin"] == "leveldb");
  CHECK(store["tiers"][1]["persistent"] == true);
  CHECK(store["pins"]["recursive"] == 0);
  CHECK(store["memory"]["budget_bytes"].get<uint64_t>() > 0);
  CHECK(metrics.body.find("boxcar_store_memory_budget_bytes") != std::string::npos);

  SUBCASE("every trigger reloads; a bad config changes nothing") {
    HttpResult reload = HttpRequest(admin, "POST", "/admin/reload");
    CHECK(reload.status == 200);
    CHECK(json::parse(reload.body)["generation"] == 2);

    node.Signal(SIGHUP);
    CHECK(Eventually([&] { return Generation(admin) == 3; }));

    config["strategies"]["batcher"]["params"] = {{"max_items", 64}};
    dir.Write("node.json", config.dump(2));
    CHECK(Eventually([&] { return Generation(admin) == 4; }));
    CHECK(Get(admin, "/admin/plugins")["slots"][1]["params"]["max_items"] == 64);

    dir.Copy(TestPlugin("probe-v2"), "plugins/probe.so");
    CHECK(
        Eventually([&] { return Get(admin, "/admin/plugins")["slots"][0]["version"] == "2.0.0"; }));
    const uint64_t good = Generation(admin);

    json broken = config;
    broken["strategies"]["prioritizer"]["params"] = {{"max_queue", "lots"}};
    dir.Write("node.json", broken.dump(2));
    HttpResult refused = HttpRequest(admin, "POST", "/admin/reload");
    CHECK(refused.status == 422);
    json body = json::parse(refused.body);
    CHECK(body["ok"] == false);
    CHECK(body["generation"] == good);
    CHECK(body["error"].get<std::string>().find("/strategies/prioritizer/params/max_queue") !=
          std::string::npos);
    CHECK(Generation(admin) == good);
    std::string text = HttpRequest(admin, "GET", "/metrics").body;
    CHECK(text.find("boxcar_reloads_total{result=\"failure\",trigger=\"admin\"} 1") !=
          std::string::npos);
    CHECK(text.find("boxcar_reloads_total{result=\"success\",trigger=\"plugin-file\"}") !=
          std::string::npos);
    CHECK(text.find("boxcar_reloads_total{result=\"success\",trigger=\"config-file\"}") !=
          std::string::npos);
    CHECK(text.find("boxcar_reloads_total{result=\"success\",trigger=\"signal\"} 1") !=
          std::string::npos);
  }

  node.Signal(SIGTERM);
  CHECK(node.WaitExit() == 0);
}

TEST_CASE("a configured token guards /admin routes") {
  TempDir dir;
  dir.Copy(TestPlugin("probe-v1"), "plugins/probe.so");
  json config = BaseConfig(dir);
  config["admin"]["token"] = "s3cret";
  NodeProcess node(dir.Write("node.json", config.dump()));
  REQUIRE_MESSAGE(node.WaitReady(), node.Output());
  CHECK(HttpRequest(node.admin(), "GET", "/healthz").status == 200);
  CHECK(HttpRequest(node.admin(), "GET", "/admin/plugins").status == 401);
  CHECK(HttpRequest(node.admin(), "POST", "/admin/reload", "", "Bearer wrong").status == 401);
  CHECK(HttpRequest(node.admin(), "POST", "/admin/reload", "", "Bearer s3cret").status == 200);
  node.Signal(SIGINT);
  CHECK(node.WaitExit() == 0);
}

TEST_CASE("check-config reports errors as FILE: /pointer: message") {
  TempDir dir;
  dir.Copy(TestPlugin("probe-v1"), "plugins/probe.so");
  json config = BaseConfig(dir);
  auto good = dir.Write("good.json", config.dump());
  CommandResult ok = RunCommand({BoxcarBinary().string(), "check-config", good.string()});
  CHECK_MESSAGE(ok.exit_code == 0, ok.out);

  json typo = config;
  typo["strategies"]["prioritiser"] = typo["strategies"]["prioritizer"];
  typo["strategies"].erase("prioritizer");
  auto bad = dir.Write("bad.json", typo.dump());
  CommandResult r = RunCommand({BoxcarBinary().string(), "check-config", bad.string()});
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.out.find(bad.string() + ": /strategies/prioritiser: ") != std::string::npos,
                r.out);
  CHECK(r.out.find("did you mean \"prioritizer\"") != std::string::npos);

  CommandResult params = RunCommand({BoxcarBinary().string(), "check-config", good.string(),
                                     "--set", "strategies.prioritizer.params.max_queue=0"});
  CHECK(params.exit_code == 1);
  CHECK_MESSAGE(params.out.find("/strategies/prioritizer/params/max_queue") != std::string::npos,
                params.out);

  CommandResult open = RunCommand({BoxcarBinary().string(), "check-config", good.string(), "--set",
                                   "admin.listen=0.0.0.0:9180"});
  CHECK(open.exit_code == 1);
  CHECK_MESSAGE(open.out.find("/admin/token") != std::string::npos, open.out);
}

TEST_CASE("plugins lists every file with its compatibility, junk included") {
  TempDir dir;
  dir.Copy(TestPlugin("probe-v1"), "plugins/probe.so");
  dir.Copy(TestPlugin("probe-api-major"), "plugins/api-major.so");
  dir.Write("plugins/junk.so", "definitely not ELF");
  auto config = dir.Write("c.json", BaseConfig(dir).dump());
  CommandResult r =
      RunCommand({BoxcarBinary().string(), "plugins", "--config", config.string(), "--json"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.out);
  json list = json::parse(r.out);
  std::map<std::string, json> by_file;
  for (const auto& p : list) by_file[std::filesystem::path(p["file"]).filename()] = p;
  CHECK(by_file["probe.so"]["compatible"] == true);
  CHECK(by_file["prioritizer-fifo.so"]["compatible"] == true);
  CHECK(by_file["api-major.so"]["compatible"] == false);
  CHECK(by_file["api-major.so"]["status"].get<std::string>().find("API major") !=
        std::string::npos);
  CHECK(by_file["junk.so"]["compatible"] == false);
  CHECK(by_file["junk.so"]["status"].get<std::string>().find("not an ELF") != std::string::npos);

  CommandResult text =
      RunCommand({BoxcarBinary().string(), "plugins", "--config", config.string()});
  CHECK(text.exit_code == 0);
  CHECK(text.out.find("not loadable") != std::string::npos);
}

TEST_CASE("help, version and usage errors") {
  CommandResult help = RunCommand({BoxcarBinary().string(), "--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("boxcar run --config FILE") != std::string::npos);
  CommandResult version = RunCommand({BoxcarBinary().string(), "--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out.find("boxcar 0.1.0") == 0);
  CHECK(RunCommand({BoxcarBinary().string(), "frobnicate"}).exit_code == 2);
  CHECK(RunCommand({BoxcarBinary().string(), "run"}).exit_code == 2);
}
