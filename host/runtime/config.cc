#include "runtime/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "p2p/multiaddr.h"

namespace boxcar::runtime {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

#include "runtime/config_schema.inc"

struct StrategySlot {
  const char* name;
  PluginKind kind;
};
constexpr StrategySlot kStrategySlots[] = {
    {"prioritizer", PluginKind::kPrioritizer},
    {"batcher", PluginKind::kBatcher},
    {"conn_manager", PluginKind::kConnManager},
    {"tuner", PluginKind::kTuner},
};

constexpr char kListenFormat[] =
    "expected host:port with an IPv4 address, a bracketed IPv6 address or localhost, and a port "
    "0..65535 (e.g. \"127.0.0.1:9180\", \"[::1]:9180\", \"localhost:0\")";

std::string Quote(std::string_view text) { return json(std::string(text)).dump(); }

// ---- admin.listen ----

struct ListenAddress {
  std::string host;  // without brackets
  bool ipv6 = false;
};

bool IsPort(std::string_view text) {
  if (text.empty() || text.size() > 5) return false;
  int port = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    port = port * 10 + (c - '0');
  }
  return port <= 65535;
}

std::optional<ListenAddress> ParseListen(const std::string& listen) {
  ListenAddress address;
  std::string_view port;
  if (!listen.empty() && listen.front() == '[') {
    const size_t close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return std::nullopt;
    }
    address.host = listen.substr(1, close - 1);
    address.ipv6 = true;
    port = std::string_view(listen).substr(close + 2);
    in6_addr parsed{};
    if (inet_pton(AF_INET6, address.host.c_str(), &parsed) != 1) return std::nullopt;
  } else {
    const size_t colon = listen.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    address.host = listen.substr(0, colon);
    port = std::string_view(listen).substr(colon + 1);
    in_addr parsed{};
    if (address.host != "localhost" && inet_pton(AF_INET, address.host.c_str(), &parsed) != 1) {
      return std::nullopt;
    }
  }
  if (!IsPort(port)) return std::nullopt;
  return address;
}

bool IsLoopbackHost(const ListenAddress& address) {
  if (address.host == "localhost") return true;
  if (!address.ipv6) return address.host.rfind("127.", 0) == 0;
  in6_addr parsed{};
  inet_pton(AF_INET6, address.host.c_str(), &parsed);
  if (IN6_IS_ADDR_LOOPBACK(&parsed)) return true;
  // ::ffff:127.x.y.z is IPv4 loopback reached through an IPv6 socket.
  return IN6_IS_ADDR_V4MAPPED(&parsed) && parsed.s6_addr[12] == 127;
}

// Off loopback the token is all that guards reloads and imports.
constexpr size_t kMinTokenLength = 16;

bool IsStrongToken(const std::string& token) {
  return token.size() >= kMinTokenLength &&
         std::none_of(token.begin(), token.end(), [](unsigned char c) { return std::isspace(c); });
}

// The "listen" of document[section] when it is a well-formed host:port. A malformed one is an
// error at /<section>/listen; a missing section or a non-string (which the schema reports) gives
// nullopt too.
std::optional<std::string> CheckedListen(const json& document, const std::string& section,
                                         std::vector<SchemaError>* errors) {
  const auto object = document.find(section);
  if (object == document.end() || !object->is_object()) return std::nullopt;
  const json listen = object->value("listen", json());
  if (!listen.is_string()) return std::nullopt;
  std::string text = listen.get<std::string>();
  if (!ParseListen(text)) {
    errors->push_back(
        {"/" + section + "/listen", std::string(kListenFormat) + "; found " + Quote(text)});
    return std::nullopt;
  }
  return text;
}

void CheckAdmin(const json& document, std::vector<SchemaError>* errors) {
  const std::optional<std::string> listen = CheckedListen(document, "admin", errors);
  if (!listen || IsLoopbackListen(*listen)) return;
  const std::string& text = *listen;
  const json token = document["admin"].value("token", json(""));
  if (token == "") {
    errors->push_back(
        {"/admin/token", "a token is required when admin listens beyond loopback (listen is " +
                             Quote(text) +
                             "): set admin.token to a secret that clients send as \"Authorization: "
                             "Bearer <token>\", or listen on 127.0.0.1"});
  } else if (token.is_string() && !IsStrongToken(token.get<std::string>())) {
    errors->push_back({"/admin/token",
                       "the token is too weak for an admin endpoint beyond "
                       "loopback (listen is " +
                           Quote(text) + "): use at least " + std::to_string(kMinTokenLength) +
                           " characters and no whitespace, e.g. the output of "
                           "`openssl rand -hex 16`"});
  }
}

