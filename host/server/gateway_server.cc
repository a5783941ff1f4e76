#include "server/gateway_server.h"

#include <sys/epoll.h>
#include <sys/resource.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "admin/admin_server.h"
#include "boxcar/conn_manager.h"
#include "obs/process_sample.h"
#include "server/gateway_connection.h"
#include "server/gateway_metrics.h"

namespace boxcar::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

constexpr auto kSweepInterval = std::chrono::milliseconds(250);
constexpr int64_t kSnapshotIntervalNs = 1'000'000'000;
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
// Readiness reports a worker takes from its readable set per wake-up; more wait for the next.
constexpr int kMaxReadablePerWait = 256;

}  // namespace

class GatewayServer::Impl {
 public:
  struct Worker;

  Impl(const runtime::GatewayConfig& config, runtime::Runtime& runtime,
       engine::RequestEngine& engine, prometheus::Registry& registry)
      : config_(config), limits_(config), runtime_(runtime), engine_(engine), metrics_(registry) {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) fd_limit_ = limit.rlim_cur;
  }

  Status Start();
  void Drain(int64_t timeout_ms);
  void Stop();

  std::string bound_address() const {
    std::lock_guard lock(address_mu_);
    return bound_address_;
  }
  uint64_t open_connections() const { return open_.load(std::memory_order_relaxed); }

  // Runs one batch of engine tasks on this worker's thread, and queues another turn behind the
  // thread's pending socket events while tasks remain.
  void RunEngine(Worker& worker);
  // A connection of `worker` closed.
  void Forget(Worker& worker, uint64_t id);

  const runtime::GatewayConfig config_;  // listen, io_threads, peer_header: fixed until restart
  GatewayLimits limits_;                 // what a reload may change
  runtime::Runtime& runtime_;
  engine::RequestEngine& engine_;
  GatewayMetrics metrics_;
  MissingBlockFetcher fetcher_;  // set before Start

 private:
  Status Listen(const tcp::endpoint& endpoint);
  void Accept();
  void Admit(Worker& worker, tcp::socket socket);
  void CloseAcceptor();
  void WaitReadable(Worker& worker);
  void Sweep(Worker& worker);
  void MaintainLoop();
  ResourcePressure Pressure();
  void Trim();

  std::vector<std::unique_ptr<Worker>> workers_;
  // On the first worker's io_context, used on its thread only.
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::steady_timer> accept_retry_;
  size_t next_worker_ = 0;
  std::vector<std::thread> threads_;
  std::thread maintainer_;
  int wakeup_id_ = 0;  // the engine wakeup registered at Start
  std::mutex maintain_mu_;
  std::condition_variable maintain_cv_;
  bool stopping_ = false;
  bool stopped_ = false;
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> open_{0};
  std::atomic<uint64_t> rss_bytes_{0};
  uint64_t fd_limit_ = 0;
  mutable std::mutex address_mu_;
  std::string bound_address_;
};

// One I/O thread: its io_context, sweep timer, readable set and connections.
struct GatewayServer::Impl::Worker final : ConnectionOwner {
  Worker(Impl& owner, size_t position)
      : server(owner), index(position), sweep_timer(ioc), readable_set(ioc) {
    const int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd >= 0) readable_set.assign(fd);
  }

  const runtime::GatewayConfig& config() const override { return server.config_; }
  const GatewayLimits& limits() const override { return server.limits_; }
  engine::RequestEngine& engine() override { return server.engine_; }
  GatewayMetrics& metrics() override { return server.metrics_; }
  const MissingBlockFetcher& fetcher() const override { return server.fetcher_; }
  void RunEngine() override { server.RunEngine(*this); }
  void Forget(uint64_t id) override { server.Forget(*this, id); }
  bool WatchReadable(int fd, uint64_t id) override {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    event.data.u64 = id;
    return epoll_ctl(readable_set.native_handle(), EPOLL_CTL_ADD, fd, &event) == 0;
  }

  Impl& server;
  size_t index;
  asio::io_context ioc{1};
  asio::steady_timer sweep_timer;
  uint64_t next_serial = 0;
  bool engine_turn_posted = false;
  std::unordered_map<uint64_t, std::shared_ptr<Connection>> connections;
  int64_t last_snapshot_ns = 0;
  std::mutex snapshot_mu;
  std::vector<ConnInfo> snapshot;  // for the conn_manager's SelectTrim
  // The connections' sockets, edge-triggered for input, keyed by connection id, watched by Asio
  // as one descriptor: a connection reads only after this set reported new bytes.
  asio::posix::stream_descriptor readable_set;
};

