// PeerQuality: what the Bitswap client has learnt about one peer's service (seed 4.2), and the
// timeout its wants get.
//
//   latency     an EWMA of the time from a want to its answer (a HAVE, a DONT_HAVE or the block);
//   throughput  an EWMA of block bytes per second of want → block time;
//   dont_have   an EWMA of the share of answers that were DONT_HAVE;
//   timeouts    an EWMA of the share of wants that got no answer within Timeout().
//
// Timeout() follows the measured latency as Boxo's DontHaveTimeout does: 3 × the latency,
// clamped to [min_timeout, max_timeout]; before any sample, the initial timeout (Boxo waits 5 s
// for a peer it has not measured). State() sorts peers for the client's choice of route:
// a peer that sent a wrong block or keeps timing out is kFailing and asked last.
//
// Thread safety: none; the client owns one per peer on its own thread.
#pragma once

#include <chrono>
#include <cstdint>

namespace boxcar::exchange {

enum class QualityState { kUnmeasured, kGood, kSlow, kFailing };
inline constexpr int kQualityStates = 4;
const char* QualityStateName(QualityState state);

struct QualityLimits {
  std::chrono::milliseconds min_timeout{50};
  std::chrono::milliseconds max_timeout{7000};
  std::chrono::milliseconds initial_timeout{5000};
  // A peer whose latency passes this is kSlow.
  std::chrono::milliseconds slow_latency{1000};
};

class PeerQuality {
 public:
  explicit PeerQuality(QualityLimits limits = {}) : limits_(limits) {}

  // An answer to a want sent `elapsed` ago; `bytes` > 0 for a block.
  void OnAnswer(std::chrono::nanoseconds elapsed, bool dont_have, uint64_t bytes);
  // A want that got no answer within Timeout().
  void OnTimeout();
  // A block that did not hash to its CID: the peer is failing from now on.
  void OnBadBlock() { bad_blocks_++; }

  std::chrono::nanoseconds Timeout() const;
  QualityState State() const;
  // Lower is better: the order in which the client picks among peers that hold a block.
  double Rank() const;

  bool measured() const { return samples_ > 0; }
  double latency_seconds() const { return latency_s_; }
  double throughput_bytes_per_second() const { return throughput_bps_; }
  double dont_have_rate() const { return dont_have_rate_; }
  double timeout_rate() const { return timeout_rate_; }
  uint64_t bad_blocks() const { return bad_blocks_; }

 private:
  QualityLimits limits_;
  uint64_t samples_ = 0;
  uint64_t throughput_samples_ = 0;
  uint64_t bad_blocks_ = 0;
  double latency_s_ = 0;
  double throughput_bps_ = 0;
  double dont_have_rate_ = 0;
  double timeout_rate_ = 0;
};

}  // namespace boxcar::exchange
