// Figures one worker thread collects; merged across threads for the report.
//
// Thread safety: none; each worker owns its Stats until it has finished running.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "histogram.h"
#include "options.h"

namespace boxcar::loadgen {

enum class FailureKind : uint8_t {
  kConnect = 0,  // a connect attempt failed
  kTransport,    // read/write error, or the peer closed with requests unanswered
  kTimeout,      // no response within --timeout-ms
  kStatus,       // a status the request kind does not expect
  kStreamError,  // a chunked response ended with an X-Stream-Error trailer
  kProtocol,     // the response could not be parsed
};
inline constexpr int kFailureKinds = 6;
const char* FailureKindName(FailureKind kind);

struct Stats {
  uint64_t requests = 0;   // measured requests that finished: answered or failed
  uint64_t responses = 0;  // measured requests that got a complete response
  std::array<uint64_t, kRequestKinds> requests_by_kind{};
  std::array<uint64_t, 1000> status_counts{};  // by status code
  std::array<uint64_t, kFailureKinds> failures{};
  uint64_t rx_bytes = 0;            // bytes read inside the measured window
  uint64_t tx_bytes = 0;            // bytes written inside the measured window
  uint64_t server_closes = 0;       // the server closed a connection; it was reopened
  uint64_t connects = 0;            // successful connects, including reconnects
  uint64_t in_flight_at_end = 0;    // sent but unanswered when the run stopped (not counted)
  uint64_t unsent_at_end = 0;       // open loop: due but never sent when the run stopped
  Histogram latency;                // microseconds, over complete responses
  std::string first_connect_error;  // the first connect failure's message, if any

  uint64_t TotalFailures() const;
  void Merge(const Stats& other);
};

}  // namespace boxcar::loadgen
