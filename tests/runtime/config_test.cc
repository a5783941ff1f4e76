// The config file: strict validation with fixable messages, --set overrides, path resolution,
// and the shipped configs/*.json.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "config_fixture.h"
#include "runtime/config.h"

using boxcar::PluginKind;
using boxcar::runtime::Config;
using boxcar::runtime::FormatError;
using boxcar::runtime::IsLoopbackListen;
using boxcar::runtime::LoadConfig;
using boxcar::runtime::LoadResult;
using boxcar::runtime::Override;
using boxcar::runtime::ParseOverride;
using boxcar::runtime::SchemaError;
using boxcar::testing::ConfigDir;
using boxcar::testing::Errors;
using boxcar::testing::Loaded;
using boxcar::testing::MinimalConfig;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

bool HasError(const LoadResult& r, const std::string& pointer, const std::string& message) {
  for (const SchemaError& e : r.errors) {
    if (e.pointer == pointer && e.message == message) return true;
  }
  return false;
}

bool HasErrorStarting(const LoadResult& r, const std::string& pointer, const std::string& start) {
  for (const SchemaError& e : r.errors) {
    if (e.pointer == pointer && e.message.rfind(start, 0) == 0) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a minimal config loads with every default filled in") {
  ConfigDir dir;
  const LoadResult r = dir.Load(MinimalConfig());
  const Config& c = Loaded(r);
  CHECK(c.file == dir.root() / "etc" / "node.json");
  CHECK(c.admin_listen == "127.0.0.1:9180");
  CHECK(c.admin_token == "");
  CHECK(c.plugin_path == std::vector<fs::path>{dir.root() / "lib" / "boxcar" / "plugins"});
  CHECK(c.store_path == dir.root() / "etc" / "data");
  CHECK(c.log_level == "info");
  CHECK(c.log_format == "auto");
  CHECK(c.control_interval_ms == 1000);
  CHECK(c.reload_debounce_ms == 200);
  CHECK(c.watch_config);
  CHECK(c.watch_plugins);
  CHECK(c.document["log"] == json({{"level", "info"}, {"format", "auto"}}));
  CHECK(c.document["strategies"]["tuner"]["params"] == json::object());
  CHECK(c.document["plugins"]["path"][0] == (dir.root() / "lib/boxcar/plugins").string());
}

TEST_CASE("slots come in a fixed order with names, pointers and kinds") {
  ConfigDir dir;
  json doc = MinimalConfig();
  doc["store"]["tiers"].push_back({{"plugin", "tinylfu"}, {"params", {{"capacity_bytes", 4096}}}});
  doc["strategies"]["batcher"]["sha256"] = std::string(64, 'e');
  const LoadResult r = dir.Load(doc);
  const Config& c = Loaded(r);
  REQUIRE(c.slots.size() == 7);
  const std::vector<std::string> names = {"prioritizer",   "batcher",          "conn_manager",
                                          "tuner",         "p2p.conn_manager", "store.tiers[0]",
                                          "store.tiers[1]"};
  const std::vector<std::string> pointers = {
      "/strategies/prioritizer", "/strategies/batcher", "/strategies/conn_manager",
      "/strategies/tuner",       "/p2p/conn_manager",   "/store/tiers/0",
      "/store/tiers/1"};
  const std::vector<PluginKind> kinds = {PluginKind::kPrioritizer, PluginKind::kBatcher,
                                         PluginKind::kConnManager, PluginKind::kTuner,
                                         PluginKind::kConnManager, PluginKind::kCacheTier,
                                         PluginKind::kCacheTier};
  for (size_t i = 0; i < c.slots.size(); ++i) {
    CAPTURE(i);
    CHECK(c.slots[i].slot == names[i]);
    CHECK(c.slots[i].pointer == pointers[i]);
    CHECK(c.slots[i].kind == kinds[i]);
  }
  CHECK(c.slots[0].plugin == "fair");
  CHECK(c.slots[6].plugin == "tinylfu");
  CHECK(c.slots[6].params == json({{"capacity_bytes", 4096}}));
  CHECK(c.slots[0].params == json::object());
  CHECK(c.slots[1].sha256 == std::string(64, 'e'));
  CHECK_FALSE(c.slots[0].sha256.has_value());
}

TEST_CASE("relative paths resolve against the config file's directory") {
  ConfigDir dir;
  json doc = MinimalConfig();
  doc["plugins"]["path"] = {"plugins", "../shared/./extra/", "/opt/boxcar/../plugins"};
  doc["store"]["path"] = "state/../blocks";
  doc["strategies"]["tuner"]["plugin"] = "../build/tuner-custom.so";
  doc["strategies"]["batcher"]["plugin"] = "/usr/lib/boxcar/batcher-x.so";
  const LoadResult r = dir.Load(doc);
  const Config& c = Loaded(r);
  CHECK(c.plugin_path == std::vector<fs::path>{dir.root() / "etc" / "plugins",
                                               dir.root() / "shared" / "extra", "/opt/plugins"});
  CHECK(c.store_path == dir.root() / "etc" / "blocks");
  CHECK(c.slots[3].plugin == (dir.root() / "build" / "tuner-custom.so").string());
  CHECK(c.slots[1].plugin == "/usr/lib/boxcar/batcher-x.so");
  CHECK(c.slots[0].plugin == "fair");  // a name, not a path
}

TEST_CASE("unknown keys at any depth are errors with a suggestion") {
  ConfigDir dir;
  json doc = MinimalConfig();
  doc["strategies"]["prioritiser"] = doc["strategies"]["prioritizer"];
  doc["lgo"] = json::object();
  doc["store"]["tiers"][0]["parms"] = json::object();
  doc["reload"] = {{"watch_plugin", false}};
  const LoadResult r = dir.Load(doc);
  INFO(Errors(r));
  CHECK_FALSE(r.config.has_value());
  CHECK(HasError(r, "/lgo", "unknown key \"lgo\"; did you mean \"log\"?"));
  CHECK(HasError(r, "/strategies/prioritiser",
                 "unknown key \"prioritiser\"; did you mean \"prioritizer\"?"));
  CHECK(HasError(r, "/store/tiers/0/parms", "unknown key \"parms\"; did you mean \"params\"?"));
  CHECK(HasError(r, "/reload/watch_plugin",
                 "unknown key \"watch_plugin\"; did you mean \"watch_plugins\"?"));
  CHECK(r.errors.size() == 4);
}

TEST_CASE("type, range and enum errors point at the value") {
  ConfigDir dir;
  json doc = MinimalConfig();
  doc["control"] = {{"interval_ms", "10"}};
  doc["reload"] = {{"debounce_ms", 250000}};
  doc["log"] = {{"format", "yaml"}, {"level", "verbose"}};
  const LoadResult r = dir.Load(doc);
  INFO(Errors(r));
  CHECK(HasError(r, "/control/interval_ms",
                 "expected integer, found string \"10\" (write it without quotes)"));
  CHECK(HasError(r, "/reload/debounce_ms", "must be <= 60000, found 250000"));
  CHECK(HasError(r, "/log/format", "must be one of \"text\", \"json\", \"auto\"; found \"yaml\""));
  CHECK(HasError(r, "/log/level",
                 "must be one of \"debug\", \"info\", \"warn\", \"error\"; found \"verbose\""));
  CHECK(r.errors.size() == 4);
}

TEST_CASE("missing strategies, plugins and tiers are reported where they are missing") {
  ConfigDir dir;
  json doc = MinimalConfig();
  doc["strategies"].erase("tuner");
  doc["strategies"]["batcher"].erase("plugin");
  doc["store"]["tiers"] = json::array();
  const LoadResult r = dir.Load(doc);
  INFO(Errors(r));
  CHECK(HasErrorStarting(r, "/strategies", "missing required key \"tuner\""));
  CHECK(HasErrorStarting(r, "/strategies/batcher", "missing required key \"plugin\""));
  CHECK(HasError(r, "/store/tiers", "must have at least 1 item, found 0"));

  const LoadResult empty = dir.LoadText("{}");
  INFO(Errors(empty));
  CHECK(HasErrorStarting(empty, "", "missing required key \"strategies\""));
  CHECK(HasErrorStarting(empty, "", "missing required key \"store\""));
}

TEST_CASE("sha256 pins must be 64 lower-case hex characters") {
  ConfigDir dir;
  for (const std::string& bad :
       {std::string(64, 'E'), std::string(63, 'e'), std::string(65, 'e'), std::string(64, 'g')}) {
    json doc = MinimalConfig();
    doc["strategies"]["prioritizer"]["sha256"] = bad;
    const LoadResult r = dir.Load(doc);
    INFO(Errors(r));
    CHECK(HasErrorStarting(r, "/strategies/prioritizer/sha256",
                           "must match the pattern \"^[0-9a-f]{64}$\" (the SHA-256 of the plugin "
                           "file as 64 lower-case hex characters"));
  }
}

TEST_CASE("plugin values are names or paths") {
  ConfigDir dir;
  json doc = MinimalConfig();
  doc["strategies"]["batcher"]["plugin"] = "Adaptive";
  const LoadResult r = dir.Load(doc);
  INFO(Errors(r));
  CHECK(HasErrorStarting(r, "/strategies/batcher/plugin", "must match the pattern"));
}

TEST_CASE("admin beyond loopback needs a token") {
  ConfigDir dir;
  json doc = MinimalConfig();
  doc["admin"] = {{"listen", "0.0.0.0:9180"}};
  const LoadResult r = dir.Load(doc);
  INFO(Errors(r));
  CHECK_FALSE(r.config.has_value());
  CHECK(HasErrorStarting(r, "/admin/token",
                         "a token is required when admin listens beyond loopback (listen is "
                         "\"0.0.0.0:9180\")"));

  for (const char* weak : {" ", "abc", "s3cret", "0123456789 abcdef", "\t0123456789abcdef"}) {
    doc["admin"]["token"] = weak;
    const LoadResult refused = dir.Load(doc);
    CHECK_MESSAGE(HasErrorStarting(refused, "/admin/token",
                                   "the token is too weak for an admin endpoint beyond loopback"),
                  weak);
  }
  doc["admin"]["token"] = "0123456789abcdef";
  const Config& c = Loaded(dir.Load(doc));
  CHECK(c.admin_token == "0123456789abcdef");
  // On loopback only local processes can reach the endpoint; any token is the operator's call.
  CHECK(Loaded(dir.Load(MinimalConfig(), {"admin.token=abc"})).admin_token == "abc");
  CHECK(Loaded(dir.Load(MinimalConfig(), {"admin.listen=[::1]:0"})).admin_listen == "[::1]:0");
}

TEST_CASE("admin.listen must be host:port") {
  ConfigDir dir;
  for (const char* bad : {"9180", "localhost", "127.0.0.1:", "127.0.0.1:65536", "::1:9180",
                          "[::1]9180", "example.com:80", "127.1:80"}) {
    CAPTURE(bad);
    json doc = MinimalConfig();
    doc["admin"] = {{"listen", bad}};
    const LoadResult r = dir.Load(doc);
    INFO(Errors(r));
    CHECK(HasErrorStarting(r, "/admin/listen", "expected host:port with an IPv4 address"));
  }
}

TEST_CASE("IsLoopbackListen") {
  CHECK(IsLoopbackListen("127.0.0.1:9180"));
  CHECK(IsLoopbackListen("127.8.9.10:0"));
  CHECK(IsLoopbackListen("localhost:9180"));
  CHECK(IsLoopbackListen("[::1]:9180"));
  CHECK(IsLoopbackListen("[::ffff:127.0.0.1]:9180"));
  CHECK_FALSE(IsLoopbackListen("0.0.0.0:9180"));
  CHECK_FALSE(IsLoopbackListen("10.1.2.3:9180"));
  CHECK_FALSE(IsLoopbackListen("128.0.0.1:9180"));
  CHECK_FALSE(IsLoopbackListen("[::]:9180"));
  CHECK_FALSE(IsLoopbackListen("[::ffff:10.0.0.1]:9180"));
  CHECK_FALSE(IsLoopbackListen("127.0.0.1"));
  CHECK_FALSE(IsLoopbackListen("127.0.0.1:99999"));
  CHECK_FALSE(IsLoopbackListen(""));
}

TEST_CASE("a JSON syntax error gives the line and column") {
  ConfigDir dir;
  const LoadResult r = dir.LoadText("{\n  \"admin\": {},\n  \"store\" 2\n}\n");
  REQUIRE(r.errors.size() == 1);
  const std::string line = FormatError("node.json", r.errors[0]);
  CHECK(line.rfind("node.json: /: invalid JSON at line 3, column 11: syntax error", 0) == 0);

  const LoadResult first = dir.LoadText("x");
  REQUIRE(first.errors.size() == 1);
  CHECK(first.errors[0].message.rfind("invalid JSON at line 1, column 1: ", 0) == 0);

  const LoadResult truncated = dir.LoadText("{\"store\": [1,\n");
  REQUIRE(truncated.errors.size() == 1);
  CHECK(truncated.errors[0].message.rfind("invalid JSON at line 2, column 1: ", 0) == 0);
}

TEST_CASE("duplicate keys are errors, since JSON would keep only the last") {
  ConfigDir dir;
  const LoadResult r = dir.LoadText(
      R"({"log": {"level": "info", "level": "debug"}, "store": {"tiers": [{"plugin": "a",
          "plugin": "b"}]}})");
  INFO(Errors(r));
  CHECK(HasErrorStarting(r, "/log/level", "duplicate key \"level\""));
  CHECK(HasErrorStarting(r, "/store/tiers/0/plugin", "duplicate key \"plugin\""));
}

