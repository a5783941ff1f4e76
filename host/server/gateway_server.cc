#include "server/gateway_server.h"

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include "admin/admin_server.h"
#include "boxcar/conn_manager.h"
#include "gateway/car_producer.h"
#include "gateway/request.h"

namespace boxcar::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr size_t kInitialReadBuffer = 4096;
// CAR streams are produced in chunks of this size, each one engine task; a stream holds at most
// one chunk being written and one being produced, which bounds its memory.
constexpr size_t kCarChunkBytes = 256 * 1024;
// About the size of a raw response's head (status line and headers): the cost of a HEAD
// request, and what a GET costs on top of its block.
constexpr uint64_t kResponseHeadBytes = 512;
constexpr auto kSweepInterval = std::chrono::milliseconds(250);
constexpr int64_t kSnapshotIntervalNs = 1'000'000'000;
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
// Readiness reports a worker takes from its readable set per wake-up; more wait for the next.
constexpr int kMaxReadablePerWait = 256;
constexpr size_t kMaxStreamErrorBytes = 512;

int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 412:
      return "Precondition Failed";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

constexpr std::array<int, 13> kStatuses = {200, 304, 400, 404, 405, 406, 412,
                                           429, 431, 500, 501, 503, 0};

size_t StatusIndex(int status) {
  for (size_t i = 0; i + 1 < kStatuses.size(); ++i) {
    if (kStatuses[i] == status) return i;
  }
  return kStatuses.size() - 1;
}

void AppendStatusLine(int status, std::string* out) {
  out->append("HTTP/1.1 ");
  out->append(std::to_string(status));
  out->push_back(' ');
  out->append(Reason(status));
  out->append("\r\n");
}

void AppendHeader(std::string_view name, std::string_view value, std::string* out) {
  out->append(name);
  out->append(": ");
  out->append(value);
  out->append("\r\n");
}

std::string HeadOf(int status, const std::vector<gateway::Header>& headers) {
  std::string head;
  head.reserve(512);
  AppendStatusLine(status, &head);
  for (const auto& [name, value] : headers) AppendHeader(name, value, &head);
  return head;  // the blank line is added when the connection knows whether it closes
}

// A header value must not carry CR or LF (response splitting) and is kept short.
std::string SafeHeaderValue(std::string_view text) {
  std::string out(text.substr(0, kMaxStreamErrorBytes));
  for (char& c : out) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return out;
}

std::string Hex(size_t n) {
  char buf[20];
  const int len = std::snprintf(buf, sizeof buf, "%zx", n);
  return std::string(buf, static_cast<size_t>(len));
}

// The request-line and the few header fields the gateway reads, kept in reused strings.
struct RequestHead {
  http::verb method = http::verb::unknown;
  std::string method_text;
  std::string target;
  std::string accept;
  std::string if_none_match;
  std::string cache_control;
  std::string peer;  // the configured identity header's value
  bool has_body = false;

  void Clear() {
    method = http::verb::unknown;
    method_text.clear();
    target.clear();
    accept.clear();
    if_none_match.clear();
    cache_control.clear();
    peer.clear();
    has_body = false;
  }
};

// Beast's parser with callbacks that copy just those fields: no per-field allocation once the
// strings have grown, and no body storage (the gateway takes none).
class HeadParser final : public http::basic_parser<true> {
 public:
  HeadParser(RequestHead* head, const std::string& peer_header)
      : head_(head), peer_header_(peer_header) {}

 private:
  void on_request_impl(http::verb method, beast::string_view method_str, beast::string_view target,
                       int, beast::error_code&) override {
    head_->method = method;
    head_->method_text.assign(method_str.data(), method_str.size());
    head_->target.assign(target.data(), target.size());
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code& ec) override {
    ec = http::error::bad_method;
  }
  void on_field_impl(http::field name, beast::string_view name_string, beast::string_view value,
                     beast::error_code&) override {
    switch (name) {
      case http::field::accept:
        // Several Accept lines are one comma-separated list (RFC 9110 5.3).
        if (!head_->accept.empty()) head_->accept.append(", ");
        head_->accept.append(value.data(), value.size());
        return;
      case http::field::if_none_match:
        head_->if_none_match.assign(value.data(), value.size());
        return;
      case http::field::cache_control:
        head_->cache_control.assign(value.data(), value.size());
        return;
      default:
        break;
    }
    if (!peer_header_.empty() &&
        beast::iequals(name_string, beast::string_view(peer_header_.data(), peer_header_.size()))) {
      head_->peer.assign(value.data(), value.size());
    }
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         beast::error_code&) override {
    head_->has_body = !length || *length > 0;
  }
  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code&) override {
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  RequestHead* head_;
  const std::string& peer_header_;
};

// One response in a connection's pipeline. Filled on the connection's thread only.
struct Slot {
  bool ready = false;
  std::string head;        // status line and headers, without the final blank line
  BlockData body;          // block bytes of a raw response
  std::string text;        // an error body, or framed CAR chunks not yet handed to a write
  bool streaming = false;  // a CAR stream with chunks still to come
  bool producing = false;  // its next chunk is queued or being produced
  bool close_after = false;
  bool head_only = false;  // HEAD: the body is not sent
  int status = 0;
  int64_t started_ns = 0;                        // when the request was parsed
  std::vector<std::pair<Task, uint64_t>> tasks;  // completed once their bytes are written
  std::shared_ptr<struct CarStream> stream;
  // A parsed request not yet given to the engine, because a CAR stream ahead of it is unfinished.
  std::optional<gateway::GatewayRequest> held;
  std::string peer;  // whose budget the held request is charged to
};

