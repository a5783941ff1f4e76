// The libp2p swarm: listeners, dialing, the connections to peers (TCP + Noise + Yamux),
// identify and ping, static peering, resource limits and the p2p.conn_manager slot.
//
// Thread model: `options.io_threads` threads each run an io_context; a connection and its
// streams live on one of them. The public methods below are thread-safe; their callbacks run on
// a swarm I/O thread and must not block.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "boxcar/status.h"
#include "p2p/keys.h"
#include "p2p/multiaddr.h"
#include "p2p/peer_id.h"
#include "swarm/stream.h"

namespace boxcar::obs {
class MetricsRegistry;
}
namespace boxcar::runtime {
class Runtime;
}

namespace boxcar::p2p {

struct SwarmOptions {
  std::vector<Multiaddr> listen;        // tcp addresses; port 0 picks one
  std::vector<Multiaddr> static_peers;  // each with /p2p/ID; kept connected, never trimmed
  int io_threads = 1;
  std::string agent_version;  // "boxcar/<version>"
  uint32_t max_conns_per_peer = 8;
  uint32_t max_inbound_streams_per_peer = 256;
  uint32_t max_pending_handshakes = 64;        // inbound; dials have a budget of their own as big
  uint32_t max_pending_handshakes_per_ip = 8;  // inbound from one source IP
  uint64_t max_conn_buffer_bytes = 8 << 20;    // buffered bytes per connection (both ways)
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds dial_backoff_initial{1000};
  std::chrono::milliseconds dial_backoff_max{300000};
};

enum class Direction { kInbound, kOutbound };

struct PeerInfo {
  PeerId peer;
  Multiaddr addr;  // the remote address of the peer's first open connection
  Direction direction = Direction::kInbound;
  int64_t latency_ns = 0;              // last yamux or libp2p ping RTT; 0 when unknown
  std::vector<std::string> protocols;  // from identify
  std::string agent_version;           // from identify
  uint32_t connections = 0;
  uint32_t streams = 0;
};

using StreamHandler = std::function<void(StreamPtr stream)>;

class Swarm {
 public:
  // `runtime` provides the p2p.conn_manager slot; `metrics` outlives the swarm.
  Swarm(SwarmOptions options, Ed25519Key identity, obs::MetricsRegistry* metrics,
        runtime::Runtime* runtime);
  ~Swarm();

  // Binds every listen address (errors name the address: "address already in use") and starts
  // the I/O threads and static peering.
  Status Start();
  // Closes listeners, sends GoAway on every connection and joins the threads.
  void Stop();
  // Applies a reload: the limits (max_conns_per_peer, max_inbound_streams_per_peer,
  // max_pending_handshakes, max_conn_buffer_bytes, handshake_timeout) for what happens next, and
  // the static peers (new ones dialed, dropped ones unprotected). The other options keep their
  // values from construction.
  void Reconfigure(const SwarmOptions& options);

  const PeerId& local_peer() const;
  const Ed25519Key& identity() const;
  std::vector<Multiaddr> ListenAddrs() const;  // bound addresses, ports resolved
  // What identify and `id` advertise: the bound addresses with wildcards expanded to the
  // interface addresses (ExpandWildcard), read at Start.
  std::vector<Multiaddr> AdvertisedAddrs() const;
  std::vector<std::string> Protocols() const;  // registered protocol ids, sorted

  // Registers a protocol for inbound streams (call before Start).
  void Handle(const std::string& protocol, StreamHandler handler);

  // Peer events (call before Start): `connected` when a peer's first connection is up (before
  // identify), `disconnected` when its last one closed. They run one at a time on a swarm I/O
  // thread, in the order the transitions happened, with no swarm lock held (they may call the
  // Swarm); they must not block.
  using PeerEvent = std::function<void(const PeerId& peer)>;
  void SetPeerEvents(PeerEvent connected, PeerEvent disconnected);

  // Connects to `addr` (which may carry /p2p/ID, checked in the handshake), or reuses an open
  // connection to that peer. Dials to one peer are deduplicated.
  void Connect(const Multiaddr& addr, std::function<void(Status, PeerId)> done);
  // Closes every connection to `peer` gracefully (GoAway). NotFound when not connected.
  Status Disconnect(const PeerId& peer);
  std::vector<PeerInfo> Peers() const;
  bool IsConnected(const PeerId& peer) const;

  // Opens a stream to a connected peer, proposing `protocols` in order.
  void NewStream(const PeerId& peer, std::vector<std::string> protocols,
                 std::function<void(Status, StreamPtr)> done);
  // One /ipfs/ping/1.0.0 round trip.
  void Ping(const PeerId& peer, std::function<void(Status, int64_t rtt_ns)> done);

  // Connection-manager tags: a peer's value is the sum of its tags (Bitswap sets them).
  void SetTag(const PeerId& peer, const std::string& tag, int value);
  void Protect(const PeerId& peer, const std::string& tag);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace boxcar::p2p