TEST_CASE("a missing file, a directory and a non-object document are clear errors") {
  ConfigDir dir;
  const fs::path missing = dir.root() / "nope.json";
  const LoadResult r = LoadConfig(missing, {}, dir.exe_dir());
  REQUIRE(r.errors.size() == 1);
  CHECK(FormatError(missing, r.errors[0]) ==
        missing.string() +
            ": /: cannot read the config file: it does not exist (see configs/default.json for a "
            "starting point)");

  const LoadResult d = LoadConfig(dir.root(), {}, dir.exe_dir());
  REQUIRE(d.errors.size() == 1);
  CHECK(d.errors[0].message == "cannot read the config file: it is a directory; name a .json file");

  const LoadResult a = dir.LoadText("[]");
  INFO(Errors(a));
  CHECK(HasError(a, "", "expected object, found array"));
}

TEST_CASE("FormatError is FILE: /pointer: message") {
  CHECK(FormatError("/etc/boxcar.json", {"/store/tiers/0", "bad"}) ==
        "/etc/boxcar.json: /store/tiers/0: bad");
  CHECK(FormatError("c.json", {"", "bad"}) == "c.json: /: bad");
}

TEST_CASE("ParseOverride splits KEY=VALUE at the first '='") {
  Override o;
  REQUIRE(ParseOverride("strategies.tuner.params.set=[\"a=1\"]", &o).ok());
  CHECK(o.key == "strategies.tuner.params.set");
  CHECK(o.value == "[\"a=1\"]");
  REQUIRE(ParseOverride("admin.token=", &o).ok());
  CHECK(o.value == "");

  const boxcar::Status no_equals = ParseOverride("log.level", &o);
  CHECK(no_equals.code() == boxcar::Status::Code::kInvalidArgument);
  CHECK(no_equals.message() ==
        "--set expects KEY=VALUE (e.g. admin.listen=127.0.0.1:0), found \"log.level\"");
  CHECK(ParseOverride("=debug", &o).message() ==
        "--set \"=debug\": the key is empty; expected KEY=VALUE (e.g. log.level=debug)");
  CHECK(ParseOverride("log..level=debug", &o).message().find("has an empty component") !=
        std::string::npos);
  CHECK_FALSE(ParseOverride("log.=debug", &o).ok());
}

