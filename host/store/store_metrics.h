// StoreMetrics: the block store's Prometheus series. Only the store's .cc files include this
// header, so the store's public headers do not pull in prometheus-cpp.
//
// The members are prometheus-cpp objects, which are thread-safe.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace boxcar::store {

struct StoreMetrics {
  explicit StoreMetrics(prometheus::Registry& registry);

  prometheus::Family<prometheus::Counter>& reads;
  // Series of the read path, looked up once: Family::Add hashes its labels on every call.
  prometheus::Counter& read_hits;
  prometheus::Counter& read_misses;
  prometheus::Counter& read_absent;
  prometheus::Family<prometheus::Counter>& writes;
  prometheus::Family<prometheus::Counter>& corrupt;
  prometheus::Family<prometheus::Counter>& moves;
  prometheus::Family<prometheus::Gauge>& tier_gauges;
  prometheus::Gauge& budget;
  prometheus::Gauge& used;
  prometheus::Counter& read_groups;
  prometheus::Counter& shrinks;
  prometheus::Counter& refusals;
  prometheus::Family<prometheus::Gauge>& breaker_state;
  prometheus::Family<prometheus::Counter>& breaker_changes;
};

}  // namespace boxcar::store
