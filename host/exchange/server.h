// BitswapServer: answers the wants of connected peers through the request engine.
//
// Each received wantlist updates the peer's entry in the want ledger (bitswap/ledger.h), and
// each reply the ledger asks for becomes an engine task with the PeerID as its peer: want-block
// replies as interactive tasks, HAVE and DONT_HAVE as background ones, so the prioritizer orders
// them across peers, the per-peer budget bounds each peer's outstanding bytes, and under
// overload the engine sheds the want-haves first. Tasks run on the server's pump thread (or any
// frontend thread that pumps the engine): block reads go through the batched store path, and the
// replies for one peer are packed into messages of about `target_message_bytes` (16 KiB to the
// 4 MiB cap), sent on boxcar's own stream (BitswapNetwork). A task's budget is released once its
// message is accepted by the stream, so a peer that does not read stops getting served, holds
// only its own budget, and is cut off by the network's write timeout. Messages beyond the
// network's queue wait in the server until the stream takes the earlier ones: a want is never
// dropped because a fast peer's queue was momentarily full.
//
// A want cancelled while its task waits is skipped when the task runs. A block stored while a
// peer wants it (BlocksAdded) is sent to that peer. A score per peer, from the blocks exchanged
// (Boxo's short and long EWMAs), is set as its connection-manager tag every 10 s, so useful
// peers are trimmed last.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "bitswap/ledger.h"
#include "exchange/network.h"

namespace boxcar::engine {
class RequestEngine;
}
namespace boxcar::store {
class BlockStore;
}
namespace boxcar::p2p {
class Swarm;
}

namespace boxcar::exchange {

struct ServerOptions {
  bitswap::LedgerOptions ledger;
  uint64_t target_message_bytes = 256 << 10;
  // Message bytes handed to the network for one peer and not yet accepted by its stream (the
  // network's max_queued_bytes). Finished messages past it wait in the server, still holding
  // their tasks' budget, and go out as the stream takes the earlier ones.
  uint64_t max_inflight_bytes = 8 << 20;
};

struct ServerStats {
  uint64_t messages_received = 0;
  uint64_t blocks_sent = 0;
  uint64_t data_sent = 0;
  uint64_t peers = 0;  // peers with a ledger entry
  uint64_t wants = 0;  // entries over all peers
};

// What this node exchanged with one peer (RPC bitswap/ledger).
struct PeerLedger {
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t blocks_sent = 0;
  uint64_t blocks_received = 0;
  double score = 0;
  size_t wants = 0;
};

class BitswapServer : public MessageSink {
 public:
  BitswapServer(BitswapNetwork& network, engine::RequestEngine& engine, store::BlockStore& store,
                p2p::Swarm& swarm, obs::MetricsRegistry& metrics, ServerOptions options);
  ~BitswapServer() override;

  // Starts the pump thread and the score timer; Stop joins them (before the engine goes).
  void Start();
  void Stop();
  void Reconfigure(const ServerOptions& options);

  // The store's hook: sends new blocks to the peers that want them.
  void BlocksAdded(const std::vector<std::pair<format::Cid, uint64_t>>& blocks);

  // MessageSink
  void OnMessage(const p2p::PeerId& peer, bitswap::Version version,
                 const bitswap::Message& message) override;
  void OnPeerConnected(const p2p::PeerId& peer) override;
  void OnPeerDisconnected(const p2p::PeerId& peer) override;

  ServerStats stats() const;
  std::vector<std::pair<format::Cid, bitswap::WantState>> PeerWantlist(
      const p2p::PeerId& peer) const;
  PeerLedger Ledger(const p2p::PeerId& peer) const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace boxcar::exchange