struct CarStream {
  gateway::GatewayRequest request;
  std::string peer;
  std::unique_ptr<gateway::CarProducer> producer;
  bool begun = false;
};

struct Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : requests(prometheus::BuildCounter()
                     .Name("boxcar_gateway_responses_total")
                     .Help("Gateway responses by HTTP status")
                     .Register(registry)),
        closed(prometheus::BuildCounter()
                   .Name("boxcar_gateway_connections_closed_total")
                   .Help("Gateway connections closed by the server, by reason")
                   .Register(registry)),
        refused(prometheus::BuildCounter()
                    .Name("boxcar_gateway_connections_refused_total")
                    .Help("Connections the conn_manager plugin refused at accept")
                    .Register(registry)
                    .Add({})),
        open(prometheus::BuildGauge()
                 .Name("boxcar_gateway_connections")
                 .Help("Open gateway connections")
                 .Register(registry)
                 .Add({})),
        latency(prometheus::BuildHistogram()
                    .Name("boxcar_gateway_response_seconds")
                    .Help("Time from a request's parse to its response being ready, by format")
                    .Register(registry)),
        raw_latency(latency.Add({{"format", "raw"}}, Buckets())),
        car_latency(latency.Add({{"format", "car"}}, Buckets())),
        timeout_header(closed.Add({{"reason", "header_timeout"}})),
        timeout_idle(closed.Add({{"reason", "idle_timeout"}})),
        timeout_write(closed.Add({{"reason", "write_timeout"}})),
        trimmed(closed.Add({{"reason", "trimmed"}})),
        bad_request(closed.Add({{"reason", "bad_request"}})) {
    for (int status : kStatuses) {
      by_status[StatusIndex(status)] =
          &requests.Add({{"code", status == 0 ? "other" : std::to_string(status)}});
    }
  }
  static prometheus::Histogram::BucketBoundaries Buckets() {
    return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5};
  }

  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Counter>& closed;
  prometheus::Counter& refused;
  prometheus::Gauge& open;
  prometheus::Family<prometheus::Histogram>& latency;
  prometheus::Histogram& raw_latency;
  prometheus::Histogram& car_latency;
  prometheus::Counter& timeout_header;
  prometheus::Counter& timeout_idle;
  prometheus::Counter& timeout_write;
  prometheus::Counter& trimmed;
  prometheus::Counter& bad_request;
  std::array<prometheus::Counter*, kStatuses.size()> by_status{};
};

}  // namespace

class GatewayServer::Impl {
 public:
  class Connection;
  struct Worker;

  Impl(const runtime::GatewayConfig& config, runtime::Runtime& runtime,
       engine::RequestEngine& engine, prometheus::Registry& registry)
      : config_(config), runtime_(runtime), engine_(engine), metrics_(registry) {
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

  const runtime::GatewayConfig config_;
  runtime::Runtime& runtime_;
  engine::RequestEngine& engine_;
  Metrics metrics_;

 private:
  Status Listen(Worker& worker, const tcp::endpoint& endpoint);
  void Accept(Worker& worker);
  void WaitReadable(Worker& worker);
  void OnAccept(Worker& worker, const beast::error_code& ec, tcp::socket socket);
  void Sweep(Worker& worker);
  void MaintainLoop();
  ResourcePressure Pressure();
  void Trim();

  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::thread maintainer_;
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

  friend class Connection;
};

struct GatewayServer::Impl::Worker {
  explicit Worker(size_t position)
      : index(position), acceptor(ioc), sweep_timer(ioc), readable_set(ioc) {
    const int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd >= 0) readable_set.assign(fd);
  }

  size_t index;
  asio::io_context ioc{1};
  tcp::acceptor acceptor;
  asio::steady_timer sweep_timer;
  asio::steady_timer accept_retry{ioc};
  uint64_t next_serial = 0;
  bool engine_turn_posted = false;
  std::unordered_map<uint64_t, std::shared_ptr<Connection>> connections;
  int64_t last_snapshot_ns = 0;
  std::mutex snapshot_mu;
  std::vector<ConnInfo> snapshot;  // for the conn_manager's SelectTrim
  // The connections' sockets, edge-triggered for input, keyed by connection id: a connection
  // reads only after this set reported new bytes (see Connection::Read). Asio's own reads try a
  // recv before every wait, which on keep-alive finds the socket empty once per response.
  asio::posix::stream_descriptor readable_set;
};

