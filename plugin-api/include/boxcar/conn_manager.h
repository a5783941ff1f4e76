// conn_manager: admits connections and picks which to trim.
//
// Who calls what: the frontend calls Admit for each accepted connection (from I/O threads),
// before reading from it; a refused connection is closed at once. The host's maintenance thread
// calls SelectTrim about once a second with every open connection; the host closes the returned
// ones gracefully (after their in-flight responses).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "boxcar/plugin.h"

namespace boxcar {

struct ConnInfo {
  uint64_t id = 0;
  std::string peer;            // client identity: address or configured header
  int64_t opened_ns = 0;       // host clock
  int64_t last_active_ns = 0;  // last request or response byte
  uint32_t inflight = 0;       // requests being served
  bool is_protected = false;   // protected by the host (e.g. admin); never trim
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
