#include "server/gateway_connection.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <chrono>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>

#include "engine/request_engine.h"
#include "http/head_writer.h"
#include "server/gateway_metrics.h"
#include "server/gateway_work.h"

namespace boxcar::server {
namespace {

namespace asio = boost::asio;
namespace beast_http = boost::beast::http;
using error_code = boost::system::error_code;

constexpr size_t kInitialReadBuffer = 4096;
// About the size of a raw response's head (status line and headers): the cost of a HEAD
// request, and what a GET costs on top of its block.
constexpr uint64_t kResponseHeadBytes = 512;
constexpr int64_t kNsPerMs = 1'000'000;

// The CORS header lines every response carries, rendered once.
const std::string& CorsLines() {
  static const std::string lines = [] {
    std::string out;
    for (const auto& [name, value] : gateway::CorsHeaders()) http1::AppendHeader(name, value, &out);
    return out;
  }();
  return lines;
}

}  // namespace

Connection::Connection(ConnectionOwner& owner, asio::ip::tcp::socket socket, uint64_t id,
                       std::string address)
    : owner_(owner),
      config_(owner.config()),
      limits_(owner.limits()),
      socket_(std::move(socket)),
      id_(id),
      address_(std::move(address)),
      opened_ns_(SteadyNs()),
      last_activity_ns_(opened_ns_),
      header_started_ns_(opened_ns_) {}

void Connection::CloseWhenDone() {
  closing_ = true;
  if (pipeline_.empty() && !writing_) {
    Close();
  } else if (!pipeline_.empty()) {
    pipeline_.back()->close_after = true;
  }
}

ConnInfo Connection::Info() const {
  ConnInfo info;
  info.id = id_;
  info.peer = address_;
  info.opened_ns = opened_ns_;
  info.last_active_ns = last_activity_ns_;
  info.inflight = static_cast<uint32_t>(pipeline_.size());
  return info;
}

void Connection::Begin() {
  if (!owner_.WatchReadable(socket_.native_handle(), id_)) {
    spdlog::warn("gateway: cannot watch a connection's socket: {}", std::strerror(errno));
    Close();
    return;
  }
  Read();
}

void Connection::OnReadable(uint32_t events) {
  if (closed_) return;
  readable_ = true;
  // After a hang-up no further report comes: keep reading until recv returns the end.
  if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) hung_up_ = true;
  if (!reading_) Read();
}

void Connection::Read() {
  if (reading_ || closed_ || closing_) return;
  if (pipeline_.size() >= limits_.max_pipeline()) return;
  if (parse_paused_) {
    // The bytes are in buffer_ already: no report will come for them, so parse them now.
    ResumeParsing();
    if (closed_ || closing_ || parse_paused_) return;
  }
  if (!readable_) return;  // the socket is drained; the readable set calls OnReadable
  if (buffer_.size() - buffered_ < 1024) {
    const size_t limit = limits_.max_header_bytes() + kInitialReadBuffer;
    if (buffer_.size() >= limit) {
      // A request larger than the header limit that Beast has not refused yet (it counts only
      // the header); nothing more can be read.
      auto response = std::make_shared<PendingResponse>();
      pipeline_.push_back(response);
      Answer(response, 431, "the request header exceeds gateway.max_header_bytes");
      return;
    }
    buffer_.resize(std::min(limit, std::max(kInitialReadBuffer, buffer_.size() * 2)));
  }
  reading_ = true;
  // Posted, not called: Read runs at the end of the handlers that OnRead itself calls.
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->ReadNow(); });
}

void Connection::ReadNow() {
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
    OnRead(error_code(error, boost::system::system_category()), 0);
    return;
  }
  if (got == 0) {
    OnRead(asio::error::eof, 0);
    return;
  }
  if (static_cast<size_t>(got) < room && !hung_up_) readable_ = false;
  OnRead({}, static_cast<size_t>(got));
}