class GatewayServer::Impl::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Impl& server, Worker& worker, tcp::socket socket, uint64_t id, std::string address)
      : server_(server),
        worker_(worker),
        socket_(std::move(socket)),
        id_(id),
        address_(std::move(address)),
        opened_ns_(SteadyNs()),
        last_activity_ns_(opened_ns_) {}

  // Joins the worker's readable set, then reads what the client may have sent already.
  void Begin();
  // The readable set reported `events` (EPOLLIN, EPOLLRDHUP, ...) on the socket.
  void OnReadable(uint32_t events);

  // Graceful close: stop reading, close once the responses already parsed are written.
  void CloseWhenDone() {
    closing_ = true;
    if (slots_.empty() && !writing_) {
      Close();
    } else if (!slots_.empty()) {
      slots_.back()->close_after = true;
    }
  }

  void Close();
  ConnInfo Info() const {
    ConnInfo info;
    info.id = id_;
    info.peer = address_;
    info.opened_ns = opened_ns_;
    info.last_active_ns = last_activity_ns_;
    info.inflight = static_cast<uint32_t>(slots_.size());
    return info;
  }
  // Checks the timeouts; true when the connection was closed.
  bool Expire(int64_t now_ns);

  // Called on the connection's thread when a task of `slot` produced its part.
  void OnSlotReady(const std::shared_ptr<Slot>& slot);
  void SubmitNextChunk(const std::shared_ptr<Slot>& slot);
  asio::any_io_executor executor() { return socket_.get_executor(); }
  bool closed() const { return closed_; }

 private:
  void Read();
  void ReadNow();
  void OnRead(const beast::error_code& ec, size_t n);
  void ParseAll();
  void HandleRequest();
  void Submit(const std::shared_ptr<Slot>& slot, gateway::GatewayRequest request,
              const std::string& peer);
  void SubmitHeld();
  void ErrorSlot(const std::shared_ptr<Slot>& slot, int status, std::string_view message,
                 std::vector<gateway::Header> headers = {});
  void SubmitRaw(const std::shared_ptr<Slot>& slot, gateway::GatewayRequest request,
                 const std::string& peer);
  void SubmitCar(const std::shared_ptr<Slot>& slot, gateway::GatewayRequest request,
                 const std::string& peer);
  void Flush();
  void OnWritten(const beast::error_code& ec, size_t n);
  void Finish(int status, int64_t started_ns, bool car);

  Impl& server_;
  Worker& worker_;
  tcp::socket socket_;
  const uint64_t id_;
  const std::string address_;  // the client's IP: the peer unless gateway.peer_header says
  const int64_t opened_ns_;
  int64_t last_activity_ns_;
  int64_t header_started_ns_ = 0;  // first byte of an incomplete request; 0 when none
  int64_t write_started_ns_ = 0;

  std::vector<char> buffer_;
  size_t buffered_ = 0;
  RequestHead head_;
  std::optional<HeadParser> parser_;

  std::deque<std::shared_ptr<Slot>> slots_;
  // The CAR stream still producing chunks; requests parsed after it are held until it ends. A
  // response produced behind it could not be written before the stream's end, yet would hold
  // the peer budget the stream's next chunk needs: pipelined CARs would wedge their own peer.
  std::shared_ptr<Slot> open_stream_;
  size_t held_ = 0;  // slots whose request is held
  struct Piece {
    std::string text;
    BlockData block;
  };
  std::vector<Piece> pieces_;  // owned by the write in flight
  std::vector<asio::const_buffer> gather_;
  std::vector<std::pair<Task, uint64_t>> written_tasks_;

  bool reading_ = false;
  // Bytes may be waiting in the socket: set by the readable set's reports, cleared by a read that
  // returned less than it asked for (it drained the socket; new bytes bring a new report).
  bool readable_ = true;
  bool hung_up_ = false;  // the client shut down its side or the socket failed
  bool writing_ = false;
  bool in_handler_ = false;  // batch flushes until the current handler ends
  bool closing_ = false;
  bool closed_ = false;
  bool close_after_write_ = false;
};

namespace {

// Work for one raw block request.
class RawWork final : public engine::Work {
 public:
  RawWork(std::shared_ptr<GatewayServer::Impl::Connection> conn, std::shared_ptr<Slot> slot,
          gateway::GatewayRequest request)
      : conn_(std::move(conn)), slot_(std::move(slot)), request_(std::move(request)) {}

  const format::Cid* block() const override { return &request_.root; }
  void Run(const Task& task, engine::ReadResult* read) override;
  void Shed(const Task& task, int retry_after_s) override;

 private:
  void Deliver(const Task& task, int status, std::string head, BlockData body, std::string text);

  std::shared_ptr<GatewayServer::Impl::Connection> conn_;
  std::shared_ptr<Slot> slot_;
  gateway::GatewayRequest request_;
};

// Work for the next chunk of a CAR stream (the first one also resolves the path).
class CarWork final : public engine::Work {
 public:
  // `continuation`: every chunk after the first, whose stream the client is already reading.
  CarWork(std::shared_ptr<GatewayServer::Impl::Connection> conn, std::shared_ptr<Slot> slot,
          bool continuation)
      : conn_(std::move(conn)), slot_(std::move(slot)), continuation_(continuation) {}

  const format::Cid* block() const override { return nullptr; }
  void Run(const Task& task, engine::ReadResult* read) override;
  void Shed(const Task& task, int retry_after_s) override;
  bool continues_response() const override { return continuation_; }