void GatewayServer::Impl::RunEngine(Worker& worker) {
  if (!engine_.Pump() || worker.engine_turn_posted) return;
  worker.engine_turn_posted = true;
  asio::post(worker.ioc, [this, &worker] {
    worker.engine_turn_posted = false;
    RunEngine(worker);
  });
}

void GatewayServer::Impl::Forget(Worker& worker, uint64_t id) {
  open_.fetch_sub(1, std::memory_order_relaxed);
  metrics_.Released();
  worker.connections.erase(id);
}

// Without SO_REUSEPORT: a port another process listens on is refused with "address already in
// use" rather than shared, and the kernel would otherwise hand that process half the clients.
Status GatewayServer::Impl::Listen(const tcp::endpoint& endpoint) {
  beast::error_code ec;
  acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);  // TIME_WAIT only
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    acceptor_->close(ignored);
    return Status::IOError(admin::FormatEndpoint(endpoint) + ": " + ec.message());
  }
  return Status::OK();
}

Status GatewayServer::Impl::Start() {
  const std::optional<admin::HostPort> host_port = admin::ParseListen(config_.listen);
  if (!host_port) {
    return Status::InvalidArgument("gateway.listen " + config_.listen +
                                   " is not host:port (e.g. 127.0.0.1:8080)");
  }
  asio::io_context resolver_ioc;
  tcp::resolver resolver(resolver_ioc);
  beast::error_code ec;
  const auto endpoints =
      resolver.resolve(host_port->host, host_port->port, tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return Status::InvalidArgument("cannot resolve gateway.listen " + config_.listen + ": " +
                                   ec.message());
  }
  for (int i = 0; i < config_.io_threads; ++i) {
    workers_.push_back(std::make_unique<Worker>(*this, static_cast<size_t>(i)));
    if (!workers_.back()->readable_set.is_open()) {
      return Status::IOError(std::string("cannot create the gateway's epoll set: ") +
                             std::strerror(errno));
    }
  }
  acceptor_.emplace(workers_[0]->ioc);
  accept_retry_.emplace(workers_[0]->ioc);
  Status listened = Listen(endpoints.begin()->endpoint());
  if (!listened.ok()) return listened.Annotate("cannot listen on gateway.listen " + config_.listen);
  {
    std::lock_guard lock(address_mu_);
    bound_address_ = admin::FormatEndpoint(acceptor_->local_endpoint());
  }
  Accept();
  for (auto& worker : workers_) {
    WaitReadable(*worker);
    Sweep(*worker);
    threads_.emplace_back([w = worker.get()] { w->ioc.run(); });
  }
  wakeup_id_ = engine_.AddWakeup([this] {
    for (auto& worker : workers_)
      asio::post(worker->ioc, [this, w = worker.get()] { RunEngine(*w); });
  });
  maintainer_ = std::thread([this] { MaintainLoop(); });
  spdlog::info("gateway listening on {} with {} I/O threads", bound_address(), config_.io_threads);
  return Status::OK();
}

// Takes the readable set's reports and hands each to its connection, then waits again.
void GatewayServer::Impl::WaitReadable(Worker& worker) {
  worker.readable_set.async_wait(
      asio::posix::stream_descriptor::wait_read, [this, &worker](const beast::error_code& ec) {
        if (ec) return;
        std::array<epoll_event, kMaxReadablePerWait> ready;
        const int n = epoll_wait(worker.readable_set.native_handle(), ready.data(),
                                 static_cast<int>(ready.size()), 0);
        for (int i = 0; i < n; ++i) {
          const auto it = worker.connections.find(ready[i].data.u64);
          if (it == worker.connections.end()) continue;  // closed earlier in this batch
          const std::shared_ptr<Connection> conn = it->second;
          conn->OnReadable(ready[i].events);
        }
        WaitReadable(worker);
      });
}

