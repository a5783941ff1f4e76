#include "swarm/swarm.h"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>

#include "obs/metrics.h"
#include "swarm/interface_addrs.h"
#include "swarm/stream_impl.h"
#include "swarm/swarm_impl.h"

namespace boxcar::p2p {
namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
constexpr auto kStopGrace = std::chrono::seconds(2);

Status EndpointOf(const Multiaddr& addr, tcp::endpoint* out) {
  const auto target = addr.Tcp();
  if (!target || target->is_dns) {
    return Status::InvalidArgument(addr.ToString() +
                                   ": not an /ip4/A/tcp/P or /ip6/A/tcp/P address");
  }
  error_code ec;
  const asio::ip::address ip = asio::ip::make_address(target->host, ec);
  if (ec) return Status::InvalidArgument(addr.ToString() + ": bad IP address " + target->host);
  *out = tcp::endpoint(ip, target->port);
  return Status::OK();
}
}  // namespace

Swarm::Impl::Impl(SwarmOptions options, Ed25519Key identity, obs::MetricsRegistry* metrics,
                  runtime::Runtime* runtime)
    : options_(std::move(options)),
      live_(options_),
      identity_(std::move(identity)),
      local_peer_(PeerId::FromPublicKeyProto(identity_.PublicKeyProto())),
      runtime_(runtime) {
  // One signed static key for every handshake, as js-libp2p keeps one: a key generation and a
  // signature less per connection. Without it each handshake makes its own.
  if (Status s = NoiseStaticKey::Generate(identity_, &noise_static_key_); !s.ok()) {
    spdlog::warn("p2p: no shared Noise static key ({}); each handshake makes one", s.message());
  }
  if (!metrics) {
    own_metrics_ = std::make_unique<obs::MetricsRegistry>();
    metrics = own_metrics_.get();
  }
  metrics_ = std::make_unique<SwarmMetrics>(*metrics->registry());
  if (options_.io_threads < 1) options_.io_threads = 1;
  if (options_.agent_version.empty()) options_.agent_version = "boxcar";
  for (int i = 0; i < options_.io_threads; ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
  }
  events_strand_.emplace(asio::make_strand(contexts_[0]->get_executor()));
  RegisterIdentify();
  RegisterPing();
}

Swarm::Impl::~Impl() = default;

void LiveLimits::Set(const SwarmOptions& options) {
  conns_per_peer.store(options.max_conns_per_peer);
  inbound_streams_per_peer.store(options.max_inbound_streams_per_peer);
  pending_handshakes.store(options.max_pending_handshakes);
  pending_handshakes_per_ip.store(options.max_pending_handshakes_per_ip);
  conn_buffer_bytes.store(options.max_conn_buffer_bytes);
  handshake_timeout_ms.store(options.handshake_timeout.count());
}

ConnectionLimits Swarm::Impl::limits() const {
  ConnectionLimits limits;
  limits.inbound_streams_per_peer = live_.inbound_streams_per_peer.load();
  limits.buffer_bytes = live_.conn_buffer_bytes.load();
  limits.handshake_timeout = std::chrono::milliseconds(live_.handshake_timeout_ms.load());
  return limits;
}

