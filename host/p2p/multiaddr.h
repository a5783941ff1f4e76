// Multiaddrs (multiformats/multiaddr): the text form ("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...")
// and the binary form that identify carries. Supported protocols: ip4 (4), tcp (6), ip6 (41),
// dns (53), dns4 (54), dns6 (55), p2p (421, alias "ipfs"). Anything else is refused by name, so a
// config typo is caught at load time rather than at dial time.
//
// Thread safety: a value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "boxcar/status.h"
#include "p2p/peer_id.h"

namespace boxcar::p2p {

class Multiaddr {
 public:
  struct Component {
    uint32_t code = 0;  // multicodec
    std::string value;  // binary value as in the binary form (no length prefix)
  };

  Multiaddr() = default;
  // Errors name the text, the component and what is wrong ("/ip4/1.2.3/tcp/1: bad ip4 address
  // '1.2.3'").
  static Status Parse(std::string_view text, Multiaddr* out);
  static Status FromBytes(std::string_view bytes, Multiaddr* out);
  // "/ip4/A/tcp/P" or "/ip6/A/tcp/P" for an IP literal (v4-mapped v6 becomes ip4).
  static Multiaddr FromTcp(std::string_view ip, uint16_t port);

  std::string ToString() const;
  std::string ToBytes() const;
  const std::vector<Component>& components() const { return components_; }
  bool empty() const { return components_.empty(); }

  // The ip4/ip6 (or dns*) host and tcp port when this address is "/<ip|dns>/H/tcp/P[/p2p/ID]".
  struct TcpTarget {
    std::string host;  // IP literal or DNS name
    uint16_t port = 0;
    bool is_dns = false;
  };
  std::optional<TcpTarget> Tcp() const;
  // The trailing /p2p/ID, if any.
  std::optional<PeerId> Peer() const;
  // This address without its trailing /p2p/ID, and with one.
  Multiaddr WithoutPeer() const;
  Multiaddr WithPeer(const PeerId& peer) const;

  friend bool operator==(const Multiaddr& a, const Multiaddr& b) {
    return a.ToBytes() == b.ToBytes();
  }

 private:
  std::vector<Component> components_;
};

}  // namespace boxcar::p2p