void Connection::OnRead(const error_code& ec, size_t n) {
  reading_ = false;
  if (closed_) return;
  if (ec) {
    // The client is gone or half-closed: answer what it already asked, then close.
    if (pipeline_.empty()) {
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
  owner_.RunEngine();
  in_handler_ = false;
  Flush();
  Read();
}

void Connection::ResumeParsing() {
  parse_paused_ = false;
  const bool nested = in_handler_;
  in_handler_ = true;
  ParseAll();
  owner_.RunEngine();
  in_handler_ = nested;
  if (!nested) Flush();
}

void Connection::ParseAll() {
  size_t offset = 0;
  while (offset < buffered_ && !closing_ && pipeline_.size() < limits_.max_pipeline()) {
    if (!parser_) {
      head_.Clear();
      parser_.emplace(&head_, config_.peer_header);
      parser_->header_limit(limits_.max_header_bytes());
      parser_->eager(true);
      // A connection's first request counts from the accept, each later one from its first read.
      if (header_started_ns_ == 0) header_started_ns_ = last_activity_ns_;
    }
    error_code ec;
    offset += parser_->put(asio::buffer(buffer_.data() + offset, buffered_ - offset), ec);
    if (ec == beast_http::error::need_more) break;
    if (ec) {
      auto response = std::make_shared<PendingResponse>();
      pipeline_.push_back(response);
      const bool too_large = ec == beast_http::error::header_limit;
      Answer(response, too_large ? 431 : 400,
             too_large ? "the request header exceeds gateway.max_header_bytes"
                       : "malformed HTTP request: " + ec.message());
      owner_.metrics().Closed(CloseReason::kBadRequest);
      closing_ = true;
      parser_.reset();
      header_started_ns_ = 0;
      break;
    }
    if (!parser_->is_done()) continue;
    HandleRequest();
    parser_.reset();
    header_started_ns_ = 0;
  }
  // Requests left in the buffer behind a full pipeline are parsed once responses leave.
  parse_paused_ = offset < buffered_ && !closing_ && pipeline_.size() >= limits_.max_pipeline();
  buffered_ -= offset;
  if (buffered_ > 0 && offset > 0) std::memmove(buffer_.data(), buffer_.data() + offset, buffered_);
  // Keep idle connections small: a connection with nothing buffered drops a grown buffer.
  if (buffered_ == 0 && buffer_.size() > kInitialReadBuffer) {
    buffer_.resize(kInitialReadBuffer);
    buffer_.shrink_to_fit();
  }
}

void Connection::HandleRequest() {
  auto response = std::make_shared<PendingResponse>();
  response->started_ns = last_activity_ns_;
  pipeline_.push_back(response);
  if (!parser_->keep_alive()) {
    response->close_after = true;
    closing_ = true;
  }
  if (head_.has_body) {
    Answer(response, 400, "the gateway takes no request body: send GET or HEAD without one");
    closing_ = true;
    response->close_after = true;
    return;
  }
  if (head_.method == beast_http::verb::options) {
    response->status = 204;
    response->head = http1::ResponseHead(204, gateway::PreflightHeaders());
    response->ready = true;
    return;
  }
  if (head_.method != beast_http::verb::get && head_.method != beast_http::verb::head) {
    Answer(response, 405, "the gateway serves GET and HEAD (and OPTIONS preflights) only",
           {{"Allow", std::string(gateway::kAllowedMethods)}});
    return;
  }
  response->head_only = head_.method == beast_http::verb::head;
  gateway::GatewayRequest request;
  gateway::HttpError error;
  const gateway::RequestHeaders headers{head_.accept, head_.if_none_match, head_.cache_control};
  if (!gateway::ParseRequest(head_.method_text, head_.target, headers, &request, &error)) {
    Answer(response, error.status, error.message);
    return;
  }
  if (!request.if_none_match.empty() &&
      gateway::IfNoneMatchHits(request.if_none_match, gateway::Etag(request))) {
    std::vector<gateway::Header> not_modified;
    gateway::NotModifiedHeaders(request, &not_modified);
    response->status = 304;
    response->head = http1::ResponseHead(304, not_modified);
    response->ready = true;
    return;
  }
  if (request.format != gateway::ResponseFormat::kRaw && head_.version < 11) {
    response->close_delimited = true;
    response->close_after = true;
    closing_ = true;
  }
  const std::string& peer = head_.identity.empty() ? address_ : head_.identity;
  if (open_stream_ || held_ > 0) {
    response->held = std::move(request);
    response->peer = peer;
    ++held_;
    return;
  }
  Submit(response, std::move(request), peer);
}

void Connection::Submit(const std::shared_ptr<PendingResponse>& response,
                        gateway::GatewayRequest request, const std::string& peer) {
  if (NeedsFetch(*response, request)) return FetchThenSubmit(response, std::move(request), peer);
  if (request.format == gateway::ResponseFormat::kRaw) {
    SubmitRaw(response, std::move(request), peer);
  } else {
    SubmitCar(response, std::move(request), peer);
    if (response->streaming) open_stream_ = response;
  }
}

// A raw request whose block the key cache knows is served at once; any other raw or CAR request
// goes through the fetcher, which looks in the store first (off this thread).
bool Connection::NeedsFetch(const PendingResponse& response,
                            const gateway::GatewayRequest& request) {
  if (response.fetched || request.only_if_cached || !limits_.fetch_missing() || !owner_.fetcher()) {
    return false;
  }
  return request.format != gateway::ResponseFormat::kRaw ||
         owner_.engine().store().KnownSize(request.root) == 0;
}

void Connection::FetchThenSubmit(const std::shared_ptr<PendingResponse>& response,
                                 gateway::GatewayRequest request, const std::string& peer) {
  response->fetched = true;
  const bool car = request.format != gateway::ResponseFormat::kRaw;
  if (car) {  // what SubmitCar does, so later requests wait behind this one
    response->streaming = true;
    response->producing = true;
    open_stream_ = response;
  }
  // A path's intermediate blocks are not fetched: only the root's DAG, or the root alone.
  const format::DagScope scope =
      car && request.path.empty() ? request.scope : format::DagScope::kBlock;
  const format::Cid root = request.root;
  owner_.fetcher()(root, scope, std::chrono::milliseconds(limits_.fetch_timeout_ms()),
                   [self = shared_from_this(), response, request = std::move(request),
                    peer](Status status) mutable {
                     boost::asio::post(
                         self->executor(),
                         [self, response, request = std::move(request), peer, status]() mutable {
                           self->OnFetched(response, std::move(request), peer, status);
                         });
                   });
}

// A timeout answers 504; anything else goes to the engine, which answers from the store (200,
// or the store's 404 when a fetch found a DAG it could not complete).
void Connection::OnFetched(const std::shared_ptr<PendingResponse>& response,
                           gateway::GatewayRequest request, const std::string& peer,
                           const Status& status) {
  if (closed_) return;
  const bool nested = in_handler_;
  in_handler_ = true;
  response->streaming = false;
  response->producing = false;
  if (status.code() == Status::Code::kUnavailable) {
    Answer(response, 504, "gateway timeout: " + status.message());
  } else {
    Submit(response, std::move(request), peer);
  }
  SubmitHeld();
  in_handler_ = nested;
  if (nested) return;
  owner_.RunEngine();
  Flush();
}

// Once the open stream has produced its last chunk, gives the held requests to the engine in
// order, up to and including the next CAR stream.
void Connection::SubmitHeld() {
  if (!open_stream_ || open_stream_->streaming) return;
  open_stream_.reset();
  if (held_ == 0) return;
  const bool nested = in_handler_;
  in_handler_ = true;
  for (const std::shared_ptr<PendingResponse>& response : pipeline_) {
    if (open_stream_) break;
    if (!response->held) continue;
    --held_;
    gateway::GatewayRequest request = std::move(*response->held);
    response->held.reset();
    Submit(response, std::move(request), response->peer);
  }
  in_handler_ = nested;
  if (nested) return;
  owner_.RunEngine();
  Flush();
}

void Connection::SubmitRaw(const std::shared_ptr<PendingResponse>& response,
                           gateway::GatewayRequest request, const std::string& peer) {
  // The response's size when the store knows the block's: budgets count bytes, and the fair
  // prioritizer charges a size-less task as a 256 KiB chunk, which would cap a peer with many
  // connections (a proxy, a gateway cluster) at a few dozen 1 KiB responses in flight.
  uint64_t cost = kResponseHeadBytes;
  if (!request.head) {
    const uint64_t size = owner_.engine().store().KnownSize(request.root);
    cost = size == 0 ? 0 : cost + size;
  }
  const engine::SubmitResult result =
      owner_.engine().Submit(TaskClass::kInteractive, peer, cost,
                             MakeRawWork(shared_from_this(), response, std::move(request)));
  if (result.refusal != engine::Refusal::kNone) {
    Answer(response, result.http_status(), "the node is overloaded: retry later",
           {{"Retry-After", std::to_string(result.retry_after_s)}});
  }
}

void Connection::SubmitCar(const std::shared_ptr<PendingResponse>& response,
                           gateway::GatewayRequest request, const std::string& peer) {
  auto stream = std::make_shared<CarStream>();
  stream->request = request;
  stream->peer = peer;
  stream->chunked = !response->close_delimited;
  store::BlockStore* store = &owner_.engine().store();
  stream->producer = std::make_unique<gateway::CarProducer>(
      std::move(request), [store](const format::Cid& cid, std::string* data) {
        BlockData block;
        Status status = store->Get(cid, &block);
        if (status.ok()) data->assign(*block);
        return status;
      });
  response->stream = std::move(stream);
  response->streaming = true;
  response->producing = true;
  const engine::SubmitResult result = owner_.engine().Submit(
      TaskClass::kBulk, peer, kCarChunkBytes, MakeCarWork(shared_from_this(), response, false));
  if (result.refusal != engine::Refusal::kNone) {
    response->streaming = false;
    response->producing = false;
    Answer(response, result.http_status(), "the node is overloaded: retry later",
           {{"Retry-After", std::to_string(result.retry_after_s)}});
  }
}

void Connection::SubmitNextChunk(const std::shared_ptr<PendingResponse>& response) {
  response->producing = true;
  const engine::SubmitResult result =
      owner_.engine().Submit(TaskClass::kBulk, response->stream->peer, kCarChunkBytes,
                             MakeCarWork(shared_from_this(), response, true));
  if (result.refusal != engine::Refusal::kNone) {
    response->text.append(StreamEnd(*response->stream, "the node is overloaded"));
    response->streaming = false;
    response->producing = false;
    SubmitHeld();
    return;
  }
  owner_.RunEngine();  // a no-op when this thread is already running tasks
}

void Connection::Answer(const std::shared_ptr<PendingResponse>& response, int status,
                        std::string_view message, std::vector<gateway::Header> headers) {
  std::string text(message);
  text.push_back('\n');
  response->status = status;
  response->head = ErrorHead(status, text.size(), 0);
  for (const auto& [name, value] : headers) http1::AppendHeader(name, value, &response->head);
  if (!response->head_only) response->text = std::move(text);
  response->ready = true;
  if (!in_handler_) Flush();
}

void Connection::OnResponseReady(const std::shared_ptr<PendingResponse>& response) {
  if (closed_) {
    for (const auto& [task, bytes] : response->tasks) owner_.engine().Complete(task, 0);
    response->tasks.clear();
    return;
  }
  if (response->streaming && !response->producing && response->text.size() < kCarChunkBytes) {
    SubmitNextChunk(response);
  }
  SubmitHeld();
  if (!in_handler_) Flush();
}

void Connection::Flush() {
  if (writing_ || closed_) return;
  pieces_.clear();
  written_tasks_.clear();
  size_t finished = 0;
  std::shared_ptr<PendingResponse> needs_chunk;
  for (const std::shared_ptr<PendingResponse>& response : pipeline_) {
    if (!response->ready) break;
    if (!response->head.empty()) {
      const bool last = response->close_after ||
                        (closing_ && response == pipeline_.back() && !response->streaming);
      if (last) response->head.append("Connection: close\r\n");
      response->head.append(CorsLines());
      response->head.append("\r\n");
      pieces_.push_back({std::move(response->head), nullptr});
      response->head.clear();
      owner_.metrics().Responded(response->status, response->started_ns,
                                 response->stream != nullptr);
    }
    if (response->body) pieces_.push_back({{}, std::move(response->body)});
    if (!response->text.empty()) {
      pieces_.push_back({std::move(response->text), nullptr});
      response->text.clear();
    }
    for (auto& t : response->tasks) written_tasks_.push_back(std::move(t));
    response->tasks.clear();
    if (response->streaming) {
      // Produce the next chunk while this one is written; later responses wait for the end.
      if (!response->producing) needs_chunk = response;
      break;
    }
    ++finished;
    if (response->close_after) {
      close_after_write_ = true;
      break;
    }
  }
  for (size_t i = 0; i < finished; ++i) pipeline_.pop_front();
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
  asio::async_write(socket_, gather_, [self = shared_from_this()](const error_code& ec, size_t n) {
    self->OnWritten(ec, n);
  });
  if (needs_chunk) SubmitNextChunk(needs_chunk);
}

void Connection::OnWritten(const error_code& ec, size_t) {
  writing_ = false;
  write_started_ns_ = 0;
  pieces_.clear();
  last_activity_ns_ = SteadyNs();
  for (const auto& [task, bytes] : written_tasks_) {
    owner_.engine().Complete(task, ec ? 0 : bytes);
  }
  written_tasks_.clear();
  if (ec) {
    Close();
    return;
  }
  in_handler_ = true;
  owner_.RunEngine();  // completions may have released peer budget
  in_handler_ = false;
  if (close_after_write_ && pipeline_.empty()) {
    Close();
    return;
  }
  Flush();
  if (closing_ && pipeline_.empty() && !writing_) {
    Close();
    return;
  }
  Read();
}

void Connection::Close() {
  if (closed_) return;
  closed_ = true;
  error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  for (const std::shared_ptr<PendingResponse>& response : pipeline_) {
    for (const auto& [task, bytes] : response->tasks) owner_.engine().Complete(task, 0);
    response->tasks.clear();
  }
  for (const auto& [task, bytes] : written_tasks_) owner_.engine().Complete(task, 0);
  written_tasks_.clear();
  pipeline_.clear();
  open_stream_.reset();
  held_ = 0;
  owner_.Forget(id_);  // may release the last reference: touch nothing after
}

bool Connection::Expire(int64_t now_ns) {
  if (writing_ && now_ns - write_started_ns_ > limits_.write_timeout_ms() * kNsPerMs) {
    owner_.metrics().Closed(CloseReason::kWriteTimeout);
    Close();
    return true;
  }
  if (header_started_ns_ != 0 &&
      now_ns - header_started_ns_ > limits_.header_timeout_ms() * kNsPerMs) {
    owner_.metrics().Closed(CloseReason::kHeaderTimeout);
    Close();
    return true;
  }
  if (pipeline_.empty() && !writing_ && buffered_ == 0 && !parser_ &&
      now_ns - last_activity_ns_ > limits_.idle_timeout_ms() * kNsPerMs) {
    owner_.metrics().Closed(CloseReason::kIdleTimeout);
    Close();
    return true;
  }
  return false;
}

}  // namespace boxcar::server
