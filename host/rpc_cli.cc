#include "rpc_cli.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "admin/admin_server.h"
#include "p2p/keys.h"
#include "p2p/multiaddr.h"
#include "p2p/peer_id.h"
#include "rpc/rpc_auth.h"
#include "rpc/rpc_commands.h"
#include "runtime/config.h"

namespace boxcar::cli {
namespace {

namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;
using json = nlohmann::ordered_json;

constexpr char kDefaultApi[] = "127.0.0.1:5001";
constexpr auto kConnectTimeout = std::chrono::seconds(5);
constexpr auto kReadTimeout = std::chrono::seconds(60);
constexpr uint64_t kMaxResponseBytes = 256ULL << 20;

struct RpcCommandHelp {
  std::string_view name;
  std::string_view synopsis;
  std::string_view text;
};

constexpr RpcCommandHelp kRpcCommands[] = {
    {"id", "id [PEER] [--config FILE] [--api ADDR] [--api-auth SECRET]",
     "The node's PeerID, public key, addresses, agent and protocols (or a connected\n"
     "peer's). With --config and no node answering, the ID and key from the key file."},
    {"swarm", "swarm connect|disconnect MULTIADDR... | swarm peers [-v] [API OPTIONS]",
     "Connect to peers (/ip4/H/tcp/P/p2p/ID), disconnect from them, or list the\n"
     "connected peers (-v: latency, direction and identify)."},
    {"ping", "ping PEER [-n COUNT] [API OPTIONS]",
     "Ping a connected peer (or /ip4/H/tcp/P/p2p/ID) COUNT times (10), a second apart."},
    {"block", "block get CID [--timeout DURATION] [API OPTIONS]",
     "Write a block's bytes to stdout, fetching it from connected peers when the node\n"
     "lacks it (--timeout: a Go duration such as 30s; default 60s)."},
    {"pin", "pin add CID... [--progress] [--timeout DURATION] [API OPTIONS]",
     "Fetch each DAG from connected peers where the node lacks blocks, then pin it\n"
     "recursively (--progress: the count of blocks so far, on stderr)."},
};

struct RpcArgs {
  std::string command;  // "id", "swarm connect", "ping"
  std::vector<std::string> operands;
  std::optional<fs::path> config;
  std::string api;
  std::string api_auth;
  bool verbose = false;
  bool progress = false;
  std::string count;
  std::string timeout;
};

// The commands with a subcommand, and the subcommands each has.
struct Subcommands {
  std::string_view command;
  std::vector<std::string_view> subs;
};
const Subcommands kSubcommands[] = {
    {"swarm", {"connect", "disconnect", "peers"}}, {"block", {"get"}}, {"pin", {"add"}}};

int UsageError(const std::string& message) {
  std::cerr << "boxcar: " << message << "\nRun 'boxcar --help' for usage.\n";
  return 2;
}

void PrintCommandHelp(const RpcCommandHelp& help) {
  std::cout
      << "Usage: boxcar " << help.synopsis << "\n\n"
      << help.text << "\n\n"
      << "API options:\n"
         "  --api ADDR         The node's RPC address: host:port or /ip4/H/tcp/P (default:\n"
         "                     the config's rpc.listen, else 127.0.0.1:5001).\n"
         "  --config FILE      Read rpc.listen (and, for id, the key file) from FILE.\n"
         "  --api-auth SECRET  \"bearer:TOKEN\" or \"basic:USER:PASS\" (or BOXCAR_API_AUTH).\n";
}

// Returns 0, or the exit code of a usage error (reported).
int ParseRpcArgs(int argc, char** argv, RpcArgs* args, bool* help) {
  args->command = argv[1];
  int i = 2;
  for (const Subcommands& family : kSubcommands) {
    if (args->command != family.command) continue;
    std::string names;
    for (std::string_view sub : family.subs)
      names += (names.empty() ? "" : ", ") + std::string(sub);
    if (argc < 3 || argv[2][0] == '-') {
      if (argc >= 3 && (std::string(argv[2]) == "--help" || std::string(argv[2]) == "-h")) {
        *help = true;
        return 0;
      }
      return UsageError(args->command + " needs a subcommand: " + names);
    }
    const std::string sub = argv[2];
    if (std::find(family.subs.begin(), family.subs.end(), sub) == family.subs.end()) {
      return UsageError("unknown " + args->command + " subcommand '" + sub + "' (" + names + ")");
    }
    args->command += " " + sub;
    i = 3;
  }
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* what) -> std::optional<std::string> {
      if (i + 1 >= argc) {
        UsageError(arg + " needs " + what);
        return std::nullopt;
      }
      return std::string(argv[++i]);
    };
    std::optional<std::string> v;
    if (arg == "--help" || arg == "-h") {
      *help = true;
      return 0;
    } else if (arg == "--config") {
      if (!(v = value("a file"))) return 2;
      args->config = *v;
    } else if (arg == "--api") {
      if (!(v = value("an address"))) return 2;
      args->api = *v;
    } else if (arg == "--api-auth") {
      if (!(v = value("a secret"))) return 2;
      args->api_auth = *v;
    } else if ((arg == "-v" || arg == "--verbose") && args->command == "swarm peers") {
      args->verbose = true;
    } else if ((arg == "-n" || arg == "--count") && args->command == "ping") {
      if (!(v = value("a count"))) return 2;
      args->count = *v;
    } else if (arg == "--timeout" && (args->command == "block get" || args->command == "pin add")) {
      if (!(v = value("a duration"))) return 2;
      args->timeout = *v;
    } else if (arg == "--progress" && args->command == "pin add") {
      args->progress = true;
    } else if (arg.rfind("-", 0) != 0) {
      args->operands.push_back(arg);
    } else {
      return UsageError("unknown argument '" + arg + "' for " + args->command);
    }
  }
  const size_t n = args->operands.size();
  if (args->command == "id" && n > 1) return UsageError("id takes at most one PEER");
  if (args->command == "ping" && n != 1) return UsageError("ping needs exactly one PEER");
  if (args->command == "swarm peers" && n != 0) return UsageError("swarm peers takes no operand");
  if (args->command == "block get" && n != 1) return UsageError("block get needs exactly one CID");
  if (args->command == "pin add" && n == 0) return UsageError("pin add needs at least one CID");
  if ((args->command == "swarm connect" || args->command == "swarm disconnect") && n == 0) {
    return UsageError(args->command + " needs at least one MULTIADDR");
  }
  if (!args->count.empty() && args->count.find_first_not_of("0123456789") != std::string::npos) {
    return UsageError("-n needs a positive number, got '" + args->count + "'");
  }
  return 0;
}