 private:
  std::shared_ptr<GatewayServer::Impl::Connection> conn_;
  std::shared_ptr<Slot> slot_;
  const bool continuation_;
};

// The status and message a failed store read or path resolution answers with.
int StatusFor(const Status& status, const gateway::GatewayRequest& request) {
  switch (status.code()) {
    case Status::Code::kNotFound:
      return request.only_if_cached ? 412 : 404;
    case Status::Code::kInvalidArgument:
      return 400;
    case Status::Code::kNotSupported:
      return 501;
    case Status::Code::kUnavailable:  // an open circuit breaker
    case Status::Code::kBusy:         // the memory budget
    case Status::Code::kIOError:      // a failing tier: worth retrying, unlike a bad request
      return 503;
    default:
      return 500;
  }
}

std::string ErrorHead(int status, size_t body_size, int retry_after_s) {
  std::string head;
  AppendStatusLine(status, &head);
  AppendHeader("Content-Type", "text/plain; charset=utf-8", &head);
  AppendHeader("Content-Length", std::to_string(body_size), &head);
  AppendHeader("Cache-Control", "no-store", &head);
  if (retry_after_s > 0) AppendHeader("Retry-After", std::to_string(retry_after_s), &head);
  return head;
}

void RawWork::Run(const Task& task, engine::ReadResult* read) {
  const Status& status = read->status;
  BlockData data = std::move(read->data);
  if (!status.ok()) {
    const int code = StatusFor(status, request_);
    std::string text = status.message() + "\n";
    const int retry = code == 503 ? 1 : 0;
    std::string head = ErrorHead(code, text.size(), retry);  // before text is moved
    Deliver(task, code, std::move(head), nullptr, std::move(text));
    return;
  }
  std::vector<gateway::Header> headers;
  gateway::RawHeaders(request_, data->size(), &headers);
  Deliver(task, 200, HeadOf(200, headers), request_.head ? nullptr : std::move(data), {});
}

void RawWork::Shed(const Task& task, int retry_after_s) {
  std::string text =
      "the node is overloaded: retry after " + std::to_string(retry_after_s) + " s\n";
  std::string head = ErrorHead(503, text.size(), retry_after_s);  // before text is moved
  Deliver(task, 503, std::move(head), nullptr, std::move(text));
}

void RawWork::Deliver(const Task& task, int status, std::string head, BlockData body,
                      std::string text) {
  const uint64_t bytes = head.size() + (body ? body->size() : 0) + text.size();
  asio::dispatch(conn_->executor(),
                 [conn = conn_, slot = slot_, task, status, head = std::move(head),
                  body = std::move(body), text = std::move(text), bytes]() mutable {
                   slot->status = status;
                   slot->head = std::move(head);
                   slot->body = std::move(body);
                   if (!slot->head_only) slot->text = std::move(text);
                   slot->tasks.emplace_back(task, bytes);
                   slot->ready = true;
                   conn->OnSlotReady(slot);
                 });
}

void CarWork::Run(const Task& task, engine::ReadResult*) {
  CarStream& stream = *slot_->stream;
  std::string head;
  std::string framed;
  int status = 200;
  bool done = false;
  if (!stream.begun) {
    stream.begun = true;
    const Status begun = stream.producer->Begin();
    if (!begun.ok()) {
      status = StatusFor(begun, stream.request);
      framed = begun.message() + "\n";
      head = ErrorHead(status, framed.size(), status == 503 ? 1 : 0);
      done = true;
    } else {
      std::vector<gateway::Header> headers;
      gateway::CarHeaders(stream.request, stream.producer->path_cids(), &headers);
      headers.emplace_back("Transfer-Encoding", "chunked");
      headers.emplace_back("Trailer", "X-Stream-Error");
      head = HeadOf(200, headers);
      done = stream.request.head;
    }
  }
  if (!done) {
    std::string out;
    const Status produced = stream.producer->Next(kCarChunkBytes, &out, &done);
    if (!out.empty()) {
      framed = Hex(out.size()) + "\r\n";
      framed.append(out);
      framed.append("\r\n");
    }
    if (!produced.ok()) {
      spdlog::warn("CAR stream of {} ended early: {}", stream.request.root_text,
                   produced.ToString());
      framed.append("0\r\nX-Stream-Error: " + SafeHeaderValue(produced.message()) + "\r\n\r\n");
      done = true;
    } else if (done) {
      framed.append("0\r\n\r\n");
    }
  }
  const uint64_t bytes = head.size() + framed.size();
  asio::dispatch(conn_->executor(), [conn = conn_, slot = slot_, task, status, done, bytes,
                                     head = std::move(head), framed = std::move(framed)]() {
    if (!head.empty()) {
      slot->status = status;
      slot->head = head;
    }
    if (!slot->head_only) slot->text.append(framed);
    slot->streaming = !done;
    slot->producing = false;
    slot->tasks.emplace_back(task, bytes);
    slot->ready = true;
    conn->OnSlotReady(slot);
  });
}

void CarWork::Shed(const Task& task, int retry_after_s) {
  const bool begun = slot_->stream->begun;
  std::string text = "the node is overloaded: retry after " + std::to_string(retry_after_s) + " s";
  asio::dispatch(conn_->executor(), [conn = conn_, slot = slot_, task, begun, retry_after_s,
                                     text = std::move(text)]() {
    if (begun) {
      slot->text.append("0\r\nX-Stream-Error: " + text + "\r\n\r\n");
    } else {
      slot->status = 503;
      slot->head = ErrorHead(503, text.size() + 1, retry_after_s);
      slot->text = text + "\n";
    }
    slot->streaming = false;
    slot->producing = false;
    slot->tasks.emplace_back(task, 0);
    slot->ready = true;
    conn->OnSlotReady(slot);
  });
}

}  // namespace