// gateway.listen has admin.listen's syntax; it may be public (the gateway only reads). The
// budget bounds must be ordered. fetch_missing needs peers to fetch from.
void CheckGatewayAndEngine(const json& document, std::vector<SchemaError>* errors) {
  CheckedListen(document, "gateway", errors);
  const auto gateway = document.find("gateway");
  if (gateway != document.end() && gateway->is_object() &&
      gateway->value("fetch_missing", json(false)) == json(true) && !document.contains("p2p")) {
    errors->push_back({"/gateway/fetch_missing",
                       "fetching missing blocks needs Bitswap peers: add a \"p2p\" section "
                       "(p2p.listen, p2p.peers), or set gateway.fetch_missing to false"});
  }
  const auto engine = document.find("engine");
  if (engine == document.end() || !engine->is_object()) return;
  const json low = engine->value("peer_budget_min_bytes", json(uint64_t{256} << 10));
  const json start = engine->value("peer_budget_bytes", json(uint64_t{8} << 20));
  const json high = engine->value("peer_budget_max_bytes", json(uint64_t{64} << 20));
  if (!low.is_number_unsigned() || !start.is_number_unsigned() || !high.is_number_unsigned()) {
    return;
  }
  if (low.get<uint64_t>() > start.get<uint64_t>() || start.get<uint64_t>() > high.get<uint64_t>()) {
    errors->push_back({"/engine/peer_budget_bytes",
                       "the peer budgets must satisfy peer_budget_min_bytes <= peer_budget_bytes "
                       "<= peer_budget_max_bytes; found " +
                           low.dump() + ", " + start.dump() + ", " + high.dump()});
  }
}

// ---- p2p and rpc ----

// "" when `text` is a multiaddr the swarm can use, "/ip4|ip6|dns*/HOST/tcp/PORT[/p2p/ID]" (listen
// addresses: an IP and no peer; peer addresses: ending in /p2p/ID), else what is wrong with it.
std::string MultiaddrProblem(const std::string& text, bool listening, bool needs_peer) {
  p2p::Multiaddr address;
  if (Status parsed = p2p::Multiaddr::Parse(text, &address); !parsed.ok()) {
    return parsed.message();
  }
  const std::string found = "; found " + Quote(text);
  const std::optional<p2p::Multiaddr::TcpTarget> tcp = address.Tcp();
  if (!tcp) {
    return "expected /ip4|ip6|dns|dns4|dns6/HOST/tcp/PORT, optionally followed by /p2p/ID (only "
           "TCP "
           "is supported)" +
           found;
  }
  const bool has_peer = address.Peer().has_value();
  if (listening && tcp->is_dns) {
    return "listen addresses need an ip4 or ip6 address, not a DNS name" + found;
  }
  if (listening && has_peer) return "listen addresses must not name a peer (drop /p2p/ID)" + found;
  if (needs_peer && !has_peer) {
    return "a peer address must end in /p2p/ID (the peer's 12D3KooW... ID) so the dial can check "
           "whom it reached" +
           found;
  }
  return "";
}

void CheckMultiaddrs(const json& section, const char* key, bool listening, bool needs_peer,
                     std::vector<SchemaError>* errors) {
  const json list = section.value(key, json::array());
  if (!list.is_array()) return;
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_string()) continue;
    std::string problem = MultiaddrProblem(list[i].get<std::string>(), listening, needs_peer);
    if (problem.empty()) continue;
    errors->push_back({std::string("/p2p/") + key + "/" + std::to_string(i), std::move(problem)});
  }
}

void CheckP2p(const json& document, std::vector<SchemaError>* errors) {
  const auto p2p = document.find("p2p");
  if (p2p == document.end() || !p2p->is_object()) return;
  CheckMultiaddrs(*p2p, "listen", /*listening=*/true, /*needs_peer=*/false, errors);
  CheckMultiaddrs(*p2p, "peers", /*listening=*/false, /*needs_peer=*/true, errors);
}

