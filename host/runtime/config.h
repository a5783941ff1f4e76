// The node's configuration: one JSON file, strictly validated, with --set overrides.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "boxcar/plugin.h"
#include "runtime/json_schema.h"

namespace boxcar::runtime {

// One plugin slot: a strategy or a store tier.
struct SlotConfig {
  std::string slot;     // "prioritizer", ..., "p2p.conn_manager", "store.tiers[0]"
  std::string pointer;  // "/strategies/prioritizer", "/p2p/conn_manager", "/store/tiers/0"
  PluginKind kind = PluginKind::kPrioritizer;
  std::string plugin;                 // a plugin name, or a path to a .so (contains '/')
  nlohmann::json params;              // as written; validated against the plugin's schema on load
  std::optional<std::string> sha256;  // lower-case hex pin
  // cache_tier only:
  uint64_t max_block_bytes = 0;  // 0: any size
  std::string dir = {};          // a persistent tier's directory under store_path (name only)
};

// store.* besides the tiers.
struct StoreConfig {
  enum class VerifyReads { kOff, kPersistent, kAlways };
  VerifyReads verify_reads = VerifyReads::kPersistent;
  uint64_t max_block_bytes = 16 << 20;
  uint64_t stream_block_bytes = 1 << 20;
  uint64_t memory_budget_bytes = 0;  // 0: derived from physical memory and the cgroup limit
  uint64_t key_cache_entries = 262144;
  int bloom_bits_per_key = 10;
  bool populate_on_write = true;
  int promote_after_hits = 2;
};

// gateway.*: the HTTP frontend.
struct GatewayConfig {
  std::string listen = "127.0.0.1:8080";
  int io_threads = 0;  // 0: one per core
  uint32_t max_header_bytes = 8192;
  int64_t header_timeout_ms = 10000;
  int64_t idle_timeout_ms = 60000;
  int64_t write_timeout_ms = 30000;
  int max_pipeline = 64;
  std::string peer_header;  // "" : the client address identifies the peer
  int64_t drain_timeout_ms = 10000;
  // A raw or CAR request for a block the store lacks fetches it from Bitswap peers (as Rainbow
  // does); 504 past fetch_timeout_ms. Needs a p2p section.
  bool fetch_missing = false;
  int64_t fetch_timeout_ms = 30000;
};

// engine.breaker.*
struct BreakerConfig {
  int failure_threshold = 5;
  int64_t open_ms = 1000;
  int64_t max_open_ms = 30000;
  int64_t recovery_ms = 5000;
};

// engine.*: the request engine. Each numeric value is also a live tunable "engine.<name>".
struct EngineConfig {
  int workers = 0;  // 0: gateway io_threads (resolved)
  uint64_t queue_limit = 20000;
  int max_batch = 64;
  int64_t max_queue_wait_ms = 5000;
  uint64_t peer_budget_bytes = 8 << 20;
  uint64_t peer_budget_min_bytes = 256 << 10;
  uint64_t peer_budget_max_bytes = 64 << 20;
  uint64_t peer_backlog_limit = 1024;
  int retry_after_s = 1;
  BreakerConfig breaker;
};

// p2p.bitswap.*: the Bitswap server and its send queues; every key applies on reload.
struct BitswapConfig {
  uint32_t max_wants_per_peer = 1024;
  uint64_t target_message_bytes = 256 << 10;
  uint64_t max_queued_bytes_per_peer = 8 << 20;
  int64_t write_timeout_ms = 30000;
};

// p2p.*: the libp2p host. The section is optional; without it the node joins no network.
struct P2pConfig {
  bool enabled = false;                 // true when the config has a "p2p" section
  std::vector<std::string> listen;      // multiaddrs, e.g. "/ip4/0.0.0.0/tcp/4001"; may be empty
  std::vector<std::string> peers;       // static peering: "/.../p2p/ID", kept connected
  std::filesystem::path identity_file;  // absolute; default <store.path>/identity.key
  int io_threads = 1;
  uint32_t max_conns_per_peer = 8;
  uint32_t max_inbound_streams_per_peer = 256;
  uint32_t max_pending_handshakes = 64;
  uint32_t max_pending_handshakes_per_ip = 8;
  uint64_t max_conn_buffer_bytes = 8 << 20;
  int64_t handshake_timeout_ms = 10000;
  BitswapConfig bitswap;
};

// One rpc.authorizations entry, as Kubo's API.Authorizations: a secret ("bearer:TOKEN" or
// "basic:USER:PASSWORD") and the path prefixes it opens (e.g. "/api/v0/id").
struct RpcAuthorization {
  std::string name;
  std::string auth_secret;
  std::vector<std::string> allowed_paths;
};

// rpc.*: the Kubo RPC API. The section is optional; without it there is no RPC listener. With no
// authorizations every request is allowed (the config loader refuses that off loopback); with
// some, a request needs one whose secret matches and one of whose allowed_paths prefixes its path.
struct RpcConfig {
  bool enabled = false;                   // true when the config has an "rpc" section
  std::string listen = "127.0.0.1:5001";  // off loopback, authorizations are required
  std::vector<RpcAuthorization> authorizations;
};

struct Config {
  std::filesystem::path file;  // absolute
  nlohmann::json document;     // after overrides, with defaults filled

