// StreamImpl: a yamux stream of one Connection, first negotiating its protocol with
// multistream-select (responder for inbound streams, initiator for ours), then the Stream that
// protocol handlers use.
//
// Lifetime: the connection's stream map holds it until both directions are done (FIN each way,
// or a reset, or the connection's loss); it holds the connection alive in turn. Callbacks are
// released after the stream ends, so a callback that captures its own StreamPtr is no cycle.
//
// Thread safety: as Stream: the connection's I/O thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "p2p/multistream.h"
#include "swarm/connection.h"
#include "swarm/stream.h"
#include "swarm/swarm_metrics.h"

namespace boxcar::p2p {

class StreamImpl final : public Stream, public std::enable_shared_from_this<StreamImpl> {
 public:
  // Negotiation of a stream to open: the yamux stream `id` is already open.
  using OpenDone = std::function<void(Status, StreamPtr)>;
  StreamImpl(std::shared_ptr<Connection> conn, uint32_t id, bool inbound);
  ~StreamImpl() override;

  // Outbound: proposes `protocols`; `done` runs once, with the stream after the echo, or an
  // error (refused, reset, timeout, connection lost).
  void StartOutbound(std::vector<std::string> protocols, OpenDone done);
  // Inbound: arms the negotiation timeout; the peer's proposals arrive through OnData.
  void StartInbound();

  // Stream
  const std::string& protocol() const override { return protocol_; }
  const PeerId& peer() const override { return conn_->peer(); }
  bool inbound() const override { return inbound_; }
  boost::asio::any_io_executor executor() const override;
  void SetReader(std::function<void(std::string_view)> on_data,
                 std::function<void(Status)> on_end) override;
  size_t Write(std::string_view data) override;
  void SetOnWritable(std::function<void()> on_writable) override;
  size_t buffered() const override;
  void CloseWrite() override;
  void Reset() override;

  Connection& connection() { return *conn_; }
  uint32_t id() const { return id_; }

  // From the connection.
  void OnData(std::string_view data);
  void OnFin();
  void OnRemoteReset();
  void OnWritable();
  void OnConnectionLost(const Status& why);

 private:
  void Negotiate(std::string_view data);
  void Selected(std::string_view leftover);
  void Deliver(std::string_view data);
  void Buffer(std::string_view data);
  std::string TakePending();
  void DeliverPending();
  void End(const Status& status);
  void FailOpen(const Status& status);
  void ArmNegotiationTimer();
  void MaybeRemove();

  std::shared_ptr<Connection> conn_;
  const uint32_t id_;
  const bool inbound_;
  std::string protocol_;
  bool negotiating_ = true;
  std::unique_ptr<MssResponder> responder_;
  std::unique_ptr<MssInitiator> initiator_;
  std::string mss_in_;
  OpenDone open_done_;
  std::unique_ptr<boost::asio::steady_timer> negotiation_timer_;

  std::function<void(std::string_view)> on_data_;
  std::function<void(Status)> on_end_;
  std::function<void()> on_writable_;
  std::string pending_;  // received before a reader was set (not yet consumed: window closed)
  bool delivery_posted_ = false;
  bool fin_received_ = false;
  bool ended_ = false;  // on_end delivered (or suppressed by Reset)
  bool write_closed_ = false;
  bool reset_ = false;
  bool removed_ = false;
  bool want_writable_ = false;
  SwarmMetrics::ProtocolSeries* series_ = nullptr;
};

}  // namespace boxcar::p2p