// "host:port" from --api (host:port or a /ip4|/ip6|/dns*/H/tcp/P multiaddr).
std::optional<std::string> ApiFromFlag(const std::string& api) {
  if (api.empty() || api.front() != '/') return api;
  p2p::Multiaddr addr;
  if (!p2p::Multiaddr::Parse(api, &addr).ok()) return std::nullopt;
  auto target = addr.Tcp();
  if (!target) return std::nullopt;
  const bool v6 = target->host.find(':') != std::string::npos;
  return (v6 ? "[" + target->host + "]" : target->host) + ":" + std::to_string(target->port);
}

// A wildcard listen address is reached on the loopback of its family.
std::string DialableListen(const std::string& listen) {
  auto parsed = admin::ParseListen(listen);
  if (!parsed) return listen;
  if (parsed->host == "0.0.0.0") return "127.0.0.1:" + parsed->port;
  if (parsed->host == "::") return "[::1]:" + parsed->port;
  return listen;
}

struct CallResult {
  bool reached = false;  // false: no node answered at the address
  int status = 0;
  std::string error;  // the failure to print, "" on success
};

// POSTs /api/v0/<path>; every JSON line of the body goes to `on_value` as it arrives, or, with
// `on_bytes`, the body's bytes as they are (block get).
CallResult Call(const std::string& address, const std::string& authorization,
                const std::string& target, const std::function<void(const json&)>& on_value,
                const std::function<void(std::string_view)>& on_bytes = nullptr) {
  CallResult result;
  auto hp = admin::ParseListen(address);
  if (!hp) {
    result.error = "bad API address '" + address + "': use host:port or /ip4/H/tcp/P";
    return result;
  }
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  beast::error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(hp->host, hp->port, ec);
  if (!ec) {
    stream.expires_after(kConnectTimeout);
    stream.connect(endpoints, ec);
  }
  if (ec) {
    result.error = "cannot reach the RPC API at " + address + ": " + ec.message() +
                   " (is the node running, with an \"rpc\" section in its config?)";
    return result;
  }
  result.reached = true;
  http::request<http::empty_body> request(http::verb::post, "/api/v0/" + target, 11);
  request.set(http::field::host, address);
  request.set(http::field::user_agent, "boxcar-cli");
  if (!authorization.empty()) request.set(http::field::authorization, authorization);
  stream.expires_after(kReadTimeout);
  http::write(stream, request, ec);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  // A stream (ping) may be long; Beast 1.74 mishandles boost::none here, so a large bound.
  parser.body_limit(kMaxResponseBytes);
  if (!ec) http::read_header(stream, buffer, parser, ec);
  size_t consumed = 0;
  while (!ec && !parser.is_done()) {
    stream.expires_after(kReadTimeout);
    http::read_some(stream, buffer, parser, ec);
    const std::string& body = parser.get().body();
    const bool ok = parser.get().result_int() == 200;
    if (ok && on_bytes) {
      on_bytes(std::string_view(body).substr(consumed));
      consumed = body.size();
      continue;
    }
    for (size_t nl; ok && (nl = body.find('\n', consumed)) != std::string::npos;
         consumed = nl + 1) {
      auto value = json::parse(body.substr(consumed, nl - consumed), nullptr, false);
      if (!value.is_discarded()) on_value(value);
    }
  }
  if (ec && ec != http::error::end_of_stream) {
    result.error = "the RPC call to " + address + " failed: " + ec.message();
    return result;
  }
  const auto& response = parser.get();
  result.status = static_cast<int>(response.result_int());
  if (result.status != 200) {
    auto body = json::parse(response.body(), nullptr, false);
    result.error = body.is_object() && body.contains("Message")
                       ? body["Message"].get<std::string>()
                       : response.body().substr(0, response.body().find_last_not_of("\n") + 1);
    if (result.error.empty()) result.error = "HTTP " + std::to_string(result.status);
  } else if (auto trailer = response.find("X-Stream-Error"); trailer != response.end()) {
    result.error = std::string(trailer->value());
  }
  return result;
}

