#include "worker.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bitset>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <deque>
#include <random>

#include "response_parser.h"

namespace boxcar::loadgen {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr size_t kReadBufferBytes = 1 << 20;
constexpr int kMaxReadyPerWait = 1024;

uint64_t Micros(Clock::duration d) {
  return static_cast<uint64_t>(
      std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(d).count()));
}

struct Request {
  Clock::time_point intended;  // latency counts from here (coordinated-omission correction)
  Clock::time_point sent;      // the timeout counts from here
  uint32_t cid_index = 0;
  RequestKind kind = RequestKind::kRaw;
  bool measured = false;
};

// Asio connects the socket; once connected, the descriptor is released from Asio and driven
// through the worker's own epoll set (see WaitReadySet).
struct Connection {
  explicit Connection(asio::io_context& io) : socket(io) {}
  tcp::socket socket;  // only while connecting
  int fd = -1;         // the connected socket, owned
  std::unique_ptr<ResponseParser> parser;
  std::deque<Request> in_flight;
  std::string out;          // requests not yet written
  uint64_t generation = 0;  // bumped on close so stale handlers ignore themselves
  bool connected = false;
  bool connecting = false;
  Clock::time_point connect_started;
  bool want_write = false;  // the socket buffer was full; waiting for EPOLLOUT
  bool in_free_queue = false;
  bool initial_attempt_done = false;
  bool server_closing = false;  // the last response said Connection: close
  bool unsolicited = false;     // a response arrived with no request in flight
};

}  // namespace

class Worker::Impl {
 public:
  Impl(RunPlan* plan, uint32_t connections, uint64_t seed, Progress* progress)
      : plan_(*plan),
        opt_(*plan->options),
        progress_(*progress),
        rng_(seed),
        endpoint_(asio::ip::make_address(opt_.target_host), opt_.target_port),
        housekeeping_(io_),
        send_timer_(io_),
        read_set_fd_(epoll_create1(EPOLL_CLOEXEC)),
        read_set_(io_),
        read_buffer_(kReadBufferBytes) {
    if (read_set_fd_ >= 0) read_set_.assign(read_set_fd_);
    BuildRequestTexts();
    for (int k = 0; k < kRequestKinds; ++k) {
      mix_total_ += opt_.mix[k];
      mix_cumulative_[k] = mix_total_;
    }
    for (uint32_t i = 0; i < connections; ++i) {
      conns_.push_back(std::make_unique<Connection>(io_));
      Connection* c = conns_.back().get();
      ResetParser(*c);
    }
    if (opt_.rate > 0) {
      send_interval_ =
          std::chrono::duration<double>(static_cast<double>(plan->options->threads) / opt_.rate);
    }
  }

