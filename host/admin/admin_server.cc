#include "admin/admin_server.h"

#include <array>
#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "obs/logging.h"

namespace boxcar::admin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::uint32_t kHeaderLimit = 16 * 1024;
constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr auto kStopGrace = std::chrono::seconds(2);
// After refusing a request whose body is still arriving, how long to read and discard it so
// closing the socket does not reset the connection before the client has read the refusal.
constexpr auto kDrainTimeout = std::chrono::seconds(2);
// Accept errors such as EMFILE persist for a while; retrying at once would spin.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
constexpr unsigned kHttp11 = 11;

HttpResponse ErrorResponse(int status, std::string_view message) {
  HttpResponse response;
  response.status = status;
  // Paths and exception texts are not guaranteed UTF-8; never let the error page itself throw.
  response.body = nlohmann::json{{"error", message}}.dump(-1, ' ', false,
                                                          nlohmann::json::error_handler_t::replace);
  return response;
}

// Beast 1.74 speaks boost::string_view.
std::string_view ToStd(beast::string_view view) { return {view.data(), view.size()}; }

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return beast::iequals(beast::string_view(a.data(), a.size()),
                        beast::string_view(b.data(), b.size()));
}

// Runs in time that depends only on the expected token's length, so response timing does not
// reveal how much of a guess was right.
bool ConstantTimeEquals(std::string_view given, std::string_view expected) {
  unsigned char difference = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const char g = i < given.size() ? given[i] : '\0';
    difference |= static_cast<unsigned char>(g ^ expected[i]);
  }
  return difference == 0;
}

bool BearerMatches(std::string_view authorization, std::string_view token) {
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size() || authorization[kScheme.size()] != ' ') return false;
  if (!EqualsIgnoringCase(authorization.substr(0, kScheme.size()), kScheme)) return false;
  std::string_view credentials = authorization.substr(kScheme.size());
  while (!credentials.empty() && credentials.front() == ' ') credentials.remove_prefix(1);
  while (!credentials.empty() && credentials.back() == ' ') credentials.remove_suffix(1);
  return ConstantTimeEquals(credentials, token);
}

bool IsMalformedRequest(const beast::error_code& ec) {
  if (ec.category() != beast::error_code(http::error::bad_method).category()) return false;
  // These mean the peer went away, not that it sent garbage.
  return ec != http::error::end_of_stream && ec != http::error::partial_message &&
         ec != http::error::short_read;
}

}  // namespace

std::string FormatEndpoint(const boost::asio::ip::tcp::endpoint& endpoint) {
  const std::string address = endpoint.address().to_string();
  const std::string port = std::to_string(endpoint.port());
  return endpoint.address().is_v6() ? "[" + address + "]:" + port : address + ":" + port;
}

std::optional<HostPort> ParseListen(const std::string& listen) {
  HostPort parsed;
  if (!listen.empty() && listen.front() == '[') {
    const auto close = listen.find("]:");
    if (close == std::string::npos) return std::nullopt;
    parsed.host = listen.substr(1, close - 1);
    parsed.port = listen.substr(close + 2);
  } else {
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    parsed.host = listen.substr(0, colon);
    parsed.port = listen.substr(colon + 1);
    // An unbracketed IPv6 address cannot be told apart from its port.
    if (parsed.host.find(':') != std::string::npos) return std::nullopt;
  }
  if (parsed.host.empty() || parsed.port.empty() || parsed.port.size() > 5) return std::nullopt;
  for (char c : parsed.port) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  if (std::stoul(parsed.port) > 65535) return std::nullopt;
  return parsed;
}

class AdminServer::Impl {
 public:
  Impl(std::string listen, std::string token, std::size_t body_limit)
      : listen_(std::move(listen)),
        body_limit_(body_limit),
        log_(obs::Logger("admin")),
        token_(std::move(token)) {}

  ~Impl() { Stop(); }

  void Handle(std::string method, std::string path, HttpHandler handler, bool needs_token) {
    std::lock_guard lock(routes_mu_);
    routes_[std::move(path)][std::move(method)] = Route{std::move(handler), needs_token};
  }

  void SetTimeouts(const AdminTimeouts& timeouts) { timeouts_ = timeouts; }

  void SetToken(std::string token) {
    std::lock_guard lock(routes_mu_);
    token_ = std::move(token);
  }

  Status Start();
  void Stop();

  std::string bound_address() const {
    std::lock_guard lock(address_mu_);
    return bound_address_;
  }

  // The rest runs on the server thread only.

  struct Resolution {
    std::optional<HttpResponse> refusal;  // 404, 405 or 401
    HttpHandler handler;
  };
  Resolution Resolve(const std::string& method, const std::string& path,
                     std::string_view authorization) const;
  HttpResponse Invoke(const HttpHandler& handler, const HttpRequest& request) const;