std::string QueryEscape(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string Target(const RpcArgs& args) {
  std::string path = args.command;
  std::replace(path.begin(), path.end(), ' ', '/');
  std::string query;
  for (const std::string& operand : args.operands) query += "&arg=" + QueryEscape(operand);
  if (args.verbose) query += "&verbose=true";
  if (!args.count.empty()) query += "&count=" + args.count;
  if (!args.timeout.empty()) query += "&timeout=" + QueryEscape(args.timeout);
  if (args.progress) query += "&progress=true";
  return query.empty() ? path : path + "?" + query.substr(1);
}

// Kubo's text encoders for each command.
void Print(const std::string& command, const json& value) {
  if (command == "id") {
    std::cout << value.dump(1, '\t') << "\n";
  } else if (command == "swarm peers") {
    if (!value["Peers"].is_array()) return;
    for (const json& peer : value["Peers"]) {
      std::cout << peer.value("Addr", "") << "/p2p/" << peer.value("Peer", "");
      if (peer.contains("Latency")) std::cout << " " << peer["Latency"].get<std::string>();
      if (peer.contains("Direction")) {
        std::cout << (peer["Direction"] == 1 ? " inbound" : " outbound");
      }
      std::cout << "\n";
    }
  } else if (command == "ping") {
    const std::string text = value.value("Text", "");
    if (!text.empty()) {
      std::cout << text << "\n";
    } else if (value.value("Success", false)) {
      std::printf("Pong received: time=%.2f ms\n", value.value("Time", 0.0) / 1e6);
    } else {
      std::cout << "Pong failed\n";
    }
  } else if (command == "pin add") {
    if (!value.contains("Pins")) {
      std::cerr << "Fetched/Processed " << value.value("Progress", 0) << " nodes\r";
      std::cerr.flush();
      return;
    }
    for (const json& cid : value["Pins"]) {
      std::cout << "pinned " << cid.get<std::string>() << " recursively\n";
    }
  } else if (value.contains("Strings")) {
    for (const json& line : value["Strings"]) std::cout << line.get<std::string>() << "\n";
  }
  std::cout.flush();
}

// `boxcar id --config FILE` with no node: the key file's ID and public key, as Kubo's offline id.
int OfflineId(const runtime::Config& config) {
  const fs::path key_file = config.p2p.identity_file.empty() ? config.store_path / "identity.key"
                                                             : config.p2p.identity_file;
  if (!fs::exists(key_file)) {
    std::cerr << "boxcar: no node answers and there is no identity key at " << key_file.string()
              << " (a node with a \"p2p\" section creates it on its first start)\n";
    return 1;
  }
  p2p::Ed25519Key key;
  bool created = false;
  if (Status s = p2p::LoadOrCreateIdentity(key_file, &key, &created); !s.ok()) {
    std::cerr << "boxcar: " << s.message() << "\n";
    return 1;
  }
  const std::string proto = key.PublicKeyProto();
  Print("id", rpc::IdOutputJson(p2p::PeerId::FromPublicKeyProto(proto).ToString(), proto, {},
                                "boxcar/" BOXCAR_VERSION, {}));
  return 0;
}

}  // namespace