// rpc.listen has admin.listen's syntax. Off loopback anyone who reaches the port could connect
// and disconnect peers, so at least one authorization is required, as admin.token is.
void CheckRpc(const json& document, std::vector<SchemaError>* errors) {
  const std::optional<std::string> listen = CheckedListen(document, "rpc", errors);
  if (!listen || IsLoopbackListen(*listen)) return;
  const std::string& text = *listen;
  const json authorizations = document["rpc"].value("authorizations", json::object());
  if (authorizations.is_object() && authorizations.empty()) {
    errors->push_back(
        {"/rpc/authorizations",
         "an authorization is required when rpc listens beyond loopback (listen is " + Quote(text) +
             "): add e.g. \"authorizations\": {\"ops\": {\"auth_secret\": \"bearer:<token>\", "
             "\"allowed_paths\": [\"/api/v0\"]}}, or listen on 127.0.0.1"});
  }
}

// What the schema cannot say about store.tiers: the last tier takes every block, and no two
// persistent tiers may share a directory.
void CheckTiers(const json& document, std::vector<SchemaError>* errors) {
  const json* tiers = document.contains("store") ? &document["store"] : nullptr;
  if (tiers == nullptr || !tiers->is_object() || !tiers->contains("tiers")) return;
  tiers = &(*tiers)["tiers"];
  if (!tiers->is_array() || tiers->empty()) return;
  const size_t last = tiers->size() - 1;
  if ((*tiers)[last].is_object() && (*tiers)[last].contains("max_block_bytes")) {
    errors->push_back({"/store/tiers/" + std::to_string(last) + "/max_block_bytes",
                       "the last tier must take blocks of every size: remove max_block_bytes "
                       "here, or add a tier below it for larger blocks"});
  }
  std::map<std::string, size_t> dirs;
  for (size_t i = 0; i < tiers->size(); ++i) {
    const json& tier = (*tiers)[i];
    if (!tier.is_object() || !tier.contains("dir") || !tier["dir"].is_string()) continue;
    auto [at, fresh] = dirs.emplace(tier["dir"].get<std::string>(), i);
    if (!fresh) {
      errors->push_back({"/store/tiers/" + std::to_string(i) + "/dir",
                         "directory " + Quote(at->first) + " is already used by store.tiers[" +
                             std::to_string(at->second) + "]: give each tier its own dir"});
    }
  }
}

// ---- reading and parsing ----

std::optional<std::string> ReadFile(const fs::path& file, std::string* problem) {
  std::error_code ec;
  const fs::file_status status = fs::status(file, ec);
  if (status.type() == fs::file_type::not_found) {
    *problem =
        "cannot read the config file: it does not exist (see configs/default.json for a "
        "starting point)";
    return std::nullopt;
  }
  if (status.type() == fs::file_type::directory) {
    *problem = "cannot read the config file: it is a directory; name a .json file";
    return std::nullopt;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    *problem = "cannot read the config file: " + std::string(std::strerror(errno));
    return std::nullopt;
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    *problem = "cannot read the config file: " + std::string(std::strerror(errno));
    return std::nullopt;
  }
  return text;
}

// nlohmann reports a byte offset (its own line/column can be off by a token); editors want the
// line and column of the offending character.
std::string SyntaxErrorMessage(const std::string& text, const json::parse_error& e) {
  const size_t offset = std::min<size_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
  const size_t line =
      1 + static_cast<size_t>(std::count(text.begin(), text.begin() + offset, '\n'));
  const size_t line_start = text.rfind('\n', offset == 0 ? std::string::npos : offset - 1);
  const size_t column =
      line_start == std::string::npos || offset == 0 ? offset + 1 : offset - line_start;
  std::string what = e.what();
  const size_t start = what.find(": ", what.find("parse error"));
  if (start != std::string::npos) what = what.substr(start + 2);
  return "invalid JSON at line " + std::to_string(line) + ", column " + std::to_string(column) +
         ": " + what;
}

// nlohmann keeps the last of duplicate keys silently; in a config that hides a mistake, so the
// parse callback tracks the keys of every open object.
class DuplicateKeyFinder {
 public:
  explicit DuplicateKeyFinder(std::vector<SchemaError>* errors) : errors_(errors) {}

