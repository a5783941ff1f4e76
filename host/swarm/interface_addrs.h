// The addresses a peer can dial for a listen address: a wildcard (0.0.0.0, ::) stands for every
// local address of its family, as Kubo's host reports them (peers given 0.0.0.0 could not dial
// it); link-local IPv6 addresses are left out. Other addresses are returned as they are.
//
// Thread safety: a free function (getifaddrs).
#pragma once

#include <vector>

#include "p2p/multiaddr.h"

namespace boxcar::p2p {

std::vector<Multiaddr> ExpandWildcard(const Multiaddr& addr);

}  // namespace boxcar::p2p
