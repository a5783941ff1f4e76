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
// and, with Kubo's shapes (kubo core/commands: block.go, pin/pin.go, bitswap.go):
//
//   block/get CID [timeout=DUR]    the block's bytes (text/plain); a block the store lacks is
//                                  fetched from peers (timeout: 60s, Kubo's --timeout syntax)
//   pin/add CID... [recursive=true progress timeout=DUR]
//                                  fetches the DAG, then pins it: {"Pins":[CID...]}; with
//                                  progress, {"Progress":N} (blocks so far) while it fetches
//   bitswap/stat                   {"ProvideBufLen","Wantlist","Peers","BlocksReceived",
//                                   "DataReceived","DupBlksReceived","DupDataReceived",
//                                   "MessagesReceived","BlocksSent","DataSent"}
//   bitswap/wantlist [peer=PEER]   {"Keys":[{"/":CID}...]}: this node's wants, or a peer's
//   bitswap/ledger PEER            {"Peer","Value","Sent","Recv","Exchanged"}
//
// Without a swarm (the config has no p2p section) the p2p commands answer 500 "p2p is not
// enabled". Handlers run on the RPC thread and never block: swarm work completes in callbacks.
//
// Thread safety: RegisterCommands before the server starts; the swarm must outlive the server.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "boxcar/status.h"
#include "format/cid.h"
#include "rpc/rpc_server.h"

namespace boxcar::p2p {
class Swarm;
}
namespace boxcar::store {
class BlockStore;
class PinStore;
}  // namespace boxcar::store
namespace boxcar::exchange {
class BitswapClient;
}

namespace boxcar::rpc {

// What the Bitswap server knows, for bitswap/stat (Kubo's server-side counters).
struct BitswapServerStats {
  uint64_t provide_buf_len = 0;
  uint64_t messages_received = 0;
  uint64_t blocks_sent = 0;
  uint64_t data_sent = 0;
};

// Kubo's bitswap/ledger answer for one peer.
struct BitswapLedgerEntry {
  double value = 0;  // Kubo's debt ratio: sent / (received + 1)
  uint64_t sent = 0;
  uint64_t recv = 0;
  uint64_t exchanged = 0;  // blocks exchanged
};

// The Bitswap server's side of the inspection commands: set by whoever constructs the server
// (node.cc). Each hook may be empty; the commands then answer zeros, or "not available". Hooks
// run on the RPC thread and must not block.
struct BitswapServerHooks {
  std::function<BitswapServerStats()> stats;
  // The wants `peer` has sent this node; NotFound when the peer has no ledger.
  std::function<Status(const std::string& peer, std::vector<format::Cid>* wants)> peer_wantlist;
  std::function<Status(const std::string& peer, BitswapLedgerEntry* entry)> ledger;
  // The peers Bitswap talks to (bitswap/stat Peers); the swarm's peers when empty.
  std::function<std::vector<std::string>()> peers;
};

struct NodeFacts {
  p2p::Swarm* swarm = nullptr;  // nullptr when p2p is not enabled
  std::string version;          // boxcar's version, "0.11.0"
  std::string agent_version;    // "boxcar/0.11.0"
  store::BlockStore* store = nullptr;
  store::PinStore* pins = nullptr;
  exchange::BitswapClient* bitswap = nullptr;  // nullptr without p2p: blocks come from the store
  BitswapServerHooks bitswap_server;
};

void RegisterCommands(RpcServer& server, const NodeFacts& facts);
// block/get, pin/add and the bitswap/* commands (rpc_bitswap_commands.cc).
void RegisterBlockCommands(RpcServer& server, const NodeFacts& facts);

// Kubo's IdOutput: addresses and protocols sorted, each null when empty (Go's nil slices).
nlohmann::ordered_json IdOutputJson(const std::string& peer_id, const std::string& public_key_proto,
                                    std::vector<std::string> addresses,
                                    const std::string& agent_version,
                                    std::vector<std::string> protocols);

}  // namespace boxcar::rpc