TEST_CASE("overrides set scalars, nested keys and array items") {
  ConfigDir dir;
  const LoadResult r = dir.Load(
      MinimalConfig(), {"admin.listen=127.0.0.1:0", "strategies.batcher.plugin=fixed",
                        "strategies.batcher.params.max_items=64", "store.tiers.0.plugin=tinylfu",
                        "store.tiers.0.params.capacity_bytes=1048576", "control.interval_ms=250"});
  const Config& c = Loaded(r);
  CHECK(c.admin_listen == "127.0.0.1:0");
  CHECK(c.slots[1].plugin == "fixed");
  CHECK(c.slots[1].params == json({{"max_items", 64}}));
  CHECK(c.slots[5].plugin == "tinylfu");
  CHECK(c.slots[5].params["capacity_bytes"] == 1048576);
  CHECK(c.control_interval_ms == 250);
  CHECK(c.document["admin"]["listen"] == "127.0.0.1:0");
}

TEST_CASE("an override at the end of an array appends, beyond it is an error") {
  ConfigDir dir;
  const Config& c = Loaded(dir.Load(MinimalConfig(), {"store.tiers.1.plugin=lru"}));
  REQUIRE(c.slots.size() == 7);
  CHECK(c.slots[6].slot == "store.tiers[1]");
  CHECK(c.slots[6].plugin == "lru");

  const LoadResult far = dir.Load(MinimalConfig(), {"store.tiers.5.plugin=lru"});
  INFO(Errors(far));
  CHECK(HasError(far, "/store/tiers/5/plugin",
                 "--set store.tiers.5.plugin: index 5 is beyond the end of /store/tiers, which "
                 "has 1 item; use index 1 to append"));
  const LoadResult word = dir.Load(MinimalConfig(), {"store.tiers.first.plugin=lru"});
  INFO(Errors(word));
  CHECK(HasError(word, "/store/tiers/first/plugin",
                 "--set store.tiers.first.plugin: \"first\" is not an index into the array "
                 "/store/tiers (use 0..1)"));
}

