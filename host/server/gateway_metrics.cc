#include "server/gateway_metrics.h"

#include <array>
#include <chrono>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace boxcar::server {
namespace {

// The statuses counted under their own code; 0 stands for every other one ("other").
constexpr std::array<int, 14> kStatuses = {200, 204, 304, 400, 404, 405, 406,
                                           412, 429, 431, 500, 501, 503, 0};

size_t StatusIndex(int status) {
  for (size_t i = 0; i + 1 < kStatuses.size(); ++i) {
    if (kStatuses[i] == status) return i;
  }
  return kStatuses.size() - 1;
}

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5};
}

}  // namespace

int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct GatewayMetrics::Series {
  explicit Series(prometheus::Registry& registry)
      : responses(prometheus::BuildCounter()
                      .Name("boxcar_gateway_responses_total")
                      .Help("Gateway responses by HTTP status")
                      .Register(registry)),
        closed(prometheus::BuildCounter()
                   .Name("boxcar_gateway_connections_closed_total")
                   .Help("Gateway connections closed by the server, by reason")
                   .Register(registry)),
        refused(prometheus::BuildCounter()
                    .Name("boxcar_gateway_connections_refused_total")
                    .Help("Connections the conn_manager plugin refused at accept")
                    .Register(registry)
                    .Add({})),
        open(prometheus::BuildGauge()
                 .Name("boxcar_gateway_connections")
                 .Help("Open gateway connections")
                 .Register(registry)
                 .Add({})),
        latency(prometheus::BuildHistogram()
                    .Name("boxcar_gateway_response_seconds")
                    .Help("Time from a request's parse to its response being ready, by format")
                    .Register(registry)),
        raw_latency(latency.Add({{"format", "raw"}}, LatencyBuckets())),
        car_latency(latency.Add({{"format", "car"}}, LatencyBuckets())),
        by_reason{&closed.Add({{"reason", "header_timeout"}}),
                  &closed.Add({{"reason", "idle_timeout"}}),
                  &closed.Add({{"reason", "write_timeout"}}), &closed.Add({{"reason", "trimmed"}}),
                  &closed.Add({{"reason", "bad_request"}})} {
    for (int status : kStatuses) {
      by_status[StatusIndex(status)] =
          &responses.Add({{"code", status == 0 ? "other" : std::to_string(status)}});
    }
  }

  prometheus::Family<prometheus::Counter>& responses;
  prometheus::Family<prometheus::Counter>& closed;
  prometheus::Counter& refused;
  prometheus::Gauge& open;
  prometheus::Family<prometheus::Histogram>& latency;
  prometheus::Histogram& raw_latency;
  prometheus::Histogram& car_latency;
  std::array<prometheus::Counter*, 5> by_reason;  // indexed by CloseReason
  std::array<prometheus::Counter*, kStatuses.size()> by_status{};
};

GatewayMetrics::GatewayMetrics(prometheus::Registry& registry)
    : series_(std::make_unique<Series>(registry)) {}

GatewayMetrics::~GatewayMetrics() = default;

void GatewayMetrics::Responded(int status, int64_t started_ns, bool car) {
  series_->by_status[StatusIndex(status)]->Increment();
  if (started_ns == 0) return;
  const double seconds = static_cast<double>(SteadyNs() - started_ns) / 1e9;
  (car ? series_->car_latency : series_->raw_latency).Observe(seconds);
}

void GatewayMetrics::Closed(CloseReason reason) {
  series_->by_reason[static_cast<size_t>(reason)]->Increment();
}

void GatewayMetrics::Refused() { series_->refused.Increment(); }
void GatewayMetrics::Opened() { series_->open.Increment(); }
void GatewayMetrics::Released() { series_->open.Decrement(); }

}  // namespace boxcar::server
