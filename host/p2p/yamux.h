// Yamux /yamux/1.0.0 (libp2p/specs yamux/README.md): the frame codec and a session state
// machine with no I/O. The connection feeds it decrypted bytes and sends what TakeOutput gives.
//
// Rules kept here because peers enforce them:
// - The dialer is the client (odd stream ids from 1), the listener the server (even from 2); a
//   SYN of the wrong parity is a protocol error.
// - Each stream has a 256 KiB window each way; only data-frame bytes count. This side never
//   sends past the peer's window (js-libp2p kills the whole connection when a window is
//   overrun). A peer that overruns ours is a protocol error.
// - Our receive window grows (doubling, up to max_window) when a window's worth was consumed
//   within 4 x RTT, as go-yamux and js-yamux do; RTT comes from our pings.
// - Window updates go out once half the window is consumed.
// - A ping SYN is echoed with ACK and the same opaque value; an ACK we did not ask for is a
//   protocol error.
// - RST frames may carry an error code in the length field (go-yamux): never a window delta.
// - Control frames (ping, window updates, SYN/ACK/FIN/RST, GoAway) leave before queued data.
//
// Thread safety: none; a session belongs to its connection's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "boxcar/status.h"

namespace boxcar::p2p::yamux {

enum class FrameType : uint8_t { kData = 0, kWindowUpdate = 1, kPing = 2, kGoAway = 3 };
enum Flag : uint16_t { kSyn = 1, kAck = 2, kFin = 4, kRst = 8 };
enum GoAwayCode : uint32_t { kNormal = 0, kProtocolError = 1, kInternalError = 2 };

inline constexpr size_t kHeaderSize = 12;
inline constexpr uint32_t kInitialWindow = 256 * 1024;

struct FrameHeader {
  uint8_t version = 0;
  FrameType type = FrameType::kData;
  uint16_t flags = 0;
  uint32_t stream_id = 0;
  uint32_t length = 0;
};
void EncodeHeader(const FrameHeader& header, char out[kHeaderSize]);
// InvalidArgument for a version other than 0 or an unknown type.
Status DecodeHeader(std::string_view bytes, FrameHeader* out);

struct SessionLimits {
  uint32_t initial_window = kInitialWindow;  // at least 256 KiB, which peers assume
  uint32_t max_window = 16 * 1024 * 1024;
  // The largest data frame we send: header and payload fill one Noise frame (65,519 plaintext
  // bytes), so the receiver gets whole frames and reads them in place.
  uint32_t max_data_frame = 65519 - kHeaderSize;
  uint32_t max_inbound_streams = 256;              // open inbound streams; extra SYNs get RST
  uint32_t max_unacked_outbound = 256;             // our SYNs not yet ACKed (the spec's backlog)
  size_t max_send_buffer_per_stream = 256 * 1024;  // queued but unsent bytes per stream
};

// Session events, called synchronously from inside Feed (OnStreamWritable from TakeOutput, after
// its frames are appended). A handler may call back into the session (Write, Consumed, Reset,
// CloseWrite, OpenStream, ...), but not Feed.
class SessionHandler {
 public:
  virtual ~SessionHandler() = default;
  virtual void OnStreamOpened(uint32_t id) = 0;  // an inbound SYN we accepted
  virtual void OnStreamData(uint32_t id, std::string_view data) = 0;
  virtual void OnStreamFin(uint32_t id) = 0;       // the peer will send no more
  virtual void OnStreamReset(uint32_t id) = 0;     // the stream is gone
  virtual void OnStreamWritable(uint32_t id) = 0;  // window or buffer room reopened
  virtual void OnStreamRefused(uint32_t id) = 0;   // an inbound SYN past the limit (counted)
  virtual void OnPingRtt(int64_t rtt_ns) = 0;
  virtual void OnGoAway(uint32_t code) = 0;
};

struct SessionStats {
  uint64_t window_stalls = 0;  // writes that found the peer's window closed
  uint32_t open_streams = 0;
  uint32_t inbound_streams = 0;
  uint64_t buffered_send_bytes = 0;
};

class Session {
 public:
  // `client`: true on the dialer's side. `now_ns` reads the clock (injectable for tests).
  Session(bool client, SessionLimits limits, SessionHandler* handler,
          int64_t (*now_ns)() = nullptr);
  ~Session();

  // Processes received bytes; frames may straddle calls. A protocol error (bad header, wrong
  // parity, window overrun, oversized frame, unexpected ping ACK, a frame for a stream id that
  // was never opened) returns an error naming it; the caller then sends GoAway(kProtocolError)
  // and closes. The error sticks: later calls return it again. Frames for a stream we already
  // reset or closed are ignored (they cross our RST on the wire).
  Status Feed(std::string_view bytes);

  // Opens an outbound stream (SYN goes with the first frame); 0 when the peer sent GoAway, we
  // did, or max_unacked_outbound SYNs are waiting.
  uint32_t OpenStream();
  // Queues up to the stream's free send buffer; returns the bytes accepted (0: wait for
  // OnStreamWritable). Data leaves only within the peer's window.
  size_t Write(uint32_t id, std::string_view data);
  void CloseWrite(uint32_t id);  // FIN after queued data
  void Reset(uint32_t id);       // RST now; queued data is dropped
  // The application consumed `bytes` of received data on `id` (this opens our window).
  void Consumed(uint32_t id, size_t bytes);
  void SendPing();
  void GoAway(uint32_t code);

  bool HasOutput() const;
  // Appends frames to *out until about `max_bytes`: control frames first, then data frames,
  // round-robin across streams, each within its send window.
  void TakeOutput(std::string* out, size_t max_bytes);
  // Frees the send buffers of streams with nothing queued. A drained buffer is otherwise kept
  // for the next write (a busy stream does not reallocate per flush); the connection calls this
  // once its output goes idle, so an idle session holds little memory.
  void ReleaseIdleBuffers();

  // Bytes queued on `id` and not yet sent (0 for an unknown stream).
  size_t Buffered(uint32_t id) const;
  SessionStats stats() const;
  bool remote_went_away() const;
  int64_t last_rtt_ns() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace boxcar::p2p::yamux
