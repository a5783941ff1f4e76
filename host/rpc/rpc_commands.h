// The Kubo RPC commands boxcar serves, with Kubo's response shapes (kubo core/commands: id.go,
// version.go, swarm.go, ping.go):
//
//   id [PEER]                      {"ID","PublicKey","Addresses","AgentVersion","Protocols"}
//   version                        {"Version","Commit","Repo","System","Golang"}
//   swarm/connect ADDR...          {"Strings":["connect <peer> success", ...]}
//   swarm/disconnect ADDR...       {"Strings":["disconnect <peer> success" | "... failure: why"]}
//   swarm/peers [verbose latency streams direction identify]
//                                  {"Peers":[{"Addr","Peer",...}]} ("Peers":null when none)
//   ping PEER [count=10]           a stream of {"Success","Time","Text"}
//
// Without a swarm (the config has no p2p section) the p2p commands answer 500 "p2p is not
// enabled". Handlers run on the RPC thread and never block: swarm work completes in callbacks.
//
// Thread safety: RegisterCommands before the server starts; the swarm must outlive the server.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rpc/rpc_server.h"

namespace boxcar::p2p {
class Swarm;
}

namespace boxcar::rpc {

struct NodeFacts {
  p2p::Swarm* swarm = nullptr;  // nullptr when p2p is not enabled
  std::string version;          // boxcar's version, "0.11.0"
  std::string agent_version;    // "boxcar/0.11.0"
};

void RegisterCommands(RpcServer& server, const NodeFacts& facts);

// Kubo's IdOutput: addresses and protocols sorted, each null when empty (Go's nil slices).
nlohmann::ordered_json IdOutputJson(const std::string& peer_id, const std::string& public_key_proto,
                                    std::vector<std::string> addresses,
                                    const std::string& agent_version,
                                    std::vector<std::string> protocols);

}  // namespace boxcar::rpc