  bool OnEvent(json::parse_event_t event, const json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        EnterElement();
        frames_.push_back({event == json::parse_event_t::array_start, {}, "", -1});
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!frames_.empty()) frames_.pop_back();
        break;
      case json::parse_event_t::key:
        OnKey(parsed.get<std::string>());
        break;
      case json::parse_event_t::value:
        EnterElement();
        break;
    }
    return true;
  }

 private:
  struct Frame {
    bool is_array;
    std::set<std::string> keys;
    std::string key;
    long index;
  };

  void EnterElement() {
    if (!frames_.empty() && frames_.back().is_array) ++frames_.back().index;
  }

  void OnKey(const std::string& key) {
    if (frames_.empty()) return;
    Frame& top = frames_.back();
    top.key = key;
    if (top.keys.insert(key).second) return;
    std::string pointer;
    for (const Frame& f : frames_) {
      pointer += "/" + (f.is_array ? std::to_string(f.index) : EscapePointerToken(f.key));
    }
    errors_->push_back({pointer, "duplicate key " + Quote(key) +
                                     "; JSON would silently keep only the last value, so merge "
                                     "them or remove one"});
  }

  std::vector<Frame> frames_;
  std::vector<SchemaError>* errors_;
};

std::optional<json> ParseDocument(const std::string& text, std::vector<SchemaError>* errors) {
  DuplicateKeyFinder duplicates(errors);
  try {
    return json::parse(text, [&](int, json::parse_event_t event, json& parsed) {
      return duplicates.OnEvent(event, parsed);
    });
  } catch (const json::parse_error& e) {
    errors->push_back({"", SyntaxErrorMessage(text, e)});
    return std::nullopt;
  }
}

// ---- overrides ----

std::vector<std::string> SplitKey(const std::string& key) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(key);
  while (std::getline(in, part, '.')) parts.push_back(part);
  if (!key.empty() && key.back() == '.') parts.push_back("");
  return parts;
}

