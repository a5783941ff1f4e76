// The boxcar command line: run the node, check a config, list plugins.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "node.h"
#include "obs/logging.h"
#include "runtime/catalog.h"
#include "runtime/config.h"
#include "runtime/instance.h"
#include "store_cli.h"

namespace {
namespace fs = std::filesystem;
using boxcar::Status;
using nlohmann::json;

constexpr char kUsage[] =
    R"(boxcar - a high-load IPFS block node with hot-swappable strategy plugins

Usage:
  boxcar run --config FILE [--set KEY=VALUE]... [--ready-file PATH]
  boxcar check-config FILE [--set KEY=VALUE]...
  boxcar plugins [--config FILE] [--json]
  boxcar import --config FILE [--pin] CAR...
  boxcar export --config FILE [--scope block|entity|all] CID > out.car
  boxcar verify --config FILE [--repair]
  boxcar gc --config FILE
  boxcar stat --config FILE [--json]
  boxcar --help | --version

Commands:
  run           Serve with the config. SIGHUP, POST /admin/reload, or a change to the config
                file or an active plugin reloads it; SIGTERM or SIGINT drains and exits 0.
  check-config  Validate the config and every plugin's params; exit 0 if valid, 1 if not, with
                one "FILE: /pointer: message" line per error.
  plugins       List every .so in the plugin path (from the config, or the bundled directory):
                kind, name, version, API, file, and whether this host can load it.

Store commands work offline on the store of the config (store.path); a store a running node
holds is refused ("locked by PID ..."):
  import        Import CAR files (v1 or v2). Blocks are verified and committed in groups; with
                --pin each root is pinned recursively once its whole DAG is stored.
  export        Write the DAG under CID as a CARv1 to stdout, depth-first. --scope block: the
                block only; entity: the file or directory it is; all (default): everything. A
                missing block ends the export with exit 1, naming the block.
  verify        Re-hash every block in every tier; exit 1 listing each corrupt block. With
                --repair, remove the corrupt blocks and list the pinned DAGs to re-import.
  gc            Remove every block that no pin reaches.
  stat          Tiers, blocks, bytes, pins (recursive, direct, indirect) and memory.

Options:
  --set KEY=VALUE   Override a config value. KEY is a dotted path (store.tiers.0.plugin);
                    VALUE is parsed as JSON when it parses, else taken as a string.
  --ready-file PATH Write {"pid":..,"admin":"host:port","gateway":"host:port"} to PATH once
                    the node serves.
  --json            Machine-readable output for `plugins` and `stat`.
  --pin             Pin the roots of imported CARs.
  --scope SCOPE     What export includes: block, entity or all.
)";

struct Args {
  std::string command;
  std::optional<fs::path> config;
  std::vector<boxcar::runtime::Override> overrides;
  fs::path ready_file;
  bool json = false;
  bool pin = false;
  std::string scope = "all";
  std::vector<std::string> operands;
  bool repair = false;
};

bool IsStoreCommand(const std::string& command) {
  return command == "import" || command == "export" || command == "verify" || command == "gc" ||
         command == "stat";
}

int UsageError(const std::string& message) {
  std::cerr << "boxcar: " << message << "\nRun 'boxcar --help' for usage.\n";
  return 2;
}

// Returns 0 on success, else the exit code for a usage error (already reported).
int ParseArgs(int argc, char** argv, Args* args) {
  if (argc < 2) return UsageError("missing command");
  args->command = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    if (arg == "--config") {
      auto v = value();
      if (!v) return UsageError("--config needs a file");
      args->config = *v;
    } else if (arg == "--set") {
      auto v = value();
      if (!v) return UsageError("--set needs KEY=VALUE");
      boxcar::runtime::Override o;
      if (Status s = boxcar::runtime::ParseOverride(*v, &o); !s.ok())
        return UsageError(s.message());
      args->overrides.push_back(std::move(o));
    } else if (arg == "--ready-file") {
      auto v = value();
      if (!v) return UsageError("--ready-file needs a path");
      args->ready_file = *v;
    } else if (arg == "--json") {
      args->json = true;
    } else if (arg == "--pin" && args->command == "import") {
      args->pin = true;
    } else if (arg == "--repair" && args->command == "verify") {
      args->repair = true;
    } else if (arg == "--scope" && args->command == "export") {
      auto v = value();
      if (!v) return UsageError("--scope needs block, entity or all");
      args->scope = *v;
    } else if (IsStoreCommand(args->command) && arg.rfind("--", 0) != 0) {
      args->operands.push_back(arg);
    } else if (args->command == "check-config" && !args->config && arg.rfind("--", 0) != 0) {
      args->config = arg;
    } else {
      return UsageError("unknown argument '" + arg + "' for " + args->command);
    }
  }
  return 0;
}

fs::path ExeDir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : exe.parent_path();
}