asio::io_context& Swarm::Impl::NextContext() {
  return *contexts_[next_context_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

bool Swarm::Impl::SupportsProtocol(std::string_view protocol) const {
  return handlers_.find(protocol) != handlers_.end();
}

void Swarm::Impl::DispatchInbound(const StreamPtr& stream) {
  auto it = handlers_.find(stream->protocol());
  if (it == handlers_.end()) {
    stream->Reset();
    return;
  }
  it->second(stream);
}

void Swarm::Impl::OnRtt(Connection& conn, int64_t rtt_ns) {
  metrics_->PingRtt(rtt_ns);
  std::lock_guard lock(mu_);
  auto it = peers_.find(conn.peer());
  if (it != peers_.end()) it->second.latency_ns = rtt_ns;
}

void Swarm::Impl::Track(const std::shared_ptr<Connection>& conn, const std::string& source_ip) {
  pending_handshakes_.fetch_add(1);
  (source_ip.empty() ? pending_outbound_ : pending_inbound_).fetch_add(1);
  std::lock_guard lock(mu_);
  upgrading_[conn->id()] = conn;
  if (source_ip.empty()) return;
  upgrading_sources_[conn->id()] = source_ip;
  ++pending_per_ip_[source_ip];
}

const char* Swarm::Impl::PendingHandshakeRefusal(const std::string& source_ip) {
  if (pending_inbound_.load() >= live_.pending_handshakes.load()) {
    return "too many pending handshakes (p2p.max_pending_handshakes)";
  }
  std::lock_guard lock(mu_);
  auto it = pending_per_ip_.find(source_ip);
  if (it != pending_per_ip_.end() && it->second >= live_.pending_handshakes_per_ip.load()) {
    return "too many pending handshakes from this address (p2p.max_pending_handshakes_per_ip)";
  }
  return nullptr;
}

void Swarm::Impl::LogRefusal(const std::string& who, const std::string& why) {
  uint64_t suppressed = 0;
  if (!log_limiter_.Allow(who, SwarmNowNs(), &suppressed)) return;
  spdlog::warn("p2p: refused {}: {} ({} similar lines suppressed before)", who, why, suppressed);
}

// EMFILE and the like last a while: accepting again at once would spin, so wait a little.
void Swarm::Impl::RetryAcceptLater(size_t listener, const error_code& ec) {
  uint64_t suppressed = 0;
  if (log_limiter_.Allow("accept", SwarmNowNs(), &suppressed)) {
    spdlog::warn("p2p accept failed: {} (retrying every {} ms; {} similar lines suppressed before)",
                 ec.message(), kAcceptRetryDelay.count(), suppressed);
  }
  boost::asio::steady_timer& timer = *accept_retry_[listener];
  timer.expires_after(kAcceptRetryDelay);
  timer.async_wait([this, listener](const error_code& wait_ec) {
    if (!wait_ec && !stopping_.load()) Accept(listener);
  });
}

void Swarm::Impl::Accept(size_t listener) {
  tcp::acceptor& acceptor = *acceptors_[listener];
  asio::io_context& target = NextContext();
  acceptor.async_accept(target,
                        [this, listener, &target](const error_code& ec, tcp::socket socket) {
                          if (stopping_.load()) return;
                          if (ec) {
                            if (ec == asio::error::operation_aborted) return;
                            RetryAcceptLater(listener, ec);
                            return;
                          }
                          error_code endpoint_ec;
                          const tcp::endpoint remote = socket.remote_endpoint(endpoint_ec);
                          const std::string who = endpoint_ec ? "?" : remote.address().to_string();
                          if (const char* refusal = PendingHandshakeRefusal(who)) {
                            metrics_->Refused(RefusedReason::kPendingHandshakes);
                            LogRefusal(who, refusal);
                          } else if (!AdmitInbound(who)) {
                            metrics_->Refused(RefusedReason::kConnManager);
                            LogRefusal(who, "the p2p conn_manager refused the connection");
                          } else {
                            auto conn = std::make_shared<Connection>(
                                this, target, false, std::nullopt, next_conn_id_.fetch_add(1));
                            Track(conn, who);
                            asio::post(target, [conn, socket = std::move(socket)]() mutable {
                              conn->Accept(std::move(socket));
                            });
                          }
                          Accept(listener);
                        });
}

void Swarm::Impl::OnUpgraded(const std::shared_ptr<Connection>& conn, HandshakeResult result,
                             const Status& status) {
  pending_handshakes_.fetch_sub(1);
  metrics_->Handshake(result);
  {
    std::lock_guard lock(mu_);
    upgrading_.erase(conn->id());
    auto source = upgrading_sources_.find(conn->id());
    if (source == upgrading_sources_.end()) {
      pending_outbound_.fetch_sub(1);
    } else {
      pending_inbound_.fetch_sub(1);
      auto count = pending_per_ip_.find(source->second);
      if (--count->second == 0) pending_per_ip_.erase(count);
      upgrading_sources_.erase(source);
    }
  }
  if (result != HandshakeResult::kOk) {
    spdlog::debug("p2p: handshake with {} failed: {}", conn->remote_addr().ToString(),
                  status.message());
    FinishDial(conn->id(), conn->expected_peer().value_or(PeerId()), status);
    return;
  }
  const PeerId peer = conn->peer();
  bool refused = false;
  {
    std::lock_guard lock(mu_);
    PeerState& state = peers_[peer];
    if (stopping_.load() || state.conns.size() >= live_.conns_per_peer.load()) {
      refused = true;
    } else {
      state.conns.push_back(conn);
      conn->Activate(state.inbound_streams);
      if (state.conns.size() == 1) PostPeerEvent(on_peer_connected_, peer);
    }
  }
  if (refused) {
    metrics_->Refused(RefusedReason::kConnsPerPeer);
    LogRefusal(peer.ToString(), "too many connections from one peer (p2p.max_conns_per_peer)");
    conn->GoAwayAndClose();
    // The peer is reachable: a deduplicated dial to it succeeded.
    FinishDial(conn->id(), peer, Status::OK());
    return;
  }
  RunIdentify(conn, [this, id = conn->id(), peer] { FinishDial(id, peer, Status::OK()); });
}

void Swarm::Impl::OnClosed(const std::shared_ptr<Connection>& conn) {
  const PeerId peer = conn->peer();
  bool static_lost = false;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(peer);
    if (it != peers_.end()) {
      auto& conns = it->second.conns;
      const size_t before = conns.size();
      conns.erase(std::remove(conns.begin(), conns.end(), conn), conns.end());
      if (conns.empty() && before > 0) {
        PostPeerEvent(on_peer_disconnected_, peer);
        static_lost = it->second.is_static;
        if (!it->second.is_static && it->second.tags.empty() && it->second.protections.empty()) {
          peers_.erase(it);
        }
      }
    }
  }
  FinishDial(conn->id(), peer, Status::Unavailable("the connection closed"));
  if (static_lost && !stopping_.load()) StaticPeerLost(peer);
}

void Swarm::Impl::PostPeerEvent(const PeerEvent& event, const PeerId& peer) {
  if (event) asio::post(*events_strand_, [event, peer] { event(peer); });
}

void Swarm::Impl::FinishDial(uint64_t conn_id, const PeerId& peer, const Status& status) {
  std::vector<std::function<void(Status, PeerId)>> waiting;
  {
    std::lock_guard lock(mu_);
    if (auto it = conn_dials_.find(conn_id); it != conn_dials_.end()) {
      waiting.push_back(std::move(it->second));
      conn_dials_.erase(it);
    }
    if (!peer.empty()) {
      if (auto it = dials_.find(peer); it != dials_.end()) {
        for (auto& done : it->second) waiting.push_back(std::move(done));
        dials_.erase(it);
      }
    }
  }
  for (auto& done : waiting) done(status, peer);
}

void Swarm::Impl::Dial(const Multiaddr& addr, std::function<void(Status, PeerId)> done) {
  auto fail = [this, &done](Status status) {
    asio::post(*contexts_[0], [done = std::move(done), status] { done(status, PeerId()); });
  };
  if (stopping_.load() || !started_) return fail(Status::Unavailable("the swarm is not running"));
  const auto target = addr.Tcp();
  if (!target) {
    return fail(Status::InvalidArgument(
        addr.ToString() + ": cannot dial: not an /ip4|ip6|dns/HOST/tcp/PORT address"));
  }
  const std::optional<PeerId> expected = addr.Peer();
  if (expected && *expected == local_peer_) {
    return fail(Status::InvalidArgument(addr.ToString() + ": cannot dial ourselves"));
  }
  if (expected) {
    std::lock_guard lock(mu_);
    auto it = peers_.find(*expected);
    if (it != peers_.end() && !it->second.conns.empty()) {
      asio::post(it->second.conns.front()->io_context(),
                 [done = std::move(done), peer = *expected] { done(Status::OK(), peer); });
      return;
    }
    auto [dial, first] = dials_.try_emplace(*expected);
    dial->second.push_back(std::move(done));
    if (!first) return;  // deduplicated: the dial in flight answers it too
  }
  if (pending_outbound_.load() >= live_.pending_handshakes.load()) {
    metrics_->Refused(RefusedReason::kPendingHandshakes);
    const Status busy = Status::Busy("cannot dial " + addr.ToString() +
                                     ": too many pending handshakes (p2p.max_pending_handshakes)");
    if (expected) {
      asio::post(*contexts_[0], [this, peer = *expected, busy] { FinishDial(0, peer, busy); });
      return;
    }
    return fail(busy);
  }
  asio::io_context& ctx = NextContext();
  auto conn = std::make_shared<Connection>(this, ctx, true, expected, next_conn_id_.fetch_add(1));
  if (!expected) {
    std::lock_guard lock(mu_);
    conn_dials_[conn->id()] = std::move(done);
  }
  Track(conn, "");
  if (!target->is_dns) {
    tcp::endpoint endpoint;
    if (Status s = EndpointOf(addr.WithoutPeer(), &endpoint); !s.ok()) {
      asio::post(ctx, [conn, s] { conn->Close(s); });
      return;
    }
    asio::post(ctx, [conn, endpoint] { conn->Dial(endpoint); });
    return;
  }
  auto resolver = std::make_shared<tcp::resolver>(ctx);
  resolver->async_resolve(target->host, std::to_string(target->port),
                          [conn, resolver, host = target->host](
                              const error_code& ec, tcp::resolver::results_type results) {
                            if (ec || results.empty()) {
                              conn->Dial(tcp::endpoint());  // fails fast; the upgrade reports it
                              return;
                            }
                            conn->Dial(results.begin()->endpoint());
                          });
}

std::shared_ptr<Connection> Swarm::Impl::PickConnection(const PeerId& peer) const {
  std::lock_guard lock(mu_);
  auto it = peers_.find(peer);
  if (it == peers_.end() || it->second.conns.empty()) return nullptr;
  const auto& conns = it->second.conns;
  return *std::min_element(conns.begin(), conns.end(), [](const auto& a, const auto& b) {
    return a->stream_count() < b->stream_count();
  });
}

// ---- Swarm ----

Swarm::Swarm(SwarmOptions options, Ed25519Key identity, obs::MetricsRegistry* metrics,
             runtime::Runtime* runtime)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(identity), metrics, runtime)) {}

