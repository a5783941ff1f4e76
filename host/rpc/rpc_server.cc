#include "rpc/rpc_server.h"

#include <sys/socket.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "admin/admin_server.h"
#include "http/head_writer.h"
#include "obs/logging.h"
#include "rpc/rpc_auth.h"
#include "rpc/rpc_request.h"

namespace boxcar::rpc {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Headers = std::vector<std::pair<std::string, std::string>>;
using json = nlohmann::ordered_json;

constexpr std::uint32_t kHeaderLimit = 16 * 1024;
constexpr std::uint64_t kBodyLimit = 1024 * 1024;
constexpr auto kHeaderTimeout = std::chrono::seconds(10);
// Clients that keep connections (kubo-rpc-client, Go's http.Client) reuse them for polls.
constexpr auto kIdleTimeout = std::chrono::seconds(60);
constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr size_t kMaxConnections = 256;
constexpr std::string_view kApiPrefix = "/api/v0/";
constexpr char kExposedHeaders[] = "X-Stream-Output, X-Chunked-Output, X-Content-Length";
constexpr char kAccessDenied[] =
    "Kubo RPC Access Denied: Please provide a valid authorization token as defined in the "
    "API.Authorizations configuration.";

std::string ToStd(beast::string_view view) { return {view.data(), view.size()}; }

// Error texts are not guaranteed UTF-8; the error body itself must never throw.
std::string DumpJson(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

bool RpcRequest::Flag(const std::string& name) const {
  auto it = options.find(name);
  return it != options.end() && ParseGoBool(it->second).value_or(false);
}

int64_t RpcRequest::Int(const std::string& name, int64_t fallback) const {
  auto it = options.find(name);
  if (it == options.end()) return fallback;
  int64_t value = fallback;
  std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
  return value;
}

class RpcSession;
class StreamResponder;

class ServerCore {
 public:
  ServerCore(const runtime::RpcConfig& config, std::string server_header)
      : listen_(config.listen),
        server_header_(std::move(server_header)),
        log_(obs::Logger("rpc")),
        authorizer_(std::make_shared<RpcAuthorizer>(config.authorizations)) {}

  Status Start();
  void Stop();
  void Accept();

  std::shared_ptr<const RpcAuthorizer> authorizer() const {
    std::lock_guard lock(mu_);
    return authorizer_;
  }
  void SetAuthorizer(std::shared_ptr<const RpcAuthorizer> authorizer) {
    std::lock_guard lock(mu_);
    authorizer_ = std::move(authorizer);
  }
  std::string bound_address() const {
    std::lock_guard lock(mu_);
    return bound_address_;
  }
  void Forget(RpcSession* session) { sessions_.erase(session); }

  const std::string listen_;
  const std::string server_header_;
  RpcCommandTable commands_;
  std::vector<std::string> allowed_origins_;  // set in Start, before the first accept
  std::shared_ptr<spdlog::logger> log_;
  // I/O thread only. Declared before the io_context: sessions still held by its handlers leave
  // this map as the io_context destroys them.
  std::unordered_map<RpcSession*, std::weak_ptr<RpcSession>> sessions_;
  bool stopping_ = false;
  asio::io_context ioc_{1};
  tcp::acceptor acceptor_{ioc_};

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const RpcAuthorizer> authorizer_;
  std::string bound_address_;
  std::mutex lifecycle_mu_;
  bool started_ = false;
  bool stopped_ = false;
  std::thread thread_;
};

// One connection. Requests are answered one at a time; while a command runs the connection
// watches for the client closing, so a long stream (ping) stops when nobody reads it.
class RpcSession : public std::enable_shared_from_this<RpcSession> {
 public:
  RpcSession(tcp::socket socket, ServerCore* server)
      : stream_(std::move(socket)), server_(server) {}

  void Start() { ReadRequest(kHeaderTimeout); }
  void Close();

  // Called by the responder, on the I/O thread.
  void BeginResponse(const Headers& extra, const char* content_type = "application/json");
  void SendChunk(const std::string& data);
  void EndResponse(const std::string& stream_error);
  void SendError(const RpcError& error);
  bool responding() const { return command_running_; }

 private:
  // `timeout`: for the whole request, from now.
  void ReadRequest(std::chrono::seconds timeout);
  void OnRead(const beast::error_code& ec);
  void Dispatch();
  void RunCommand(const RpcCommand& command, const RpcRequest& request);
  void WatchForClose();
  void SendText(int status, const std::string& text, const Headers& extra = {});
  Headers CommonHeaders() const;
  void Write(std::string bytes);
  void WriteNext();
  void FinishResponse();

  beast::tcp_stream stream_;
  ServerCore* server_;  // outlives the session: handlers are destroyed with its io_context
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = false;
  bool command_running_ = false;  // a responder may still write
  bool response_done_ = false;    // the last bytes of the response are queued
  bool closed_ = false;
  std::shared_ptr<RpcSession> self_;  // set while a command runs
  std::string origin_;                // echoed in Access-Control-Allow-Origin when allowed
  std::deque<std::string> pending_writes_;
  bool writing_ = false;
  std::shared_ptr<StreamResponder> responder_;
};

// Marshals a command's answer onto the I/O thread.
class StreamResponder : public RpcResponder, public std::enable_shared_from_this<StreamResponder> {
 public:
  StreamResponder(std::weak_ptr<RpcSession> session, asio::any_io_executor executor)
      : session_(std::move(session)), executor_(std::move(executor)) {}

  void Reply(json value) override {
    Run([value = std::move(value)](RpcSession& s, StreamResponder& self) {
      self.Begin(s, false);
      s.SendChunk(DumpJson(value) + "\n");
      self.End(s, "");
    });
  }
  void ReplyBytes(std::string bytes) override {
    Run([bytes = std::move(bytes)](RpcSession& s, StreamResponder& self) {
      self.begun_ = true;
      s.BeginResponse({{"X-Stream-Output", "1"}}, "text/plain");
      if (!bytes.empty()) s.SendChunk(bytes);
      self.End(s, "");
    });
  }
  void Emit(json value) override {
    Run([value = std::move(value)](RpcSession& s, StreamResponder& self) {
      self.Begin(s, true);
      s.SendChunk(DumpJson(value) + "\n");
    });
  }
  void Close() override {
    Run([](RpcSession& s, StreamResponder& self) {
      self.Begin(s, true);
      self.End(s, "");
    });
  }
  void Fail(RpcError error) override {
    Run([error = std::move(error)](RpcSession& s, StreamResponder& self) {
      if (!self.begun_) {
        self.ended_ = true;
        s.SendError(error);
        return;
      }
      self.End(s, error.message.empty() ? "unknown error" : error.message);
    });
  }
  bool cancelled() const override { return cancelled_; }
  asio::any_io_executor executor() const override { return executor_; }

  void Cancel() { cancelled_ = true; }

 private:
  template <class F>
  void Run(F f) {
    asio::post(executor_, [self = shared_from_this(), f = std::move(f)]() mutable {
      if (self->ended_) return;
      auto session = self->session_.lock();
      if (!session || !session->responding()) {
        self->ended_ = true;
        self->cancelled_ = true;
        return;
      }
      f(*session, *self);
    });
  }
  void Begin(RpcSession& s, bool stream) {
    if (begun_) return;
    begun_ = true;
    Headers extra;
    if (stream) extra.emplace_back("X-Chunked-Output", "1");
    s.BeginResponse(extra);
  }
  void End(RpcSession& s, const std::string& stream_error) {
    ended_ = true;
    s.EndResponse(stream_error);
  }

  std::weak_ptr<RpcSession> session_;
  asio::any_io_executor executor_;
  bool begun_ = false;  // I/O thread only
  bool ended_ = false;  // I/O thread only
  std::atomic<bool> cancelled_{false};
};

void RpcSession::ReadRequest(std::chrono::seconds timeout) {
  parser_.emplace();
  parser_->header_limit(kHeaderLimit);
  parser_->body_limit(kBodyLimit);
  stream_.expires_after(timeout);
  http::async_read(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
}

void RpcSession::OnRead(const beast::error_code& ec) {
  if (closed_) return;
  stream_.expires_never();
  if (!ec) return Dispatch();
  keep_alive_ = false;
  if (ec == http::error::header_limit) {
    return SendText(431, "request headers exceed " + std::to_string(kHeaderLimit) + " bytes");
  }
  if (ec == http::error::body_limit) {
    return SendText(413, "request body exceeds " + std::to_string(kBodyLimit) + " bytes");
  }
  const bool malformed = ec.category() == beast::error_code(http::error::bad_method).category() &&
                         ec != http::error::end_of_stream && ec != http::error::partial_message;
  if (malformed) return SendText(400, "malformed request: " + ec.message());
  Close();  // the client left, timed out, or Stop closed the socket
}

// Kubo's order: the API path, the authorization, the method, the CSRF checks, then the command
// and its arguments.
void RpcSession::Dispatch() {
  const auto& message = parser_->get();
  keep_alive_ = message.keep_alive() && !server_->stopping_;
  const std::string target = ToStd(message.target());
  const size_t question = target.find('?');
  const auto path = PercentDecode(std::string_view(target).substr(0, question), false);
  if (!path || path->compare(0, kApiPrefix.size(), kApiPrefix) != 0) {
    return SendText(404, "404 page not found");
  }
  if (!server_->authorizer()->Allows(*path, ToStd(message[http::field::authorization]))) {
    return SendText(403, kAccessDenied);
  }
  origin_ = ToStd(message[http::field::origin]);
  if (message.method() == http::verb::options) {
    return SendText(204, "", {{"Allow", "OPTIONS, POST"}});
  }
  if (message.method() != http::verb::post) {
    return SendText(405, "405 - Method Not Allowed", {{"Allow", "OPTIONS, POST"}});
  }
  if (!PassesCsrfChecks(server_->allowed_origins_, origin_, ToStd(message[http::field::referer]),
                        ToStd(message[http::field::user_agent]))) {
    server_->log_->warn("refused {} (possible CSRF: Origin '{}')", path->substr(0, 200),
                        origin_.substr(0, 200));
    origin_.clear();
    return SendText(403, "403 - Forbidden");
  }
  std::optional<std::string> path_arg;
  const RpcCommand* command = server_->commands_.Find(path->substr(kApiPrefix.size()), &path_arg);
  if (command == nullptr) return SendText(404, "404 page not found");
  std::vector<std::pair<std::string, std::string>> query;
  RpcRequest request;
  Status parsed =
      ParseQuery(question == std::string::npos ? "" : target.substr(question + 1), &query);
  if (parsed.ok()) parsed = BuildRequest(*command, path_arg, query, &request);
  if (!parsed.ok()) return SendText(400, parsed.message());
  RunCommand(*command, request);
}

void RpcSession::RunCommand(const RpcCommand& command, const RpcRequest& request) {
  command_running_ = true;
  response_done_ = false;
  // While a command runs the session may have no I/O pending (a pipelined request ended the
  // close watch): it keeps itself until the response is written or the connection closes.
  self_ = shared_from_this();
  responder_ = std::make_shared<StreamResponder>(weak_from_this(), server_->ioc_.get_executor());
  WatchForClose();
  try {
    command.handler(request, responder_);
  } catch (const std::exception& e) {
    responder_->Fail({std::string("internal error: ") + e.what(), ErrorCode::kNormal});
  }
}

// A readable socket while a command runs is either the client closing (a peek reads 0 bytes)
// or a pipelined request, which waits in the socket until this response ends.
void RpcSession::WatchForClose() {
  stream_.socket().async_wait(
      tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
        if (self->closed_ || !self->command_running_) return;
        char byte = 0;
        const ssize_t n =
            ::recv(self->stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (ec || n == 0) self->Close();
      });
}

Headers RpcSession::CommonHeaders() const {
  Headers headers{{"Server", server_->server_header_}, {"Vary", "Origin"}};
  if (!origin_.empty()) {
    headers.emplace_back("Access-Control-Allow-Origin", http1::SafeHeaderValue(origin_, 1024));
  }
  return headers;
}

void RpcSession::BeginResponse(const Headers& extra, const char* content_type) {
  Headers headers = CommonHeaders();
  headers.emplace_back("Access-Control-Allow-Headers", kExposedHeaders);
  headers.emplace_back("Access-Control-Expose-Headers", kExposedHeaders);
  headers.emplace_back("Content-Type", content_type);
  headers.emplace_back("Trailer", "X-Stream-Error");
  headers.emplace_back("Transfer-Encoding", "chunked");
  headers.insert(headers.end(), extra.begin(), extra.end());
  std::string head = http1::ResponseHead(200, headers);
  if (!keep_alive_) http1::AppendHeader("Connection", "close", &head);
  head.append("\r\n");
  Write(std::move(head));
}

void RpcSession::SendChunk(const std::string& data) {
  std::string chunk;
  http1::AppendChunk(data, &chunk);
  Write(std::move(chunk));
}

void RpcSession::EndResponse(const std::string& stream_error) {
  Headers trailers;
  if (!stream_error.empty()) {
    trailers.emplace_back("X-Stream-Error", http1::SafeHeaderValue(stream_error, 4096));
  }
  std::string last;
  http1::AppendLastChunk(trailers, &last);
  FinishResponse();
  Write(std::move(last));
}

// Kubo's cmds/http: a client's fault is 400, a missing item 404, anything else 500.
static int HttpStatusOf(ErrorCode code) {
  switch (code) {
    case ErrorCode::kClient:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    default:
      return 500;
  }
}

void RpcSession::SendError(const RpcError& error) {
  const json body = {
      {"Message", error.message}, {"Code", static_cast<int>(error.code)}, {"Type", "error"}};
  const std::string text = DumpJson(body) + "\n";
  Headers headers = CommonHeaders();
  headers.emplace_back("Access-Control-Allow-Headers", kExposedHeaders);
  headers.emplace_back("Access-Control-Expose-Headers", kExposedHeaders);
  headers.emplace_back("Content-Type", "application/json");
  headers.emplace_back("Content-Length", std::to_string(text.size()));
  std::string response = http1::ResponseHead(HttpStatusOf(error.code), headers);
  if (!keep_alive_) http1::AppendHeader("Connection", "close", &response);
  response.append("\r\n").append(text);
  FinishResponse();
  Write(std::move(response));
}

// Go's http.Error: text/plain, nosniff, the text and a newline.
void RpcSession::SendText(int status, const std::string& text, const Headers& extra) {
  Headers headers = CommonHeaders();
  headers.insert(headers.end(), extra.begin(), extra.end());
  const bool head =
      parser_ && parser_->is_header_done() && parser_->get().method() == http::verb::head;
  const std::string body = status == 204 || head ? "" : text + "\n";
  if (status != 204) {
    headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
    headers.emplace_back("X-Content-Type-Options", "nosniff");
    headers.emplace_back("Content-Length", std::to_string(head ? text.size() + 1 : body.size()));
  }
  std::string response = http1::ResponseHead(status, headers);
  // A refused request may have left body bytes unread; only a complete one allows another.
  keep_alive_ = keep_alive_ && parser_ && parser_->is_done();
  if (!keep_alive_) http1::AppendHeader("Connection", "close", &response);
  response.append("\r\n").append(body);
  FinishResponse();
  Write(std::move(response));
}

void RpcSession::FinishResponse() {
  command_running_ = false;
  response_done_ = true;
  if (responder_) responder_->Cancel();
  responder_.reset();
}

void RpcSession::Write(std::string bytes) {
  if (closed_) return;
  pending_writes_.push_back(std::move(bytes));
  if (!writing_) WriteNext();
}

void RpcSession::WriteNext() {
  if (pending_writes_.empty()) {
    writing_ = false;
    if (!response_done_) return;
    response_done_ = false;
    self_.reset();  // the write's handler holds the session now
    if (keep_alive_) return ReadRequest(kIdleTimeout);
    return Close();
  }
  writing_ = true;
  stream_.expires_after(kWriteTimeout);
  auto data = std::make_shared<std::string>(std::move(pending_writes_.front()));
  pending_writes_.pop_front();
  asio::async_write(stream_, asio::buffer(*data),
                    [self = shared_from_this(), data](beast::error_code ec, std::size_t) {
                      if (self->closed_) return;
                      self->stream_.expires_never();
                      if (ec) return self->Close();
                      self->WriteNext();
                    });
}

void RpcSession::Close() {
  if (closed_) return;
  closed_ = true;
  const auto keep_until_return = std::move(self_);
  command_running_ = false;
  if (responder_) responder_->Cancel();
  responder_.reset();
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.close();
  server_->Forget(this);
}

Status ServerCore::Start() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (started_) return Status::Internal("the RPC server was already started");
  started_ = true;
  auto parsed = admin::ParseListen(listen_);
  if (!parsed) {
    return Status::InvalidArgument("rpc.listen '" + listen_ +
                                   "' is not host:port (use [v6]:port for IPv6)");
  }
  beast::error_code ec;
  tcp::resolver resolver(ioc_);
  auto endpoints = resolver.resolve(parsed->host, parsed->port, ec);
  if (ec || endpoints.empty()) {
    return Status::InvalidArgument("rpc.listen '" + listen_ + "': " + ec.message());
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IOError("rpc.listen '" + listen_ + "': " + ec.message());
  const tcp::endpoint bound = acceptor_.local_endpoint(ec);
  allowed_origins_ = DefaultAllowedOrigins(bound.port());
  {
    std::lock_guard lock(mu_);
    bound_address_ = admin::FormatEndpoint(bound);
  }
  Accept();
  thread_ = std::thread([this] {
    try {
      ioc_.run();
    } catch (const std::exception& e) {
      log_->error("RPC server thread stopped: {}", e.what());
    }
  });
  return Status::OK();
}

void ServerCore::Accept() {
  acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (stopping_) return;
    if (!ec) {
      if (sessions_.size() >= kMaxConnections) {
        log_->warn("refused an RPC connection: {} are open", kMaxConnections);
      } else {
        auto session = std::make_shared<RpcSession>(std::move(socket), this);
        sessions_[session.get()] = session;
        session->Start();
      }
    }
    Accept();
  });
}

void ServerCore::Stop() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (!started_ || stopped_) return;
  stopped_ = true;
  asio::post(ioc_, [this] {
    stopping_ = true;
    beast::error_code ignored;
    acceptor_.close(ignored);
    // Close() erases the session from the set.
    std::vector<std::shared_ptr<RpcSession>> open;
    for (const auto& [raw, weak] : sessions_) {
      if (auto session = weak.lock()) open.push_back(std::move(session));
    }
    for (const auto& session : open) session->Close();
    // Commands' timers (a ping's next round) would keep run() going; what is still queued is
    // destroyed with the io_context.
    ioc_.stop();
  });
  if (thread_.joinable()) thread_.join();
}

RpcServer::RpcServer(const runtime::RpcConfig& config, std::string server_header)
    : impl_(std::make_shared<ServerCore>(config, std::move(server_header))) {}

RpcServer::~RpcServer() { Stop(); }

void RpcServer::Register(RpcCommand command) { impl_->commands_.Add(std::move(command)); }

Status RpcServer::Start() { return impl_->Start(); }

void RpcServer::Stop() { impl_->Stop(); }

void RpcServer::SetAuthorizations(const std::vector<runtime::RpcAuthorization>& authorizations) {
  impl_->SetAuthorizer(std::make_shared<RpcAuthorizer>(authorizations));
}

std::string RpcServer::bound_address() const { return impl_->bound_address(); }

}  // namespace boxcar::rpc
