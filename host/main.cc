// The boxcar command line: run the node, check a config, list plugins, the store commands, and
// the commands that drive a running node over its Kubo RPC API (rpc_cli.cc).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "format/cid.h"
#include "format/walk.h"
#include "node.h"
#include "obs/logging.h"
#include "plugin_reference.h"
#include "rpc_cli.h"
#include "runtime/catalog.h"
#include "runtime/config.h"
#include "runtime/instance.h"
#include "runtime/runtime.h"
#include "store_cli.h"

namespace {
namespace fs = std::filesystem;
using boxcar::Status;
using nlohmann::json;

constexpr char kSummary[] =
    "boxcar - a high-load IPFS block node with hot-swappable strategy plugins\n";

struct OptionHelp {
  std::string_view flag;
  std::string_view text;  // lines after the first are indented under it
};

constexpr OptionHelp kOptions[] = {
    {"--set KEY=VALUE",
     "Override a config value. KEY is a dotted path (store.tiers.0.plugin);\n"
     "VALUE is parsed as JSON when it parses, else taken as a string."},
    {"--ready-file PATH",
     "Write {\"pid\":..,\"admin\":\"host:port\",\"gateway\":\"host:port\"} to PATH once\n"
     "the node serves."},
    {"--json", "Machine-readable output for `plugins` and `stat`."},
    {"--params NAME", "Show each param of the bundled plugin NAME (or KIND-NAME)."},
    {"--markdown", "Write the reference of every bundled plugin as Markdown (docs/plugins.md)."},
    {"--pin", "Pin the roots of imported CARs."},
    {"--scope SCOPE", "What export includes: block, entity or all."},
    {"--repair", "verify: remove corrupt blocks, so a re-import or fetch restores them."},
};

struct CommandHelp {
  std::string_view name;
  std::string_view synopsis;  // after "boxcar "
  std::string_view text;      // lines after the first are indented under it
  bool store;                 // works offline on the config's store
};

constexpr CommandHelp kCommands[] = {
    {"run", "run --config FILE [--set KEY=VALUE]... [--ready-file PATH]",
     "Serve with the config. SIGHUP, POST /admin/reload, or a change to the config\n"
     "file or an active plugin reloads it; SIGTERM or SIGINT drains and exits 0.",
     false},
    {"check-config", "check-config FILE [--set KEY=VALUE]...",
     "Validate the config as `run` would start it: its schema, every slot's plugin\n"
     "and params, the tier rules; exit 0 if valid, 1 if not, with one\n"
     "\"FILE: /pointer: message\" line per error.",
     false},
    {"plugins", "plugins [--config FILE] [--json | --params NAME | --markdown]",
     "List every .so in the plugin path (from the config, or the bundled directory):\n"
     "kind, name, version, API, file, and whether this host can load it.",
     false},
    {"import", "import --config FILE [--pin] CAR...",
     "Import CAR files (v1 or v2). Blocks are verified and committed in groups; with\n"
     "--pin each root is pinned recursively once its whole DAG is stored.",
     true},
    {"export", "export --config FILE [--scope block|entity|all] CID > out.car",
     "Write the DAG under CID as a CARv1 to stdout, depth-first. --scope block: the\n"
     "block only; entity: the file or directory it is; all (default): everything. A\n"
     "missing block ends the export with exit 1, naming the block.",
     true},
    {"verify", "verify --config FILE [--repair]",
     "Re-hash every block in every tier; exit 1 listing each corrupt block. With\n"
     "--repair, remove the corrupt blocks and list the pinned DAGs to re-import.",
     true},
    {"gc", "gc --config FILE", "Remove every block that no pin reaches.", true},
    {"stat", "stat --config FILE [--json]",
     "Tiers, blocks, bytes, pins (recursive, direct, indirect) and memory.", true},
};

const CommandHelp* FindCommand(std::string_view name) {
  for (const CommandHelp& c : kCommands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// "  NAME" padded to `width`, then `text` with its continuation lines indented to match.
void PrintEntry(std::ostream& out, std::string_view name, std::string_view text, size_t width) {
  std::string line = "  " + std::string(name);
  line.resize(std::max(width, line.size() + 1), ' ');
  size_t start = 0;
  for (size_t end = text.find('\n');; end = text.find('\n', start)) {
    out << line << text.substr(start, end - start) << "\n";
    if (end == std::string_view::npos) break;
    start = end + 1;
    line.assign(width, ' ');
  }
}

void PrintUsage(std::ostream& out) {
  out << kSummary << "\nUsage:\n";
  for (const CommandHelp& c : kCommands) out << "  boxcar " << c.synopsis << "\n";
  out << "  boxcar COMMAND --help | boxcar --help | boxcar --version\n\nCommands:\n";
  for (const CommandHelp& c : kCommands) {
    if (!c.store) PrintEntry(out, c.name, c.text, 16);
  }
  out << "\nStore commands work offline on the store of the config (store.path); a store a running "
         "node\nholds is refused (\"locked by PID ...\"):\n";
  for (const CommandHelp& c : kCommands) {
    if (c.store) PrintEntry(out, c.name, c.text, 16);
  }
  boxcar::cli::PrintRpcUsage(out);
  out << "\nOptions:\n";
  for (const OptionHelp& o : kOptions) PrintEntry(out, o.flag, o.text, 20);
}

// One command's synopsis, description and the options its synopsis names.
void PrintCommandUsage(std::ostream& out, const CommandHelp& command) {
  out << "Usage: boxcar " << command.synopsis << "\n\n";
  PrintEntry(out, command.name, command.text, 16);
  bool header = false;
  for (const OptionHelp& o : kOptions) {
    const std::string_view flag = o.flag.substr(0, o.flag.find(' '));
    if (command.synopsis.find(flag) == std::string_view::npos) continue;
    if (!header) out << "\nOptions:\n";
    header = true;
    PrintEntry(out, o.flag, o.text, 20);
  }
}

struct Args {
  std::string command;
  std::optional<fs::path> config;
  std::vector<boxcar::runtime::Override> overrides;
  fs::path ready_file;
  bool help = false;
  bool json = false;
  bool markdown = false;
  std::string params_of;  // plugins --params NAME
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
    if (arg == "--help" || arg == "-h") {
      args->help = true;  // the command's usage, whatever else the line says
      return 0;
    }
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
    } else if (arg == "--markdown" && args->command == "plugins") {
      args->markdown = true;
    } else if (arg == "--params" && args->command == "plugins") {
      auto v = value();
      if (!v) return UsageError("--params needs a plugin name, e.g. --params fair");
      args->params_of = *v;
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

// check-config: the config's own schema, then the checks `run` makes before it starts (each
// slot's plugin, pin and params, the tier rules, and each plugin's own checks of its params).
int CheckConfig(const Args& args) {
  if (!args.config) return UsageError("check-config needs a FILE");
  auto loaded = boxcar::runtime::LoadConfig(*args.config, args.overrides, ExeDir());
  if (!loaded.config) {
    for (const auto& e : loaded.errors)
      std::cerr << boxcar::runtime::FormatError(*args.config, e) << "\n";
    return 1;
  }
  auto registry = std::make_shared<prometheus::Registry>();
  boxcar::runtime::Runtime runtime(boxcar::runtime::MakeHostContext(registry), *registry);
  const std::vector<Status> problems = runtime.Check(*loaded.config);
  for (const Status& problem : problems) {
    std::cerr << args.config->string() << ": " << problem.message() << "\n";
  }
  if (!problems.empty()) return 1;
  std::cout << args.config->string() << ": OK\n";
  return 0;
}

// The loadable plugins named `name` ("fair") or `kind-name` ("prioritizer-fair").
std::vector<const boxcar::runtime::PluginInfo*> PluginsNamed(
    const boxcar::runtime::PluginCatalog& catalog, const std::string& name) {
  std::vector<const boxcar::runtime::PluginInfo*> found;
  for (const auto& e : catalog.entries()) {
    const std::string qualified = std::string(boxcar::KindName(e.info.kind)) + "-" + e.info.name;
    if (e.status.ok() && (e.info.name == name || qualified == name)) found.push_back(&e.info);
  }
  return found;
}

int ShowParams(const boxcar::runtime::PluginCatalog& catalog, const std::string& name) {
  const auto found = PluginsNamed(catalog, name);
  if (found.size() == 1) {
    std::cout << boxcar::cli::ParamsText(*found.front());
    return 0;
  }
  std::string known;
  for (const auto& e : catalog.entries()) {
    if (e.status.ok() && (found.empty() || e.info.name == name)) {
      known += (known.empty() ? "" : ", ") + std::string(boxcar::KindName(e.info.kind)) + "-" +
               e.info.name;
    }
  }
  if (found.empty())
    return UsageError("no loadable plugin named \"" + name + "\"; known: " + known);
  return UsageError("\"" + name + "\" names several plugins (" + known +
                    "); name one as KIND-NAME");
}

int WriteMarkdown(const boxcar::runtime::PluginCatalog& catalog) {
  std::vector<boxcar::runtime::PluginInfo> plugins;
  for (const auto& e : catalog.entries()) {
    if (e.status.ok()) plugins.push_back(e.info);
  }
  std::string markdown;
  if (Status s = boxcar::cli::PluginsMarkdown(plugins, &markdown); !s.ok()) {
    std::cerr << "boxcar: " << s.message() << "\n";
    return 1;
  }
  std::cout << markdown;
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
  if (!args.params_of.empty()) return ShowParams(catalog, args.params_of);
  if (args.markdown) return WriteMarkdown(catalog);
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

// What a store command's arguments must be, checked before the store is opened: a mistake
// here is a usage error (exit 2), like every other.
int CheckStoreArguments(const Args& args) {
  if (!args.config) return UsageError(args.command + " needs --config FILE");
  if (args.command == "import" && args.operands.empty()) {
    return UsageError("import needs at least one CAR file");
  }
  if (args.command == "export") {
    if (args.operands.size() != 1) return UsageError("export needs exactly one CID");
    boxcar::format::Cid root;
    if (Status s = boxcar::format::Cid::Parse(args.operands[0], &root); !s.ok()) {
      return UsageError("export: " + s.message());
    }
    boxcar::format::DagScope scope;
    if (Status s = boxcar::format::ParseDagScope(args.scope, &scope); !s.ok()) {
      return UsageError("--scope: " + s.message());
    }
  } else if (args.command != "import" && !args.operands.empty()) {
    return UsageError("unexpected argument '" + args.operands[0] + "' for " + args.command);
  }
  return 0;
}

int RunStoreCommand(const Args& args) {
  if (int rc = CheckStoreArguments(args); rc != 0) return rc;
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
    PrintUsage(std::cout);
    return 0;
  }
  if (argc >= 2 && std::string(argv[1]) == "--version") {
    std::cout << "boxcar " << BOXCAR_VERSION << " (plugin API " << boxcar::kApiMajor << "."
              << boxcar::kApiMinor << ")\n";
    return 0;
  }
  if (argc >= 2 && boxcar::cli::IsRpcCommand(argv[1])) {
    try {
      return boxcar::cli::RunRpcCommand(argc, argv, ExeDir());
    } catch (const std::exception& e) {
      std::cerr << "boxcar: " << e.what() << "\n";
      return 1;
    }
  }
  Args args;
  if (int rc = ParseArgs(argc, argv, &args); rc != 0) return rc;
  if (args.help) {
    const CommandHelp* command = FindCommand(args.command);
    if (command == nullptr) return UsageError("unknown command '" + args.command + "'");
    PrintCommandUsage(std::cout, *command);
    return 0;
  }
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