Swarm::~Swarm() { Stop(); }

Status Swarm::Start() {
  Impl& d = *impl_;
  if (d.started_) return Status::OK();
  for (const Multiaddr& addr : d.options_.listen) {
    tcp::endpoint endpoint;
    if (Status s = EndpointOf(addr, &endpoint); !s.ok()) return s.Annotate("p2p.listen");
    auto acceptor = std::make_unique<tcp::acceptor>(*d.contexts_[0]);
    error_code ec;
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && endpoint.address().is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Status::IOError("p2p.listen: cannot listen on " + addr.ToString() + ": " +
                             ec.message());
    }
    const tcp::endpoint bound = acceptor->local_endpoint(ec);
    d.listen_addrs_.push_back(Multiaddr::FromTcp(bound.address().to_string(), bound.port()));
    for (Multiaddr& advertised : ExpandWildcard(d.listen_addrs_.back())) {
      d.advertised_addrs_.push_back(std::move(advertised));
    }
    d.acceptors_.push_back(std::move(acceptor));
    d.accept_retry_.push_back(std::make_unique<asio::steady_timer>(*d.contexts_[0]));
  }
  d.started_ = true;
  for (auto& ctx : d.contexts_) d.guards_.push_back(asio::make_work_guard(*ctx));
  for (auto& ctx : d.contexts_) {
    d.threads_.emplace_back([ctx = ctx.get()] { ctx->run(); });
  }
  for (size_t i = 0; i < d.acceptors_.size(); ++i) {
    asio::post(*d.contexts_[0], [&d, i] { d.Accept(i); });
  }
  asio::post(*d.contexts_[0], [&d] {
    d.StartConnManager();
    d.SetStaticPeers(d.options_.static_peers);
  });
  std::vector<std::string> addrs;
  for (const auto& addr : d.listen_addrs_) addrs.push_back(addr.ToString());
  spdlog::info("p2p: peer {} listening on [{}] with {} I/O threads", d.local_peer_.ToString(),
               fmt::join(addrs, ", "), d.contexts_.size());
  return Status::OK();
}

