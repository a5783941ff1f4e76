// conn_manager: admits connections and picks which to trim.
//
// Two slots use this interface: strategies.conn_manager for the HTTP gateway's connections, and
// p2p.conn_manager for the libp2p swarm's (API 1.2). A plugin can tell them apart by
// ConnInfo::peer_id, which is set on every libp2p connection and empty on every HTTP one.
//
// Who calls what: the frontend calls Admit for each accepted connection (from I/O threads),
// before reading from it; a refused connection is closed at once. The host's maintenance thread
// calls SelectTrim about once a second with every open connection; the host closes the returned
// ones gracefully (HTTP: after their in-flight responses; libp2p: with a yamux GoAway).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "boxcar/plugin.h"

namespace boxcar {

// Which side opened a connection (API 1.2).
enum class ConnDirection : uint8_t {
  kUnknown = 0,   // HTTP connections, and plugins' own test values
  kInbound = 1,   // the remote dialed this node
  kOutbound = 2,  // this node dialed the remote
};

// One open connection, as the host sees it when it calls the plugin. The host passes only
// connections that finished their handshakes (for libp2p: multistream, Noise and yamux).
struct ConnInfo {
  uint64_t id = 0;             // unique among the connections of one slot while open
  std::string peer;            // client identity: address or configured header; libp2p: PeerID
  int64_t opened_ns = 0;       // host clock
  int64_t last_active_ns = 0;  // last request or response byte (libp2p: last frame)
  uint32_t inflight = 0;       // requests being served (libp2p: equals open_streams)
  bool is_protected = false;   // protected by the host (e.g. admin, p2p.peers); never trim

  // ---- API 1.2: filled for libp2p connections; HTTP connections keep these defaults ----

  // The remote's PeerID in base58btc ("12D3KooW..."), the same for every connection to that
  // peer; empty for HTTP connections. Plugins group a peer's connections by it: go-libp2p trims
  // whole peers, not single connections.
  std::string peer_id;
  ConnDirection direction = ConnDirection::kUnknown;
  // Yamux streams open on this connection now, in both directions.
  uint32_t open_streams = 0;
  // The sum of the values of every tag the host has set on the peer (go-libp2p's TagPeer; the
  // Bitswap score ledger will set them). The same on every connection of one peer; higher means
  // more useful. 0 when untagged and for HTTP connections.
  int64_t peer_tag_sum = 0;
};

// Resource use, sampled by the host before each call.
struct ResourcePressure {
  uint64_t open_fds = 0;
  uint64_t fd_limit = 0;
  uint64_t rss_bytes = 0;
  uint64_t memory_limit_bytes = 0;  // the memory budget or cgroup limit; 0 when unknown
};

template <class Impl>
class ConnManagerGuard;

class ConnManager : public Plugin {
 public:
  static constexpr PluginKind kKind = PluginKind::kConnManager;
  template <class Impl>
  using Guard = ConnManagerGuard<Impl>;

  // Accept `conn`? `open_conns` counts connections already open, not this one.
  virtual bool Admit(const ConnInfo& conn, size_t open_conns, const ResourcePressure& pressure) = 0;

  // Ids of the connections to close now, chosen from `conns`.
  virtual std::vector<uint64_t> SelectTrim(const std::vector<ConnInfo>& conns, int64_t now_ns,
                                           const ResourcePressure& pressure) = 0;
};

template <class Impl>
class ConnManagerGuard final : public detail::GuardedPlugin<Impl> {
 public:
  using detail::GuardedPlugin<Impl>::GuardedPlugin;
  // A failing manager admits (refusing everyone would be an outage) and trims nothing.
  bool Admit(const ConnInfo& conn, size_t open_conns, const ResourcePressure& pressure) override {
    return detail::Contain(this->hs(), "Admit", true,
                           [&] { return Impl::Admit(conn, open_conns, pressure); });
  }
  std::vector<uint64_t> SelectTrim(const std::vector<ConnInfo>& conns, int64_t now_ns,
                                   const ResourcePressure& pressure) override {
    return detail::Contain(this->hs(), "SelectTrim", std::vector<uint64_t>(),
                           [&] { return Impl::SelectTrim(conns, now_ns, pressure); });
  }
};

}  // namespace boxcar
