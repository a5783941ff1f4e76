// The command line of the real binary: help, usage errors, and check-config agreeing with run.
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <regex>

#include <nlohmann/json.hpp>

#include "node_config.h"
#include "node_process.h"
#include "temp_dir.h"

using namespace boxcar::testing;
using nlohmann::json;

namespace {

CommandResult Boxcar(std::vector<std::string> args) {
  args.insert(args.begin(), BoxcarBinary().string());
  return RunCommand(args);
}

json NodeConfig(const TempDir& dir) { return TestNodeConfig(dir / "data"); }

// `text` as it appears inside a JSON string: the node logs JSON lines when not on a terminal.
std::string AsLogged(const std::string& text) {
  const std::string quoted = json(text).dump();
  return quoted.substr(1, quoted.size() - 2);
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("--help after any command prints that command's usage and exits 0") {
  for (const char* command :
       {"run", "check-config", "plugins", "import", "export", "verify", "gc", "stat"}) {
    CAPTURE(command);
    for (const char* help : {"--help", "-h"}) {
      CommandResult r = Boxcar({command, help});
      CHECK_MESSAGE(r.exit_code == 0, r.out);
      CHECK(r.out.rfind(std::string("Usage: boxcar ") + command, 0) == 0);
    }
  }
  CommandResult after_options = Boxcar({"run", "--config", "node.json", "--help"});
  CHECK(after_options.exit_code == 0);
  CHECK(after_options.out.find("--ready-file PATH") != std::string::npos);
  CHECK(Boxcar({"frobnicate", "--help"}).exit_code == 2);
}

TEST_CASE("every usage error exits 2") {
  TempDir dir;
  const std::string config = dir.Write("node.json", NodeConfig(dir).dump()).string();
  const std::vector<std::vector<std::string>> mistakes = {
      {},
      {"frobnicate"},
      {"run"},
      {"run", "--config"},
      {"check-config"},
      {"check-config", config, "--set", "no-equals-sign"},
      {"plugins", "--bogus"},
      {"plugins", "--params"},
      {"import", "--config", config},
      {"export", "--config", config},
      {"export", "--config", config, "bafkqaaa", "bafkqaaa"},
      {"export", "--config", config, "not-a-cid"},
      {"export", "--config", config, "--scope", "everything", "bafkqaaa"},
      {"verify", "--config", config, "extra"},
      {"gc"},
  };
  for (const auto& args : mistakes) {
    CommandResult r = Boxcar(args);
    CHECK_MESSAGE(r.exit_code == 2, (json(args).dump() + ": " + r.out));
    CHECK(r.out.find("boxcar: ") == 0);
  }
}

TEST_CASE("an error names a CID once, not once per layer") {
  TempDir dir;
  const std::string config = dir.Write("node.json", NodeConfig(dir).dump()).string();
  CommandResult r = Boxcar({"export", "--config", config, "xyz"});
  CHECK_MESSAGE(Count(r.out, "invalid CID") == 1, r.out);
}

TEST_CASE("a failed start says why once and exits 1") {
  TempDir dir;
  json config = NodeConfig(dir);
  config["strategies"]["prioritizer"]["plugin"] = "no-such-plugin";
  CommandResult r = Boxcar({"run", "--config", dir.Write("node.json", config.dump()).string()});
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(Count(r.out, AsLogged("no prioritizer plugin named \"no-such-plugin\"")) == 1,
                r.out);
  CHECK(r.out.find("cannot start") != std::string::npos);
  CHECK(r.out.find("stays active") == std::string::npos);
}

TEST_CASE("check-config refuses exactly what run refuses") {
  TempDir dir;
  struct Case {
    std::string name;
    std::function<void(json&)> edit;
    const char* expected;  // in both outputs
  };
  const std::vector<Case> cases = {
      {"a memory tier alone",
       [](json& c) {
         c["store"]["tiers"] = {{{"plugin", "lru"}}};
       },
       "/store/tiers/0/plugin: the last tier must be persistent"},
      {"a memory tier below a persistent one",
       [](json& c) {
         c["store"]["tiers"] = {{{"plugin", "leveldb"}}, {{"plugin", "lru"}}};
       },
       "/store/tiers/1/plugin: the last tier must be persistent"},
      {"two persistent tiers in one directory",
       [](json& c) {
         c["store"]["tiers"] = {{{"plugin", "leveldb"}}, {{"plugin", "leveldb"}}};
       },
       "/store/tiers/1/dir: persistent tiers store.tiers[0] and store.tiers[1] would share the "
       "directory"},
      {"watermarks in the wrong order",
       [](json& c) {
         c["strategies"]["conn_manager"]["params"] = {{"high_water", 100}, {"low_water", 500}};
       },
       "/strategies/conn_manager/params: plugin \"watermark\""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    json config = NodeConfig(dir);
    c.edit(config);
    const std::string file = dir.Write("node.json", config.dump()).string();
    CommandResult check = Boxcar({"check-config", file});
    CHECK_MESSAGE(check.exit_code == 1, check.out);
    CHECK_MESSAGE(check.out.find(file + ": " + c.expected) != std::string::npos, check.out);
    CommandResult run = Boxcar({"run", "--config", file});
    CHECK_MESSAGE(run.exit_code == 1, run.out);
    CHECK_MESSAGE(run.out.find(AsLogged(c.expected)) != std::string::npos, run.out);
  }
  CommandResult good = Boxcar({"check-config", dir.Write("node.json", NodeConfig(dir).dump())});
  CHECK_MESSAGE(good.exit_code == 0, good.out);
}

TEST_CASE("the config in docs/plugin-authoring.md section 4 passes check-config") {
  std::ifstream doc(std::filesystem::path(BOXCAR_SOURCE_DIR) / "docs" / "plugin-authoring.md");
  const std::string text((std::istreambuf_iterator<char>(doc)), std::istreambuf_iterator<char>());
  const size_t section = text.find("### 4. Point a config at it");
  REQUIRE(section != std::string::npos);
  const size_t start = text.find("```json\n", section) + 8;
  const size_t end = text.find("```", start);
  json config = json::parse(text.substr(start, end - start));
  // The example's own plugin and install prefix exist only on the reader's machine.
  config["plugins"]["path"] = {BOXCAR_PLUGIN_DIR};
  config["strategies"]["prioritizer"]["plugin"] = "fifo";
  TempDir dir;
  CommandResult r = Boxcar({"check-config", dir.Write("node.json", config.dump()).string()});
  CHECK_MESSAGE(r.exit_code == 0, r.out);
}

TEST_CASE("check-config refuses a weak admin token beyond loopback") {
  TempDir dir;
  json config = NodeConfig(dir);
  config["admin"] = {{"listen", "0.0.0.0:0"}, {"token", "abc"}};
  const std::string file = dir.Write("node.json", config.dump()).string();
  CommandResult r = Boxcar({"check-config", file});
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.out.find(file + ": /admin/token: the token is too weak") != std::string::npos,
                r.out);
}

TEST_CASE("plugins --params shows each param of a bundled plugin") {
  CommandResult fair = Boxcar({"plugins", "--params", "fair"});
  REQUIRE_MESSAGE(fair.exit_code == 0, fair.out);
  CHECK(fair.out.rfind("prioritizer-fair ", 0) == 0);
  CHECK(fair.out.find("quantum_bytes (integer, tunable)\n"
                      "  default: 262144\n"
                      "  bounds:  1024..16777216\n"
                      "  Credit in bytes") != std::string::npos);
  CHECK(fair.out.find("max_queue_per_peer (integer)\n") != std::string::npos);

  CommandResult qualified = Boxcar({"plugins", "--params", "conn_manager-adaptive"});
  CHECK_MESSAGE(qualified.exit_code == 0, qualified.out);
  CommandResult ambiguous = Boxcar({"plugins", "--params", "adaptive"});
  CHECK(ambiguous.exit_code == 2);
  CHECK(ambiguous.out.find("batcher-adaptive, conn_manager-adaptive") != std::string::npos);
  CommandResult unknown = Boxcar({"plugins", "--params", "nope"});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.out.find("no loadable plugin named \"nope\"") != std::string::npos);
}
