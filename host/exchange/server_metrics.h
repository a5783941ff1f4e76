// The Bitswap server's Prometheus series: wants received by type, replies sent by type, block
// bytes sent, replies shed under overload, and the ledger's size.
//
// Thread safety: prometheus-cpp series are thread-safe; the struct is immutable after
// construction.
#pragma once

#include <cstdint>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "bitswap/ledger.h"
#include "bitswap/message.h"

namespace boxcar::exchange {

struct ServerMetrics {
  explicit ServerMetrics(prometheus::Registry& registry);

  void Wants(const bitswap::Message& message, const bitswap::LedgerUpdate& update);
  // A message went out carrying `blocks` blocks of `bytes` bytes and the rest as presences.
  template <typename Records>
  void Sent(const Records& records, uint64_t blocks, uint64_t bytes) {
    uint64_t haves = 0, dont_haves = 0;
    for (const auto& r : records) {
      if (r.reply == bitswap::Reply::kHave) ++haves;
      if (r.reply == bitswap::Reply::kDontHave) ++dont_haves;
    }
    blocks_sent.Increment(static_cast<double>(blocks));
    bytes_sent.Increment(static_cast<double>(bytes));
    haves_sent.Increment(static_cast<double>(haves));
    dont_haves_sent.Increment(static_cast<double>(dont_haves));
  }
  void Ledger(size_t peers, size_t wants);

  prometheus::Family<prometheus::Counter>& wants_family;
  prometheus::Family<prometheus::Counter>& replies_family;
  prometheus::Family<prometheus::Gauge>& ledger_family;
  prometheus::Counter& want_block;
  prometheus::Counter& want_have;
  prometheus::Counter& cancel;
  prometheus::Counter& dropped_invalid;
  prometheus::Counter& dropped_overflow;
  prometheus::Counter& blocks_sent;
  prometheus::Counter& haves_sent;
  prometheus::Counter& dont_haves_sent;
  prometheus::Counter& bytes_sent;
  prometheus::Counter& shed;
  prometheus::Gauge& ledger_peers;
  prometheus::Gauge& ledger_wants;
};

}  // namespace boxcar::exchange