  void Run() {
    if (read_set_fd_ < 0) {
      stats_.first_connect_error = "epoll_create1 failed; no connection could be read";
      plan_.connected->arrive_and_wait();
      finish_time_ = Clock::now();
      return;
    }
    WaitReadySet();
    pending_initial_ = conns_.size();
    for (auto& c : conns_) StartConnect(*c);
    WatchConnectPhase();
    while (pending_initial_ > 0 && io_.run_one() > 0) {
    }
    PublishProgress();
    plan_.connected->arrive_and_wait();
    start_ = Clock::time_point(Clock::duration(plan_.start_ns.load()));
    measure_start_ = start_ + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(opt_.warmup_s));
    measure_end_ = opt_.duration_s > 0
                       ? measure_start_ + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(opt_.duration_s))
                       : Clock::time_point::max();
    running_ = true;
    last_connected_ = Clock::now();
    ArmHousekeeping();
    if (opt_.rate > 0) {
      for (auto& c : conns_) ReturnFreeConnection(c.get());
      SendDue();
    } else {
      for (auto& c : conns_) {
        if (c->connected) FillClosedLoop(*c);
      }
    }
    MaybeFinish();
    if (running_) io_.run();
  }

  Stats stats_;
  Clock::time_point finish_time_;

 private:
  // --- requests ---------------------------------------------------------------------------

  void BuildRequestTexts() {
    std::string host = opt_.target_host.find(':') != std::string::npos
                           ? "[" + opt_.target_host + "]"
                           : opt_.target_host;
    std::string common =
        " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(opt_.target_port) + "\r\n";
    for (const auto& h : opt_.headers) common += h + "\r\n";
    const std::string raw_accept = "Accept: application/vnd.ipld.raw\r\n\r\n";
    const std::string car_accept = "Accept: application/vnd.ipld.car\r\n\r\n";
    prefix_[0] = "GET /ipfs/";
    suffix_[0] = "?format=raw" + common + raw_accept;
    prefix_[1] = "HEAD /ipfs/";
    suffix_[1] = suffix_[0];
    prefix_[2] = "GET /ipfs/";
    suffix_[2] = "?format=car&dag-scope=all" + common + car_accept;
    prefix_[3] = prefix_[0];
    suffix_[3] = suffix_[0];
    for (int k = 0; k < kRequestKinds; ++k) {
      if (k == static_cast<int>(RequestKind::kMissing)) {
        expected_[k].set(404);
      } else {
        for (int s = 200; s < 300; ++s) expected_[k].set(s);
      }
      for (int s : opt_.ok_statuses) expected_[k].set(s);
    }
  }

  // Makes a new request due at `intended`; false once the --requests budget is spent.
  bool NewRequest(Clock::time_point intended, Request* req) {
    req->intended = intended;
    req->measured = intended >= measure_start_;
    if (req->measured && opt_.requests > 0 &&
        plan_.measured_issued.fetch_add(1, std::memory_order_relaxed) >= opt_.requests) {
      budget_spent_ = true;
      return false;
    }
    const uint64_t pick = rng_() % mix_total_;
    int kind = 0;
    while (pick >= mix_cumulative_[kind]) ++kind;
    req->kind = static_cast<RequestKind>(kind);
    const auto& list = req->kind == RequestKind::kMissing ? plan_.missing_cids : plan_.cids;
    req->cid_index = static_cast<uint32_t>(rng_() % list.size());
    return true;
  }

  // Queues `req` on `c`; the caller flushes.
  void Enqueue(Connection& c, Request req, Clock::time_point now) {
    const int k = static_cast<int>(req.kind);
    const auto& list = req.kind == RequestKind::kMissing ? plan_.missing_cids : plan_.cids;
    c.out += prefix_[k];
    c.out += list[req.cid_index];
    c.out += suffix_[k];
    req.sent = now;
    c.in_flight.push_back(req);
    ++in_flight_total_;
  }

  void FillClosedLoop(Connection& c) {
    if (!running_ || !c.connected || c.server_closing) return;
    const auto now = Clock::now();
    while (c.in_flight.size() < opt_.depth) {
      Request req;
      if (!retry_.empty()) {
        req = retry_.front();
        retry_.pop_front();
      } else if (budget_spent_ || !NewRequest(now, &req)) {
        break;
      }
      Enqueue(c, req, now);
    }
    Flush(c);
  }

  Clock::time_point IntendedTime(uint64_t seq) const {
    return start_ +
           std::chrono::duration_cast<Clock::duration>(send_interval_ * static_cast<double>(seq));
  }

  // Open loop: sends every due request a connection has room for. Due requests without room wait
  // (their latency keeps counting from the intended time) until a response frees a slot.
  void SendDue() {
    if (!running_) return;
    const auto now = Clock::now();
    std::vector<Connection*>& touched = touched_scratch_;
    touched.clear();
    while (true) {
      Connection* c = NextFreeConnection();
      if (c == nullptr) break;
      Request req;
      if (!retry_.empty()) {
        req = retry_.front();
        retry_.pop_front();
      } else {
        const auto intended = IntendedTime(next_seq_);
        if (budget_spent_ || intended > now || !NewRequest(intended, &req)) {
          ReturnFreeConnection(c);
          break;
        }
        ++next_seq_;
      }
      if (c->out.empty()) touched.push_back(c);
      Enqueue(*c, req, now);
      ReturnFreeConnection(c);
    }
    for (Connection* c : touched) Flush(*c);
    if (!budget_spent_ && !send_timer_armed_ && IntendedTime(next_seq_) > now) {
      send_timer_armed_ = true;
      send_timer_.expires_at(IntendedTime(next_seq_));
      send_timer_.async_wait([this](const boost::system::error_code& ec) {
        send_timer_armed_ = false;
        if (!ec) SendDue();
      });
    }
  }

  Connection* NextFreeConnection() {
    while (!free_.empty()) {
      Connection* c = free_.front();
      free_.pop_front();
      c->in_free_queue = false;
      if (c->connected && !c->server_closing && c->in_flight.size() < opt_.depth) return c;
    }
    return nullptr;
  }

  void ReturnFreeConnection(Connection* c) {
    if (!c->in_free_queue && c->connected && !c->server_closing &&
        c->in_flight.size() < opt_.depth) {
      c->in_free_queue = true;
      free_.push_back(c);
    }
  }

  void RefillAfterProgress(Connection& c) {
    if (opt_.rate > 0) {
      ReturnFreeConnection(&c);
      SendDue();
    } else {
      FillClosedLoop(c);
    }
  }

  // --- writing ----------------------------------------------------------------------------

  // Writes every queued request with one send; what the socket does not take waits for EPOLLOUT.
  void Flush(Connection& c) {
    if (c.want_write || c.out.empty()) return;
    WriteOut(c);
  }

  void WriteOut(Connection& c) {
    const ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      Fail(c, FailureKind::kTransport);
      return;
    }
    const size_t written = n < 0 ? 0 : static_cast<size_t>(n);
    CountTx(written);
    c.out.erase(0, written);
    const bool want_write = !c.out.empty();
    if (want_write != c.want_write) {
      c.want_write = want_write;
      Register(c, EPOLL_CTL_MOD);
    }
  }

  void CountTx(size_t n) {
    if (InWindow(Clock::now())) stats_.tx_bytes += n;
  }

  bool InWindow(Clock::time_point t) const {
    return running_ && t >= measure_start_ && t <= measure_end_;
  }

  // --- reading ----------------------------------------------------------------------------

  // Connected sockets live in a level-triggered epoll set of this worker, watched by Asio as one
  // descriptor: one re-arm per batch of ready sockets, where Asio's own sockets cost an extra
  // syscall per response (it re-arms a socket on every async_wait) and wake the loop per socket.
  void WaitReadySet() {
    read_set_.async_wait(asio::posix::stream_descriptor::wait_read,
                         [this](const boost::system::error_code& ec) {
                           if (ec) return;
                           ServeReadySockets();
                           if (running_ || pending_initial_ > 0) WaitReadySet();
                         });
  }

  void ServeReadySockets() {
    epoll_event ready[kMaxReadyPerWait];
    const int n = epoll_wait(read_set_fd_, ready, kMaxReadyPerWait, 0);
    for (int i = 0; i < n; ++i) {
      Connection& c = *static_cast<Connection*>(ready[i].data.ptr);
      const uint64_t gen = c.generation;
      if (c.connected && c.want_write && (ready[i].events & EPOLLOUT) != 0) WriteOut(c);
      if (c.connected && gen == c.generation && (ready[i].events & ~EPOLLOUT) != 0) {
        OnReadable(c);
      }
      if (!running_ && pending_initial_ == 0) return;
    }
  }

  void Register(Connection& c, int op) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    if (c.want_write) ev.events |= EPOLLOUT;
    ev.data.ptr = &c;
    if (epoll_ctl(read_set_fd_, op, c.fd, &ev) != 0) Fail(c, FailureKind::kTransport);
  }

  // One read per readiness report: the set is level-triggered, so bytes left over (a full
  // buffer) are reported again on the next wait.
  void OnReadable(Connection& c) {
    const uint64_t gen = c.generation;
    const ssize_t got = read(c.fd, read_buffer_.data(), read_buffer_.size());
    if (got == 0) {
      OnEof(c);
      return;
    }
    if (got < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        Fail(c, FailureKind::kTransport);
      }
      return;
    }
    const auto n = static_cast<size_t>(got);
    if (!running_) return;  // the connect phase: nothing was sent, nothing to count
    now_ = Clock::now();
    if (InWindow(now_)) stats_.rx_bytes += n;
    const Status s = c.parser->Feed(std::string_view(read_buffer_.data(), n));
    if (gen != c.generation) return;  // the run finished inside a response callback
    if (!s.ok() || c.unsolicited) {
      Fail(c, FailureKind::kProtocol);
      return;
    }
    if (c.server_closing) {
      ServerClosed(c);
      return;
    }
    MaybeFinish();
    if (running_) RefillAfterProgress(c);
  }

  void OnResponse(Connection& c, const ParsedResponse& r) {
    if (c.in_flight.empty()) {
      c.unsolicited = true;
      return;
    }
    const Request req = c.in_flight.front();
    c.in_flight.pop_front();
    --in_flight_total_;
    ++completed_all_;
    if (r.connection_close) c.server_closing = true;
    if (!req.measured || now_ > measure_end_) return;
    const uint64_t latency = Micros(now_ - req.intended);
    ++stats_.requests;
    ++stats_.responses;
    ++stats_.requests_by_kind[static_cast<int>(req.kind)];
    ++stats_.status_counts[std::min(r.status, 999)];
    stats_.latency.Record(latency);
    interval_latency_.Record(latency);
    if (!expected_[static_cast<int>(req.kind)].test(std::min(r.status, 999))) {
      ++stats_.failures[static_cast<int>(FailureKind::kStatus)];
    } else if (r.stream_error) {
      ++stats_.failures[static_cast<int>(FailureKind::kStreamError)];
    }
  }

  void OnEof(Connection& c) {
    now_ = Clock::now();
    const uint64_t gen = c.generation;
    const Status s = c.parser->OnEof();
    if (gen != c.generation) return;
    if (!s.ok()) {
      Fail(c, FailureKind::kTransport);
      return;
    }
    if (c.in_flight.empty() || c.server_closing) {
      ServerClosed(c);
    } else {
      Fail(c, FailureKind::kTransport);  // closed without warning, requests unanswered
    }
  }

  // The server announced or performed an orderly close: requests it did not answer are sent
  // again on another connection, keeping their intended time.
  void ServerClosed(Connection& c) {
    ++stats_.server_closes;
    for (auto it = c.in_flight.rbegin(); it != c.in_flight.rend(); ++it) retry_.push_front(*it);
    in_flight_total_ -= c.in_flight.size();
    c.in_flight.clear();
    Reconnect(c);
    MaybeFinish();
    if (running_ && opt_.rate > 0) SendDue();
    if (running_ && opt_.rate == 0 && !retry_.empty()) {
      for (auto& other : conns_) {
        if (retry_.empty()) break;
        FillClosedLoop(*other);
      }
    }
  }

  // Counts every request in flight on `c` as a failure of `kind` and reopens the connection.
  void Fail(Connection& c, FailureKind kind) {
    for (const Request& req : c.in_flight) {
      if (!req.measured || now_ > measure_end_) continue;
      ++stats_.requests;
      ++stats_.requests_by_kind[static_cast<int>(req.kind)];
      ++stats_.failures[static_cast<int>(kind)];
    }
    in_flight_total_ -= c.in_flight.size();
    c.in_flight.clear();
    Reconnect(c);
    MaybeFinish();
  }

  // --- connections ------------------------------------------------------------------------

  void Close(Connection& c) {
    ++c.generation;
    c.connecting = false;
    if (c.fd >= 0) close(c.fd);  // also leaves the epoll set
    c.fd = -1;
    boost::system::error_code ignored;
    c.socket.close(ignored);
    c.connected = false;
    c.want_write = false;
    c.server_closing = false;
    c.unsolicited = false;
    c.out.clear();
    ResetParser(c);
  }

  void ResetParser(Connection& c) {
    Connection* cp = &c;
    c.parser = std::make_unique<ResponseParser>(
        [this, cp](const ParsedResponse& r) { OnResponse(*cp, r); },
        [cp] {
          return !cp->in_flight.empty() && cp->in_flight.front().kind == RequestKind::kHead;
        });
  }

  void Reconnect(Connection& c) {
    Close(c);
    if (running_) StartConnect(c);
  }

  void StartConnect(Connection& c) {
    if (connects_in_progress_ >= opt_.connect_burst) {
      connect_queue_.push_back(&c);
      return;
    }
    ++connects_in_progress_;
    c.connecting = true;
    c.connect_started = Clock::now();
    const uint64_t gen = c.generation;
    c.socket.async_connect(endpoint_, [this, &c, gen](const boost::system::error_code& ec) {
      --connects_in_progress_;
      StartQueuedConnects();
      if (gen != c.generation) return;
      c.connecting = false;
      if (!c.initial_attempt_done) {
        c.initial_attempt_done = true;
        --pending_initial_;
      }
      if (ec) {
        ConnectFailed(c, ec.message());
        return;
      }
      OnConnected(c);
    });
  }

  // Counts the failure and retries the connection from the next housekeeping round.
  void ConnectFailed(Connection& c, const std::string& why) {
    ++stats_.failures[static_cast<int>(FailureKind::kConnect)];
    if (stats_.first_connect_error.empty()) stats_.first_connect_error = why;
    Close(c);
    retry_connects_.push_back(&c);
  }

  // A connect the server never completes (a full listen backlog drops SYNs) would otherwise
  // hold the connect phase for minutes of SYN retries.
  void TimeOutConnects() {
    const auto timeout = std::chrono::milliseconds(opt_.timeout_ms);
    for (auto& c : conns_) {
      if (!c->connecting || now_ - c->connect_started <= timeout) continue;
      if (!c->initial_attempt_done) {
        c->initial_attempt_done = true;
        --pending_initial_;
      }
      ConnectFailed(*c, "connect timed out after " + std::to_string(opt_.timeout_ms) + " ms");
    }
  }

  bool StopRequested() const { return plan_.stop != nullptr && plan_.stop->load(); }

  // During the connect phase: times out connects, and on a stop request ends the phase (the
  // load phase then finishes at once).
  void WatchConnectPhase() {
    housekeeping_.expires_after(std::chrono::milliseconds(100));
    housekeeping_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || pending_initial_ == 0) return;
      now_ = Clock::now();
      TimeOutConnects();
      if (StopRequested()) {
        for (auto& c : conns_) {
          if (!c->initial_attempt_done) {
            c->initial_attempt_done = true;
            --pending_initial_;
          }
        }
      }
      if (pending_initial_ > 0) WatchConnectPhase();
    });
  }

  void StartQueuedConnects() {
    while (connects_in_progress_ < opt_.connect_burst && !connect_queue_.empty()) {
      Connection* next = connect_queue_.front();
      connect_queue_.pop_front();
      StartConnect(*next);
    }
  }

  void OnConnected(Connection& c) {
    boost::system::error_code ec;
    c.socket.set_option(tcp::no_delay(true), ec);
    if (!ec) c.socket.non_blocking(true, ec);
    if (!ec) c.fd = c.socket.release(ec);
    if (ec) {
      ConnectFailed(c, "setting up the connected socket failed: " + ec.message());
      return;
    }
    c.connected = true;
    ++stats_.connects;
    Register(c, EPOLL_CTL_ADD);
    if (!c.connected || !running_) return;
    RefillAfterProgress(c);
  }

  // --- timers and the end of the run ---------------------------------------------------------

  void ArmHousekeeping() {
    const auto period = std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(100), std::chrono::milliseconds(opt_.timeout_ms / 4 + 1));
    housekeeping_.expires_after(period);
    housekeeping_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || !running_) return;
      now_ = Clock::now();
      if (now_ >= measure_end_ || StopRequested()) {
        Finish();
        return;
      }
      TimeOutConnects();
      const auto timeout = std::chrono::milliseconds(opt_.timeout_ms);
      for (auto& c : conns_) {
        if (!c->in_flight.empty() && now_ - c->in_flight.front().sent > timeout) {
          Fail(*c, FailureKind::kTimeout);
          if (!running_) return;
        }
      }
      std::vector<Connection*> retry;
      retry.swap(retry_connects_);
      for (Connection* c : retry) StartConnect(*c);
      if (opt_.requests > 0 &&
          plan_.measured_issued.load(std::memory_order_relaxed) >= opt_.requests) {
        budget_spent_ = true;  // other workers spent it
      }
      PublishProgress();
      if (GiveUpUnreachable()) return;
      MaybeFinish();
      if (running_) ArmHousekeeping();
    });
  }

  void PublishProgress() {
    std::lock_guard lock(progress_.mutex);
    progress_.completed = completed_all_;
    progress_.failures = stats_.TotalFailures();
    progress_.connected = 0;
    for (auto& c : conns_) progress_.connected += c->connected ? 1 : 0;
    progress_.interval.Merge(interval_latency_);
    interval_latency_.Reset();
  }

  // Ends the run when no connection of this worker has been open for a whole timeout: the
  // server is unreachable, and a --requests run would otherwise never end.
  bool GiveUpUnreachable() {
    const bool any_open =
        std::any_of(conns_.begin(), conns_.end(), [](const auto& c) { return c->connected; });
    if (any_open) last_connected_ = now_;
    if (now_ - last_connected_ <= std::chrono::milliseconds(opt_.timeout_ms)) return false;
    Finish();
    return true;
  }

  void MaybeFinish() {
    // Requests waiting to be sent again after a server close are still owed.
    if (running_ && budget_spent_ && in_flight_total_ == 0 && retry_.empty()) Finish();
  }

  void Finish() {
    if (!running_) return;
    running_ = false;
    finish_time_ = std::min(Clock::now(), measure_end_);
    for (auto& c : conns_) {
      for (const Request& req : c->in_flight) stats_.in_flight_at_end += req.measured ? 1 : 0;
      Close(*c);
    }
    stats_.unsent_at_end = retry_.size();
    if (opt_.rate > 0 && !budget_spent_) {
      const auto end = finish_time_;
      while (IntendedTime(next_seq_) <= end) {
        ++next_seq_;
        ++stats_.unsent_at_end;
      }
    }
    PublishProgress();
    io_.stop();
  }

  RunPlan& plan_;
  const Options& opt_;
  Progress& progress_;
  std::mt19937_64 rng_;
  asio::io_context io_{1};
  tcp::endpoint endpoint_;
  asio::steady_timer housekeeping_;
  asio::steady_timer send_timer_;
  int read_set_fd_;  // owned by read_set_
  asio::posix::stream_descriptor read_set_;
  std::vector<char> read_buffer_;
  std::vector<std::unique_ptr<Connection>> conns_;
  std::deque<Connection*> connect_queue_;
  std::vector<Connection*> retry_connects_;
  std::deque<Connection*> free_;
  std::vector<Connection*> touched_scratch_;
  std::deque<Request> retry_;
  std::string prefix_[kRequestKinds];
  std::string suffix_[kRequestKinds];
  std::bitset<1000> expected_[kRequestKinds];
  uint64_t mix_total_ = 0;
  uint64_t mix_cumulative_[kRequestKinds] = {};
  std::chrono::duration<double> send_interval_{0};  // per thread, open loop
  Histogram interval_latency_;                      // since the last progress publish
  uint64_t next_seq_ = 0;
  size_t pending_initial_ = 0;
  uint32_t connects_in_progress_ = 0;
  Clock::time_point last_connected_;  // when a connection of this worker was last seen open
  uint64_t in_flight_total_ = 0;
  uint64_t completed_all_ = 0;  // responses including the warm-up, for the progress line
  bool running_ = false;
  bool budget_spent_ = false;
  bool send_timer_armed_ = false;
  Clock::time_point now_;
  Clock::time_point start_;
  Clock::time_point measure_start_;
  Clock::time_point measure_end_ = Clock::time_point::max();
};

Worker::Worker(RunPlan* plan, uint32_t connections, uint64_t seed, Progress* progress)
    : impl_(std::make_unique<Impl>(plan, connections, seed, progress)) {}
Worker::~Worker() = default;
void Worker::Run() { impl_->Run(); }
const Stats& Worker::stats() const { return impl_->stats_; }
Clock::time_point Worker::finish_time() const { return impl_->finish_time_; }

}  // namespace boxcar::loadgen
