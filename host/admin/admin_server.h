// The node's admin endpoint: a small HTTP/1.1 server for status, metrics and control requests.
//
// It is built for low volume: one internal thread accepts connections, parses requests and runs
// the handlers, so a slow handler delays every other admin request (but nothing else in the
// node). Connections are kept alive between requests. AdminTimeouts bound how long a client may
// hold a connection without completing a request: a slow or silent client is closed.
//
// Errors are JSON objects {"error": "..."}: 404 for an unknown path, 405 (with Allow) for a
// known path and an unregistered method, 401 (with WWW-Authenticate: Bearer) when a route needs
// the token and the request does not carry it, 413 when the body exceeds the limit, 431 when the
// headers exceed 16 KiB, 400 for malformed requests, and 500 when a handler throws.
//
// Thread safety: Handle, Start, Stop and bound_address may be called from any thread, but Stop
// (and the destructor) must not be called from inside a handler. Handlers run on the server's
// thread, one at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "boxcar/status.h"

namespace boxcar::admin {

// A listen address split into host and port; shared by every HTTP frontend.
struct HostPort {
  std::string host;
  std::string port;
};
// "host:port", "[v6]:port"; nullopt when malformed (no port, unbracketed IPv6, port > 65535).
std::optional<HostPort> ParseListen(const std::string& listen);
// "1.2.3.4:80" or "[::1]:80".
std::string FormatEndpoint(const boost::asio::ip::tcp::endpoint& endpoint);

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query, e.g. "/admin/plugins?slot=cache"
  std::string path;    // target up to '?', not percent-decoded
  std::string query;   // after '?', without it; "" when absent
  std::string body;
  std::string authorization;   // the Authorization header as sent, "" when absent
  std::string remote_address;  // "127.0.0.1:54321", "[::1]:54321"
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, added as given
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// How long the admin server waits for a client (admin.*_timeout_ms in the config).
struct AdminTimeouts {
  // A new connection must send its first whole request header within this.
  std::chrono::milliseconds header{10'000};
  // A request's whole body must arrive within this once its header has.
  std::chrono::milliseconds body{120'000};
  // A keep-alive connection must send the next whole request header within this of its last
  // response; it is closed otherwise.
  std::chrono::milliseconds idle{30'000};
};

class AdminServer {
 public:
  static constexpr std::size_t kDefaultBodyLimit = 64 * 1024 * 1024;

  // `listen` is "host:port": "127.0.0.1:9180", "[::1]:9180", "localhost:9180"; port 0 picks a
  // free port. `token` "" means no route needs one.
  AdminServer(std::string listen, std::string token, std::size_t body_limit = kDefaultBodyLimit);
  ~AdminServer();  // Stop()s

  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Routes `method` requests for exactly `path` to `handler`, replacing an earlier route for the
  // same pair. With `needs_token`, a configured token must arrive as "Authorization: Bearer
  // <token>"; without a configured token the route is open.
  void Handle(std::string method, std::string path, HttpHandler handler, bool needs_token);

  // Replaces the default timeouts; call before Start.
  void SetTimeouts(const AdminTimeouts& timeouts);

  // Replaces the token the routes that need one check, from the next request on; "" opens them.
  // Safe from any thread, a handler included.
  void SetToken(std::string token);

  // Resolves the address, binds, listens and starts serving on an internal thread. The error
  // names the address (e.g. when it is already in use). Only the first call can succeed.
  Status Start();

  // Stops accepting and closes idle connections at once; a request already being received or
  // handled gets up to 2 s to finish before its connection is closed. Returns once the server
  // thread has exited. Idempotent.
  void Stop();

  // "127.0.0.1:PORT" / "[::1]:PORT" with the real port once Start succeeded, else "".
  std::string bound_address() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace boxcar::admin