// check-config: the config's own schema, then each slot's plugin and params.
int CheckConfig(const Args& args) {
  if (!args.config) return UsageError("check-config needs a FILE");
  auto loaded = boxcar::runtime::LoadConfig(*args.config, args.overrides, ExeDir());
  if (!loaded.config) {
    for (const auto& e : loaded.errors)
      std::cerr << boxcar::runtime::FormatError(*args.config, e) << "\n";
    return 1;
  }
  const auto& config = *loaded.config;
  boxcar::runtime::PluginCatalog catalog;
  catalog.Scan(config.plugin_path);
  int errors = 0;
  for (const auto& slot : config.slots) {
    fs::path file;
    Status s = catalog.Resolve(slot.plugin, slot.kind, &file);
    const boxcar::runtime::CatalogEntry* entry = s.ok() ? catalog.Find(file) : nullptr;
    if (s.ok() && slot.sha256 && *slot.sha256 != entry->info.sha256) {
      s = Status::InvalidArgument("sha256 mismatch: config pins " + *slot.sha256 + ", " +
                                  file.string() + " has " + entry->info.sha256);
    }
    if (!s.ok()) {
      std::cerr << boxcar::runtime::FormatError(*args.config,
                                                {slot.pointer + "/plugin", s.message()})
                << "\n";
      ++errors;
      continue;
    }
    json params = slot.params;
    if (Status p = boxcar::runtime::ValidateParams(entry->info, slot.pointer + "/params", &params);
        !p.ok()) {
      std::cerr << args.config->string() << ": " << p.message() << "\n";
      ++errors;
    }
  }
  if (errors > 0) return 1;
  std::cout << args.config->string() << ": OK\n";
  return 0;
}

int ListPlugins(const Args& args) {
  std::vector<fs::path> dirs{ExeDir().parent_path() / "lib" / "boxcar" / "plugins"};
  if (args.config) {
    auto loaded = boxcar::runtime::LoadConfig(*args.config, args.overrides, ExeDir());
    if (!loaded.config) {
      for (const auto& e : loaded.errors)
        std::cerr << boxcar::runtime::FormatError(*args.config, e) << "\n";
      return 1;
    }
    dirs = loaded.config->plugin_path;
  }
  boxcar::runtime::PluginCatalog catalog;
  catalog.Scan(dirs);
  json list = json::array();
  for (const auto& e : catalog.entries()) {
    std::string status = e.status.ok() ? "compatible" : e.status.message();
    if (std::string dup = catalog.DuplicateOf(e); !dup.empty()) status = dup;
    const auto& i = e.info;
    list.push_back({{"kind", i.name.empty() ? "" : std::string(boxcar::KindName(i.kind))},
                    {"name", i.name},
                    {"version", i.version},
                    {"api", i.api_major == 0 && i.api_minor == 0
                                ? ""
                                : std::to_string(i.api_major) + "." + std::to_string(i.api_minor)},
                    {"file", i.file.string()},
                    {"compatible", status == "compatible"},
                    {"status", status},
                    {"description", i.description}});
  }
  if (args.json) {
    std::cout << list.dump(2) << "\n";
    return 0;
  }
  std::printf("%-13s %-10s %-8s %-4s %s\n", "KIND", "NAME", "VERSION", "API", "FILE / STATUS");
  for (const auto& p : list) {
    std::printf("%-13s %-10s %-8s %-4s %s\n", p["kind"].get<std::string>().c_str(),
                p["name"].get<std::string>().c_str(), p["version"].get<std::string>().c_str(),
                p["api"].get<std::string>().c_str(), p["file"].get<std::string>().c_str());
    if (!p["compatible"].get<bool>()) {
      std::printf("%-38s not loadable: %s\n", "", p["status"].get<std::string>().c_str());
    }
  }
  return 0;
}

int RunStoreCommand(const Args& args) {
  if (!args.config) return UsageError(args.command + " needs --config FILE");
  if (args.command != "import" && args.command != "export" && !args.operands.empty()) {
    return UsageError("unexpected argument '" + args.operands[0] + "' for " + args.command);
  }
  boxcar::cli::StoreCommand command{*args.config, args.overrides, ExeDir(),  args.operands,
                                    args.pin,     args.json,      args.scope};
  command.repair = args.repair;
  if (args.command == "import") return boxcar::cli::Import(command);
  if (args.command == "export") return boxcar::cli::Export(command);
  if (args.command == "verify") return boxcar::cli::Verify(command);
  if (args.command == "gc") return boxcar::cli::CollectGarbage(command);
  return boxcar::cli::Stat(command);
}

int RunNode(const Args& args) {
  if (!args.config) return UsageError("run needs --config FILE");
  boxcar::Node::BlockSignals();
  fs::path config = fs::absolute(*args.config);
  boxcar::Node node({config, args.overrides, ExeDir(), args.ready_file});
  return node.Run();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::cout << kUsage;
    return 0;
  }
  if (argc >= 2 && std::string(argv[1]) == "--version") {
    std::cout << "boxcar " << BOXCAR_VERSION << " (plugin API " << boxcar::kApiMajor << "."
              << boxcar::kApiMinor << ")\n";
    return 0;
  }
  Args args;
  if (int rc = ParseArgs(argc, argv, &args); rc != 0) return rc;
  try {
    if (args.command == "run") return RunNode(args);
    if (args.command == "check-config") return CheckConfig(args);
    if (args.command == "plugins") return ListPlugins(args);
    if (IsStoreCommand(args.command)) return RunStoreCommand(args);
  } catch (const std::exception& e) {
    std::cerr << "boxcar: " << e.what() << "\n";
    return 1;
  }
  return UsageError("unknown command '" + args.command + "'");
}
