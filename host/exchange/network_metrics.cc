#include "exchange/network_metrics.h"

namespace boxcar::exchange {
namespace {

// From one presence (~40 bytes) to the 4 MiB cap.
prometheus::Histogram::BucketBoundaries SizeBuckets() {
  return {64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 2097152, 4194304};
}

}  // namespace

NetworkMetrics::NetworkMetrics(prometheus::Registry& registry)
    : messages(prometheus::BuildCounter()
                   .Name("boxcar_bitswap_messages_total")
                   .Help("Bitswap messages, by direction")
                   .Register(registry)),
      sizes(prometheus::BuildHistogram()
                .Name("boxcar_bitswap_message_bytes")
                .Help("Sizes of Bitswap messages, by direction")
                .Register(registry)),
      penalties(prometheus::BuildCounter()
                    .Name("boxcar_bitswap_penalties_total")
                    .Help("Peers disconnected for misbehaving, by reason (malformed, oversized, "
                          "write_timeout, unwanted_block, ...)")
                    .Register(registry)),
      send_failures(prometheus::BuildCounter()
                        .Name("boxcar_bitswap_send_failures_total")
                        .Help("Bitswap messages that could not be sent, by reason")
                        .Register(registry)),
      received(messages.Add({{"direction", "in"}})),
      sent(messages.Add({{"direction", "out"}})),
      received_sizes(sizes.Add({{"direction", "in"}}, SizeBuckets())),
      sent_sizes(sizes.Add({{"direction", "out"}}, SizeBuckets())) {}

void NetworkMetrics::Received(size_t bytes) {
  received.Increment();
  received_sizes.Observe(static_cast<double>(bytes));
}

void NetworkMetrics::Sent(size_t bytes) {
  sent.Increment();
  sent_sizes.Observe(static_cast<double>(bytes));
}

void NetworkMetrics::Penalty(const std::string& reason) {
  penalties.Add({{"reason", reason}}).Increment();
}

void NetworkMetrics::SendFailed(const std::string& reason) {
  send_failures.Add({{"reason", reason}}).Increment();
}

}  // namespace boxcar::exchange
