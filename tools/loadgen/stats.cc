#include "stats.h"

namespace boxcar::loadgen {

const char* FailureKindName(FailureKind kind) {
  switch (kind) {
    case FailureKind::kConnect:
      return "connect";
    case FailureKind::kTransport:
      return "transport";
    case FailureKind::kTimeout:
      return "timeout";
    case FailureKind::kStatus:
      return "status";
    case FailureKind::kStreamError:
      return "stream_error";
    case FailureKind::kProtocol:
      return "protocol";
  }
  return "?";
}

uint64_t Stats::TotalFailures() const {
  uint64_t total = 0;
  for (uint64_t n : failures) total += n;
  return total;
}

void Stats::Merge(const Stats& other) {
  requests += other.requests;
  responses += other.responses;
  for (int i = 0; i < kRequestKinds; ++i) requests_by_kind[i] += other.requests_by_kind[i];
  for (size_t i = 0; i < status_counts.size(); ++i) status_counts[i] += other.status_counts[i];
  for (int i = 0; i < kFailureKinds; ++i) failures[i] += other.failures[i];
  rx_bytes += other.rx_bytes;
  tx_bytes += other.tx_bytes;
  server_closes += other.server_closes;
  connects += other.connects;
  in_flight_at_end += other.in_flight_at_end;
  unsent_at_end += other.unsent_at_end;
  latency.Merge(other.latency);
  if (first_connect_error.empty()) first_connect_error = other.first_connect_error;
}

}  // namespace boxcar::loadgen