// One acceptor on the first thread; each accepted socket goes to the next thread in turn, on
// whose io_context it was created, and lives there for its whole life.
void GatewayServer::Impl::Accept() {
  Worker& next = *workers_[next_worker_];
  next_worker_ = (next_worker_ + 1) % workers_.size();
  acceptor_->async_accept(next.ioc, [this, &next](const beast::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_->is_open()) return;
    if (ec) {
      // EMFILE and the like last a while; retrying at once would spin.
      spdlog::warn("gateway accept failed: {}", ec.message());
      accept_retry_->expires_after(kAcceptRetryDelay);
      accept_retry_->async_wait([this](const beast::error_code& wait_ec) {
        if (!wait_ec) Accept();
      });
      return;
    }
    Accept();
    asio::post(next.ioc, [this, &next, socket = std::move(socket)]() mutable {
      Admit(next, std::move(socket));
    });
  });
}

// On `worker`'s thread: the conn_manager admits or refuses the connection.
void GatewayServer::Impl::Admit(Worker& worker, tcp::socket socket) {
  beast::error_code endpoint_ec;
  const tcp::endpoint remote = socket.remote_endpoint(endpoint_ec);
  if (endpoint_ec) return;  // already reset by the client
  socket.set_option(tcp::no_delay(true), endpoint_ec);
  const uint64_t id = (worker.next_serial++) * workers_.size() + worker.index;
  ConnInfo info;
  info.id = id;
  info.peer = remote.address().to_string();
  info.opened_ns = SteadyNs();
  info.last_active_ns = info.opened_ns;
  const size_t open = open_.load(std::memory_order_relaxed);
  const ResourcePressure pressure = Pressure();
  const bool admitted = runtime_.Call<ConnManager>(
      runtime::kConnManagerSlot, [&](ConnManager& m) { return m.Admit(info, open, pressure); });
  if (!admitted || draining_.load(std::memory_order_relaxed)) {
    metrics_.Refused();
    return;  // the socket closes as it goes out of scope
  }
  open_.fetch_add(1, std::memory_order_relaxed);
  metrics_.Opened();
  auto conn = std::make_shared<Connection>(worker, std::move(socket), id, std::move(info.peer));
  worker.connections.emplace(id, conn);
  conn->Begin();
}

void GatewayServer::Impl::Sweep(Worker& worker) {
  worker.sweep_timer.expires_after(kSweepInterval);
  worker.sweep_timer.async_wait([this, &worker](const beast::error_code& ec) {
    if (ec) return;
    const int64_t now = SteadyNs();
    std::vector<std::shared_ptr<Connection>> expired;
    for (const auto& [id, conn] : worker.connections) expired.push_back(conn);
    for (const auto& conn : expired) conn->Expire(now);
    // A safety net for work nothing else would run (e.g. budget released by a closed peer).
    if (engine_.queued() > 0) RunEngine(worker);
    if (now - worker.last_snapshot_ns >= kSnapshotIntervalNs) {
      worker.last_snapshot_ns = now;
      std::vector<ConnInfo> snapshot;
      snapshot.reserve(worker.connections.size());
      for (const auto& [id, conn] : worker.connections) snapshot.push_back(conn->Info());
      std::lock_guard lock(worker.snapshot_mu);
      worker.snapshot = std::move(snapshot);
    }
    Sweep(worker);
  });
}

ResourcePressure GatewayServer::Impl::Pressure() {
  ResourcePressure pressure;
  // Each connection holds one descriptor; the node's own files are a small constant beside it.
  pressure.open_fds = open_.load(std::memory_order_relaxed);
  pressure.fd_limit = fd_limit_;
  pressure.rss_bytes = rss_bytes_.load(std::memory_order_relaxed);
  return pressure;
}

