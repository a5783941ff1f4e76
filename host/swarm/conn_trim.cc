// The p2p.conn_manager slot (admission at accept, a trim every second that closes the chosen
// connections with GoAway) and static peering (kept connected with exponential backoff,
// protected from trimming).
#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "obs/process_sample.h"
#include "runtime/runtime.h"
#include "swarm/swarm_impl.h"

namespace boxcar::p2p {
namespace asio = boost::asio;

namespace {
constexpr auto kTrimInterval = std::chrono::seconds(1);
constexpr char kStaticTag[] = "static-peering";

}  // namespace

bool Swarm::Impl::AdmitInbound(const std::string& who) {
  if (!runtime_) return true;
  ConnInfo info;
  info.id = 0;
  info.peer = who;  // the PeerID is not known before the handshake
  info.direction = ConnDirection::kInbound;
  info.opened_ns = SwarmNowNs();
  info.last_active_ns = info.opened_ns;
  size_t open = pending_handshakes_.load();
  {
    std::lock_guard lock(mu_);
    for (const auto& [peer, state] : peers_) open += state.conns.size();
  }
  const ResourcePressure pressure = Pressure(open);
  return runtime_->Call<ConnManager>(runtime::kP2pConnManagerSlot, [&](ConnManager& manager) {
    return manager.Admit(info, open, pressure);
  });
}

void Swarm::Impl::StartConnManager() {
  if (!runtime_) return;
  if (!trim_timer_) SampleProcess();  // before the first accept asks for admission
  trim_timer_ = std::make_unique<asio::steady_timer>(*contexts_[0]);
  trim_timer_->expires_after(kTrimInterval);
  trim_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_.load()) return;
    TrimTick();
    StartConnManager();
  });
}

// The process's memory and descriptors as last sampled (each trim tick), so the adaptive plugin
// sees memory pressure; `p2p_conns` bounds the descriptors from below between samples.
ResourcePressure Swarm::Impl::Pressure(size_t p2p_conns) {
  obs::ProcessSample sample;
  {
    std::lock_guard lock(mu_);
    sample = process_sample_;
  }
  ResourcePressure pressure;
  pressure.open_fds = std::max<uint64_t>(sample.open_fds, p2p_conns);
  pressure.fd_limit = sample.fd_limit;
  pressure.rss_bytes = sample.rss_bytes;
  pressure.memory_limit_bytes = sample.memory_limit_bytes;
  return pressure;
}

void Swarm::Impl::SampleProcess() {
  const obs::ProcessSample sample = obs::SampleProcess();
  std::lock_guard lock(mu_);
  process_sample_ = sample;
}

void Swarm::Impl::TrimTick() {
  SampleProcess();
  std::vector<ConnInfo> snapshot;
  std::map<uint64_t, std::shared_ptr<Connection>> by_id;
  {
    std::lock_guard lock(mu_);
    for (const auto& [peer, state] : peers_) {
      const bool is_protected = state.is_static || !state.protections.empty();
      int64_t tag_sum = 0;
      for (const auto& [tag, value] : state.tags) tag_sum += value;
      for (const auto& conn : state.conns) {
        ConnInfo info;
        info.id = conn->id();
        info.peer = peer.ToString();
        info.peer_id = info.peer;
        info.opened_ns = conn->opened_ns();
        info.last_active_ns = conn->last_active_ns();
        info.inflight = conn->stream_count();
        info.open_streams = info.inflight;
        info.is_protected = is_protected;
        info.direction = conn->outbound() ? ConnDirection::kOutbound : ConnDirection::kInbound;
        info.peer_tag_sum = tag_sum;
        snapshot.push_back(std::move(info));
        by_id.emplace(conn->id(), conn);
      }
    }
  }
  if (snapshot.empty()) return;
  const ResourcePressure pressure = Pressure(snapshot.size());
  const int64_t now = SwarmNowNs();
  const std::vector<uint64_t> victims = runtime_->Call<ConnManager>(
      runtime::kP2pConnManagerSlot,
      [&](ConnManager& manager) { return manager.SelectTrim(snapshot, now, pressure); });
  for (uint64_t id : victims) {
    auto it = by_id.find(id);
    if (it == by_id.end()) continue;
    std::shared_ptr<Connection> conn = it->second;
    spdlog::debug("p2p: the conn_manager trims a connection to {}", conn->peer().ToString());
    asio::post(conn->io_context(), [conn] { conn->GoAwayAndClose(); });
  }
}

void Swarm::Impl::SetStaticPeers(const std::vector<Multiaddr>& addrs) {
  std::map<PeerId, Multiaddr> wanted;
  for (const Multiaddr& addr : addrs) {
    const std::optional<PeerId> peer = addr.Peer();
    if (!peer) {
      spdlog::warn("p2p.peers: {} has no /p2p/ID; it is not kept connected", addr.ToString());
      continue;
    }
    wanted[*peer] = addr;
  }
  for (auto it = static_peers_.begin(); it != static_peers_.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    it->second.timer->cancel();
    std::lock_guard lock(mu_);
    if (auto state = peers_.find(it->first); state != peers_.end()) {
      state->second.is_static = false;
      state->second.protections.erase(kStaticTag);
    }
    it = static_peers_.erase(it);
  }
  for (auto& [peer, addr] : wanted) {
    auto [it, added] = static_peers_.try_emplace(peer);
    it->second.addr = addr;
    if (!added) continue;
    it->second.timer = std::make_unique<asio::steady_timer>(*contexts_[0]);
    {
      std::lock_guard lock(mu_);
      PeerState& state = peers_[peer];
      state.is_static = true;
      state.protections.insert(kStaticTag);
    }
    DialStatic(peer);
  }
}

// On contexts_[0].
void Swarm::Impl::DialStatic(const PeerId& peer) {
  auto it = static_peers_.find(peer);
  if (stopping_.load() || it == static_peers_.end()) return;
  Dial(it->second.addr, [this, peer](Status status, PeerId) {
    asio::post(*contexts_[0], [this, peer, status] {
      auto found = static_peers_.find(peer);
      if (stopping_.load() || found == static_peers_.end()) return;
      StaticPeer& entry = found->second;
      if (status.ok()) {
        entry.backoff = std::chrono::milliseconds(0);
        return;
      }
      entry.backoff = entry.backoff.count() == 0
                          ? options_.dial_backoff_initial
                          : std::min(entry.backoff * 2, options_.dial_backoff_max);
      spdlog::info("p2p: static peer {} unreachable ({}); next try in {} ms", entry.addr.ToString(),
                   status.message(), entry.backoff.count());
      RedialStatic(peer, entry.backoff);
    });
  });
}

void Swarm::Impl::RedialStatic(const PeerId& peer, std::chrono::milliseconds wait) {
  auto it = static_peers_.find(peer);
  if (it == static_peers_.end()) return;
  it->second.timer->expires_after(wait);
  it->second.timer->async_wait([this, peer](const boost::system::error_code& ec) {
    if (!ec) DialStatic(peer);
  });
}

void Swarm::Impl::StaticPeerLost(const PeerId& peer) {
  asio::post(*contexts_[0], [this, peer] {
    auto it = static_peers_.find(peer);
    if (stopping_.load() || it == static_peers_.end()) return;
    RedialStatic(peer, std::max(it->second.backoff, options_.dial_backoff_initial));
  });
}

}  // namespace boxcar::p2p