  std::size_t body_limit() const { return body_limit_; }
  const AdminTimeouts& timeouts() const { return timeouts_; }
  bool stopping() const { return stopping_; }
  spdlog::logger& log() const { return *log_; }

 private:
  class Session;
  struct Route {
    HttpHandler handler;
    bool needs_token = false;
  };

  Status Listen();
  void Run();
  void Accept();
  void OnAccept(const beast::error_code& ec, tcp::socket socket);
  void BeginShutdown();
  void ForceCloseSessions();
  void Forget(Session* session);

  const std::string listen_;
  const std::size_t body_limit_;
  AdminTimeouts timeouts_;  // set before Start, read on the server thread
  const std::shared_ptr<spdlog::logger> log_;

  mutable std::mutex routes_mu_;
  std::string token_;  // guarded by routes_mu_: a reload may change it while requests arrive
  std::map<std::string, std::map<std::string, Route>> routes_;  // path -> method -> route

  // Held for all of Start and Stop, so a Stop racing a Start waits for it.
  std::mutex lifecycle_mu_;
  bool started_ = false;
  bool stopped_ = false;
  std::thread thread_;

  mutable std::mutex address_mu_;
  std::string bound_address_;

  asio::io_context ioc_{1};
  tcp::acceptor acceptor_{ioc_};
  asio::steady_timer accept_retry_timer_{ioc_};
  asio::steady_timer grace_timer_{ioc_};
  bool stopping_ = false;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
};

// One connection: reads requests one after another and answers each before reading the next.
class AdminServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Impl& server) : stream_(std::move(socket)), server_(server) {
    beast::error_code ec;
    const tcp::endpoint peer = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_address_ = FormatEndpoint(peer);
  }

  void Start() { ReadHeader(server_.timeouts().header); }

  // Idle keep-alive connections close now; one that is mid-request finishes it first.
  void OnServerStopping() {
    const bool idle =
        state_ == State::kReadingHeader && buffer_.size() == 0 && !parser_->got_some();
    if (idle || state_ == State::kDraining) Close();
  }

  void Close() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    server_.Forget(this);
  }

 private:
  enum class State { kReadingHeader, kReadingBody, kWriting, kDraining, kClosed };

  // `timeout`: for the whole header, from now (the stream's deadline is absolute).
  void ReadHeader(std::chrono::milliseconds timeout) {
    state_ = State::kReadingHeader;
    version_ = kHttp11;
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(static_cast<std::uint64_t>(server_.body_limit()));
    stream_.expires_after(timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnHeader(ec); });
  }

  void OnHeader(const beast::error_code& ec) {
    if (state_ == State::kClosed) return;
    if (ec) return OnReadError(ec);
    const auto& header = parser_->get();
    version_ = header.version();
    method_ = std::string(header.method_string());
    target_ = std::string(header.target());
    const auto question = target_.find('?');
    path_ = target_.substr(0, question);
    Resolution resolution =
        server_.Resolve(method_, path_, ToStd(header[http::field::authorization]));
    if (resolution.refusal) {
      // A refused request's body is never read, so the connection cannot carry another one.
      return Respond(std::move(*resolution.refusal), header.keep_alive() && parser_->is_done());
    }
    handler_ = std::move(resolution.handler);
    if (parser_->is_done()) return RunHandler();
    if (EqualsIgnoringCase(ToStd(header[http::field::expect]), "100-continue")) {
      return SendContinue();
    }
    ReadBody();
  }

  // Clients that announced a large upload wait for this before sending the body.
  void SendContinue() {
    continue_ = http::response<http::empty_body>(http::status::continue_, version_);
    stream_.expires_after(kWriteTimeout);
    http::async_write(stream_, continue_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (self->state_ == State::kClosed) return;
                        if (ec) return self->Close();
                        self->ReadBody();
                      });
  }

  void ReadBody() {
    state_ = State::kReadingBody;
    stream_.expires_after(server_.timeouts().body);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (self->state_ == State::kClosed) return;
                       if (ec) return self->OnReadError(ec);
                       self->RunHandler();
                     });
  }

  void OnReadError(const beast::error_code& ec) {
    if (parser_->is_header_done()) version_ = parser_->get().version();
    if (ec == http::error::body_limit) {
      return Respond(ErrorResponse(413, "request body exceeds " +
                                            std::to_string(server_.body_limit()) + " bytes"),
                     false);
    }
    if (ec == http::error::header_limit) {
      return Respond(
          ErrorResponse(431, "request headers exceed " + std::to_string(kHeaderLimit) + " bytes"),
          false);
    }
    if (IsMalformedRequest(ec)) {
      return Respond(ErrorResponse(400, "malformed request: " + ec.message()), false);
    }
    Close();  // end of stream, timeout, reset, or Stop closing the socket
  }

  void RunHandler() {
    http::request<http::string_body> message = parser_->release();
    HttpRequest request;
    request.method = std::move(method_);
    request.path = std::move(path_);
    request.target = std::move(target_);
    const auto question = request.target.find('?');
    if (question != std::string::npos) request.query = request.target.substr(question + 1);
    request.authorization = std::string(message[http::field::authorization]);
    request.body = std::move(message.body());
    request.remote_address = remote_address_;
    const HttpResponse response = server_.Invoke(handler_, request);
    handler_ = nullptr;
    server_.log().debug("{} {} from {} -> {}", request.method, request.target,
                        request.remote_address, response.status);
    Respond(response, message.keep_alive());
  }

  void Respond(const HttpResponse& response, bool keep_alive) {
    keep_alive = keep_alive && !server_.stopping();
    try {
      response_ = ToBeast(response, version_, keep_alive);
    } catch (const std::exception& e) {  // e.g. a body on a 204, which HTTP forbids
      server_.log().error("admin handler returned an unsendable response: {}", e.what());
      response_ = ToBeast(ErrorResponse(500, e.what()), version_, keep_alive);
    }
    state_ = State::kWriting;
    stream_.expires_after(kWriteTimeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                        self->OnWrite(ec, keep_alive);
                      });
  }

  static http::response<http::string_body> ToBeast(const HttpResponse& response, unsigned version,
                                                   bool keep_alive) {
    http::response<http::string_body> out;
    out.version(version);
    out.result(static_cast<unsigned>(response.status));
    if (!response.content_type.empty()) out.set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) out.insert(name, value);
    out.body() = response.body;
    out.keep_alive(keep_alive);
    out.prepare_payload();
    return out;
  }

  void OnWrite(const beast::error_code& ec, bool keep_alive) {
    if (state_ == State::kClosed) return;
    if (ec) return Close();
    if (!keep_alive) return DrainAndClose();
    if (server_.stopping()) return Close();
    ReadHeader(server_.timeouts().idle);
  }

  void DrainAndClose() {
    state_ = State::kDraining;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kDrainTimeout);
    Drain();
  }

  void Drain() {
    stream_.async_read_some(asio::buffer(drain_buffer_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (self->state_ == State::kClosed) return;
                              if (ec) return self->Close();
                              self->Drain();
                            });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::empty_body> continue_;
  http::response<http::string_body> response_;
  std::array<char, 4096> drain_buffer_{};
  std::string method_;
  std::string target_;
  std::string path_;
  HttpHandler handler_;
  std::string remote_address_;
  unsigned version_ = kHttp11;
  State state_ = State::kReadingHeader;
  Impl& server_;
};

