// One libp2p connection over one TCP socket: the upgrade (multistream-select for /noise, the
// Noise XX handshake, multistream-select or early negotiation for /yamux/1.0.0), then the yamux
// session and its streams.
//
// Framing: every byte after the handshake travels in Noise transport frames (2-byte length,
// at most 65519 plaintext bytes each); frames are reassembled across TCP reads, and writes are
// coalesced into one gathered socket write per flush. A flush takes at most kMaxFlushBytes from
// the session, so a yamux ping echo or window update waits behind at most one write.
//
// Memory: an idle connection owns no read buffer (reads go through a per-thread buffer after
// the socket reports readable) and releases its reassembly and write buffers when they empty.
//
// Thread safety: a connection lives on one io_context (one I/O thread). Every method must be
// called on that thread, except the accessors marked "any thread".
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "p2p/multiaddr.h"
#include "p2p/multistream.h"
#include "p2p/noise.h"
#include "p2p/yamux.h"
#include "swarm/stream.h"
#include "swarm/swarm_metrics.h"

namespace boxcar::p2p {

class Connection;
class StreamImpl;

// What a connection needs from the swarm that owns it. Called on the connection's thread.
// The limits a connection applies, read when it applies them (they change on reload).
struct ConnectionLimits {
  uint32_t inbound_streams_per_peer = 0;
  uint64_t buffer_bytes = 0;
  std::chrono::milliseconds handshake_timeout{0};
};

class ConnectionHost {
 public:
  virtual ~ConnectionHost() = default;
  virtual const Ed25519Key& identity() const = 0;
  // The X25519 static key every handshake shares (signed once); null: a fresh one each time.
  virtual std::shared_ptr<const NoiseStaticKey> noise_static_key() const = 0;
  virtual ConnectionLimits limits() const = 0;
  virtual SwarmMetrics* metrics() = 0;
  // The upgrade ended: `result` kOk with the session running, or why it failed (the
  // connection is then closed). Called exactly once per connection.
  virtual void OnUpgraded(const std::shared_ptr<Connection>& conn, HandshakeResult result,
                          const Status& status) = 0;
  // An upgraded connection closed.
  virtual void OnClosed(const std::shared_ptr<Connection>& conn) = 0;
  virtual bool SupportsProtocol(std::string_view protocol) const = 0;
  // An inbound stream selected `stream->protocol()`: run its handler.
  virtual void DispatchInbound(const StreamPtr& stream) = 0;
  virtual void OnRtt(Connection& conn, int64_t rtt_ns) = 0;
};

class Connection : public std::enable_shared_from_this<Connection>, public yamux::SessionHandler {
 public:
  // At most this much session output goes into one socket write (see the file comment).
  static constexpr size_t kMaxFlushBytes = 256 * 1024;

  Connection(ConnectionHost* host, boost::asio::io_context& ioc, bool outbound,
             std::optional<PeerId> expected_peer, uint64_t id);
  ~Connection() override;

  // Dials `endpoint` and upgrades. The handshake timeout covers the TCP connect too.
  void Dial(const boost::asio::ip::tcp::endpoint& endpoint);
  // Upgrades an accepted socket (bound to this connection's io_context).
  void Accept(boost::asio::ip::tcp::socket socket);

  // After a successful upgrade, once the swarm kept the connection: counts this peer's inbound
  // streams in `peer_inbound_streams` (shared by the peer's connections) against the limit.
  void Activate(std::shared_ptr<std::atomic<uint32_t>> peer_inbound_streams);

  // Opens a stream proposing `protocols` in order; `done` runs on this thread.
  void OpenStream(std::vector<std::string> protocols, std::function<void(Status, StreamPtr)> done);
  // Graceful close: yamux GoAway, flush, then close the socket.
  void GoAwayAndClose();
  // Immediate close; streams end with `why`.
  void Close(const Status& why);

  // Any thread.
  uint64_t id() const { return id_; }
  bool outbound() const { return outbound_; }
  const PeerId& peer() const { return peer_; }  // set before OnUpgraded(kOk)
  const std::optional<PeerId>& expected_peer() const { return expected_peer_; }
  const Multiaddr& remote_addr() const { return remote_addr_; }
  int64_t opened_ns() const { return opened_ns_; }
  int64_t last_active_ns() const { return last_active_ns_.load(std::memory_order_relaxed); }
  int64_t rtt_ns() const { return rtt_ns_.load(std::memory_order_relaxed); }
  uint32_t stream_count() const { return stream_count_.load(std::memory_order_relaxed); }
  const std::string& remote_public_key() const { return remote_public_key_; }
  boost::asio::io_context& io_context() { return ioc_; }

