// Damaged plugin files, as an interrupted install leaves them, against the real binary: the CLI
// and a running node refuse them by name and keep going.
#include <doctest/doctest.h>

#include <signal.h>

#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "node_config.h"
#include "node_process.h"
#include "temp_dir.h"

using namespace boxcar::testing;
using nlohmann::json;

namespace {

// The first `bytes` bytes of `from`: what `head -c` or an interrupted copy leaves.
std::string Prefix(const std::filesystem::path& from, size_t bytes) {
  std::ifstream in(from, std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(content.size() > bytes);
  return content.substr(0, bytes);
}

// The test plugin "probe" as the prioritizer, from a plugin directory the test writes into.
json NodeConfig(const TempDir& dir) {
  json config = TestNodeConfig(dir / "data");
  config["plugins"] = {{"path", {BOXCAR_PLUGIN_DIR, (dir / "plugins").string()}}};
  config["strategies"]["prioritizer"]["plugin"] = "probe";
  config["reload"] = {{"debounce_ms", 50}};
  return config;
}

uint64_t Generation(const std::string& admin) {
  HttpResult r = HttpRequest(admin, "GET", "/healthz");
  REQUIRE(r.status == 200);
  return json::parse(r.body)["generation"].get<uint64_t>();
}

}  // namespace

TEST_CASE("the CLI refuses a truncated plugin by name instead of dying with SIGBUS") {
  TempDir dir;
  dir.Copy(TestPlugin("probe-v1"), "plugins/probe.so");
  const auto truncated =
      dir.Write("plugins/prioritizer-trunc.so", Prefix(BundledPlugin("prioritizer-fifo"), 20000));
  const json config = NodeConfig(dir);
  const auto config_file = dir.Write("node.json", config.dump());

  CommandResult list =
      RunCommand({BoxcarBinary().string(), "plugins", "--config", config_file.string()});
  CHECK_MESSAGE(list.exit_code == 0, list.out);
  CHECK_MESSAGE(list.out.find("plugin file " + truncated.string() + " is truncated: segment ") !=
                    std::string::npos,
                list.out);
  CHECK(list.out.find("; reinstall it") != std::string::npos);
  CHECK(list.out.find("Bad file descriptor") == std::string::npos);

  CommandResult unused =
      RunCommand({BoxcarBinary().string(), "check-config", config_file.string()});
  CHECK_MESSAGE(unused.exit_code == 0, unused.out);

  json uses_it = config;
  uses_it["strategies"]["prioritizer"]["plugin"] = truncated.string();
  CommandResult used =
      RunCommand({BoxcarBinary().string(), "check-config", dir.Write("uses.json", uses_it.dump())});
  CHECK_MESSAGE(used.exit_code == 1, used.out);
  CHECK(used.out.find("/strategies/prioritizer/plugin") != std::string::npos);
  CHECK(used.out.find(truncated.string() + " is truncated") != std::string::npos);
}

TEST_CASE("a bad ELF file is refused without a misleading errno") {
  TempDir dir;
  const auto junk = dir.Write("plugins/junk.so",
                              "\x7f"
                              "ELF but nothing else");
  const auto header_only =
      dir.Write("plugins/header-only.so", Prefix(BundledPlugin("prioritizer-fifo"), 64));
  const auto config_file = dir.Write("node.json", NodeConfig(dir).dump());
  CommandResult list =
      RunCommand({BoxcarBinary().string(), "plugins", "--config", config_file.string()});
  CHECK_MESSAGE(list.exit_code == 0, list.out);
  CHECK(list.out.find("plugin file " + junk.string() + " is truncated: the ELF header") !=
        std::string::npos);
  CHECK(list.out.find(header_only.string() + " is truncated: the program header table") !=
        std::string::npos);
  CHECK_MESSAGE(list.out.find("Bad file descriptor") == std::string::npos, list.out);
}

TEST_CASE("a running node keeps serving when a scanned or the active plugin file is truncated") {
  TempDir dir;
  dir.Copy(TestPlugin("probe-v1"), "plugins/probe.so");
  const auto config_file = dir.Write("node.json", NodeConfig(dir).dump());
  NodeProcess node(config_file);
  REQUIRE_MESSAGE(node.WaitReady(), node.Output());
  const std::string admin = node.admin();

  SUBCASE("a truncated file in the plugin path: the catalog scan of a reload refuses it") {
    const auto truncated =
        dir.Write("plugins/prioritizer-trunc.so", Prefix(BundledPlugin("prioritizer-fifo"), 20000));
    HttpResult reload = HttpRequest(admin, "POST", "/admin/reload");
    CHECK_MESSAGE(reload.status == 200, reload.body);
    CHECK(Generation(admin) == 2);
  }
  SUBCASE("the active plugin's file overwritten by a partial copy") {
    const auto active = dir.Write("plugins/probe.so", Prefix(TestPlugin("probe-v1"), 20000));
    CHECK_MESSAGE(Eventually([&] {
                    return node.Output().find("plugin file " + active.string() + " is truncated") !=
                           std::string::npos;
                  }),
                  node.Output());
    CHECK(Generation(admin) == 1);
    HttpResult reload = HttpRequest(admin, "POST", "/admin/reload");
    CHECK(reload.status == 422);
    CHECK(json::parse(reload.body)["error"].get<std::string>().find(
              active.string() + " is truncated") != std::string::npos);
  }
  CHECK(HttpRequest(node.gateway(), "GET", "/ipfs/bafkqaaa?format=raw").status == 200);
  node.Signal(SIGTERM);
  CHECK(node.WaitExit() == 0);
}