bool IsIndex(const std::string& part) {
  return !part.empty() && part.size() <= 9 &&
         std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string PointerOf(const std::vector<std::string>& parts, size_t count) {
  std::string pointer;
  for (size_t i = 0; i < count; ++i) pointer += "/" + EscapePointerToken(parts[i]);
  return pointer;
}

// Walks one component of an override key, creating what is missing: an array when the next
// component is an index, so "store.tiers.0.plugin=lru" works on a config without tiers.
json* Step(json* node, const std::vector<std::string>& parts, size_t i, std::string* problem) {
  const std::string& part = parts[i];
  const bool last = i + 1 == parts.size();
  const json fresh = last ? json() : (IsIndex(parts[i + 1]) ? json::array() : json::object());
  const std::string where = i == 0 ? "/" : PointerOf(parts, i);
  if (node->is_object()) {
    auto it = node->find(part);
    if (it == node->end()) it = node->emplace(part, fresh).first;
    return &*it;
  }
  if (!node->is_array()) {
    *problem = "cannot set a key inside " + where + ", which is " +
               (node->is_string() ? "a string" : "not an object or array");
    return nullptr;
  }
  if (!IsIndex(part)) {
    *problem = Quote(part) + " is not an index into the array " + where + " (use 0.." +
               std::to_string(node->size()) + ")";
    return nullptr;
  }
  const size_t index = std::stoul(part);
  if (index > node->size()) {
    *problem = "index " + part + " is beyond the end of " + where + ", which has " +
               std::to_string(node->size()) + " item" + (node->size() == 1 ? "" : "s") +
               "; use index " + std::to_string(node->size()) + " to append";
    return nullptr;
  }
  if (index == node->size()) node->push_back(fresh);
  return &(*node)[index];
}

json ParseOverrideValue(const std::string& value) {
  json parsed = json::parse(value, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? json(value) : parsed;
}

void ApplyOverride(const Override& o, json* document, std::vector<SchemaError>* errors) {
  const std::vector<std::string> parts = SplitKey(o.key);
  json* node = document;
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string problem;
    node = Step(node, parts, i, &problem);
    if (node == nullptr) {
      errors->push_back({PointerOf(parts, parts.size()), "--set " + o.key + ": " + problem});
      return;
    }
  }
  *node = ParseOverrideValue(o.value);
}

bool IsUnder(const std::string& pointer, const std::string& prefix) {
  return pointer == prefix || pointer.rfind(prefix + "/", 0) == 0;
}

// An error in a value that came from the command line should say so: the file alone does not
// explain it.
void AttributeToOverrides(const std::vector<Override>& overrides,
                          std::vector<SchemaError>* errors) {
  for (SchemaError& e : *errors) {
    for (auto o = overrides.rbegin(); o != overrides.rend(); ++o) {
      const std::vector<std::string> parts = SplitKey(o->key);
      if (!IsUnder(e.pointer, PointerOf(parts, parts.size()))) continue;
      e.message += " (set by --set " + o->key + "=" + o->value + ")";
      // A value that parsed as JSON but was meant as text, like a numeric token.
      if (e.message.rfind("expected string, found", 0) == 0) {
        e.message += "; to pass it as a string, quote it as JSON: --set '" + o->key + "=\"" +
                     o->value + "\"'";
      }
      break;
    }
  }
}

// ---- building the Config ----

fs::path Resolve(const fs::path& base_dir, const std::string& text) {
  fs::path path(text);
  if (path.is_relative()) path = base_dir / path;
  path = path.lexically_normal();
  // "dir/" normalizes to "dir/" with an empty filename; drop it so paths compare equal.
  if (!path.has_filename() && path.has_relative_path()) path = path.parent_path();
  return path;
}

SlotConfig MakeSlot(std::string slot, std::string pointer, PluginKind kind, const json& entry,
                    const fs::path& base_dir) {
  SlotConfig out;
  out.slot = std::move(slot);
  out.pointer = std::move(pointer);
  out.kind = kind;
  out.plugin = entry["plugin"].get<std::string>();
  if (out.plugin.find('/') != std::string::npos)
    out.plugin = Resolve(base_dir, out.plugin).string();
  out.params = entry["params"];
  if (entry.contains("sha256")) out.sha256 = entry["sha256"].get<std::string>();
  if (kind == PluginKind::kCacheTier) {
    out.max_block_bytes = entry.value("max_block_bytes", uint64_t{0});
    out.dir = entry.value("dir", out.plugin.substr(out.plugin.rfind('/') + 1));
  }
  return out;
}

StoreConfig BuildStoreConfig(const json& store) {
  StoreConfig out;
  const std::string verify = store["verify_reads"].get<std::string>();
  out.verify_reads = verify == "off"      ? StoreConfig::VerifyReads::kOff
                     : verify == "always" ? StoreConfig::VerifyReads::kAlways
                                          : StoreConfig::VerifyReads::kPersistent;
  out.max_block_bytes = store["max_block_bytes"].get<uint64_t>();
  out.stream_block_bytes = store["stream_block_bytes"].get<uint64_t>();
  out.memory_budget_bytes = store["memory_budget_bytes"].get<uint64_t>();
  out.key_cache_entries = store["key_cache_entries"].get<uint64_t>();
  out.bloom_bits_per_key = store["bloom_bits_per_key"].get<int>();
  out.populate_on_write = store["populate_on_write"].get<bool>();
  out.promote_after_hits = store["promote_after_hits"].get<int>();
  return out;
}

GatewayConfig BuildGatewayConfig(const json& gateway) {
  GatewayConfig out;
  out.listen = gateway["listen"].get<std::string>();
  out.io_threads = gateway["io_threads"].get<int>();
  if (out.io_threads == 0)
    out.io_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  out.max_header_bytes = gateway["max_header_bytes"].get<uint32_t>();
  out.header_timeout_ms = gateway["header_timeout_ms"].get<int64_t>();
  out.idle_timeout_ms = gateway["idle_timeout_ms"].get<int64_t>();
  out.write_timeout_ms = gateway["write_timeout_ms"].get<int64_t>();
  out.max_pipeline = gateway["max_pipeline"].get<int>();
  out.peer_header = gateway["peer_header"].get<std::string>();
  out.drain_timeout_ms = gateway["drain_timeout_ms"].get<int64_t>();
  out.fetch_missing = gateway["fetch_missing"].get<bool>();
  out.fetch_timeout_ms = gateway["fetch_timeout_ms"].get<int64_t>();
  return out;
}

EngineConfig BuildEngineConfig(const json& engine, int io_threads) {
  EngineConfig out;
  out.workers = engine["workers"].get<int>();
  if (out.workers == 0) out.workers = io_threads;
  out.queue_limit = engine["queue_limit"].get<uint64_t>();
  out.max_batch = engine["max_batch"].get<int>();
  out.max_queue_wait_ms = engine["max_queue_wait_ms"].get<int64_t>();
  out.peer_budget_bytes = engine["peer_budget_bytes"].get<uint64_t>();
  out.peer_budget_min_bytes = engine["peer_budget_min_bytes"].get<uint64_t>();
  out.peer_budget_max_bytes = engine["peer_budget_max_bytes"].get<uint64_t>();
  out.peer_backlog_limit = engine["peer_backlog_limit"].get<uint64_t>();
  out.retry_after_s = engine["retry_after_s"].get<int>();
  const json& breaker = engine["breaker"];
  out.breaker.failure_threshold = breaker["failure_threshold"].get<int>();
  out.breaker.open_ms = breaker["open_ms"].get<int64_t>();
  out.breaker.max_open_ms = breaker["max_open_ms"].get<int64_t>();
  out.breaker.recovery_ms = breaker["recovery_ms"].get<int64_t>();
  return out;
}

// p2p.conn_manager's slot when the config has no p2p section: the slot exists in every
// generation so slot indices stay fixed, filled with Kubo's connection manager values.
json DefaultP2pConnManager() {
  return ConfigSchema()["properties"]["p2p"]["properties"]["conn_manager"]["default"];
}

P2pConfig BuildP2pConfig(const json& p2p, const fs::path& base_dir, const fs::path& store_path) {
  P2pConfig out;
  out.enabled = true;
  for (const json& a : p2p["listen"]) out.listen.push_back(a.get<std::string>());
  for (const json& a : p2p["peers"]) out.peers.push_back(a.get<std::string>());
  out.identity_file = p2p.contains("identity_file")
                          ? Resolve(base_dir, p2p["identity_file"].get<std::string>())
                          : store_path / "identity.key";
  out.io_threads = p2p["io_threads"].get<int>();
  out.max_conns_per_peer = p2p["max_conns_per_peer"].get<uint32_t>();
  out.max_inbound_streams_per_peer = p2p["max_inbound_streams_per_peer"].get<uint32_t>();
  out.max_pending_handshakes = p2p["max_pending_handshakes"].get<uint32_t>();
  out.max_pending_handshakes_per_ip = p2p["max_pending_handshakes_per_ip"].get<uint32_t>();
  out.max_conn_buffer_bytes = p2p["max_conn_buffer_bytes"].get<uint64_t>();
  out.handshake_timeout_ms = p2p["handshake_timeout_ms"].get<int64_t>();
  const json& bitswap = p2p["bitswap"];
  out.bitswap.max_wants_per_peer = bitswap["max_wants_per_peer"].get<uint32_t>();
  out.bitswap.target_message_bytes = bitswap["target_message_bytes"].get<uint64_t>();
  out.bitswap.max_queued_bytes_per_peer = bitswap["max_queued_bytes_per_peer"].get<uint64_t>();
  out.bitswap.write_timeout_ms = bitswap["write_timeout_ms"].get<int64_t>();
  return out;
}

RpcConfig BuildRpcConfig(const json& rpc) {
  RpcConfig out;
  out.enabled = true;
  out.listen = rpc["listen"].get<std::string>();
  for (const auto& [name, entry] : rpc["authorizations"].items()) {
    RpcAuthorization authorization;
    authorization.name = name;
    authorization.auth_secret = entry["auth_secret"].get<std::string>();
    for (const json& path : entry["allowed_paths"]) {
      authorization.allowed_paths.push_back(path.get<std::string>());
    }
    out.authorizations.push_back(std::move(authorization));
  }
  return out;
}

Config BuildConfig(const fs::path& file, json document, const fs::path& exe_dir) {
  const fs::path base_dir = file.parent_path();
  Config config;
  config.file = file;
  config.admin_listen = document["admin"]["listen"].get<std::string>();
  config.admin_token = document["admin"]["token"].get<std::string>();
  config.admin_header_timeout_ms = document["admin"]["header_timeout_ms"].get<int64_t>();
  config.admin_body_timeout_ms = document["admin"]["body_timeout_ms"].get<int64_t>();
  config.admin_idle_timeout_ms = document["admin"]["idle_timeout_ms"].get<int64_t>();
  json& plugins = document["plugins"];
  if (!plugins.contains("path")) {
    plugins["path"] =
        json::array({Resolve(fs::absolute(exe_dir), "../lib/boxcar/plugins").string()});
  }
  for (const json& dir : plugins["path"]) {
    config.plugin_path.push_back(Resolve(base_dir, dir.get<std::string>()));
  }
  for (const StrategySlot& s : kStrategySlots) {
    config.slots.push_back(MakeSlot(s.name, std::string("/strategies/") + s.name, s.kind,
                                    document["strategies"][s.name], base_dir));
  }
  const bool has_p2p = document.contains("p2p");
  config.slots.push_back(
      MakeSlot("p2p.conn_manager", "/p2p/conn_manager", PluginKind::kConnManager,
               has_p2p ? document["p2p"]["conn_manager"] : DefaultP2pConnManager(), base_dir));
  const json& tiers = document["store"]["tiers"];
  for (size_t i = 0; i < tiers.size(); ++i) {
    config.slots.push_back(MakeSlot("store.tiers[" + std::to_string(i) + "]",
                                    "/store/tiers/" + std::to_string(i), PluginKind::kCacheTier,
                                    tiers[i], base_dir));
  }
  config.store_path = Resolve(base_dir, document["store"]["path"].get<std::string>());
  config.store = BuildStoreConfig(document["store"]);
  config.gateway = BuildGatewayConfig(document["gateway"]);
  config.engine = BuildEngineConfig(document["engine"], config.gateway.io_threads);
  if (has_p2p) config.p2p = BuildP2pConfig(document["p2p"], base_dir, config.store_path);
  if (document.contains("rpc")) config.rpc = BuildRpcConfig(document["rpc"]);
  config.log_level = document["log"]["level"].get<std::string>();
  config.log_format = document["log"]["format"].get<std::string>();
  config.control_interval_ms = document["control"]["interval_ms"].get<int64_t>();
  config.reload_debounce_ms = document["reload"]["debounce_ms"].get<int64_t>();
  config.watch_config = document["reload"]["watch_config"].get<bool>();
  config.watch_plugins = document["reload"]["watch_plugins"].get<bool>();
  config.document = std::move(document);
  return config;
}

}  // namespace

