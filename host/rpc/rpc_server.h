// RpcServer: the Kubo RPC API (`POST /api/v0/<command>`) over HTTP/1.1, with Kubo's conventions
// (go-ipfs-cmds' HTTP handler and kubo's core/corehttp/commands.go):
//
//  - Only POST runs a command; OPTIONS answers 204 with "Allow: OPTIONS, POST"; any other method
//    gets 405 "405 - Method Not Allowed".
//  - CSRF: a request whose Origin, or Referer (as scheme://host), is not one of
//    http(s)://{127.0.0.1,[::1],localhost}:<bound port> gets 403 "403 - Forbidden"; so does a POST
//    without either that a browser sent (User-Agent starting with "Mozilla").
//  - rpc.authorizations (Kubo's API.Authorizations): when any is configured, every request needs
//    an Authorization header equal to one entry's secret ("Bearer TOKEN" or "Basic
//    base64(USER:PASS)"), and its allowed_paths must prefix the path (/api/v0/version is always
//    allowed); else 403 with Kubo's "Kubo RPC Access Denied" text. Secrets are compared in
//    constant time.
//  - Rejections before a command runs are text/plain: 404 "404 page not found" for a path that
//    names no command, 400 for a missing argument or an option that does not parse.
//  - A command's error is {"Message":..,"Code":..,"Type":"error"}, status 500 (400 for Code 1,
//    the client's fault). A single value is one JSON line; a stream is one JSON line per object,
//    each flushed as it is emitted, with "X-Chunked-Output: 1"; raw bytes (block/get) are
//    text/plain with "X-Stream-Output: 1"; an error after the first object
//    goes in the X-Stream-Error trailer. Every command response is chunked and announces
//    "Trailer: X-Stream-Error".
//
// Limits: a request head of at most 16 KiB (431) and a body of at most 1 MiB (413); a request
// must arrive within 10 s of the accept, and a kept-alive connection's next one within 60 s of
// the previous response (the connection is closed otherwise); a client that reads nothing of a
// response for 30 s is dropped, and at most 256 connections are open at once (more are closed at
// accept).
//
// Threads: one internal thread runs the I/O and calls the command handlers. A handler must not
// block; it answers through its RpcResponder, from any thread. Responders may outlive the
// request: their calls are then ignored. Callbacks that post to a responder after Stop are
// dropped, but the RpcServer object must outlive every thread that may still call a responder
// (stop the swarm before destroying the server).
//
// Thread safety: Register before Start; Start, Stop, bound_address and SetAuthorizations from
// any thread (Stop not from a handler).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <nlohmann/json.hpp>

#include "boxcar/status.h"
#include "runtime/config.h"

namespace boxcar::rpc {

class ServerCore;

// go-ipfs-cmds error codes: kClient makes the status 400, the others 500.
enum class ErrorCode { kNormal = 0, kClient = 1, kImplementation = 2, kNotFound = 3 };

struct RpcError {
  std::string message;
  ErrorCode code = ErrorCode::kNormal;
};

// A command's parsed request: positional arguments (arg=, in order) and the options it declared,
// already type-checked.
struct RpcRequest {
  std::string command;  // "swarm/connect"
  std::vector<std::string> args;
  std::map<std::string, std::string> options;  // declared options present in the query

  bool Flag(const std::string& name) const;  // a bool option; false when absent
  int64_t Int(const std::string& name, int64_t fallback) const;
};

// How a command answers. Thread safe; calls after the response ended are ignored.
// Kubo's field order is kept: answers are ordered JSON.
class RpcResponder {
 public:
  virtual ~RpcResponder() = default;
  // The whole answer: one JSON value. Ends the response.
  virtual void Reply(nlohmann::ordered_json value) = 0;
  // The whole answer as raw bytes, the way Kubo answers with an io.Reader (block/get):
  // Content-Type text/plain and X-Stream-Output: 1. Ends the response.
  virtual void ReplyBytes(std::string bytes) = 0;
  // One object of a stream, flushed at once.
  virtual void Emit(nlohmann::ordered_json value) = 0;
  // Ends a stream (or an answer that emitted nothing, with an empty body).
  virtual void Close() = 0;
  // Ends the response with an error: the error JSON and its status when nothing was sent yet,
  // else the X-Stream-Error trailer.
  virtual void Fail(RpcError error) = 0;
  // True once the client went away or the server stopped; long commands stop then.
  virtual bool cancelled() const = 0;
  // The server's I/O executor, for a command's timers.
  virtual boost::asio::any_io_executor executor() const = 0;
};

using RpcHandler =
    std::function<void(const RpcRequest& request, std::shared_ptr<RpcResponder> responder)>;

enum class OptionType { kBool, kInt, kString };

struct RpcCommand {
  std::string name;      // path under /api/v0: "id", "swarm/peers"
  std::string arg_name;  // for "argument %q is required"; "" when the command takes none
  int min_args = 0;
  int max_args = 0;  // -1: any number
  std::map<std::string, OptionType> options;
  std::map<std::string, std::string> aliases;  // short name -> option name ("n" -> "count")
  RpcHandler handler;
};

class RpcServer {
 public:
  // `config.listen` is "host:port" (port 0 picks one); `server_header` is sent as "Server".
  RpcServer(const runtime::RpcConfig& config, std::string server_header);
  ~RpcServer();  // Stop()s

  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;

  void Register(RpcCommand command);

  // Binds and starts serving; the error names the address.
  Status Start();
  // Closes the listener and every connection, and joins the thread. Idempotent.
  void Stop();

  // The entries a reload brings, from the next request on.
  void SetAuthorizations(const std::vector<runtime::RpcAuthorization>& authorizations);

  // "127.0.0.1:PORT" once started, else "".
  std::string bound_address() const;

 private:
  std::shared_ptr<ServerCore> impl_;
};

}  // namespace boxcar::rpc