bool IsRpcCommand(std::string_view command) {
  for (const RpcCommandHelp& c : kRpcCommands) {
    if (c.name == command) return true;
  }
  return false;
}

void PrintRpcUsage(std::ostream& out) {
  out << "\nNode commands talk to a running node's Kubo RPC API (--api ADDR, else the\n"
         "config's rpc.listen, else 127.0.0.1:5001; --api-auth SECRET for a token):\n";
  for (const RpcCommandHelp& c : kRpcCommands) out << "  boxcar " << c.synopsis << "\n";
}

int RunRpcCommand(int argc, char** argv, const std::filesystem::path& exe_dir) {
  RpcArgs args;
  bool help = false;
  if (int rc = ParseRpcArgs(argc, argv, &args, &help); rc != 0) return rc;
  if (help) {
    for (const RpcCommandHelp& c : kRpcCommands) {
      if (c.name == argv[1]) PrintCommandHelp(c);
    }
    return 0;
  }
  std::optional<runtime::Config> config;
  if (args.config) {
    auto loaded = runtime::LoadConfig(*args.config, {}, exe_dir);
    if (!loaded.config) {
      for (const auto& e : loaded.errors) {
        std::cerr << runtime::FormatError(*args.config, e) << "\n";
      }
      return 1;
    }
    config = std::move(loaded.config);
  }
  std::string address = kDefaultApi;
  if (!args.api.empty()) {
    auto parsed = ApiFromFlag(args.api);
    if (!parsed) return UsageError("--api '" + args.api + "' is not host:port or /ip4/H/tcp/P");
    address = *parsed;
  } else if (config) {
    address = DialableListen(config->rpc.listen);
  }
  std::string secret = args.api_auth;
  if (const char* env = std::getenv("BOXCAR_API_AUTH"); secret.empty() && env != nullptr) {
    secret = env;
  }
  const std::string authorization = secret.empty() ? "" : rpc::ExpectedAuthorizationHeader(secret);
  if (!secret.empty() && authorization.empty()) {
    return UsageError("--api-auth '" + secret.substr(0, secret.find(':')) +
                      ":...' has an unknown type; use bearer:TOKEN or basic:USER:PASS");
  }
  std::function<void(std::string_view)> raw;
  if (args.command == "block get") {
    raw = [](std::string_view bytes) { std::cout.write(bytes.data(), bytes.size()); };
  }
  const CallResult result = Call(
      address, authorization, Target(args), [&](const json& value) { Print(args.command, value); },
      raw);
  std::cout.flush();
  if (!result.reached && args.command == "id" && args.operands.empty() && config) {
    return OfflineId(*config);
  }
  if (result.error.empty()) return 0;
  std::cerr << "Error: " << result.error << "\n";
  return 1;
}

}  // namespace boxcar::cli
