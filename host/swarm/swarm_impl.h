// The swarm's internals, shared by swarm.cc (listeners, dialing, peers, limits), identify.cc,
// ping.cc and conn_trim.cc (the p2p.conn_manager slot).
//
// Locking: `mu` guards `peers`, `dials` and `refusal_log`. Connections are touched only on their
// own I/O thread; the swarm reaches them by posting there.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "boxcar/conn_manager.h"
#include "obs/process_sample.h"
#include "p2p/identify_message.h"
#include "swarm/connection.h"
#include "swarm/log_limiter.h"
#include "swarm/swarm.h"
#include "swarm/swarm_metrics.h"

namespace boxcar::p2p {

inline constexpr char kIdentifyProtocol[] = "/ipfs/id/1.0.0";
inline constexpr char kIdentifyPushProtocol[] = "/ipfs/id/push/1.0.0";
inline constexpr char kPingProtocol[] = "/ipfs/ping/1.0.0";

struct PeerState {
  std::vector<std::shared_ptr<Connection>> conns;  // upgraded and kept
  std::shared_ptr<std::atomic<uint32_t>> inbound_streams =
      std::make_shared<std::atomic<uint32_t>>(0);
  std::map<std::string, int> tags;
  std::set<std::string> protections;
  bool is_static = false;
  IdentifyMessage identify;  // merged from identify and pushes
  int64_t latency_ns = 0;
};

// A static peer's redial state.
struct StaticPeer {
  Multiaddr addr;
  std::chrono::milliseconds backoff{0};
  std::unique_ptr<boost::asio::steady_timer> timer;
};

// The limits that a reload changes while connections run.
struct LiveLimits {
  explicit LiveLimits(const SwarmOptions& options) { Set(options); }
  void Set(const SwarmOptions& options);
  std::atomic<uint32_t> conns_per_peer{0};
  std::atomic<uint32_t> inbound_streams_per_peer{0};
  std::atomic<uint32_t> pending_handshakes{0};
  std::atomic<uint32_t> pending_handshakes_per_ip{0};
  std::atomic<uint64_t> conn_buffer_bytes{0};
  std::atomic<int64_t> handshake_timeout_ms{0};
};

struct Swarm::Impl final : ConnectionHost {
  Impl(SwarmOptions options, Ed25519Key identity, obs::MetricsRegistry* metrics,
       runtime::Runtime* runtime);
  ~Impl() override;

  // ConnectionHost
  const Ed25519Key& identity() const override { return identity_; }
  std::shared_ptr<const NoiseStaticKey> noise_static_key() const override {
    return noise_static_key_;
  }
  ConnectionLimits limits() const override;
  SwarmMetrics* metrics() override { return metrics_.get(); }
  void OnUpgraded(const std::shared_ptr<Connection>& conn, HandshakeResult result,
                  const Status& status) override;
  void OnClosed(const std::shared_ptr<Connection>& conn) override;
  bool SupportsProtocol(std::string_view protocol) const override;
  void DispatchInbound(const StreamPtr& stream) override;
  void OnRtt(Connection& conn, int64_t rtt_ns) override;

  boost::asio::io_context& NextContext();
  void Accept(size_t listener);
  void RetryAcceptLater(size_t listener, const boost::system::error_code& ec);
  void Dial(const Multiaddr& addr, std::function<void(Status, PeerId)> done);
  void DialResolved(const Multiaddr& addr, const boost::asio::ip::tcp::endpoint& endpoint,
                    std::optional<PeerId> expected);
  // Completes the dial that made `conn` (if any) and every deduplicated dial to `peer`.
  void FinishDial(uint64_t conn_id, const PeerId& peer, const Status& status);
  // A connection starts its upgrade; `source_ip` is the inbound one's remote address, empty for
  // a dial. Each inbound handshake counts against its source IP until OnUpgraded.
  void Track(const std::shared_ptr<Connection>& conn, const std::string& source_ip);
  // Why an inbound connection from `source_ip` may not start a handshake now, or nullptr.
  const char* PendingHandshakeRefusal(const std::string& source_ip);
  void LogRefusal(const std::string& who, const std::string& why);
  std::shared_ptr<Connection> PickConnection(const PeerId& peer) const;
  bool IsProtected(const PeerId& peer) const;  // under mu