void GatewayServer::Impl::Connection::Begin() {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = id_;
  if (epoll_ctl(worker_.readable_set.native_handle(), EPOLL_CTL_ADD, socket_.native_handle(),
                &ev) != 0) {
    spdlog::warn("gateway: cannot watch a connection's socket: {}", std::strerror(errno));
    Close();
    return;
  }
  Read();
}

void GatewayServer::Impl::Connection::OnReadable(uint32_t events) {
  readable_ = true;
  // After a hang-up no further report comes: keep reading until recv returns the end.
  if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) hung_up_ = true;
  if (!reading_) Read();
}

void GatewayServer::Impl::Connection::Read() {
  if (reading_ || closed_ || closing_ || !readable_) return;
  if (slots_.size() >= static_cast<size_t>(server_.config_.max_pipeline)) return;
  if (buffer_.size() - buffered_ < 1024) {
    const size_t limit = server_.config_.max_header_bytes + kInitialReadBuffer;
    if (buffer_.size() >= limit) {
      // A request larger than the header limit that Beast has not refused yet (it counts only
      // the header); nothing more can be read.
      auto slot = std::make_shared<Slot>();
      slots_.push_back(slot);
      ErrorSlot(slot, 431, "the request header exceeds gateway.max_header_bytes");
      return;
    }
    buffer_.resize(std::min(limit, std::max(kInitialReadBuffer, buffer_.size() * 2)));
  }
  reading_ = true;
  // Posted, not called: Read runs at the end of the handlers that OnRead itself calls.
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->ReadNow(); });
}

void GatewayServer::Impl::Connection::ReadNow() {
  if (closed_) return;
  const size_t room = buffer_.size() - buffered_;
  const ssize_t got = recv(socket_.native_handle(), buffer_.data() + buffered_, room, MSG_DONTWAIT);
  const int error = got < 0 ? errno : 0;
  if (error == EAGAIN || error == EWOULDBLOCK || error == EINTR) {
    reading_ = false;
    readable_ = error == EINTR;
    if (readable_) Read();
    return;
  }
  if (error != 0) {
    OnRead(beast::error_code(error, boost::system::system_category()), 0);
    return;
  }
  if (got == 0) {
    OnRead(asio::error::eof, 0);
    return;
  }
  if (static_cast<size_t>(got) < room && !hung_up_) readable_ = false;
  OnRead({}, static_cast<size_t>(got));
}

void GatewayServer::Impl::Connection::OnRead(const beast::error_code& ec, size_t n) {
  reading_ = false;
  if (closed_) return;
  if (ec) {
    // The client is gone or half-closed: answer what it already asked, then close.
    if (slots_.empty()) {
      Close();
    } else {
      CloseWhenDone();
    }
    return;
  }
  buffered_ += n;
  last_activity_ns_ = SteadyNs();
  in_handler_ = true;
  ParseAll();
  server_.RunEngine(worker_);
  in_handler_ = false;
  Flush();
  Read();
}

void GatewayServer::Impl::Connection::ParseAll() {
  size_t offset = 0;
  while (offset < buffered_ && !closing_ &&
         slots_.size() < static_cast<size_t>(server_.config_.max_pipeline)) {
    if (!parser_) {
      head_.Clear();
      parser_.emplace(&head_, server_.config_.peer_header);
      parser_->header_limit(server_.config_.max_header_bytes);
      parser_->eager(true);
      header_started_ns_ = last_activity_ns_;
    }
    beast::error_code ec;
    offset += parser_->put(asio::buffer(buffer_.data() + offset, buffered_ - offset), ec);
    if (ec == http::error::need_more) break;
    if (ec) {
      auto slot = std::make_shared<Slot>();
      slots_.push_back(slot);
      const bool too_large = ec == http::error::header_limit;
      ErrorSlot(slot, too_large ? 431 : 400,
                too_large ? "the request header exceeds gateway.max_header_bytes"
                          : "malformed HTTP request: " + ec.message());
      server_.metrics_.bad_request.Increment();
      closing_ = true;
      parser_.reset();
      break;
    }
    if (!parser_->is_done()) continue;
    HandleRequest();
    parser_.reset();
    header_started_ns_ = 0;
  }
  buffered_ -= offset;
  if (buffered_ > 0 && offset > 0) std::memmove(buffer_.data(), buffer_.data() + offset, buffered_);
  // Keep idle connections small: a connection with nothing buffered drops a grown buffer.
  if (buffered_ == 0 && buffer_.size() > kInitialReadBuffer) {
    buffer_.resize(kInitialReadBuffer);
    buffer_.shrink_to_fit();
  }
}

