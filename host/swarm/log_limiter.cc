#include "swarm/log_limiter.h"

#include <algorithm>

namespace boxcar::p2p {

LogLimiter::LogLimiter(int64_t per_key_interval_ns, int lines_per_second)
    : per_key_interval_ns_(per_key_interval_ns),
      lines_per_second_(lines_per_second),
      tokens_(lines_per_second) {}

bool LogLimiter::Allow(const std::string& key, int64_t now_ns, uint64_t* suppressed_since) {
  std::lock_guard lock(mu_);
  if (refilled_ns_ == 0) refilled_ns_ = now_ns;
  const double elapsed_s = static_cast<double>(now_ns - refilled_ns_) / 1e9;
  tokens_ = std::min<double>(lines_per_second_, tokens_ + elapsed_s * lines_per_second_);
  refilled_ns_ = now_ns;
  auto it = last_logged_.find(key);
  const bool key_quiet = it != last_logged_.end() && now_ns - it->second < per_key_interval_ns_;
  if (key_quiet || tokens_ < 1.0) {
    ++suppressed_since_;
    ++suppressed_total_;
    return false;
  }
  tokens_ -= 1.0;
  if (last_logged_.size() >= kMaxKeys) last_logged_.clear();
  last_logged_[key] = now_ns;
  *suppressed_since = suppressed_since_;
  suppressed_since_ = 0;
  return true;
}

uint64_t LogLimiter::suppressed_total() const {
  std::lock_guard lock(mu_);
  return suppressed_total_;
}

}  // namespace boxcar::p2p
