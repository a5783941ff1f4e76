#include "exchange/peer_quality.h"

#include <algorithm>

namespace boxcar::exchange {
namespace {

// Recent answers count most; about the last ten shape the average.
constexpr double kAlpha = 0.2;
constexpr double kTimeoutMultiplier = 3.0;
// Rates above these mark a peer: most of its wants time out, or many do.
constexpr double kFailingTimeoutRate = 0.5;
constexpr double kSlowTimeoutRate = 0.2;

double Blend(double average, double sample) { return average + kAlpha * (sample - average); }

}  // namespace

const char* QualityStateName(QualityState state) {
  switch (state) {
    case QualityState::kUnmeasured:
      return "unmeasured";
    case QualityState::kGood:
      return "good";
    case QualityState::kSlow:
      return "slow";
    case QualityState::kFailing:
      return "failing";
  }
  return "unknown";
}

void PeerQuality::OnAnswer(std::chrono::nanoseconds elapsed, bool dont_have, uint64_t bytes) {
  const double seconds = std::max(std::chrono::duration<double>(elapsed).count(), 1e-6);
  latency_s_ = samples_ == 0 ? seconds : Blend(latency_s_, seconds);
  dont_have_rate_ = Blend(dont_have_rate_, dont_have ? 1.0 : 0.0);
  timeout_rate_ = Blend(timeout_rate_, 0.0);
  ++samples_;
  if (bytes > 0) {
    const double rate = static_cast<double>(bytes) / seconds;
    throughput_bps_ = throughput_samples_ == 0 ? rate : Blend(throughput_bps_, rate);
    ++throughput_samples_;
  }
}

void PeerQuality::OnTimeout() { timeout_rate_ = Blend(timeout_rate_, 1.0); }

std::chrono::nanoseconds PeerQuality::Timeout() const {
  const std::chrono::nanoseconds min = limits_.min_timeout;
  const std::chrono::nanoseconds max = limits_.max_timeout;
  if (samples_ == 0) return std::clamp<std::chrono::nanoseconds>(limits_.initial_timeout, min, max);
  const auto scaled = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(latency_s_ * kTimeoutMultiplier));
  return std::clamp<std::chrono::nanoseconds>(scaled, min, max);
}

QualityState PeerQuality::State() const {
  if (bad_blocks_ > 0 || timeout_rate_ > kFailingTimeoutRate) return QualityState::kFailing;
  const double slow_s = std::chrono::duration<double>(limits_.slow_latency).count();
  if (timeout_rate_ > kSlowTimeoutRate || (samples_ > 0 && latency_s_ > slow_s)) {
    return QualityState::kSlow;
  }
  return samples_ == 0 ? QualityState::kUnmeasured : QualityState::kGood;
}

double PeerQuality::Rank() const {
  // A state outranks any latency; within a state the faster, more reliable peer goes first. An
  // unmeasured peer is tried after good ones but before slow ones, so new peers get measured.
  double base = 0;
  switch (State()) {
    case QualityState::kGood:
      base = 0;
      break;
    case QualityState::kUnmeasured:
      base = 1000;
      break;
    case QualityState::kSlow:
      base = 2000;
      break;
    case QualityState::kFailing:
      base = 3000;
      break;
  }
  // Latency is capped below the gap between states.
  return base + std::min(latency_s_, 100.0) * (1.0 + timeout_rate_ + dont_have_rate_);
}

}  // namespace boxcar::exchange
