#include "swarm/swarm_metrics.h"

#include <array>
#include <map>
#include <mutex>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace boxcar::p2p {

struct SwarmMetrics::ProtocolSeries {
  prometheus::Counter* streams_inbound;
  prometheus::Counter* streams_outbound;
  prometheus::Counter* bytes_in;
  prometheus::Counter* bytes_out;
};

struct SwarmMetrics::Series {
  explicit Series(prometheus::Registry& registry)
      : connections(prometheus::BuildGauge()
                        .Name("boxcar_p2p_connections")
                        .Help("libp2p connections by direction and state (handshaking, open)")
                        .Register(registry)),
        handshakes(prometheus::BuildCounter()
                       .Name("boxcar_p2p_handshakes_total")
                       .Help("libp2p connection upgrades (mss, Noise, yamux) by result")
                       .Register(registry)),
        refused(prometheus::BuildCounter()
                    .Name("boxcar_p2p_refused_total")
                    .Help("Connections and streams refused past a limit, by reason")
                    .Register(registry)),
        errors(prometheus::BuildCounter()
                   .Name("boxcar_p2p_connection_errors_total")
                   .Help("Upgraded connections closed for a protocol error, by reason (decrypt: "
                         "a frame failed the AEAD; yamux: a frame broke the yamux rules)")
                   .Register(registry)),
        streams(prometheus::BuildCounter()
                    .Name("boxcar_p2p_streams_total")
                    .Help("Streams opened, by protocol and direction")
                    .Register(registry)),
        bytes(prometheus::BuildCounter()
                  .Name("boxcar_p2p_stream_bytes_total")
                  .Help("Application bytes through streams, by protocol and direction")
                  .Register(registry)),
        stalls(prometheus::BuildCounter()
                   .Name("boxcar_p2p_yamux_window_stalls_total")
                   .Help("Stream writes that found the peer's yamux window closed")
                   .Register(registry)
                   .Add({})),
        ping(prometheus::BuildHistogram()
                 .Name("boxcar_p2p_ping_rtt_seconds")
                 .Help("Round-trip times of libp2p and yamux pings")
                 .Register(registry)
                 .Add({}, prometheus::Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001,
                                                                  0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                  0.1, 0.25, 0.5, 1, 2.5})) {
    const char* results[] = {"ok", "timeout", "bad_signature", "peer_id_mismatch",
                             "protocol_error"};
    for (size_t i = 0; i < by_result.size(); ++i) {
      by_result[i] = &handshakes.Add({{"result", results[i]}});
    }
    const char* reasons[] = {"conns_per_peer", "streams_per_peer", "pending_handshakes",
                             "conn_manager", "buffer_memory"};
    for (size_t i = 0; i < by_reason.size(); ++i) {
      by_reason[i] = &refused.Add({{"reason", reasons[i]}});
    }
    by_error = {&errors.Add({{"reason", "decrypt"}}), &errors.Add({{"reason", "yamux"}})};
    const char* directions[] = {"inbound", "outbound"};
    const char* states[] = {"handshaking", "open"};
    for (int d = 0; d < 2; ++d) {
      for (int s = 0; s < 2; ++s) {
        by_state[d][s] = &connections.Add({{"direction", directions[d]}, {"state", states[s]}});
      }
    }
  }

  prometheus::Family<prometheus::Gauge>& connections;
  prometheus::Family<prometheus::Counter>& handshakes;
  prometheus::Family<prometheus::Counter>& refused;
  prometheus::Family<prometheus::Counter>& errors;
  prometheus::Family<prometheus::Counter>& streams;
  prometheus::Family<prometheus::Counter>& bytes;
  prometheus::Counter& stalls;
  prometheus::Histogram& ping;
  std::array<prometheus::Counter*, 5> by_result{};
  std::array<prometheus::Counter*, 5> by_reason{};
  std::array<prometheus::Counter*, 2> by_error{};
  std::array<std::array<prometheus::Gauge*, 2>, 2> by_state{};  // [outbound][open]

  std::mutex protocols_mu;
  std::map<std::string, ProtocolSeries> protocols;
};

SwarmMetrics::SwarmMetrics(prometheus::Registry& registry)
    : series_(std::make_unique<Series>(registry)) {}
SwarmMetrics::~SwarmMetrics() = default;

void SwarmMetrics::ConnectionState(bool inbound, bool open, int delta) {
  series_->by_state[inbound ? 0 : 1][open ? 1 : 0]->Increment(delta);
}

void SwarmMetrics::Handshake(HandshakeResult result) {
  if (result == HandshakeResult::kNoConnection) return;
  series_->by_result[static_cast<size_t>(result)]->Increment();
}

void SwarmMetrics::Refused(RefusedReason reason) {
  series_->by_reason[static_cast<size_t>(reason)]->Increment();
}

void SwarmMetrics::Errored(ConnectionError reason) {
  series_->by_error[static_cast<size_t>(reason)]->Increment();
}

SwarmMetrics::ProtocolSeries* SwarmMetrics::Protocol(const std::string& protocol) {
  std::lock_guard lock(series_->protocols_mu);
  auto [it, added] = series_->protocols.try_emplace(protocol);
  if (added) {
    Series& s = *series_;
    it->second = ProtocolSeries{&s.streams.Add({{"protocol", protocol}, {"direction", "inbound"}}),
                                &s.streams.Add({{"protocol", protocol}, {"direction", "outbound"}}),
                                &s.bytes.Add({{"protocol", protocol}, {"direction", "in"}}),
                                &s.bytes.Add({{"protocol", protocol}, {"direction", "out"}})};
  }
  return &it->second;
}

void SwarmMetrics::StreamOpened(ProtocolSeries* series, bool inbound) {
  (inbound ? series->streams_inbound : series->streams_outbound)->Increment();
}

void SwarmMetrics::Bytes(ProtocolSeries* series, uint64_t in, uint64_t out) {
  if (in) series->bytes_in->Increment(static_cast<double>(in));
  if (out) series->bytes_out->Increment(static_cast<double>(out));
}

void SwarmMetrics::WindowStalls(uint64_t count) {
  if (count) series_->stalls.Increment(static_cast<double>(count));
}

void SwarmMetrics::PingRtt(int64_t rtt_ns) { series_->ping.Observe(rtt_ns / 1e9); }

}  // namespace boxcar::p2p
