// A libp2p peer over one blocking TCP socket, assembled from the wire library (host/p2p), that
// tests and benchmarks drive step by step: well-behaved (Upgrade, Ping, Identify) or hostile
// (raw bytes, a stalled handshake, a forged signature, a replayed frame, bad yamux frames).
//
// It is the dialer: multistream-select for /noise, the Noise XX initiator, multistream-select
// for /yamux/1.0.0 inside Noise, then the yamux client (odd stream ids). Every read is bounded
// by the timeout; a read that times out returns Busy, one that finds the connection closed
// IOError.
//
// Thread safety: none; one RawPeer per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "boxcar/status.h"
#include "p2p/identify_message.h"
#include "p2p/keys.h"
#include "p2p/noise.h"
#include "p2p/peer_id.h"
#include "p2p/yamux.h"

namespace boxcar::testing {

class RawPeer {
 public:
  // A fresh Ed25519 identity per peer.
  RawPeer();
  // Another connection of an existing peer: the same identity.
  explicit RawPeer(const p2p::Ed25519Key& identity);
  ~RawPeer();
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;

  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  const p2p::PeerId& local_peer() const { return local_peer_; }
  const p2p::Ed25519Key& identity() const { return identity_; }
  const p2p::PeerId& remote_peer() const { return remote_peer_; }
  bool connected() const { return fd_ >= 0; }

  // TCP to "host:port" (IPv4 literal).
  Status Connect(const std::string& address);
  // Connect, /noise, the handshake (checking `expected` when given), /yamux/1.0.0.
  Status Upgrade(const std::string& address, std::optional<p2p::PeerId> expected = std::nullopt);
  void Close();

  // The upgraded connection, handed over to an event loop (tools/bench's Bitswap peers): the
  // socket, now the caller's to close, the Noise ciphers, and decrypted bytes not yet read. The
  // RawPeer is left disconnected. Call after Upgrade and before any stream is opened.
  struct Transport {
    int fd = -1;
    p2p::NoiseCipher send;
    p2p::NoiseCipher receive;
    std::string decrypted;
  };
  Transport Detach();

  // ---- the raw socket ----
  Status SendRaw(std::string_view bytes);
  Status ReadRaw(size_t count, std::string* out);
  // True when the node closes the connection (EOF or reset) within `timeout`; bytes that
  // arrive meanwhile are discarded.
  bool WaitClosed(std::chrono::milliseconds timeout);

  // ---- before Noise ----
  // Sends the multistream header and `protocol`, reads the header and the echo.
  Status SelectPlain(const std::string& protocol);

  // ---- Noise ----
  struct HandshakeOptions {
    std::optional<p2p::PeerId> expected;  // checked against the responder's identity
    bool corrupt_signature = false;       // flips a bit of our identity_sig in message 3
    bool stop_after_first_message = false;
  };
  Status NoiseHandshake(const HandshakeOptions& options);
  // Encrypts `plaintext` into frames (at most 65519 bytes each) and sends them.
  Status SendEncrypted(std::string_view plaintext);
  // Sends `frame` with its 2-byte length prefix, as is (a replay, or garbage in Noise framing).
  Status SendNoiseFrame(std::string_view frame);
  // The last frame SendEncrypted sent (ciphertext and tag, no prefix).
  const std::string& last_frame() const { return last_frame_; }
  // Reads decrypted bytes until `count` are available.
  Status ReadDecrypted(size_t count, std::string* out);

  // ---- inside Noise ----
  Status SelectSecure(const std::string& protocol);

  // ---- yamux ----
  Status SendYamux(p2p::yamux::FrameType type, uint16_t flags, uint32_t stream_id, uint32_t length,
                   std::string_view payload = {});
  // Reads one frame and its payload (data frames only).
  Status ReadYamux(p2p::yamux::FrameHeader* header, std::string* payload);
  uint32_t NextStreamId();
  // Opens a stream and negotiates `protocol` on it (waits for the echo).
  Status OpenStream(const std::string& protocol, uint32_t* id);
  // Bytes of `id` until `count` arrived or the stream ended (FIN: *fin = true).
  Status ReadStream(uint32_t id, size_t count, std::string* out, bool* fin = nullptr);
  // Reads until the node sends RST or FIN on `id`; true for RST.
  Status WaitStreamEnd(uint32_t id, bool* reset);
  // One /ipfs/ping/1.0.0 exchange on a new stream; its round trip in *rtt.
  Status Ping(std::chrono::nanoseconds* rtt = nullptr);
  // Opens /ipfs/id/1.0.0 and reads the node's message until its FIN.
  Status Identify(p2p::IdentifyMessage* out);

  struct StreamState {
    std::string data;
    bool fin = false;
    bool reset = false;
  };
  // Streams the node opened or answered, and what it sent on them.
  const std::map<uint32_t, StreamState>& streams() const { return streams_; }
  uint64_t resets_received() const { return resets_received_; }
  // Streams the node opens are accepted with `protocol` (the multistream answer goes out with
  // the ACK) instead of reset. With `grant_window` false, received data is never given back to
  // the node's send window: a peer that does not read.
  void AcceptStreams(const std::string& protocol, bool grant_window = true) {
    accept_protocol_ = protocol;
    grant_window_ = grant_window;
  }
  // Reads one yamux frame and applies it: a ping SYN is answered, a stream the node opens is
  // reset (or accepted, see AcceptStreams), data (given back to the node's window at once), FIN
  // and RST are recorded in streams().
  Status Pump();
  // Pumps until no frame arrives for `quiet`; an error only when the connection failed.
  Status PumpFor(std::chrono::milliseconds quiet);

 private:
  Status ReadExact(size_t count, std::string* out);
  // multistream-select as the dialer, on the raw socket or inside Noise.
  Status Select(const std::string& protocol, bool secure);
  Status ReadNoiseFrame(std::string* frame);

  int fd_ = -1;
  std::chrono::milliseconds timeout_{10000};
  p2p::Ed25519Key identity_;
  p2p::PeerId local_peer_;
  p2p::PeerId remote_peer_;
  p2p::NoiseCipher send_;
  p2p::NoiseCipher receive_;
  std::string last_frame_;
  std::string decrypted_;  // received plaintext not yet consumed
  uint32_t next_stream_id_ = 1;
  std::map<uint32_t, StreamState> streams_;
  std::string accept_protocol_;
  bool grant_window_ = true;
  uint64_t resets_received_ = 0;
};

}  // namespace boxcar::testing
