// SwarmMetrics: the libp2p swarm's Prometheus series, behind calls that keep prometheus-cpp out
// of the swarm's headers.
//
// Thread safety: every method may be called from any thread (the series are atomic; the
// per-protocol families add their children under their own lock).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace prometheus {
class Registry;
}

namespace boxcar::p2p {

// kNoConnection (the TCP connect failed) is no handshake and is not counted.
enum class HandshakeResult {
  kOk,
  kTimeout,
  kBadSignature,
  kPeerIdMismatch,
  kProtocolError,
  kNoConnection
};
// Why a connection or stream was refused, as the `reason` label.
enum class RefusedReason {
  kConnsPerPeer,
  kStreamsPerPeer,
  kPendingHandshakes,
  kConnManager,
  kBufferMemory
};

// Why an upgraded connection was closed for a protocol error, as the `reason` label.
enum class ConnectionError { kDecrypt, kYamux };

class SwarmMetrics {
 public:
  explicit SwarmMetrics(prometheus::Registry& registry);  // registers the series
  ~SwarmMetrics();
  SwarmMetrics(const SwarmMetrics&) = delete;
  SwarmMetrics& operator=(const SwarmMetrics&) = delete;

  // Open connections by direction and state (handshaking | open).
  void ConnectionState(bool inbound, bool open, int delta);
  void Handshake(HandshakeResult result);
  void Refused(RefusedReason reason);
  void Errored(ConnectionError reason);
  // The series of one protocol, looked up once per stream (the pointer stays valid for the
  // life of this object); then counted without a lookup.
  struct ProtocolSeries;
  ProtocolSeries* Protocol(const std::string& protocol);
  void StreamOpened(ProtocolSeries* series, bool inbound);
  void Bytes(ProtocolSeries* series, uint64_t in, uint64_t out);
  void WindowStalls(uint64_t count);
  void PingRtt(int64_t rtt_ns);

 private:
  struct Series;
  std::unique_ptr<Series> series_;
};

}  // namespace boxcar::p2p
