#include "exchange/client_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace boxcar::exchange {

struct ClientMetrics::Series {
  explicit Series(prometheus::Registry& registry)
      : blocks(prometheus::BuildCounter()
                   .Name("boxcar_bitswap_client_blocks_received_total")
                   .Help("Verified blocks received from Bitswap peers, duplicates included")
                   .Register(registry)
                   .Add({})),
        bytes(prometheus::BuildCounter()
                  .Name("boxcar_bitswap_client_bytes_received_total")
                  .Help("Bytes of verified blocks received from Bitswap peers")
                  .Register(registry)
                  .Add({})),
        duplicate_blocks(prometheus::BuildCounter()
                             .Name("boxcar_bitswap_client_duplicate_blocks_received_total")
                             .Help("Blocks received that nothing wanted any more (another peer "
                                   "delivered them first, or they were unsolicited)")
                             .Register(registry)
                             .Add({})),
        duplicate_bytes(prometheus::BuildCounter()
                            .Name("boxcar_bitswap_client_duplicate_bytes_received_total")
                            .Help("Bytes of the duplicate blocks")
                            .Register(registry)
                            .Add({})),
        bad_blocks(prometheus::BuildCounter()
                       .Name("boxcar_bitswap_client_bad_blocks_total")
                       .Help("Blocks whose data did not hash to their CID (the sender was "
                             "disconnected)")
                       .Register(registry)
                       .Add({})),
        fetches(prometheus::BuildHistogram()
                    .Name("boxcar_bitswap_client_fetch_seconds")
                    .Help("Time to fetch one block or one DAG, by kind and result")
                    .Register(registry)),
        peers(prometheus::BuildGauge()
                  .Name("boxcar_bitswap_client_peers")
                  .Help("Connected Bitswap peers by the client's quality state")
                  .Register(registry)),
        wants(prometheus::BuildGauge()
                  .Name("boxcar_bitswap_client_wants")
                  .Help("Blocks the client wants now")
                  .Register(registry)
                  .Add({})) {
    const prometheus::Histogram::BucketBoundaries bounds{
        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
    const char* kinds[] = {"block", "dag"};
    const char* results[] = {"ok", "error"};
    for (int k = 0; k < 2; ++k) {
      for (int r = 0; r < 2; ++r) {
        fetch[k][r] = &fetches.Add({{"kind", kinds[k]}, {"result", results[r]}}, bounds);
      }
    }
    for (int s = 0; s < kQualityStates; ++s) {
      by_state[s] = &peers.Add({{"state", QualityStateName(static_cast<QualityState>(s))}});
    }
  }

  prometheus::Counter& blocks;
  prometheus::Counter& bytes;
  prometheus::Counter& duplicate_blocks;
  prometheus::Counter& duplicate_bytes;
  prometheus::Counter& bad_blocks;
  prometheus::Family<prometheus::Histogram>& fetches;
  prometheus::Family<prometheus::Gauge>& peers;
  prometheus::Gauge& wants;
  prometheus::Histogram* fetch[2][2] = {};
  std::array<prometheus::Gauge*, kQualityStates> by_state{};
};

ClientMetrics::ClientMetrics(prometheus::Registry& registry)
    : series_(std::make_unique<Series>(registry)) {}
ClientMetrics::~ClientMetrics() = default;

void ClientMetrics::BlockReceived(uint64_t bytes) {
  series_->blocks.Increment();
  series_->bytes.Increment(static_cast<double>(bytes));
}

void ClientMetrics::DuplicateReceived(uint64_t bytes) {
  series_->duplicate_blocks.Increment();
  series_->duplicate_bytes.Increment(static_cast<double>(bytes));
}

void ClientMetrics::BadBlock() { series_->bad_blocks.Increment(); }

void ClientMetrics::FetchDone(FetchKind kind, bool ok, std::chrono::nanoseconds elapsed) {
  series_->fetch[kind == FetchKind::kDag ? 1 : 0][ok ? 0 : 1]->Observe(
      std::chrono::duration<double>(elapsed).count());
}

void ClientMetrics::PeersByState(const std::array<uint64_t, kQualityStates>& counts) {
  for (int s = 0; s < kQualityStates; ++s) {
    series_->by_state[s]->Set(static_cast<double>(counts[s]));
  }
}

void ClientMetrics::Wants(uint64_t count) { series_->wants.Set(static_cast<double>(count)); }

}  // namespace boxcar::exchange
