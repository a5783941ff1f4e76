// ClientMetrics: the Bitswap client's Prometheus series (issue 12 section 7: blocks and bytes
// received, duplicates, fetch latency, peers by quality state), behind calls that keep
// prometheus-cpp out of the client's code.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>

#include "exchange/peer_quality.h"

namespace prometheus {
class Registry;
}

namespace boxcar::exchange {

enum class FetchKind { kBlock, kDag };

class ClientMetrics {
 public:
  explicit ClientMetrics(prometheus::Registry& registry);
  ~ClientMetrics();
  ClientMetrics(const ClientMetrics&) = delete;
  ClientMetrics& operator=(const ClientMetrics&) = delete;

  void BlockReceived(uint64_t bytes);
  void DuplicateReceived(uint64_t bytes);
  void BadBlock();
  void FetchDone(FetchKind kind, bool ok, std::chrono::nanoseconds elapsed);
  void PeersByState(const std::array<uint64_t, kQualityStates>& counts);
  void Wants(uint64_t count);

 private:
  struct Series;
  std::unique_ptr<Series> series_;
};

}  // namespace boxcar::exchange