  // identify.cc
  void RegisterIdentify();
  void RunIdentify(const std::shared_ptr<Connection>& conn, std::function<void()> done);
  IdentifyMessage LocalIdentify(const Connection& conn) const;
  // Posts a peer event to events_strand_ (call under mu_, at the transition).
  void PostPeerEvent(const PeerEvent& event, const PeerId& peer);
  void MergeIdentified(const PeerId& peer, const std::string& public_key,
                       const IdentifyMessage& message);
  // ping.cc
  void RegisterPing();
  void PingOn(const std::shared_ptr<Connection>& conn, std::function<void(Status, int64_t)> done);
  // conn_trim.cc
  void StartConnManager();
  bool AdmitInbound(const std::string& who);  // the conn_manager's Admit, at accept
  void TrimTick();
  void SampleProcess();                         // refreshes process_sample_
  ResourcePressure Pressure(size_t p2p_conns);  // for the conn_manager's Admit and SelectTrim
  // On contexts_[0]: keeps exactly `addrs` as the static peers (new ones are dialed, dropped
  // ones lose their protection).
  void SetStaticPeers(const std::vector<Multiaddr>& addrs);
  void DialStatic(const PeerId& peer);
  void RedialStatic(const PeerId& peer, std::chrono::milliseconds wait);
  void StaticPeerLost(const PeerId& peer);

  SwarmOptions options_;  // as constructed; the limits in it are read through live_
  LiveLimits live_;
  Ed25519Key identity_;
  PeerId local_peer_;
  std::shared_ptr<const NoiseStaticKey> noise_static_key_;
  std::unique_ptr<SwarmMetrics> metrics_;
  std::unique_ptr<obs::MetricsRegistry> own_metrics_;  // when the caller passed none
  runtime::Runtime* runtime_;

  std::map<std::string, StreamHandler, std::less<>> handlers_;  // fixed after Start
  PeerEvent on_peer_connected_, on_peer_disconnected_;          // fixed after Start
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  // Peer events are posted here under mu_, so they run in the order of the transitions.
  // Declared after contexts_, so it goes before the io_context that owns its state.
  std::optional<boost::asio::strand<boost::asio::io_context::executor_type>> events_strand_;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::vector<std::unique_ptr<boost::asio::steady_timer>> accept_retry_;  // one per acceptor
  std::vector<Multiaddr> listen_addrs_;                                   // bound
  std::vector<Multiaddr> advertised_addrs_;  // bound, wildcards expanded
  std::atomic<size_t> next_context_{0};
  std::atomic<uint64_t> next_conn_id_{1};
  std::atomic<uint32_t> pending_handshakes_{0};  // both directions
  std::atomic<uint32_t> pending_inbound_{0};
  std::atomic<uint32_t> pending_outbound_{0};
  std::atomic<bool> stopping_{false};
  bool started_ = false;

  std::unique_ptr<boost::asio::steady_timer> trim_timer_;
  std::map<PeerId, StaticPeer> static_peers_;  // touched on contexts_[0] only

  mutable std::mutex mu_;
  std::map<PeerId, PeerState> peers_;
  // Dials in flight to a known peer: the callbacks waiting for it.
  std::map<PeerId, std::vector<std::function<void(Status, PeerId)>>> dials_;
  // Each dial's own callback, by connection id, until its upgrade and identify end.
  std::map<uint64_t, std::function<void(Status, PeerId)>> conn_dials_;
  // Connections whose upgrade is running: for Stop.
  std::map<uint64_t, std::weak_ptr<Connection>> upgrading_;
  std::map<uint64_t, std::string> upgrading_sources_;  // inbound ones: connection id -> source IP
  std::map<std::string, uint32_t> pending_per_ip_;     // source IP -> its inbound handshakes
  obs::ProcessSample process_sample_;                  // the last one, taken each trim tick
  // Refusal and accept-failure warnings: 10 s per source, 10 lines a second overall.
  LogLimiter log_limiter_{10'000'000'000, 10};
};

}  // namespace boxcar::p2p