  // For StreamImpl (this thread).
  size_t StreamWrite(uint32_t stream_id, std::string_view data);
  void StreamCloseWrite(uint32_t stream_id);
  void StreamReset(uint32_t stream_id);
  void StreamConsumed(uint32_t stream_id, size_t bytes);
  size_t StreamBuffered(uint32_t stream_id) const;
  void RemoveStream(uint32_t stream_id);  // both directions done
  void ScheduleFlush();
  // Received bytes waiting for a reader, over all streams (p2p.max_conn_buffer_bytes).
  uint64_t& unread_bytes() { return unread_bytes_; }
  SwarmMetrics* metrics() { return host_->metrics(); }
  ConnectionHost* host() { return host_; }

 private:
  enum class Phase { kConnecting, kSecurityMss, kNoise, kMuxerMss, kYamux, kClosed };

  void BeginUpgrade();
  void WaitReadable();
  void OnReadable();
  void Feed(std::string_view bytes);
  // Completes the Noise frame held in rx_ from the front of *bytes (transport phases only).
  void CompletePartialFrame(std::string_view* bytes);
  void DriveSecurityMss();
  void DriveNoise();
  void NoiseFinished();
  bool InTransport() const;
  // Decrypts and handles the whole Noise frames at the front of `in`; returns the bytes used.
  size_t DriveTransport(std::string_view in);
  void OnPlaintext(std::string_view plain);
  void StartSession(std::string_view leftover);
  void FailHandshake(HandshakeResult result, const Status& why);
  void CloseAfterFlush();
  void Flush();
  void OnWritten(const boost::system::error_code& ec);
  void EncryptInto(std::string_view plain, std::string* out);
  void Housekeep();
  void ReportStalls();

  // yamux::SessionHandler
  void OnStreamOpened(uint32_t id) override;
  void OnStreamData(uint32_t id, std::string_view data) override;
  void OnStreamFin(uint32_t id) override;
  void OnStreamReset(uint32_t id) override;
  void OnStreamWritable(uint32_t id) override;
  void OnStreamRefused(uint32_t id) override;
  void OnPingRtt(int64_t rtt_ns) override;
  void OnGoAway(uint32_t code) override;

  ConnectionHost* host_;
  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;  // the handshake deadline, then housekeeping
  const bool outbound_;
  const uint64_t id_;
  std::optional<PeerId> expected_peer_;
  PeerId peer_;
  std::string remote_public_key_;
  Multiaddr remote_addr_;
  int64_t opened_ns_ = 0;
  std::atomic<int64_t> last_active_ns_{0};
  std::atomic<int64_t> rtt_ns_{0};
  std::atomic<uint32_t> stream_count_{0};

  Phase phase_ = Phase::kConnecting;
  bool upgraded_ = false;  // OnUpgraded(kOk) was called
  // What a close before the end of the upgrade reports (EOF and Stop count as protocol errors).
  HandshakeResult failure_ = HandshakeResult::kProtocolError;
  bool reading_ = false;
  bool writing_ = false;
  bool flush_posted_ = false;
  bool close_after_flush_ = false;
  bool remote_went_away_ = false;

  std::string rx_;         // raw bytes not yet parsed (partial Noise frame or mss)
  std::string plain_in_;   // decrypted bytes during the muxer negotiation
  std::string clear_out_;  // bytes to send unencrypted (security mss, Noise handshake)
  std::string plain_out_;  // bytes to encrypt before the session's (muxer mss)
  std::string tx_;         // the write in flight
  std::string scratch_;    // a decrypted frame, or the session output being encrypted

  std::unique_ptr<MssInitiator> mss_initiator_;
  std::unique_ptr<MssResponder> mss_responder_;
  std::unique_ptr<Libp2pNoiseHandshake> noise_;
  NoiseCipher send_cipher_;
  NoiseCipher receive_cipher_;
  std::unique_ptr<yamux::Session> session_;
  uint64_t reported_stalls_ = 0;
  uint64_t unread_bytes_ = 0;
  int unanswered_pings_ = 0;  // housekeeping rounds since the last ping answer

  std::map<uint32_t, std::shared_ptr<StreamImpl>> streams_;
  std::set<uint32_t> blocked_on_buffer_;  // writers refused by max_conn_buffer_bytes
  std::shared_ptr<std::atomic<uint32_t>> peer_inbound_streams_;

  friend class StreamImpl;
};

// The steady clock in nanoseconds.
int64_t SwarmNowNs();

}  // namespace boxcar::p2p