Status AdminServer::Impl::Start() {
  std::lock_guard lock(lifecycle_mu_);
  if (started_ || stopped_) {
    return Status::InvalidArgument("admin server on " + listen_ + " was already started");
  }
  if (Status status = Listen(); !status.ok()) return status;
  started_ = true;
  Accept();
  thread_ = std::thread([this] { Run(); });
  log_->info("admin server listening on {}", bound_address());
  return Status::OK();
}

Status AdminServer::Impl::Listen() {
  const std::optional<HostPort> host_port = ParseListen(listen_);
  if (!host_port) {
    return Status::InvalidArgument("invalid admin listen address \"" + listen_ +
                                   "\": expected host:port, e.g. 127.0.0.1:9180 or [::1]:9180");
  }
  beast::error_code ec;
  tcp::resolver resolver(ioc_);
  const auto endpoints =
      resolver.resolve(host_port->host, host_port->port, tcp::resolver::numeric_service, ec);
  if (ec)
    return Status::InvalidArgument("cannot resolve admin address " + listen_ + ": " + ec.message());

  // "localhost" may resolve to ::1 and 127.0.0.1; the first that binds wins.
  std::string failure = "no addresses";
  for (const auto& entry : endpoints) {
    const tcp::endpoint endpoint = entry.endpoint();
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) {
      std::lock_guard address_lock(address_mu_);
      bound_address_ = FormatEndpoint(acceptor_.local_endpoint());
      return Status::OK();
    }
    failure = FormatEndpoint(endpoint) + ": " + ec.message();
    beast::error_code ignored;
    acceptor_.close(ignored);
  }
  return Status::IOError("cannot listen on admin address " + listen_ + " (" + failure + ")");
}

void AdminServer::Impl::Run() {
  // Handlers cannot throw out of Invoke, so anything reaching here is an unexpected failure
  // inside the server; keep serving rather than lose the admin endpoint.
  for (;;) {
    try {
      ioc_.run();
      return;
    } catch (const std::exception& e) {
      log_->error("admin server event loop: {}", e.what());
    }
  }
}

