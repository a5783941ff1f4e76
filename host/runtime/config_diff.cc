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
// (reload.*, control.*), which read the current generation's config.
constexpr std::array<std::string_view, 11> kRestartKeys = {
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
};

constexpr std::array<std::string_view, 1> kSecretKeys = {"admin.token"};

std::string Join(const std::string& prefix, const std::string& part) {
  return prefix.empty() ? part : prefix + "." + part;
}

std::string Show(const json& value) { return value.is_null() ? "(unset)" : value.dump(); }

void Diff(const std::string& key, const json& before, const json& after,
          std::vector<ConfigChange>* out) {
  if (before == after) return;
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
  if (std::find(kSecretKeys.begin(), kSecretKeys.end(), key) != kSecretKeys.end()) {
    return key + ": changed";
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