void Swarm::Stop() {
  Impl& d = *impl_;
  if (!d.started_ || d.stopping_.exchange(true)) return;
  asio::post(*d.contexts_[0], [&d] {
    error_code ignored;
    for (auto& acceptor : d.acceptors_) acceptor->close(ignored);
    for (auto& timer : d.accept_retry_) timer->cancel();
    if (d.trim_timer_) d.trim_timer_->cancel();
    for (auto& [peer, entry] : d.static_peers_) entry.timer->cancel();
  });
  std::vector<std::shared_ptr<Connection>> conns;
  {
    std::lock_guard lock(d.mu_);
    for (auto& [peer, state] : d.peers_)
      conns.insert(conns.end(), state.conns.begin(), state.conns.end());
    for (auto& [id, weak] : d.upgrading_) {
      if (auto conn = weak.lock()) conns.push_back(conn);
    }
  }
  for (auto& conn : conns) {
    asio::post(conn->io_context(), [conn] { conn->GoAwayAndClose(); });
  }
  conns.clear();
  const auto deadline = std::chrono::steady_clock::now() + kStopGrace;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(d.mu_);
      bool open = !d.upgrading_.empty();
      for (auto& [peer, state] : d.peers_) open = open || !state.conns.empty();
      if (!open) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  d.guards_.clear();
  for (auto& ctx : d.contexts_) ctx->stop();
  for (auto& thread : d.threads_) thread.join();
  d.threads_.clear();
  std::vector<std::function<void(Status, PeerId)>> unanswered;
  {
    std::lock_guard lock(d.mu_);
    d.peers_.clear();
    for (auto& [peer, waiting] : d.dials_) {
      for (auto& done : waiting) unanswered.push_back(std::move(done));
    }
    for (auto& [id, done] : d.conn_dials_) unanswered.push_back(std::move(done));
    d.dials_.clear();
    d.conn_dials_.clear();
    d.upgrading_.clear();
  }
  // Dials still in flight get their answer here, as the I/O threads are gone.
  for (auto& done : unanswered) done(Status::Unavailable("the swarm stopped"), PeerId());
}

