#include "swarm/interface_addrs.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>

#include <boost/asio/ip/address.hpp>

namespace boxcar::p2p {

std::vector<Multiaddr> ExpandWildcard(const Multiaddr& addr) {
  const auto tcp = addr.Tcp();
  if (!tcp || (tcp->host != "0.0.0.0" && tcp->host != "::")) return {addr};
  const bool v4 = tcp->host == "0.0.0.0";
  std::vector<Multiaddr> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return {addr};
  for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr) continue;
    boost::asio::ip::address ip;
    if (v4 && it->ifa_addr->sa_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(it->ifa_addr);
      ip = boost::asio::ip::address_v4(ntohl(sin->sin_addr.s_addr));
    } else if (!v4 && it->ifa_addr->sa_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(it->ifa_addr);
      boost::asio::ip::address_v6::bytes_type bytes;
      std::copy(sin6->sin6_addr.s6_addr, sin6->sin6_addr.s6_addr + 16, bytes.begin());
      const boost::asio::ip::address_v6 v6(bytes);
      if (v6.is_link_local()) continue;
      ip = v6;
    } else {
      continue;
    }
    out.push_back(Multiaddr::FromTcp(ip.to_string(), tcp->port));
  }
  freeifaddrs(list);
  return out.empty() ? std::vector<Multiaddr>{addr} : out;
}

}  // namespace boxcar::p2p
