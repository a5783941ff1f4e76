// GatewayServer: the IPFS Trustless Gateway over HTTP/1.1 (Boost.Asio and Beast's parser).
//
// Files: this server (accept, sweep, trim, drain) in gateway_server.cc; a client connection with
// its pipeline of pending responses and CAR streams in gateway_connection.*; the engine work that
// maps store results to HTTP responses in gateway_work.*; its Prometheus series in
// gateway_metrics.*; the HTTP/1 head parser and writer in host/http.
//
// Threads: gateway.io_threads threads, each with its own io_context. One acceptor, on the first
// thread, hands each accepted connection to the next thread in turn, where it lives for its whole
// life (no strands, no locks on the connection). The port is bound without SO_REUSEPORT, so a
// second process cannot share it: its bind fails with "address already in use". Requests are
// parsed with Beast's basic_parser straight from the connection's read buffer, and every request
// becomes a RequestEngine task: a raw block read, or a job producing the next chunk of a CAR
// stream.
//
// Syscalls: one read takes every pipelined request the client sent, and a connection reads only
// after its thread's edge-triggered epoll set (the readable set) reported new bytes; the
// responses that are ready go out in one gathered write (writev), block bytes included without a
// copy. Timeouts are enforced by a sweep every 250 ms per thread rather than a timer per
// connection.
//
// Limits: gateway.max_header_bytes (431 and close); a client must send each request header
// within gateway.header_timeout_ms, counted from the accept for the first request (a connection
// that sends nothing is closed then) and from the first byte of each later one (slowloris); an
// answered keep-alive connection that sends nothing closes after gateway.idle_timeout_ms, and a
// client that reads nothing of a response for gateway.write_timeout_ms is dropped. At most
// gateway.max_pipeline requests per connection are parsed ahead of their responses; the rest
// wait in the read buffer and are parsed as responses leave. HTTP/1.0 clients get CARs without
// chunked coding, ended by the close.
//
// Admission: the conn_manager plugin admits each accepted connection, and once a second picks
// connections to trim from a snapshot of all of them; a trimmed connection stops reading and
// closes after its in-flight responses.
//
// Thread safety: Start, Drain and Stop are called from one controlling thread. bound_address()
// and ApplyLimits may be called from any thread after Start.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "boxcar/status.h"
#include "engine/request_engine.h"
#include "runtime/config.h"
#include "runtime/runtime.h"
#include "server/missing_block_fetcher.h"

namespace prometheus {
class Registry;
}

namespace boxcar::server {

class GatewayServer {
 public:
  GatewayServer(const runtime::GatewayConfig& config, runtime::Runtime& runtime,
                engine::RequestEngine& engine, prometheus::Registry& registry);
  ~GatewayServer();  // Stop()s

  GatewayServer(const GatewayServer&) = delete;
  GatewayServer& operator=(const GatewayServer&) = delete;

  // What gateway.fetch_missing fetches through (the Bitswap client). Call before Start.
  void SetFetcher(MissingBlockFetcher fetcher);

  // Binds gateway.listen and starts the threads. The error names the address.
  Status Start();

  // Stops accepting, lets in-flight requests finish for up to `timeout_ms`, then closes every
  // connection. Keep-alive connections get "Connection: close" on their last response.
  void Drain(int64_t timeout_ms);

  // Applies a reloaded config's max_header_bytes, max_pipeline and timeouts to the running
  // server, open connections included. The listen address, io_threads and peer_header need a
  // restart. Thread safe.
  void ApplyLimits(const runtime::GatewayConfig& config);

  // Closes everything now and joins the threads. Idempotent.
  void Stop();

  std::string bound_address() const;
  uint64_t open_connections() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace boxcar::server
