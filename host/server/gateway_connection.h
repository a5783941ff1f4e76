// Connection: one client connection of the gateway server, with its pipeline of pending
// responses and the CAR stream it is sending.
//
// A read takes every pipelined request the client sent, and runs only when the owner's readable
// set (an edge-triggered epoll set per I/O thread) reported new bytes since the last read that
// drained the socket; HeadParser parses each complete one
// from the read buffer and it becomes a PendingResponse, in request order, and a RequestEngine
// task (gateway_work.h). Responses that are ready go out in request order in one gathered write,
// block bytes without a copy. A CAR stream is produced one chunk at a time; the requests parsed
// behind it are held until its last chunk is produced (see open_stream_).
//
// Thread safety: none. A connection lives on the I/O thread of its ConnectionOwner; every
// method, and every completion of its engine tasks, runs there (RawWork and CarWork dispatch to
// executor()).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "boxcar/cache_tier.h"
#include "boxcar/conn_manager.h"
#include "boxcar/prioritizer.h"
#include "gateway/car_producer.h"
#include "gateway/request.h"
#include "http/head_parser.h"
#include "runtime/config.h"
#include "server/gateway_limits.h"
#include "server/missing_block_fetcher.h"

namespace boxcar::engine {
class RequestEngine;
}

namespace boxcar::server {

class GatewayMetrics;
struct CarStream;

// What a connection needs from the server and the I/O thread it lives on.
class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  // The config the server started with: peer_header and the addresses.
  virtual const runtime::GatewayConfig& config() const = 0;
  // The limits a reload may change while connections are open.
  virtual const GatewayLimits& limits() const = 0;
  virtual engine::RequestEngine& engine() = 0;
  virtual GatewayMetrics& metrics() = 0;
  // Empty when the node fetches nothing (no p2p).
  virtual const MissingBlockFetcher& fetcher() const = 0;
  // Runs a batch of engine tasks on this thread (a no-op when it is already running them).
  virtual void RunEngine() = 0;
  // The connection closed: forget it. May release the last reference to it.
  virtual void Forget(uint64_t id) = 0;
  // Adds the connection's socket `fd` to this thread's readable set, which then calls the
  // connection's OnReadable when new bytes (or a hang-up) arrive. The entry leaves the set when
  // the socket is closed, which Close does before Forget, so `id` can never report for another
  // connection. False, with errno set, when the socket cannot be watched.
  virtual bool WatchReadable(int fd, uint64_t id) = 0;
};

// One response in a connection's pipeline, in request order. Filled on the connection's thread.
struct PendingResponse {
  bool ready = false;
  std::string head;        // status line and headers, without the final blank line
  BlockData body;          // block bytes of a raw response
  std::string text;        // an error body, or CAR bytes not yet handed to a write
  bool streaming = false;  // a CAR stream with chunks still to come
  bool producing = false;  // its next chunk is queued or being produced
  bool close_after = false;
  bool head_only = false;  // HEAD: the body is not sent
  // An HTTP/1.0 client's CAR: no chunked coding (RFC 9112 7.1), the close ends the body.
  bool close_delimited = false;
  int status = 0;
  int64_t started_ns = 0;                        // when the request was parsed
  std::vector<std::pair<Task, uint64_t>> tasks;  // completed once their bytes are written
  std::shared_ptr<CarStream> stream;
  // A parsed request not yet given to the engine, because a CAR stream ahead of it is unfinished.
  std::optional<gateway::GatewayRequest> held;
  std::string peer;      // whose budget the held request is charged to
  bool fetched = false;  // fetch_missing ran for it: it goes to the engine as it is now
};

// A CAR response being produced, chunk by chunk.
struct CarStream {
  gateway::GatewayRequest request;
  std::string peer;
  std::unique_ptr<gateway::CarProducer> producer;
  bool begun = false;
  bool chunked = true;  // false: the body is delimited by the connection's close
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `address`: the client's IP, the peer its requests are charged to unless the configured
  // gateway.peer_header names another.
  Connection(ConnectionOwner& owner, boost::asio::ip::tcp::socket socket, uint64_t id,
             std::string address);

  // Joins the owner's readable set, then reads what the client may have sent already.
  void Begin();
  // The readable set reported `events` (EPOLLIN, EPOLLRDHUP, ...) on the socket. Ignored once
  // the connection is closed.
  void OnReadable(uint32_t events);

