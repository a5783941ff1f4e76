#include "runtime/config_diff.h"

#include <algorithm>
#include <array>
#include <string_view>

namespace boxcar::runtime {
namespace {

using json = nlohmann::json;

// Keys read once at startup. Anything else is applied by a reload: by the runtime (plugins,
// strategies, tiers), the store (store.*), the engine's tunables (engine.*), the admin server
// (admin.token), the gateway's live limits, the logger's level, and the watcher and control loop
// (reload.*, control.*), which read the current generation's config, and the swarm and the RPC
// server (p2p.peers, the p2p limits and conn_manager, rpc.authorizations).
constexpr std::array<std::string_view, 15> kRestartKeys = {
    "admin.listen",
    "admin.header_timeout_ms",
    "admin.body_timeout_ms",
    "admin.idle_timeout_ms",
    "gateway.listen",
    "gateway.io_threads",
    "gateway.peer_header",
    "store.path",
    "store.key_cache_entries",
    "store.bloom_bits_per_key",
    "log.format",
    "p2p.listen",
    "p2p.identity_file",
    "p2p.io_threads",
    "rpc.listen",
};

// Sections whose presence starts a listener: adding or removing one needs a restart, whatever
// it holds.
constexpr std::array<std::string_view, 2> kOptionalSections = {"p2p", "rpc"};

bool IsOptionalSection(const std::string& key) {
  return std::find(kOptionalSections.begin(), kOptionalSections.end(), key) !=
         kOptionalSections.end();
}

// Values never shown in reload lines and logs: the admin token and every RPC secret (a whole
// authorization entry holds one).
bool IsSecret(const std::string& key) {
  return key == "admin.token" || key == "rpc.authorizations" ||
         key.rfind("rpc.authorizations.", 0) == 0;
}

std::string Join(const std::string& prefix, const std::string& part) {
  return prefix.empty() ? part : prefix + "." + part;
}

std::string Show(const json& value) { return value.is_null() ? "(unset)" : value.dump(); }

void Diff(const std::string& key, const json& before, const json& after,
          std::vector<ConfigChange>* out) {
  if (before == after) return;
  if (IsOptionalSection(key) && (before.is_null() || after.is_null())) {
    out->push_back({key, before, after, true});
    return;
  }
  if (before.is_object() && after.is_object()) {
    for (const auto& [name, value] : before.items()) {
      Diff(Join(key, name), value, after.contains(name) ? after[name] : json(), out);
    }
    for (const auto& [name, value] : after.items()) {
      if (!before.contains(name)) Diff(Join(key, name), json(), value, out);
    }
    return;
  }
  if (before.is_array() && after.is_array()) {
    for (size_t i = 0; i < std::max(before.size(), after.size()); ++i) {
      Diff(Join(key, std::to_string(i)), i < before.size() ? before[i] : json(),
           i < after.size() ? after[i] : json(), out);
    }
    return;
  }
  out->push_back({key, before, after, NeedsRestart(key)});
}

}  // namespace

std::string ConfigChange::Describe() const {
  if (IsSecret(key)) return key + ": changed";
  if (IsOptionalSection(key) && (before.is_null() || after.is_null())) {
    return key + (before.is_null() ? ": section added" : ": section removed");
  }
  return key + ": " + Show(before) + " -> " + Show(after);
}

std::vector<ConfigChange> DiffConfigs(const json& before, const json& after) {
  std::vector<ConfigChange> changes;
  Diff("", before, after, &changes);
  return changes;
}

bool NeedsRestart(const std::string& key) {
  return std::any_of(kRestartKeys.begin(), kRestartKeys.end(), [&](std::string_view restart) {
    return key == restart || key.rfind(std::string(restart) + ".", 0) == 0;
  });
}

std::string DescribeRestartNeeded(const std::vector<ConfigChange>& changes) {
  std::string keys;
  for (const ConfigChange& c : changes) {
    if (c.needs_restart) keys += (keys.empty() ? "" : ", ") + c.key;
  }
  if (keys.empty()) return "";
  return "needs a restart: " + keys +
         " (a running node reads these only at startup; it keeps running with the old config, "
         "so restart it to apply them, or undo the change to reload the rest)";
}

}  // namespace boxcar::runtime
