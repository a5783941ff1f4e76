// What a reload changes in the config, key by key, and which changes a running node can apply.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace boxcar::runtime {

// One changed leaf of the config document (after defaults are filled).
struct ConfigChange {
  std::string key;        // dotted, as --set takes it: "gateway.max_header_bytes"
  nlohmann::json before;  // null when the key is new
  nlohmann::json after;   // null when the key is gone
  bool needs_restart = false;

  // "gateway.max_header_bytes: 8192 -> 1024"; secrets (admin.token, rpc.authorizations) show
  // only "changed", and a p2p or rpc section that appears or goes "section added|removed".
  std::string Describe() const;
};

// Every leaf that differs between two config documents, in document order. Objects are compared
// key by key and arrays item by item, so a change names the innermost key that differs.
std::vector<ConfigChange> DiffConfigs(const nlohmann::json& before, const nlohmann::json& after);

// True for the keys a running node cannot apply: the listen addresses (p2p.listen, rpc.listen
// too), the gateway's thread count and peer header, the store path and the store's index
// sizes, the log format, p2p.identity_file and p2p.io_threads. Adding or removing the whole p2p
// or rpc section also needs a restart (DiffConfigs reports it as one change to "p2p" or "rpc").
bool NeedsRestart(const std::string& key);

// "" when every change can be applied live, else "needs a restart: KEY, KEY (...)".
std::string DescribeRestartNeeded(const std::vector<ConfigChange>& changes);

}  // namespace boxcar::runtime
