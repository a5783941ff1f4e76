// A libp2p stream as protocol handlers see it: one yamux stream over one connection, after
// multistream-select chose its protocol.
//
// Thread safety: a Stream lives on its connection's I/O thread. Call its methods only from
// callbacks it invoked, or from work posted to executor(). Its callbacks run on that thread and
// must not block (a slow peer must never hold an I/O thread; boxo#1142). Release every Stream
// before destroying its Swarm: a stream keeps its connection, whose timers belong to the swarm's
// io_context.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>

#include "boxcar/status.h"
#include "p2p/peer_id.h"

namespace boxcar::p2p {

class Stream {
 public:
  virtual ~Stream() = default;

  virtual const std::string& protocol() const = 0;
  virtual const PeerId& peer() const = 0;
  virtual bool inbound() const = 0;  // opened by the peer
  virtual boost::asio::any_io_executor executor() const = 0;

  // Received bytes, in order, as they arrive; then exactly one on_end: OK after the peer's FIN,
  // an error after a reset or the connection's loss. Data that arrived before the reader was
  // set is delivered at once. Returning from on_data consumes the bytes (reopening the window).
  virtual void SetReader(std::function<void(std::string_view data)> on_data,
                         std::function<void(Status end)> on_end) = 0;

  // Queues bytes; returns how many were accepted (bounded per stream). When fewer than offered,
  // on_writable (set below) is called once room opens.
  virtual size_t Write(std::string_view data) = 0;
  virtual void SetOnWritable(std::function<void()> on_writable) = 0;
  virtual size_t buffered() const = 0;  // accepted but not yet sent

  // Half-close after the queued bytes (FIN); the peer may still send.
  virtual void CloseWrite() = 0;
  // Abort both directions now (RST); queued bytes are dropped. on_end is not called after this.
  virtual void Reset() = 0;
};

using StreamPtr = std::shared_ptr<Stream>;

}  // namespace boxcar::p2p
