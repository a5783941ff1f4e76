// CircuitBreaker: fails calls to a struggling persistent tier fast instead of letting every request
// wait on it, and lets traffic back gradually once it recovers.
//
// States:
//   closed     Every call is allowed. `failure_threshold` consecutive failures (a success resets
//              the count) open the breaker.
//   open       Every call is refused until the open period has passed; Allow reports how long
//              is left. The first Allow after that moves to half-open.
//   half-open  A share of calls is allowed, rising linearly from kRampStartPermille (5%) when
//              half-open begins to 100% after `recovery_ns`. The first call is always allowed as
//              a probe. Admission is counter-based, not random: every call adds the current
//              share to a credit, and a call is allowed when the credit reaches one whole call,
//              so the outcome is exact for a given sequence of calls and times. Any failure
//              reopens the breaker with the open period doubled, up to `max_open_ns`. A success
//              once the share has reached 100% closes it, and the open period starts again at
//              `open_ns`.
//
// While open, OnSuccess and OnFailure are ignored: they report calls allowed before it opened.
//
// Time is the caller's: every method takes `now_ns` from one monotonic clock, so tests drive it.
// The open -> half-open move happens in Allow, so state() reports kOpen until an Allow after the
// open period.
//
// Thread safety: all methods may be called concurrently. In the closed state Allow is one atomic
// load and OnSuccess at most two, with no lock; OnFailure and every call in the other states take a
// mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "boxcar/status.h"

namespace boxcar::store {

struct BreakerOptions {
  // Consecutive failures that open a closed breaker; a success resets the count.
  int failure_threshold = 5;
  // The first open period; it doubles on each failed recovery, up to max_open_ns.
  int64_t open_ns = 1'000'000'000;
  int64_t max_open_ns = 30'000'000'000;
  // How long the half-open ramp takes to go from kRampStartPermille to every call.
  int64_t recovery_ns = 5'000'000'000;
};

// Bounds of every duration in BreakerOptions, so the arithmetic on them cannot overflow.
inline constexpr int64_t kMaxBreakerDurationNs = 86'400'000'000'000;  // one day

// OK, or InvalidArgument naming the first field out of range and its bounds. Callers validate
// configured options with it; CircuitBreaker itself clamps whatever it is given into range.
Status ValidateBreakerOptions(const BreakerOptions& options);

enum class BreakerState : uint8_t { kClosed, kOpen, kHalfOpen };

// "closed", "open" or "half-open".
const char* BreakerStateName(BreakerState state);

class CircuitBreaker {
 public:
  // Share of calls allowed when half-open begins, in thousandths.
  static constexpr int64_t kRampStartPermille = 50;

  // Called for every state change, with a reason for the log (e.g. "5 consecutive failures, last:
  // IOError: disk gone; open for 1000 ms"). Called without the breaker's lock, from inside the
  // Allow, OnSuccess or OnFailure call that made the change or a concurrent one that also made one,
  // one change at a time and in the order the changes happened. It may call state() and name(), but
  // not Allow, OnSuccess, OnFailure or Reconfigure of the same breaker (that deadlocks). It must
  // not throw, and should be short: a caller waits for it.
  using Listener =
      std::function<void(BreakerState from, BreakerState to, const std::string& reason)>;

  // `options` are clamped into range (see ValidateBreakerOptions). `on_change` may be empty.
  CircuitBreaker(std::string name, BreakerOptions options, Listener on_change);

  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  // May a call go to the tier at `now_ns`? When not, the caller fails fast, and (unless
  // `retry_after_ns` is null) *retry_after_ns is how long until a retry may pass: the rest of the
  // open period, or when half-open, the rest of the ramp (a retry may pass earlier). Every allowed
  // call must be followed by OnSuccess or OnFailure.
  bool Allow(int64_t now_ns, int64_t* retry_after_ns);

  // The tier answered an allowed call. A NotFound is a success: the tier works.
  void OnSuccess(int64_t now_ns);
  // The tier failed an allowed call; `what` is the error, quoted in the transition's reason.
  void OnFailure(int64_t now_ns, std::string_view what);

  BreakerState state() const { return state_.load(std::memory_order_acquire); }
  const std::string& name() const { return name_; }

  // Applies new options (clamped) without changing the state. A running open period keeps its end;
  // thresholds, periods and the ramp use the new values from the next decision on.
  void Reconfigure(BreakerOptions options);

 private:
  struct Change {
    BreakerState from;
    BreakerState to;
    std::string reason;
  };

  // The helpers below run with mutex_ held and queue their change in pending_.
  void Open(int64_t now_ns, int64_t period_ns, std::string reason);
  void EnterHalfOpen(int64_t now_ns);
  void Close(int64_t now_ns);
  bool AdmitHalfOpen(int64_t now_ns, int64_t* retry_after_ns);
  int64_t RampPermille(int64_t now_ns) const;
  void SetState(BreakerState to, std::string reason);

  // Reports queued changes to the listener, in order, without mutex_ held.
  void NotifyPending();

  const std::string name_;
  const Listener on_change_;

  std::atomic<BreakerState> state_{BreakerState::kClosed};
  // Consecutive failures while closed; reset without the lock by OnSuccess.
  std::atomic<int> failures_{0};

  std::mutex mutex_;
  BreakerOptions options_;          // guarded by mutex_
  int64_t open_period_ns_ = 0;      // guarded by mutex_; the current or last open period
  int64_t open_until_ns_ = 0;       // guarded by mutex_; valid while open
  int64_t half_open_since_ns_ = 0;  // guarded by mutex_; valid while half-open
  int64_t credit_permille_ = 0;     // guarded by mutex_; admission credit while half-open
  uint64_t probes_ok_ = 0;          // guarded by mutex_; successes in this half-open period
  std::vector<Change> pending_;     // guarded by mutex_; changes not yet reported

  // Held while reporting, so changes reach the listener one at a time and in order.
  std::mutex notify_mutex_;
};

}  // namespace boxcar::store
