// The Bitswap network's Prometheus series: messages and their sizes each way, penalties by
// reason, and sends that failed.
//
// Thread safety: prometheus-cpp series are thread-safe; the struct is immutable after
// construction.
#pragma once

#include <string>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace boxcar::exchange {

struct NetworkMetrics {
  explicit NetworkMetrics(prometheus::Registry& registry);

  void Received(size_t bytes);
  void Sent(size_t bytes);
  void Penalty(const std::string& reason);
  void SendFailed(const std::string& reason);

  prometheus::Family<prometheus::Counter>& messages;
  prometheus::Family<prometheus::Histogram>& sizes;
  prometheus::Family<prometheus::Counter>& penalties;
  prometheus::Family<prometheus::Counter>& send_failures;
  prometheus::Counter& received;
  prometheus::Counter& sent;
  prometheus::Histogram& received_sizes;
  prometheus::Histogram& sent_sizes;
};

}  // namespace boxcar::exchange