const nlohmann::json& ConfigSchema() {
  static const json schema = json::parse(kConfigSchema);
  return schema;
}

Status ParseOverride(const std::string& text, Override* out) {
  const size_t equals = text.find('=');
  if (equals == std::string::npos) {
    return Status::InvalidArgument(
        "--set expects KEY=VALUE (e.g. admin.listen=127.0.0.1:0), found " + Quote(text));
  }
  std::string key = text.substr(0, equals);
  if (key.empty()) {
    return Status::InvalidArgument("--set " + Quote(text) +
                                   ": the key is empty; expected KEY=VALUE (e.g. log.level=debug)");
  }
  const std::vector<std::string> parts = SplitKey(key);
  if (std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); })) {
    return Status::InvalidArgument("--set " + Quote(text) + ": the key " + Quote(key) +
                                   " has an empty component; keys are dotted paths such as "
                                   "store.tiers.0.plugin");
  }
  out->key = std::move(key);
  out->value = text.substr(equals + 1);
  return Status::OK();
}

LoadResult LoadConfig(const std::filesystem::path& file, const std::vector<Override>& overrides,
                      const std::filesystem::path& exe_dir) {
  LoadResult result;
  std::error_code ec;
  const fs::path absolute = fs::absolute(file, ec).lexically_normal();
  std::string problem;
  const std::optional<std::string> text = ReadFile(absolute, &problem);
  if (!text) {
    result.errors.push_back({"", problem});
    return result;
  }
  std::optional<json> document = ParseDocument(*text, &result.errors);
  if (!document) return result;
  for (const Override& o : overrides) ApplyOverride(o, &*document, &result.errors);
  if (!result.errors.empty()) return result;

  result.errors = ValidateAndFillDefaults(ConfigSchema(), *document);
  if (document->is_object()) {
    CheckAdmin(*document, &result.errors);
    CheckGatewayAndEngine(*document, &result.errors);
    CheckTiers(*document, &result.errors);
    CheckP2p(*document, &result.errors);
    CheckRpc(*document, &result.errors);
  }
  if (!result.errors.empty()) {
    AttributeToOverrides(overrides, &result.errors);
    return result;
  }
  result.config = BuildConfig(absolute, std::move(*document), exe_dir);
  return result;
}

std::string FormatError(const std::filesystem::path& file, const SchemaError& error) {
  return file.string() + ": " + (error.pointer.empty() ? "/" : error.pointer) + ": " +
         error.message;
}

bool IsLoopbackListen(const std::string& listen) {
  const std::optional<ListenAddress> address = ParseListen(listen);
  return address && IsLoopbackHost(*address);
}

}  // namespace boxcar::runtime
