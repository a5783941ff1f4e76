#include "exchange/server_metrics.h"

namespace boxcar::exchange {

ServerMetrics::ServerMetrics(prometheus::Registry& registry)
    : wants_family(prometheus::BuildCounter()
                       .Name("boxcar_bitswap_wants_received_total")
                       .Help("Wantlist entries received, by type (block, have, cancel) and "
                             "those dropped (invalid_cid, overflow)")
                       .Register(registry)),
      replies_family(prometheus::BuildCounter()
                         .Name("boxcar_bitswap_replies_total")
                         .Help("What the server sent (block, have, dont_have), the block bytes "
                               "(bytes), and replies shed under overload (shed)")
                         .Register(registry)),
      ledger_family(prometheus::BuildGauge()
                        .Name("boxcar_bitswap_ledger")
                        .Help("The want ledger: peers with wants, and wants over all peers")
                        .Register(registry)),
      want_block(wants_family.Add({{"type", "block"}})),
      want_have(wants_family.Add({{"type", "have"}})),
      cancel(wants_family.Add({{"type", "cancel"}})),
      dropped_invalid(wants_family.Add({{"type", "invalid_cid"}})),
      dropped_overflow(wants_family.Add({{"type", "overflow"}})),
      blocks_sent(replies_family.Add({{"type", "block"}})),
      haves_sent(replies_family.Add({{"type", "have"}})),
      dont_haves_sent(replies_family.Add({{"type", "dont_have"}})),
      bytes_sent(replies_family.Add({{"type", "bytes"}})),
      shed(replies_family.Add({{"type", "shed"}})),
      ledger_peers(ledger_family.Add({{"size", "peers"}})),
      ledger_wants(ledger_family.Add({{"size", "wants"}})) {}

void ServerMetrics::Wants(const bitswap::Message& message, const bitswap::LedgerUpdate& update) {
  uint64_t blocks = 0, haves = 0, cancels = 0;
  for (const bitswap::WantEntry& want : message.wants) {
    if (want.cancel) {
      ++cancels;
    } else if (want.type == bitswap::WantType::kHave) {
      ++haves;
    } else {
      ++blocks;
    }
  }
  want_block.Increment(static_cast<double>(blocks));
  want_have.Increment(static_cast<double>(haves));
  cancel.Increment(static_cast<double>(cancels));
  dropped_invalid.Increment(static_cast<double>(update.dropped_invalid_cids));
  dropped_overflow.Increment(static_cast<double>(update.dropped_overflow));
}

void ServerMetrics::Ledger(size_t peers, size_t wants) {
  ledger_peers.Set(static_cast<double>(peers));
  ledger_wants.Set(static_cast<double>(wants));
}

}  // namespace boxcar::exchange