  // Graceful close: stop reading, close once the responses already parsed are written.
  void CloseWhenDone();
  // Closes now; in-flight tasks complete with 0 bytes.
  void Close();

  ConnInfo Info() const;
  // Checks the timeouts; true when the connection was closed.
  bool Expire(int64_t now_ns);

  // A task of `response` produced its part.
  void OnResponseReady(const std::shared_ptr<PendingResponse>& response);
  boost::asio::any_io_executor executor() { return socket_.get_executor(); }

 private:
  void Read();
  // The non-blocking recv a posted Read runs.
  void ReadNow();
  void OnRead(const boost::system::error_code& ec, size_t n);
  void ParseAll();
  // Parses what ParseAll left behind a full pipeline, and submits and flushes it.
  void ResumeParsing();
  void HandleRequest();
  void Submit(const std::shared_ptr<PendingResponse>& response, gateway::GatewayRequest request,
              const std::string& peer);
  void SubmitHeld();
  void SubmitRaw(const std::shared_ptr<PendingResponse>& response, gateway::GatewayRequest request,
                 const std::string& peer);
  void SubmitCar(const std::shared_ptr<PendingResponse>& response, gateway::GatewayRequest request,
                 const std::string& peer);
  void SubmitNextChunk(const std::shared_ptr<PendingResponse>& response);
  // gateway.fetch_missing: whether the request's blocks should be fetched before it runs.
  bool NeedsFetch(const PendingResponse& response, const gateway::GatewayRequest& request);
  // Fetches on the Bitswap client's thread, then submits on this one (504 past the timeout). A
  // CAR request holds the requests behind it meanwhile, as its stream would.
  void FetchThenSubmit(const std::shared_ptr<PendingResponse>& response,
                       gateway::GatewayRequest request, const std::string& peer);
  void OnFetched(const std::shared_ptr<PendingResponse>& response, gateway::GatewayRequest request,
                 const std::string& peer, const Status& status);
  void Answer(const std::shared_ptr<PendingResponse>& response, int status,
              std::string_view message, std::vector<gateway::Header> headers = {});
  void Flush();
  void OnWritten(const boost::system::error_code& ec, size_t n);

  ConnectionOwner& owner_;
  const runtime::GatewayConfig& config_;
  const GatewayLimits& limits_;
  boost::asio::ip::tcp::socket socket_;
  const uint64_t id_;
  const std::string address_;
  const int64_t opened_ns_;
  int64_t last_activity_ns_;
  // When the connection began owing a request head: its accept, then the read that brought the
  // first bytes of each later request. 0 while no head is owed (a request was just parsed, or
  // the pipeline is full). gateway.header_timeout_ms counts from here.
  int64_t header_started_ns_;
  int64_t write_started_ns_ = 0;

  std::vector<char> buffer_;
  size_t buffered_ = 0;
  http1::RequestHead head_;
  std::optional<http1::HeadParser> parser_;

  std::deque<std::shared_ptr<PendingResponse>> pipeline_;
  // The CAR stream still producing chunks; requests parsed after it are held until it ends. A
  // response produced behind it could not be written before the stream's end, yet would hold
  // the peer budget the stream's next chunk needs: pipelined CARs would wedge their own peer.
  std::shared_ptr<PendingResponse> open_stream_;
  size_t held_ = 0;  // pending responses whose request is held
  struct Piece {
    std::string text;
    BlockData block;
  };
  std::vector<Piece> pieces_;  // owned by the write in flight
  std::vector<boost::asio::const_buffer> gather_;
  std::vector<std::pair<Task, uint64_t>> written_tasks_;

  bool reading_ = false;
  // Bytes may be waiting in the socket: set by the readable set's reports, cleared by a read that
  // returned less than it asked for (it drained the socket; new bytes bring a new report). Asio's
  // own reads try a recv before every wait, which on keep-alive finds the socket empty once per
  // response.
  bool readable_ = true;
  bool hung_up_ = false;  // the client shut down its side or the socket failed
  bool writing_ = false;
  bool in_handler_ = false;  // batch flushes until the current handler ends
  bool closing_ = false;
  bool closed_ = false;
  bool close_after_write_ = false;
  bool parse_paused_ = false;  // complete requests wait in buffer_ for room in the pipeline
};

}  // namespace boxcar::server
