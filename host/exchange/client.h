// BitswapClient: fetches blocks and DAGs this node lacks from connected peers.
//
// For each wanted CID it asks connected peers with want-have + sendDontHave (or want-block
// straight away to a peer known to hold the block), then pipelines want-block to the peers that
// answered HAVE, within a per-peer in-flight limit. The decoder rebuilds every block's CID by
// hashing its data, so wrong bytes for a wanted CID arrive as a block the peer was not asked
// for: its sender is disconnected (BitswapNetwork::Penalize), counted, and not asked again for
// the fetch. When one peer delivers a block, the others get a cancel.
//
// Connection quality (per peer): latency as an EWMA of want → block time, throughput, and the
// DONT_HAVE and timeout rates. A peer's want times out after a multiple of its measured latency
// (Boxo's DontHaveTimeout: 3 × RTT, between 50 ms and 7 s); its wants then move to another peer
// that holds the block (an alternate route), and a peer that keeps failing is asked last.
//
// Fetched blocks go through BlockStore::Put (the verified write path and the memory budget).
//
// Thread safety: every method may be called from any thread. Callbacks run on the client's own
// thread, without its lock (they may call the client); they should not block for long, since
// they hold up every fetch.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "boxcar/status.h"
#include "exchange/network.h"
#include "format/cid.h"
#include "format/walk.h"
#include "store/blockstore.h"

namespace boxcar::exchange {

struct ClientOptions {
  uint32_t max_in_flight_per_peer = 64;  // want-blocks outstanding at one peer
  uint32_t max_parallel_blocks = 256;    // per DAG fetch: wants outstanding at once
  std::chrono::milliseconds min_peer_timeout{50};
  std::chrono::milliseconds max_peer_timeout{7000};
};

struct FetchProgress {
  uint64_t blocks = 0;   // blocks of the DAG now in the store (fetched or already present)
  uint64_t fetched = 0;  // of those, fetched from peers
  uint64_t bytes = 0;    // bytes fetched
};

// Cancels a fetch when destroyed or Cancel()ed: its wants are cancelled at every peer, and its
// callbacks are not called after that. Keep it for as long as the fetch should run.
class FetchHandle {
 public:
  virtual ~FetchHandle() = default;
  virtual void Cancel() = 0;
};

class BitswapClient : public MessageSink {
 public:
  BitswapClient(BitswapNetwork& network, store::BlockStore& store, obs::MetricsRegistry& metrics,
                ClientOptions options);
  ~BitswapClient() override;  // Stop()s

  // Fails every fetch in flight with Unavailable "the node is stopping" (their callbacks run),
  // sends nothing more, and joins the client's thread. Later fetches fail at once. Idempotent.
  void Stop();

  // One block: from the store when present, else from peers. `done` gets Unavailable naming the
  // CID and the peers asked when none delivered it within `timeout` (the gateway answers 504).
  std::unique_ptr<FetchHandle> GetBlock(const format::Cid& cid, std::chrono::milliseconds timeout,
                                        std::function<void(Status, BlockData)> done);

  // Every block of the DAG under `root` that `scope` selects, walking links as blocks arrive,
  // many in parallel; blocks already in the store are not fetched. `progress` runs after each
  // block; `done` once.
  std::unique_ptr<FetchHandle> FetchDag(const format::Cid& root, format::DagScope scope,
                                        std::chrono::milliseconds timeout,
                                        std::function<void(const FetchProgress&)> progress,
                                        std::function<void(Status, FetchProgress)> done);

  // MessageSink: blocks and presences from peers.
  void OnMessage(const p2p::PeerId& peer, bitswap::Version version,
                 const bitswap::Message& message) override;
  void OnPeerConnected(const p2p::PeerId& peer) override;
  void OnPeerDisconnected(const p2p::PeerId& peer) override;

  // For RPC bitswap/stat and bitswap/wantlist (without peer): the CIDs this node wants now.
  std::vector<format::Cid> Wantlist() const;
  struct Stats {
    uint64_t blocks_received = 0;
    uint64_t data_received = 0;
    uint64_t dup_blks_received = 0;
    uint64_t dup_data_received = 0;
  };
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace boxcar::exchange