TEST_CASE("overrides create missing objects and arrays") {
  ConfigDir dir;
  json doc = MinimalConfig();
  doc["store"].erase("tiers");
  const Config& c = Loaded(dir.Load(doc, {"store.tiers.0.plugin=lru", "plugins.path.0=p"}));
  CHECK(c.slots.back().slot == "store.tiers[0]");
  CHECK(c.plugin_path == std::vector<fs::path>{dir.root() / "etc" / "p"});
}

TEST_CASE("override values are JSON when they parse, strings otherwise") {
  ConfigDir dir;
  const Config& c = Loaded(dir.Load(
      MinimalConfig(), {"reload.watch_config=false", "log.level=\"debug\"", "admin.token=12ab",
                        "strategies.tuner.params.set=[\"prioritizer.max_queue=10\"]",
                        "strategies.conn_manager.params={\"high_water\": 10}"}));
  CHECK_FALSE(c.watch_config);
  CHECK(c.log_level == "debug");
  CHECK(c.admin_token == "12ab");
  CHECK(c.slots[3].params["set"] == json::array({"prioritizer.max_queue=10"}));
  CHECK(c.slots[2].params == json({{"high_water", 10}}));
}

TEST_CASE("errors in overridden values name the override") {
  ConfigDir dir;
  const LoadResult r = dir.Load(MinimalConfig(), {"admin.token=123", "log.format=yaml"});
  INFO(Errors(r));
  CHECK(
      HasError(r, "/admin/token",
               "expected string, found integer 123 (set by --set admin.token=123); to pass it as a "
               "string, quote it as JSON: --set 'admin.token=\"123\"'"));
  CHECK(HasError(r, "/log/format",
                 "must be one of \"text\", \"json\", \"auto\"; found \"yaml\" (set by --set "
                 "log.format=yaml)"));
}