void GatewayServer::Impl::Connection::HandleRequest() {
  auto slot = std::make_shared<Slot>();
  slot->started_ns = last_activity_ns_;
  slots_.push_back(slot);
  const bool keep_alive = parser_->keep_alive();
  if (!keep_alive) {
    slot->close_after = true;
    closing_ = true;
  }
  if (head_.has_body) {
    ErrorSlot(slot, 400, "the gateway takes no request body: send GET or HEAD without one");
    closing_ = true;
    slot->close_after = true;
    return;
  }
  if (head_.method != http::verb::get && head_.method != http::verb::head) {
    ErrorSlot(slot, 405, "the gateway serves GET and HEAD only", {{"Allow", "GET, HEAD"}});
    return;
  }
  slot->head_only = head_.method == http::verb::head;
  gateway::GatewayRequest request;
  gateway::HttpError error;
  const gateway::RequestHeaders headers{head_.accept, head_.if_none_match, head_.cache_control};
  if (!gateway::ParseRequest(head_.method_text, head_.target, headers, &request, &error)) {
    ErrorSlot(slot, error.status, error.message);
    return;
  }
  if (!request.if_none_match.empty() &&
      gateway::IfNoneMatchHits(request.if_none_match, gateway::Etag(request))) {
    std::vector<gateway::Header> not_modified;
    gateway::NotModifiedHeaders(request, &not_modified);
    slot->status = 304;
    slot->head = HeadOf(304, not_modified);
    slot->ready = true;
    return;
  }
  const std::string& peer = head_.peer.empty() ? address_ : head_.peer;
  if (open_stream_ || held_ > 0) {
    slot->held = std::move(request);
    slot->peer = peer;
    ++held_;
    return;
  }
  Submit(slot, std::move(request), peer);
}

void GatewayServer::Impl::Connection::Submit(const std::shared_ptr<Slot>& slot,
                                             gateway::GatewayRequest request,
                                             const std::string& peer) {
  if (request.format == gateway::ResponseFormat::kRaw) {
    SubmitRaw(slot, std::move(request), peer);
  } else {
    SubmitCar(slot, std::move(request), peer);
    if (slot->streaming) open_stream_ = slot;
  }
}

// Once the open stream has produced its last chunk, gives the held requests to the engine in
// order, up to and including the next CAR stream.
void GatewayServer::Impl::Connection::SubmitHeld() {
  if (!open_stream_ || open_stream_->streaming) return;
  open_stream_.reset();
  if (held_ == 0) return;
  const bool nested = in_handler_;
  in_handler_ = true;
  for (const std::shared_ptr<Slot>& slot : slots_) {
    if (open_stream_) break;
    if (!slot->held) continue;
    --held_;
    gateway::GatewayRequest request = std::move(*slot->held);
    slot->held.reset();
    Submit(slot, std::move(request), slot->peer);
  }
  in_handler_ = nested;
  if (nested) return;
  server_.RunEngine(worker_);
  Flush();
}

void GatewayServer::Impl::Connection::SubmitRaw(const std::shared_ptr<Slot>& slot,
                                                gateway::GatewayRequest request,
                                                const std::string& peer) {
  // The response's size when the store knows the block's: budgets count bytes, and the fair
  // prioritizer charges a size-less task as a 256 KiB chunk, which would cap a peer with many
  // connections (a proxy, a gateway cluster) at a few dozen 1 KiB responses in flight.
  uint64_t cost = kResponseHeadBytes;
  if (!request.head) {
    const uint64_t size = server_.engine_.store().KnownSize(request.root);
    cost = size == 0 ? 0 : cost + size;
  }
  auto work = std::make_shared<RawWork>(shared_from_this(), slot, std::move(request));
  const engine::SubmitResult result =
      server_.engine_.Submit(TaskClass::kInteractive, peer, cost, std::move(work));
  if (result.refusal != engine::Refusal::kNone) {
    ErrorSlot(slot, result.http_status(), "the node is overloaded: retry later",
              {{"Retry-After", std::to_string(result.retry_after_s)}});
  }
}

void GatewayServer::Impl::Connection::SubmitCar(const std::shared_ptr<Slot>& slot,
                                                gateway::GatewayRequest request,
                                                const std::string& peer) {
  auto stream = std::make_shared<CarStream>();
  stream->request = request;
  stream->peer = peer;
  store::BlockStore* store = &server_.engine_.store();
  stream->producer = std::make_unique<gateway::CarProducer>(
      std::move(request), [store](const format::Cid& cid, std::string* data) {
        BlockData block;
        Status status = store->Get(cid, &block);
        if (status.ok()) data->assign(*block);
        return status;
      });
  slot->stream = std::move(stream);
  slot->streaming = true;
  slot->producing = true;
  auto work = std::make_shared<CarWork>(shared_from_this(), slot, false);
  const engine::SubmitResult result =
      server_.engine_.Submit(TaskClass::kBulk, peer, kCarChunkBytes, std::move(work));
  if (result.refusal != engine::Refusal::kNone) {
    slot->streaming = false;
    slot->producing = false;
    ErrorSlot(slot, result.http_status(), "the node is overloaded: retry later",
              {{"Retry-After", std::to_string(result.retry_after_s)}});
  }
}

void GatewayServer::Impl::Connection::SubmitNextChunk(const std::shared_ptr<Slot>& slot) {
  slot->producing = true;
  auto work = std::make_shared<CarWork>(shared_from_this(), slot, true);
  const engine::SubmitResult result =
      server_.engine_.Submit(TaskClass::kBulk, slot->stream->peer, kCarChunkBytes, std::move(work));
  if (result.refusal != engine::Refusal::kNone) {
    slot->text.append("0\r\nX-Stream-Error: the node is overloaded\r\n\r\n");
    slot->streaming = false;
    slot->producing = false;
    SubmitHeld();
    return;
  }
  server_.RunEngine(worker_);  // a no-op when this thread is already running tasks
}