const PeerId& Swarm::local_peer() const { return impl_->local_peer_; }
const Ed25519Key& Swarm::identity() const { return impl_->identity_; }
std::vector<Multiaddr> Swarm::ListenAddrs() const { return impl_->listen_addrs_; }

std::vector<Multiaddr> Swarm::AdvertisedAddrs() const { return impl_->advertised_addrs_; }

std::vector<std::string> Swarm::Protocols() const {
  std::vector<std::string> protocols;
  for (const auto& [protocol, handler] : impl_->handlers_) protocols.push_back(protocol);
  return protocols;  // the map keeps them sorted
}

void Swarm::Reconfigure(const SwarmOptions& options) {
  Impl& d = *impl_;
  d.live_.Set(options);
  if (!d.started_ || d.stopping_.load()) return;
  asio::post(*d.contexts_[0], [&d, peers = options.static_peers] {
    if (!d.stopping_.load()) d.SetStaticPeers(peers);
  });
}

void Swarm::Handle(const std::string& protocol, StreamHandler handler) {
  impl_->handlers_[protocol] = std::move(handler);
}

void Swarm::SetPeerEvents(PeerEvent connected, PeerEvent disconnected) {
  impl_->on_peer_connected_ = std::move(connected);
  impl_->on_peer_disconnected_ = std::move(disconnected);
}

