#include "store/circuit_breaker.h"

#include <algorithm>
#include <utility>

namespace boxcar::store {
namespace {

constexpr int kMaxFailureThreshold = 1'000'000;
constexpr int64_t kWholeCallPermille = 1000;

std::string DurationText(int64_t ns) {
  if (ns >= 1'000'000 || ns == 0) return std::to_string(ns / 1'000'000) + " ms";
  return std::to_string(ns / 1000) + " us";
}

Status CheckDuration(const char* field, int64_t ns) {
  if (ns >= 0 && ns <= kMaxBreakerDurationNs) return Status::OK();
  return Status::InvalidArgument(std::string(field) + " must be between 0 and " +
                                 std::to_string(kMaxBreakerDurationNs) + " ns (one day), found " +
                                 std::to_string(ns));
}

BreakerOptions Clamped(BreakerOptions o) {
  o.failure_threshold = std::clamp(o.failure_threshold, 1, kMaxFailureThreshold);
  o.open_ns = std::clamp<int64_t>(o.open_ns, 0, kMaxBreakerDurationNs);
  o.max_open_ns = std::clamp<int64_t>(o.max_open_ns, o.open_ns, kMaxBreakerDurationNs);
  o.recovery_ns = std::clamp<int64_t>(o.recovery_ns, 0, kMaxBreakerDurationNs);
  return o;
}

}  // namespace

Status ValidateBreakerOptions(const BreakerOptions& options) {
  if (options.failure_threshold < 1 || options.failure_threshold > kMaxFailureThreshold) {
    return Status::InvalidArgument("failure_threshold must be between 1 and " +
                                   std::to_string(kMaxFailureThreshold) + ", found " +
                                   std::to_string(options.failure_threshold));
  }
  if (Status s = CheckDuration("open_ns", options.open_ns); !s.ok()) return s;
  if (Status s = CheckDuration("max_open_ns", options.max_open_ns); !s.ok()) return s;
  if (Status s = CheckDuration("recovery_ns", options.recovery_ns); !s.ok()) return s;
  if (options.max_open_ns < options.open_ns) {
    return Status::InvalidArgument("max_open_ns (" + std::to_string(options.max_open_ns) +
                                   ") must not be less than open_ns (" +
                                   std::to_string(options.open_ns) + ")");
  }
  return Status::OK();
}

const char* BreakerStateName(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half-open";
  }
  return "unknown";
}

CircuitBreaker::CircuitBreaker(std::string name, BreakerOptions options, Listener on_change)
    : name_(std::move(name)), on_change_(std::move(on_change)), options_(Clamped(options)) {}

bool CircuitBreaker::Allow(int64_t now_ns, int64_t* retry_after_ns) {
  if (state_.load(std::memory_order_acquire) == BreakerState::kClosed) return true;
  bool allowed = true;
  bool changed = false;
  {
    std::lock_guard lock(mutex_);
    switch (state_.load(std::memory_order_relaxed)) {
      case BreakerState::kClosed:
        break;
      case BreakerState::kOpen:
        if (now_ns < open_until_ns_) {
          if (retry_after_ns != nullptr) *retry_after_ns = open_until_ns_ - now_ns;
          allowed = false;
          break;
        }
        EnterHalfOpen(now_ns);
        allowed = AdmitHalfOpen(now_ns, retry_after_ns);
        break;
      case BreakerState::kHalfOpen:
        allowed = AdmitHalfOpen(now_ns, retry_after_ns);
        break;
    }
    changed = !pending_.empty();
  }
  if (changed) NotifyPending();
  return allowed;
}

void CircuitBreaker::OnSuccess(int64_t now_ns) {
  if (state_.load(std::memory_order_acquire) == BreakerState::kClosed) {
    // Reads before writing, so healthy traffic does not bounce the cache line between cores.
    if (failures_.load(std::memory_order_relaxed) != 0) {
      failures_.store(0, std::memory_order_relaxed);
    }
    return;
  }
  bool changed = false;
  {
    std::lock_guard lock(mutex_);
    const BreakerState state = state_.load(std::memory_order_relaxed);
    if (state == BreakerState::kClosed) {
      failures_.store(0, std::memory_order_relaxed);
    } else if (state == BreakerState::kHalfOpen) {
      ++probes_ok_;
      if (RampPermille(now_ns) >= kWholeCallPermille) Close(now_ns);
    }
    changed = !pending_.empty();
  }
  if (changed) NotifyPending();
}