void GatewayServer::Impl::MaintainLoop() {
  std::unique_lock lock(maintain_mu_);
  while (!stopping_) {
    maintain_cv_.wait_for(lock, std::chrono::seconds(1));
    if (stopping_) break;
    lock.unlock();
    rss_bytes_.store(obs::ReadRssBytes(), std::memory_order_relaxed);
    Trim();
    lock.lock();
  }
}

void GatewayServer::Impl::Trim() {
  std::vector<ConnInfo> all;
  for (auto& worker : workers_) {
    std::lock_guard lock(worker->snapshot_mu);
    all.insert(all.end(), worker->snapshot.begin(), worker->snapshot.end());
  }
  if (all.empty()) return;
  const ResourcePressure pressure = Pressure();
  const int64_t now = SteadyNs();
  const std::vector<uint64_t> victims = runtime_.Call<ConnManager>(
      runtime::kConnManagerSlot, [&](ConnManager& m) { return m.SelectTrim(all, now, pressure); });
  for (uint64_t id : victims) {
    Worker& worker = *workers_[id % workers_.size()];
    asio::post(worker.ioc, [this, &worker, id] {
      auto it = worker.connections.find(id);
      if (it == worker.connections.end()) return;
      metrics_.Closed(CloseReason::kTrimmed);
      std::shared_ptr<Connection> conn = it->second;
      conn->CloseWhenDone();
    });
  }
}

void GatewayServer::Impl::CloseAcceptor() {
  beast::error_code ignored;
  if (acceptor_) acceptor_->close(ignored);
  if (accept_retry_) accept_retry_->cancel();
}

void GatewayServer::Impl::Drain(int64_t timeout_ms) {
  if (workers_.empty()) return;
  draining_.store(true);
  asio::post(workers_[0]->ioc, [this] { CloseAcceptor(); });
  for (auto& worker : workers_) {
    asio::post(worker->ioc, [w = worker.get()] {
      std::vector<std::shared_ptr<Connection>> live;
      for (const auto& [id, conn] : w->connections) live.push_back(conn);
      for (const auto& conn : live) conn->CloseWhenDone();
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (open_connections() > 0) {
    spdlog::warn("gateway drain: {} connections still busy after {} ms, closing them",
                 open_connections(), timeout_ms);
  }
}

void GatewayServer::Impl::Stop() {
  {
    std::lock_guard lock(maintain_mu_);
    if (stopped_) return;  // the destructor's Stop may come after the engine is gone
    stopped_ = true;
    stopping_ = true;
  }
  engine_.RemoveWakeup(wakeup_id_);
  maintain_cv_.notify_all();
  if (maintainer_.joinable()) maintainer_.join();
  if (!workers_.empty()) asio::post(workers_[0]->ioc, [this] { CloseAcceptor(); });
  for (auto& worker : workers_) {
    asio::post(worker->ioc, [w = worker.get()] {
      w->sweep_timer.cancel();
      beast::error_code ignored;
      w->readable_set.cancel(ignored);
      std::vector<std::shared_ptr<Connection>> live;
      for (const auto& [id, conn] : w->connections) live.push_back(conn);
      for (const auto& conn : live) conn->Close();
      w->ioc.stop();
    });
  }
  for (auto& thread : threads_) thread.join();
  threads_.clear();
}

GatewayServer::GatewayServer(const runtime::GatewayConfig& config, runtime::Runtime& runtime,
                             engine::RequestEngine& engine, prometheus::Registry& registry)
    : impl_(std::make_unique<Impl>(config, runtime, engine, registry)) {}

GatewayServer::~GatewayServer() { Stop(); }

Status GatewayServer::Start() { return impl_->Start(); }
void GatewayServer::Drain(int64_t timeout_ms) { impl_->Drain(timeout_ms); }
void GatewayServer::ApplyLimits(const runtime::GatewayConfig& config) {
  impl_->limits_.Apply(config);
}
void GatewayServer::SetFetcher(MissingBlockFetcher fetcher) {
  impl_->fetcher_ = std::move(fetcher);
}
void GatewayServer::Stop() { impl_->Stop(); }
std::string GatewayServer::bound_address() const { return impl_->bound_address(); }
uint64_t GatewayServer::open_connections() const { return impl_->open_connections(); }

}  // namespace boxcar::server
