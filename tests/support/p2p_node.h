// The libp2p side of the real binary for end-to-end tests: a config with p2p and rpc listeners on
// 127.0.0.1 ephemeral ports, the addresses from the ready file, Kubo RPC calls and the node's
// metrics.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/node_config.h"
#include "support/node_process.h"
#include "support/temp_dir.h"

namespace boxcar::testing {

// TestNodeConfig with p2p listening on /ip4/127.0.0.1/tcp/0 and rpc on 127.0.0.1:0.
inline nlohmann::json P2pNodeConfig(const TempDir& dir) {
  nlohmann::json config = TestNodeConfig(dir / "store");
  config["p2p"] = {{"listen", {"/ip4/127.0.0.1/tcp/0"}}};
  config["rpc"] = {{"listen", "127.0.0.1:0"}};
  return config;
}

// What the ready file says about the libp2p side of a ready node.
struct P2pEndpoints {
  std::string rpc;                     // "127.0.0.1:PORT"
  std::vector<std::string> addresses;  // "/ip4/127.0.0.1/tcp/PORT/p2p/ID"
  std::string peer_id;                 // the ID the addresses end with
  std::string tcp;                     // "127.0.0.1:PORT" of the first address
};

inline P2pEndpoints ReadP2pEndpoints(const NodeProcess& node) {
  std::ifstream in(node.ready_file());
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json ready = nlohmann::json::parse(text.str(), nullptr, false);
  P2pEndpoints out;
  if (!ready.is_object()) return out;
  out.rpc = ready.value("rpc", "");
  for (const auto& addr : ready.value("p2p", nlohmann::json::array())) {
    out.addresses.push_back(addr.get<std::string>());
  }
  if (out.addresses.empty()) return out;
  // "/ip4/H/tcp/P/p2p/ID" -> components 2, 4 and 6.
  std::vector<std::string> parts;
  std::stringstream split(out.addresses.front());
  for (std::string part; std::getline(split, part, '/');) parts.push_back(part);
  if (parts.size() >= 7) {
    out.tcp = parts[2] + ":" + parts[4];
    out.peer_id = parts[6];
  }
  return out;
}

// A Kubo RPC call: POST /api/v0/<command>, the body parsed as JSON (null when it is not JSON).
struct RpcResult {
  int status = 0;
  nlohmann::json body;
  std::string text;
};
inline RpcResult RpcCall(const std::string& rpc, const std::string& command_and_query) {
  const HttpResult result = HttpRequest(rpc, "POST", "/api/v0/" + command_and_query);
  return {result.status, nlohmann::json::parse(result.body, nullptr, false), result.body};
}

// The sum of every sample of the metric `name` whose labels contain `label` (e.g.
// "result=\"timeout\""; "" for all), from the node's /metrics; 0 when there is none.
inline double MetricSum(const NodeProcess& node, const std::string& name,
                        const std::string& label = "") {
  const std::string text = HttpRequest(node.admin(), "GET", "/metrics").body;
  std::istringstream lines(text);
  double sum = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name, 0) != 0) continue;
    const std::string rest = line.substr(name.size());
    if (rest.empty() || (rest[0] != '{' && rest[0] != ' ')) continue;
    const auto space = rest.rfind(' ');
    if (space == std::string::npos) continue;
    if (!label.empty() && rest.substr(0, space).find(label) == std::string::npos) continue;
    sum += std::stod(rest.substr(space + 1));
  }
  return sum;
}

}  // namespace boxcar::testing