void GatewayServer::Impl::Connection::ErrorSlot(const std::shared_ptr<Slot>& slot, int status,
                                                std::string_view message,
                                                std::vector<gateway::Header> headers) {
  std::string text(message);
  text.push_back('\n');
  slot->status = status;
  slot->head = ErrorHead(status, text.size(), 0);
  for (const auto& [name, value] : headers) AppendHeader(name, value, &slot->head);
  if (!slot->head_only) slot->text = std::move(text);
  slot->ready = true;
  if (!in_handler_) Flush();
}

void GatewayServer::Impl::Connection::OnSlotReady(const std::shared_ptr<Slot>& slot) {
  if (closed_) {
    for (const auto& [task, bytes] : slot->tasks) server_.engine_.Complete(task, 0);
    slot->tasks.clear();
    return;
  }
  if (slot->streaming && !slot->producing && slot->text.size() < kCarChunkBytes) {
    SubmitNextChunk(slot);
  }
  SubmitHeld();
  if (!in_handler_) Flush();
}

void GatewayServer::Impl::Connection::Finish(int status, int64_t started_ns, bool car) {
  server_.metrics_.by_status[StatusIndex(status)]->Increment();
  if (started_ns == 0) return;
  const double seconds = static_cast<double>(SteadyNs() - started_ns) / 1e9;
  (car ? server_.metrics_.car_latency : server_.metrics_.raw_latency).Observe(seconds);
}

void GatewayServer::Impl::Connection::Flush() {
  if (writing_ || closed_) return;
  pieces_.clear();
  written_tasks_.clear();
  size_t finished = 0;
  std::shared_ptr<Slot> needs_chunk;
  for (const std::shared_ptr<Slot>& slot : slots_) {
    if (!slot->ready) break;
    if (!slot->head.empty()) {
      const bool last =
          slot->close_after || (closing_ && slot == slots_.back() && !slot->streaming);
      if (last) slot->head.append("Connection: close\r\n");
      slot->head.append("\r\n");
      pieces_.push_back({std::move(slot->head), nullptr});
      slot->head.clear();
      Finish(slot->status, slot->started_ns, slot->stream != nullptr);
    }
    if (slot->body) pieces_.push_back({{}, std::move(slot->body)});
    if (!slot->text.empty()) {
      pieces_.push_back({std::move(slot->text), nullptr});
      slot->text.clear();
    }
    for (auto& t : slot->tasks) written_tasks_.push_back(std::move(t));
    slot->tasks.clear();
    if (slot->streaming) {
      // Produce the next chunk while this one is written; later responses wait for the end.
      if (!slot->producing) needs_chunk = slot;
      break;
    }
    ++finished;
    if (slot->close_after) {
      close_after_write_ = true;
      break;
    }
  }
  for (size_t i = 0; i < finished; ++i) slots_.pop_front();
  if (pieces_.empty()) {
    if (close_after_write_) Close();
    return;
  }
  gather_.clear();
  for (const Piece& piece : pieces_) {
    if (piece.block) {
      gather_.emplace_back(piece.block->data(), piece.block->size());
    } else {
      gather_.emplace_back(piece.text.data(), piece.text.size());
    }
  }
  writing_ = true;
  write_started_ns_ = SteadyNs();
  asio::async_write(socket_, gather_,
                    [self = shared_from_this()](const beast::error_code& ec, size_t n) {
                      self->OnWritten(ec, n);
                    });
  if (needs_chunk) SubmitNextChunk(needs_chunk);
}

void GatewayServer::Impl::Connection::OnWritten(const beast::error_code& ec, size_t) {
  writing_ = false;
  write_started_ns_ = 0;
  pieces_.clear();
  last_activity_ns_ = SteadyNs();
  for (const auto& [task, bytes] : written_tasks_) {
    server_.engine_.Complete(task, ec ? 0 : bytes);
  }
  written_tasks_.clear();
  if (ec) {
    Close();
    return;
  }
  in_handler_ = true;
  server_.RunEngine(worker_);  // completions may have released peer budget
  in_handler_ = false;
  if (close_after_write_ && slots_.empty()) {
    Close();
    return;
  }
  Flush();
  if (closing_ && slots_.empty() && !writing_) {
    Close();
    return;
  }
  Read();
}

void GatewayServer::Impl::Connection::Close() {
  if (closed_) return;
  closed_ = true;
  beast::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  for (const std::shared_ptr<Slot>& slot : slots_) {
    for (const auto& [task, bytes] : slot->tasks) server_.engine_.Complete(task, 0);
    slot->tasks.clear();
  }
  for (const auto& [task, bytes] : written_tasks_) server_.engine_.Complete(task, 0);
  written_tasks_.clear();
  slots_.clear();
  open_stream_.reset();
  held_ = 0;
  server_.open_.fetch_sub(1, std::memory_order_relaxed);
  server_.metrics_.open.Decrement();
  worker_.connections.erase(id_);  // may release the last reference: touch nothing after
}

