// GatewayMetrics: the gateway server's Prometheus series, behind calls that keep prometheus-cpp
// out of the server's headers.
//
// Thread safety: every method may be called from any thread (the series are atomic).
#pragma once

#include <cstdint>
#include <memory>

namespace prometheus {
class Registry;
}

namespace boxcar::server {

// Why the server closed a connection, as the `reason` label of
// boxcar_gateway_connections_closed_total.
enum class CloseReason { kHeaderTimeout, kIdleTimeout, kWriteTimeout, kTrimmed, kBadRequest };

class GatewayMetrics {
 public:
  explicit GatewayMetrics(prometheus::Registry& registry);  // registers the series
  ~GatewayMetrics();

  GatewayMetrics(const GatewayMetrics&) = delete;
  GatewayMetrics& operator=(const GatewayMetrics&) = delete;

  // A response head went out: counts it by status and, when `started_ns` (steady clock) is not
  // 0, observes the time since the request was parsed.
  void Responded(int status, int64_t started_ns, bool car);
  void Closed(CloseReason reason);
  void Refused();   // the conn_manager refused a connection at accept
  void Opened();    // the open-connections gauge goes up ...
  void Released();  // ... and down

 private:
  struct Series;
  std::unique_ptr<Series> series_;
};

// The steady clock in nanoseconds, the time base of the server's timeouts and latencies.
int64_t SteadyNs();

}  // namespace boxcar::server