void CircuitBreaker::OnFailure(int64_t now_ns, std::string_view what) {
  bool changed = false;
  {
    std::lock_guard lock(mutex_);
    switch (state_.load(std::memory_order_relaxed)) {
      case BreakerState::kClosed: {
        const int failures = failures_.fetch_add(1, std::memory_order_relaxed) + 1;
        if (failures >= options_.failure_threshold) {
          Open(now_ns, options_.open_ns,
               std::to_string(failures) + " consecutive failures, last: " + std::string(what));
        }
        break;
      }
      case BreakerState::kHalfOpen: {
        const int64_t doubled = std::max(open_period_ns_ * 2, options_.open_ns);
        Open(now_ns, std::min(doubled, options_.max_open_ns),
             "failed while half-open after " + std::to_string(probes_ok_) +
                 " successful calls: " + std::string(what));
        break;
      }
      case BreakerState::kOpen:
        break;
    }
    changed = !pending_.empty();
  }
  if (changed) NotifyPending();
}

void CircuitBreaker::Reconfigure(BreakerOptions options) {
  std::lock_guard lock(mutex_);
  options_ = Clamped(options);
}

void CircuitBreaker::Open(int64_t now_ns, int64_t period_ns, std::string reason) {
  open_period_ns_ = period_ns;
  open_until_ns_ = now_ns + period_ns;
  failures_.store(0, std::memory_order_relaxed);
  SetState(BreakerState::kOpen, std::move(reason) + "; open for " + DurationText(period_ns));
}

void CircuitBreaker::EnterHalfOpen(int64_t now_ns) {
  half_open_since_ns_ = now_ns;
  credit_permille_ = kWholeCallPermille;  // the first call is the probe
  probes_ok_ = 0;
  SetState(BreakerState::kHalfOpen,
           "open period of " + DurationText(open_period_ns_) + " over; letting " +
               std::to_string(kRampStartPermille / 10) + "% of calls through, rising to all in " +
               DurationText(options_.recovery_ns));
}

void CircuitBreaker::Close(int64_t now_ns) {
  const int64_t ramp_ns = now_ns - half_open_since_ns_;
  open_period_ns_ = 0;
  failures_.store(0, std::memory_order_relaxed);
  SetState(BreakerState::kClosed, "recovered: " + std::to_string(probes_ok_) +
                                      " successful calls in " + DurationText(ramp_ns) +
                                      " half-open");
}

bool CircuitBreaker::AdmitHalfOpen(int64_t now_ns, int64_t* retry_after_ns) {
  credit_permille_ += RampPermille(now_ns);
  if (credit_permille_ >= kWholeCallPermille) {
    credit_permille_ -= kWholeCallPermille;
    return true;
  }
  if (retry_after_ns != nullptr) {
    *retry_after_ns = half_open_since_ns_ + options_.recovery_ns - now_ns;
  }
  return false;
}

int64_t CircuitBreaker::RampPermille(int64_t now_ns) const {
  const int64_t ramp_ns = options_.recovery_ns;
  if (ramp_ns == 0) return kWholeCallPermille;
  const int64_t elapsed = std::clamp<int64_t>(now_ns - half_open_since_ns_, 0, ramp_ns);
  // Both factors are bounded (one day, 1000), so the product fits in 64 bits.
  return kRampStartPermille + (kWholeCallPermille - kRampStartPermille) * elapsed / ramp_ns;
}

void CircuitBreaker::SetState(BreakerState to, std::string reason) {
  const BreakerState from = state_.load(std::memory_order_relaxed);
  state_.store(to, std::memory_order_release);
  if (on_change_) pending_.push_back(Change{from, to, std::move(reason)});
}

void CircuitBreaker::NotifyPending() {
  std::lock_guard notify(notify_mutex_);
  std::vector<Change> changes;
  {
    std::lock_guard lock(mutex_);
    changes.swap(pending_);
  }
  for (const Change& change : changes) on_change_(change.from, change.to, change.reason);
}

}  // namespace boxcar::store