bool GatewayServer::Impl::Connection::Expire(int64_t now_ns) {
  const runtime::GatewayConfig& config = server_.config_;
  const int64_t ms = 1'000'000;
  if (writing_ && now_ns - write_started_ns_ > config.write_timeout_ms * ms) {
    server_.metrics_.timeout_write.Increment();
    Close();
    return true;
  }
  if (header_started_ns_ != 0 && buffered_ > 0 &&
      now_ns - header_started_ns_ > config.header_timeout_ms * ms) {
    server_.metrics_.timeout_header.Increment();
    Close();
    return true;
  }
  if (slots_.empty() && !writing_ && buffered_ == 0 &&
      now_ns - last_activity_ns_ > config.idle_timeout_ms * ms) {
    server_.metrics_.timeout_idle.Increment();
    Close();
    return true;
  }
  return false;
}

void GatewayServer::Impl::RunEngine(Worker& worker) {
  if (!engine_.Pump() || worker.engine_turn_posted) return;
  worker.engine_turn_posted = true;
  asio::post(worker.ioc, [this, &worker] {
    worker.engine_turn_posted = false;
    RunEngine(worker);
  });
}

Status GatewayServer::Impl::Listen(Worker& worker, const tcp::endpoint& endpoint) {
  beast::error_code ec;
  worker.acceptor.open(endpoint.protocol(), ec);
  if (!ec) worker.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) {
    const int on = 1;
    if (setsockopt(worker.acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0)
      ec = beast::error_code(errno, boost::system::system_category());
  }
  if (!ec) worker.acceptor.bind(endpoint, ec);
  if (!ec) worker.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    worker.acceptor.close(ignored);
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
  tcp::endpoint endpoint = endpoints.begin()->endpoint();
  for (int i = 0; i < config_.io_threads; ++i) {
    workers_.push_back(std::make_unique<Worker>(static_cast<size_t>(i)));
    if (!workers_.back()->readable_set.is_open()) {
      return Status::IOError(std::string("cannot create the gateway's epoll set: ") +
                             std::strerror(errno));
    }
    Status listened = Listen(*workers_.back(), endpoint);
    if (!listened.ok()) {
      return listened.Annotate("cannot listen on gateway.listen " + config_.listen);
    }
    // Port 0 picked a port for the first acceptor; the others share it through SO_REUSEPORT.
    if (i == 0) endpoint = workers_[0]->acceptor.local_endpoint();
  }
  {
    std::lock_guard lock(address_mu_);
    bound_address_ = admin::FormatEndpoint(endpoint);
  }
  for (auto& worker : workers_) {
    Accept(*worker);
    WaitReadable(*worker);
    Sweep(*worker);
    threads_.emplace_back([w = worker.get()] { w->ioc.run(); });
  }
  engine_.SetWakeup([this] {
    for (auto& worker : workers_)
      asio::post(worker->ioc, [this, w = worker.get()] { RunEngine(*w); });
  });
  maintainer_ = std::thread([this] { MaintainLoop(); });
  spdlog::info("gateway listening on {} with {} I/O threads", bound_address(), config_.io_threads);
  return Status::OK();
}

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

void GatewayServer::Impl::Accept(Worker& worker) {
  worker.acceptor.async_accept([this, &worker](const beast::error_code& ec, tcp::socket socket) {
    OnAccept(worker, ec, std::move(socket));
  });
}

void GatewayServer::Impl::OnAccept(Worker& worker, const beast::error_code& ec,
                                   tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !worker.acceptor.is_open()) return;
  if (ec) {
    // EMFILE and the like last a while; retrying at once would spin.
    spdlog::warn("gateway accept failed: {}", ec.message());
    worker.accept_retry.expires_after(kAcceptRetryDelay);
    worker.accept_retry.async_wait([this, &worker](const beast::error_code& wait_ec) {
      if (!wait_ec) Accept(worker);
    });
    return;
  }
  Accept(worker);
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
    metrics_.refused.Increment();
    return;  // the socket closes as it goes out of scope
  }
  open_.fetch_add(1, std::memory_order_relaxed);
  metrics_.open.Increment();
  auto conn =
      std::make_shared<Connection>(*this, worker, std::move(socket), id, std::move(info.peer));
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
    std::ifstream statm("/proc/self/statm");
    uint64_t pages = 0, resident = 0;
    if (statm >> pages >> resident) rss_bytes_.store(resident * 4096, std::memory_order_relaxed);
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
      metrics_.trimmed.Increment();
      std::shared_ptr<Connection> conn = it->second;
      conn->CloseWhenDone();
    });
  }
}

void GatewayServer::Impl::Drain(int64_t timeout_ms) {
  if (workers_.empty()) return;
  draining_.store(true);
  for (auto& worker : workers_) {
    asio::post(worker->ioc, [w = worker.get()] {
      beast::error_code ignored;
      w->acceptor.close(ignored);
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
  engine_.SetWakeup(nullptr);
  maintain_cv_.notify_all();
  if (maintainer_.joinable()) maintainer_.join();
  for (auto& worker : workers_) {
    asio::post(worker->ioc, [w = worker.get()] {
      beast::error_code ignored;
      w->acceptor.close(ignored);
      w->sweep_timer.cancel();
      w->readable_set.cancel(ignored);
      w->accept_retry.cancel();
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
void GatewayServer::Stop() { impl_->Stop(); }
std::string GatewayServer::bound_address() const { return impl_->bound_address(); }
uint64_t GatewayServer::open_connections() const { return impl_->open_connections(); }

}  // namespace boxcar::server
