// BitswapNetwork: Bitswap's use of the swarm. It accepts inbound Bitswap streams, splits them
// into messages and hands each decoded message to the server and the client; it sends messages
// to a peer on boxcar's own outbound stream; and it reports peers connecting and leaving.
//
// Inbound: the four protocol ids are registered. A stream may carry one message (Helia opens a
// stream per send) or many (Kubo keeps one open); each is read until the peer's FIN. A message
// over 4 MiB, a bad frame or an undecodable message resets that stream and counts a penalty
// against the peer (it is disconnected); other peers are unaffected. Messages are handled as
// they arrive, on the connection's I/O thread; what they cost later is bounded by the server's
// want ledger (a cap per peer) and the engine's per-peer budget.
//
// Outbound: one sender per peer keeps at most one Bitswap stream open, proposing 1.2.0, then
// 1.1.0, 1.0.0 and the legacy id, and reuses it while messages keep coming; it FINs the stream
// after `idle_close` without messages (Helia aborts an inbound stream after 10 s of silence).
// Messages queue per peer up to `max_queued_bytes` (one message always fits); Send refuses past
// that. A stream that accepts no bytes for `write_timeout` is reset and the queue failed: a
// peer that never reads holds only its own queue, never a thread (boxo#1142, #1083).
//
// Thread safety: every method may be called from any thread. Callbacks run on a swarm I/O thread
// and must not block.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bitswap/message.h"
#include "boxcar/status.h"
#include "p2p/peer_id.h"

namespace boxcar::obs {
class MetricsRegistry;
}

namespace boxcar::p2p {
class Swarm;
}

namespace boxcar::exchange {

struct NetworkOptions {
  uint64_t max_queued_bytes = 8 << 20;  // per peer, outbound
  std::chrono::milliseconds write_timeout{30000};
  std::chrono::milliseconds idle_close{5000};
};

// Receives what arrives. Both run on the I/O thread of the peer's connection.
class MessageSink {
 public:
  virtual ~MessageSink() = default;
  virtual void OnMessage(const p2p::PeerId& peer, bitswap::Version version,
                         const bitswap::Message& message) = 0;
  virtual void OnPeerConnected(const p2p::PeerId& peer) = 0;
  virtual void OnPeerDisconnected(const p2p::PeerId& peer) = 0;
};

class BitswapNetwork {
 public:
  BitswapNetwork(p2p::Swarm& swarm, obs::MetricsRegistry& metrics, NetworkOptions options);
  ~BitswapNetwork();

  // Adds a receiver of every message and peer event (the server, then the client). Call before
  // the swarm starts.
  void AddSink(MessageSink* sink);
  // Applies a reload: max_queued_bytes and write_timeout (idle_close keeps its first value).
  void SetOptions(const NetworkOptions& options);
  // Registers the protocols with the swarm (before Swarm::Start).
  void RegisterProtocols();
  // Stops sending and drops every queue; call before the swarm stops.
  void Stop();

  // Queues one framed message (bitswap::Encoder::Finish output) for `peer`. `done` runs once:
  // when the stream accepted the bytes (OK, on an I/O thread), or when the send failed (not
  // connected, queue full, protocol refused, write timeout) — possibly inside Send, on the
  // caller's thread, so the caller must not hold a lock `done` takes. Never blocks.
  void Send(const p2p::PeerId& peer, std::string framed, std::function<void(Status)> done);

  // The Bitswap version a peer speaks: the one its last stream to or from us negotiated, 1.2.0
  // until known.
  bitswap::Version PeerVersion(const p2p::PeerId& peer) const;
  // Outbound bytes queued for `peer` and not yet accepted by its stream.
  uint64_t QueuedBytes(const p2p::PeerId& peer) const;
  std::vector<p2p::PeerId> ConnectedPeers() const;

  // Closes every connection to a peer that misbehaved (a wrong block, a hostile message).
  void Penalize(const p2p::PeerId& peer, const std::string& reason);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace boxcar::exchange