void AdminServer::Impl::Stop() {
  std::lock_guard lock(lifecycle_mu_);
  if (stopped_) return;
  stopped_ = true;
  if (!started_) return;
  asio::post(ioc_, [this] { BeginShutdown(); });
  thread_.join();
  log_->info("admin server on {} stopped", bound_address());
}

void AdminServer::Impl::Accept() {
  acceptor_.async_accept(
      [this](const beast::error_code& ec, tcp::socket socket) { OnAccept(ec, std::move(socket)); });
}

void AdminServer::Impl::OnAccept(const beast::error_code& ec, tcp::socket socket) {
  if (stopping_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    log_->warn("admin server accept failed: {}", ec.message());
    accept_retry_timer_.expires_after(kAcceptRetryDelay);
    accept_retry_timer_.async_wait([this](const beast::error_code& wait_ec) {
      if (!wait_ec && !stopping_) Accept();
    });
    return;
  }
  auto session = std::make_shared<Session>(std::move(socket), *this);
  sessions_.emplace(session.get(), session);
  session->Start();
  Accept();
}

void AdminServer::Impl::BeginShutdown() {
  stopping_ = true;
  beast::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_timer_.cancel();
  std::vector<std::shared_ptr<Session>> live;
  for (const auto& [raw, weak] : sessions_) {
    if (auto session = weak.lock()) live.push_back(std::move(session));
  }
  for (const auto& session : live) session->OnServerStopping();
  if (sessions_.empty()) return;
  grace_timer_.expires_after(kStopGrace);
  grace_timer_.async_wait([this](const beast::error_code& ec) {
    if (!ec) ForceCloseSessions();
  });
}

void AdminServer::Impl::ForceCloseSessions() {
  std::vector<std::shared_ptr<Session>> live;
  for (const auto& [raw, weak] : sessions_) {
    if (auto session = weak.lock()) live.push_back(std::move(session));
  }
  if (!live.empty()) log_->warn("admin server closing {} unfinished connection(s)", live.size());
  for (const auto& session : live) session->Close();
  sessions_.clear();
}

void AdminServer::Impl::Forget(Session* session) {
  sessions_.erase(session);
  // With no connection left, the pending grace timer is all that keeps the event loop running.
  if (stopping_ && sessions_.empty()) grace_timer_.cancel();
}

AdminServer::Impl::Resolution AdminServer::Impl::Resolve(const std::string& method,
                                                         const std::string& path,
                                                         std::string_view authorization) const {
  std::lock_guard lock(routes_mu_);
  const auto by_path = routes_.find(path);
  if (by_path == routes_.end())
    return {ErrorResponse(404, "no route for " + method + " " + path), {}};
  const auto route = by_path->second.find(method);
  if (route == by_path->second.end()) {
    HttpResponse refusal = ErrorResponse(405, "method " + method + " not allowed for " + path);
    std::string allow;
    for (const auto& [allowed, unused] : by_path->second) {
      allow += allow.empty() ? allowed : ", " + allowed;
    }
    refusal.headers.emplace_back("Allow", allow);
    return {std::move(refusal), {}};
  }
  if (route->second.needs_token && !token_.empty() && !BearerMatches(authorization, token_)) {
    HttpResponse refusal = ErrorResponse(401, "missing or invalid bearer token");
    refusal.headers.emplace_back("WWW-Authenticate", "Bearer");
    return {std::move(refusal), {}};
  }
  return {std::nullopt, route->second.handler};
}

HttpResponse AdminServer::Impl::Invoke(const HttpHandler& handler,
                                       const HttpRequest& request) const {
  std::string failure;
  try {
    HttpResponse response = handler(request);
    if (response.status >= 200 && response.status <= 599) return response;
    failure = "handler returned invalid HTTP status " + std::to_string(response.status);
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  log_->error("admin handler for {} {} failed: {}", request.method, request.path, failure);
  return ErrorResponse(500, failure);
}

AdminServer::AdminServer(std::string listen, std::string token, std::size_t body_limit)
    : impl_(std::make_unique<Impl>(std::move(listen), std::move(token), body_limit)) {}

AdminServer::~AdminServer() = default;

void AdminServer::SetToken(std::string token) { impl_->SetToken(std::move(token)); }

void AdminServer::Handle(std::string method, std::string path, HttpHandler handler,
                         bool needs_token) {
  impl_->Handle(std::move(method), std::move(path), std::move(handler), needs_token);
}

void AdminServer::SetTimeouts(const AdminTimeouts& timeouts) { impl_->SetTimeouts(timeouts); }

Status AdminServer::Start() { return impl_->Start(); }

void AdminServer::Stop() { impl_->Stop(); }

std::string AdminServer::bound_address() const { return impl_->bound_address(); }

}  // namespace boxcar::admin
