// The node's metrics: one prometheus::Registry that host code and plugins register into, plus
// the standard process_* metrics, exposed as Prometheus text for scrapes and as flat samples for
// the tuner.
//
// Thread safety: every method may be called from any thread, concurrently.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include "boxcar/tuner.h"

namespace boxcar::obs {

// The standard Prometheus process metrics, read from /proc/self at collection time only:
// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds and process_threads.
// A metric whose source cannot be read is left out of that collection.
class ProcessCollector final : public prometheus::Collectable {
 public:
  ProcessCollector();
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  double boot_time_seconds_ = 0;  // from /proc/stat; 0 when unreadable
  double clock_ticks_per_second_ = 0;
  double page_size_bytes_ = 0;
};

class MetricsRegistry {
 public:
  MetricsRegistry();

  // prometheus::Registry cannot hold arbitrary collectables, so the process metrics are
  // collected next to it rather than inside it.
  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  // Everything in the registry followed by the process metrics.
  std::vector<prometheus::MetricFamily> Collect() const;

  // The Prometheus text exposition format (version 0.0.4).
  std::string SerializeText() const;

  // Flat samples for the tuner: counters, gauges and untyped as they are; histograms and
  // summaries as <name>_count, <name>_sum and <name>{quantile="0.5"|"0.9"|"0.99"}. Histogram
  // quantiles are estimated from the buckets and left out while the histogram is empty.
  std::vector<MetricSample> Snapshot() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  ProcessCollector process_;
};

// k1="v1",k2="v2" sorted by key, values escaped as in the text format (\\, \" and \n).
std::string CanonicalLabels(std::vector<prometheus::ClientMetric::Label> labels);

// The q-quantile (0 <= q <= 1) of a histogram, interpolating linearly within the bucket that
// holds the rank, as Prometheus's histogram_quantile() does: the lowest bucket starts at 0 (or
// at its bound when that is negative), and a rank in the +Inf bucket yields the highest finite
// bound. NaN when the histogram is empty.
double HistogramQuantile(double q, const prometheus::ClientMetric::Histogram& histogram);

}  // namespace boxcar::obs