  std::string admin_listen;  // "host:port"; default "127.0.0.1:9180"
  std::string admin_token;   // "" when unset; required when admin_listen is not loopback
  int64_t admin_header_timeout_ms = 10000;         // a new connection's first request header
  int64_t admin_body_timeout_ms = 120000;          // a request's body, once its header arrived
  int64_t admin_idle_timeout_ms = 30000;           // a keep-alive connection's next request header
  std::vector<std::filesystem::path> plugin_path;  // absolute directories
  // prioritizer, batcher, conn_manager, tuner, p2p.conn_manager (always present: from the p2p
  // section, or watermark with Kubo's values when there is none), then the tiers in order.
  std::vector<SlotConfig> slots;
  std::filesystem::path store_path;  // absolute
  StoreConfig store;
  GatewayConfig gateway;
  EngineConfig engine;
  P2pConfig p2p;
  RpcConfig rpc;

  std::string log_level;               // "debug" | "info" | "warn" | "error"
  std::string log_format;              // "auto" (text on a TTY, else JSON) | "text" | "json"
  int64_t control_interval_ms = 1000;  // tuner tick
  int64_t reload_debounce_ms = 200;    // inotify debounce
  bool watch_config = true;            // reload when the config file changes
  bool watch_plugins = true;           // reload when an active plugin's .so changes
};

// A parsed --set KEY=VALUE. KEY is dotted ("store.tiers.0.params.capacity_bytes"); VALUE is
// parsed as JSON when it parses, and taken as a string otherwise.
struct Override {
  std::string key;
  std::string value;
};
// Splits "KEY=VALUE"; InvalidArgument when there is no '=' or the key is empty.
Status ParseOverride(const std::string& text, Override* out);

// Loads, applies overrides, validates and resolves relative paths (against the config file's
// directory; the default plugin path is `<exe_dir>/../lib/boxcar/plugins`). On failure returns
// every error found, each formatted by FormatError.
struct LoadResult {
  std::optional<Config> config;
  std::vector<SchemaError> errors;
};
LoadResult LoadConfig(const std::filesystem::path& file, const std::vector<Override>& overrides,
                      const std::filesystem::path& exe_dir);

// "FILE: /pointer: message"
std::string FormatError(const std::filesystem::path& file, const SchemaError& error);

// The config file's JSON Schema (what the validator checks before the rules it cannot express).
const nlohmann::json& ConfigSchema();

// True for 127.0.0.0/8, ::1 and "localhost" hosts of a "host:port" listen address.
bool IsLoopbackListen(const std::string& listen);

}  // namespace boxcar::runtime