void Swarm::Connect(const Multiaddr& addr, std::function<void(Status, PeerId)> done) {
  impl_->Dial(addr, std::move(done));
}

Status Swarm::Disconnect(const PeerId& peer) {
  std::vector<std::shared_ptr<Connection>> conns;
  {
    std::lock_guard lock(impl_->mu_);
    auto it = impl_->peers_.find(peer);
    if (it != impl_->peers_.end()) conns = it->second.conns;
  }
  if (conns.empty()) return Status::NotFound("not connected to " + peer.ToString());
  for (auto& conn : conns) {
    asio::post(conn->io_context(), [conn] { conn->GoAwayAndClose(); });
  }
  return Status::OK();
}

std::vector<PeerInfo> Swarm::Peers() const {
  std::vector<PeerInfo> peers;
  std::lock_guard lock(impl_->mu_);
  for (const auto& [id, state] : impl_->peers_) {
    if (state.conns.empty()) continue;
    PeerInfo info;
    info.peer = id;
    const Connection& first = *state.conns.front();
    info.addr = first.remote_addr();
    info.direction = first.outbound() ? Direction::kOutbound : Direction::kInbound;
    info.latency_ns = state.latency_ns ? state.latency_ns : first.rtt_ns();
    info.protocols = state.identify.protocols;
    info.agent_version = state.identify.agent_version.value_or("");
    info.connections = static_cast<uint32_t>(state.conns.size());
    for (const auto& conn : state.conns) info.streams += conn->stream_count();
    peers.push_back(std::move(info));
  }
  return peers;
}

bool Swarm::IsConnected(const PeerId& peer) const {
  std::lock_guard lock(impl_->mu_);
  auto it = impl_->peers_.find(peer);
  return it != impl_->peers_.end() && !it->second.conns.empty();
}

void Swarm::NewStream(const PeerId& peer, std::vector<std::string> protocols,
                      std::function<void(Status, StreamPtr)> done) {
  std::shared_ptr<Connection> conn = impl_->PickConnection(peer);
  if (!conn) {
    asio::post(*impl_->contexts_[0], [done = std::move(done), peer] {
      done(Status::NotFound("not connected to " + peer.ToString()), nullptr);
    });
    return;
  }
  asio::post(conn->io_context(),
             [conn, protocols = std::move(protocols), done = std::move(done)]() mutable {
               conn->OpenStream(std::move(protocols), std::move(done));
             });
}

void Swarm::Ping(const PeerId& peer, std::function<void(Status, int64_t)> done) {
  std::shared_ptr<Connection> conn = impl_->PickConnection(peer);
  if (!conn) {
    asio::post(*impl_->contexts_[0], [done = std::move(done), peer] {
      done(Status::NotFound("not connected to " + peer.ToString()), 0);
    });
    return;
  }
  impl_->PingOn(conn, std::move(done));
}

void Swarm::SetTag(const PeerId& peer, const std::string& tag, int value) {
  std::lock_guard lock(impl_->mu_);
  impl_->peers_[peer].tags[tag] = value;
}

void Swarm::Protect(const PeerId& peer, const std::string& tag) {
  std::lock_guard lock(impl_->mu_);
  impl_->peers_[peer].protections.insert(tag);
}

}  // namespace boxcar::p2p
