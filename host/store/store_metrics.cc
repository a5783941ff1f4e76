#include "store/store_metrics.h"

namespace boxcar::store {

StoreMetrics::StoreMetrics(prometheus::Registry& registry)
    : reads(prometheus::BuildCounter()
                .Name("boxcar_store_reads_total")
                .Help("Block reads below the top tier by tier and result (hit, miss, "
                      "absent: answered by the key cache or bloom filter without I/O)")
                .Register(registry)),
      read_hits(reads.Add({{"result", "hit"}})),
      read_misses(reads.Add({{"result", "miss"}})),
      read_absent(reads.Add({{"result", "absent"}})),
      writes(prometheus::BuildCounter()
                 .Name("boxcar_store_writes_total")
                 .Help("Blocks written by result (stored, rejected, failed)")
                 .Register(registry)),
      corrupt(prometheus::BuildCounter()
                  .Name("boxcar_store_corruption_total")
                  .Help("Blocks that failed verification, by tier; their bytes were not returned")
                  .Register(registry)),
      moves(prometheus::BuildCounter()
                .Name("boxcar_store_moves_total")
                .Help("Blocks moved between tiers: promoted, demoted, demotion_dropped")
                .Register(registry)),
      tier_gauges(prometheus::BuildGauge()
                      .Name("boxcar_store_tier")
                      .Help("Tier statistics by slot, plugin and stat (entries, bytes, "
                            "capacity_bytes, hits, misses, evictions, rejected)")
                      .Register(registry)),
      budget(prometheus::BuildGauge()
                 .Name("boxcar_store_memory_budget_bytes")
                 .Help("The memory budget of memory tiers and buffers")
                 .Register(registry)
                 .Add({})),
      used(prometheus::BuildGauge()
               .Name("boxcar_store_memory_used_bytes")
               .Help("Bytes held by memory tiers plus bytes reserved for buffers")
               .Register(registry)
               .Add({})),
      read_groups(prometheus::BuildCounter()
                      .Name("boxcar_store_read_groups_total")
                      .Help("Groups of reads the batcher plugin formed in multi-gets")
                      .Register(registry)
                      .Add({})),
      shrinks(prometheus::BuildCounter()
                  .Name("boxcar_store_memory_shrinks_total")
                  .Help("Times the memory governor shrank the memory tiers")
                  .Register(registry)
                  .Add({})),
      refusals(prometheus::BuildCounter()
                   .Name("boxcar_store_memory_refusals_total")
                   .Help("Requests refused because the memory budget was exhausted")
                   .Register(registry)
                   .Add({})),
      breaker_state(prometheus::BuildGauge()
                        .Name("boxcar_store_breaker_state")
                        .Help("Circuit breaker of each persistent tier: 0 closed, 1 open, "
                              "2 half-open")
                        .Register(registry)),
      breaker_changes(prometheus::BuildCounter()
                          .Name("boxcar_store_breaker_transitions_total")
                          .Help("Circuit breaker state changes by tier and new state")
                          .Register(registry)) {}

}  // namespace boxcar::store