TEST_CASE("an override cannot descend into a scalar") {
  ConfigDir dir;
  const LoadResult r = dir.Load(MinimalConfig(), {"strategies.tuner.plugin.name=x"});
  INFO(Errors(r));
  CHECK(HasError(r, "/strategies/tuner/plugin/name",
                 "--set strategies.tuner.plugin.name: cannot set a key inside "
                 "/strategies/tuner/plugin, which is a string"));
}

TEST_CASE("the config schema parses and its defaults validate") {
  const json& schema = boxcar::runtime::ConfigSchema();
  REQUIRE(schema.is_object());
  json doc = MinimalConfig();
  CHECK(boxcar::runtime::ValidateAndFillDefaults(schema, doc).empty());
  CHECK(doc["admin"]["listen"] == "127.0.0.1:9180");
}

TEST_CASE("every shipped config in configs/ loads") {
  const fs::path configs = fs::path(BOXCAR_SOURCE_DIR) / "configs";
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(configs)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  CHECK(files.size() >= 4);
  for (const fs::path& file : files) {
    CAPTURE(file);
    const LoadResult r = LoadConfig(file, {}, "/usr/bin");
    std::string errors;
    for (const SchemaError& e : r.errors) errors += FormatError(file, e) + "\n";
    INFO(errors);
    CHECK(r.config.has_value());
  }
}
