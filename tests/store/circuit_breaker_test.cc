// CircuitBreaker: transitions at exact times, backoff, the half-open ramp, the listener, and a
// concurrent smoke test.
#include "store/circuit_breaker.h"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace boxcar::store {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1000 * kMs;

struct Change {
  BreakerState from;
  BreakerState to;
  std::string reason;
};

// A breaker whose listener records every change.
class Recorded {
 public:
  explicit Recorded(BreakerOptions options = {})
      : breaker_("test", options, [this](BreakerState from, BreakerState to, const std::string& r) {
          changes_.push_back(Change{from, to, r});
        }) {}

  CircuitBreaker* operator->() { return &breaker_; }
  const std::vector<Change>& changes() const { return changes_; }

  void Fail(int64_t now_ns, int times = 1) {
    for (int i = 0; i < times; ++i) breaker_.OnFailure(now_ns, "IOError: disk gone");
  }

  // Allows calls at `now_ns` until one passes; returns how many were refused first.
  int RefusedBeforeNextAllowed(int64_t now_ns) {
    int refused = 0;
    int64_t retry = 0;
    while (!breaker_.Allow(now_ns, &retry)) ++refused;
    return refused;
  }

 private:
  std::vector<Change> changes_;
  CircuitBreaker breaker_;
};

// Opens a breaker with default options at `now_ns`, then lets the open period pass and moves it to
// half-open with the probe call; returns the time half-open began.
int64_t OpenThenHalfOpen(Recorded& b, int64_t now_ns) {
  b.Fail(now_ns, 5);
  REQUIRE(b->state() == BreakerState::kOpen);
  const int64_t half_open_at = now_ns + kSec;
  REQUIRE(b->Allow(half_open_at, nullptr));
  REQUIRE(b->state() == BreakerState::kHalfOpen);
  return half_open_at;
}

TEST_CASE("breaker: state names") {
  CHECK(std::string(BreakerStateName(BreakerState::kClosed)) == "closed");
  CHECK(std::string(BreakerStateName(BreakerState::kOpen)) == "open");
  CHECK(std::string(BreakerStateName(BreakerState::kHalfOpen)) == "half-open");
}

TEST_CASE("breaker: opens after the threshold of consecutive failures") {
  Recorded b;
  b.Fail(0, 4);
  CHECK(b->state() == BreakerState::kClosed);
  CHECK(b->Allow(0, nullptr));
  b->OnSuccess(0);  // resets the count
  b.Fail(0, 4);
  CHECK(b->state() == BreakerState::kClosed);
  b.Fail(7 * kMs);
  CHECK(b->state() == BreakerState::kOpen);
  REQUIRE(b.changes().size() == 1);
  CHECK(b.changes()[0].from == BreakerState::kClosed);
  CHECK(b.changes()[0].to == BreakerState::kOpen);
  CHECK(b.changes()[0].reason ==
        "5 consecutive failures, last: IOError: disk gone; open for 1000 ms");
}

TEST_CASE("breaker: open refuses until the period has passed, with the time left") {
  Recorded b;
  b.Fail(10 * kMs, 5);
  int64_t retry = -1;
  CHECK_FALSE(b->Allow(10 * kMs, &retry));
  CHECK(retry == kSec);
  CHECK_FALSE(b->Allow(10 * kMs + kSec - 1, &retry));
  CHECK(retry == 1);
  CHECK_FALSE(b->Allow(500 * kMs, nullptr));  // a null retry pointer is fine
  CHECK(b->state() == BreakerState::kOpen);

  CHECK(b->Allow(10 * kMs + kSec, &retry));  // the probe
  CHECK(b->state() == BreakerState::kHalfOpen);
  REQUIRE(b.changes().size() == 2);
  CHECK(b.changes()[1].from == BreakerState::kOpen);
  CHECK(b.changes()[1].to == BreakerState::kHalfOpen);
  CHECK(b.changes()[1].reason ==
        "open period of 1000 ms over; letting 5% of "
        "calls through, rising to all in 5000 ms");
}

TEST_CASE("breaker: results reported while open are ignored") {
  Recorded b;
  b.Fail(0, 5);
  b->OnSuccess(kMs);
  b.Fail(2 * kMs, 100);
  CHECK(b->state() == BreakerState::kOpen);
  int64_t retry = 0;
  CHECK_FALSE(b->Allow(kSec - 1, &retry));
  CHECK(retry == 1);  // the period was not extended
  CHECK(b.changes().size() == 1);
}

TEST_CASE("breaker: failed recoveries double the open period up to the cap") {
  Recorded b;
  int64_t now = 0;
  b.Fail(now, 5);
  const int64_t expected_periods[] = {2 * kSec,  4 * kSec,  8 * kSec,
                                      16 * kSec, 30 * kSec, 30 * kSec};
  int64_t period = kSec;
  for (int64_t expected : expected_periods) {
    now += period;
    REQUIRE(b->Allow(now, nullptr));
    REQUIRE(b->state() == BreakerState::kHalfOpen);
    b->OnFailure(now, "IOError: still gone");
    REQUIRE(b->state() == BreakerState::kOpen);
    int64_t retry = 0;
    CHECK_FALSE(b->Allow(now, &retry));
    CHECK(retry == expected);
    CHECK_FALSE(b->Allow(now + expected - 1, nullptr));
    period = expected;
  }
  CHECK(b.changes().back().reason ==
        "failed while half-open after 0 successful calls: IOError: still gone; "
        "open for 30000 ms");
}

TEST_CASE("breaker: recovery closes it and resets the open period") {
  Recorded b;
  const int64_t t0 = OpenThenHalfOpen(b, 0);
  b->OnSuccess(t0);
  b.Fail(t0 + kMs);  // a failed recovery: the next period is 2 s
  REQUIRE(b->Allow(t0 + kMs + 2 * kSec, nullptr));
  const int64_t t1 = t0 + kMs + 2 * kSec;

  b->OnSuccess(t1 + 5 * kSec - 1);  // the ramp is not complete yet
  CHECK(b->state() == BreakerState::kHalfOpen);
  b->OnSuccess(t1 + 5 * kSec);
  CHECK(b->state() == BreakerState::kClosed);
  CHECK(b.changes().back().reason == "recovered: 2 successful calls in 5000 ms half-open");

  b.Fail(t1 + 6 * kSec, 5);
  int64_t retry = 0;
  CHECK_FALSE(b->Allow(t1 + 6 * kSec, &retry));
  CHECK(retry == kSec);  // back to open_ns
}

TEST_CASE("breaker: the half-open share ramps linearly and exactly") {
  Recorded b;
  const int64_t t0 = OpenThenHalfOpen(b, 0);

  SUBCASE("5% at the start: every 20th call") {
    CHECK(b.RefusedBeforeNextAllowed(t0) == 18);  // the probe was the first of these twenty
    for (int round = 0; round < 5; ++round) CHECK(b.RefusedBeforeNextAllowed(t0) == 19);
  }

  SUBCASE("refused calls are told when the ramp ends") {
    int64_t retry = 0;
    CHECK_FALSE(b->Allow(t0 + kSec, &retry));
    CHECK(retry == 4 * kSec);
  }

  SUBCASE("52.5% halfway") {
    const int64_t mid = t0 + 2500 * kMs;
    int allowed = 0;
    for (int i = 0; i < 1000; ++i) allowed += b->Allow(mid, nullptr) ? 1 : 0;
    CHECK(allowed == 525);
  }

  SUBCASE("24% at a fifth of the ramp") {
    const int64_t fifth = t0 + kSec;
    int allowed = 0;
    for (int i = 0; i < 1000; ++i) allowed += b->Allow(fifth, nullptr) ? 1 : 0;
    CHECK(allowed == 240);
  }

  SUBCASE("every call at the end") {
    for (int i = 0; i < 100; ++i) CHECK(b->Allow(t0 + 5 * kSec, nullptr));
    CHECK(b->state() == BreakerState::kHalfOpen);  // until a success reports in
  }
}

TEST_CASE("breaker: a zero recovery time closes on the first success") {
  Recorded b({.failure_threshold = 1, .open_ns = kSec, .max_open_ns = kSec, .recovery_ns = 0});
  b.Fail(0);
  REQUIRE(b->Allow(kSec, nullptr));
  for (int i = 0; i < 10; ++i) CHECK(b->Allow(kSec, nullptr));
  b->OnSuccess(kSec);
  CHECK(b->state() == BreakerState::kClosed);
}

TEST_CASE("breaker: the listener may read the state and sees every change in order") {
  std::vector<std::string> seen;
  CircuitBreaker* self = nullptr;
  CircuitBreaker b("tier1", {.failure_threshold = 1, .recovery_ns = 0},
                   [&](BreakerState from, BreakerState to, const std::string&) {
                     CHECK(self->state() == to);
                     seen.push_back(std::string(self->name()) + ": " + BreakerStateName(from) +
                                    " -> " + BreakerStateName(to));
                   });
  self = &b;
  b.OnFailure(0, "x");
  REQUIRE(b.Allow(kSec, nullptr));
  b.OnSuccess(kSec);
  CHECK(seen == std::vector<std::string>{"tier1: closed -> open", "tier1: open -> half-open",
                                         "tier1: half-open -> closed"});
}

TEST_CASE("breaker: works without a listener") {
  CircuitBreaker b("quiet", {.failure_threshold = 2}, nullptr);
  b.OnFailure(0, "x");
  b.OnFailure(0, "x");
  CHECK(b.state() == BreakerState::kOpen);
  CHECK_FALSE(b.Allow(0, nullptr));
}

TEST_CASE("breaker: Reconfigure keeps the state and applies from the next decision") {
  Recorded b;
  b.Fail(0, 3);
  b->Reconfigure({.failure_threshold = 4, .open_ns = 3 * kSec, .max_open_ns = 5 * kSec});
  CHECK(b->state() == BreakerState::kClosed);
  b.Fail(0);  // the count survived: 4 failures
  CHECK(b->state() == BreakerState::kOpen);
  int64_t retry = 0;
  CHECK_FALSE(b->Allow(0, &retry));
  CHECK(retry == 3 * kSec);

  b->Reconfigure({.open_ns = kSec, .max_open_ns = 10 * kSec});
  CHECK(b->state() == BreakerState::kOpen);
  CHECK_FALSE(b->Allow(3 * kSec - 1, nullptr));  // the running period keeps its end
  CHECK(b->Allow(3 * kSec, nullptr));
  b.Fail(3 * kSec);
  CHECK_FALSE(b->Allow(3 * kSec, &retry));
  CHECK(retry == 6 * kSec);  // 3 s doubled, under the new cap
}

TEST_CASE(
    "breaker: out-of-range options are clamped, and validation names the "
    "field") {
  CircuitBreaker b("clamped", {.failure_threshold = 0, .open_ns = -5, .max_open_ns = -9}, nullptr);
  b.OnFailure(0, "x");  // a threshold of 0 acts as 1
  CHECK(b.state() == BreakerState::kOpen);
  CHECK(b.Allow(0, nullptr));  // an open period of 0

  CHECK(ValidateBreakerOptions({}).ok());
  Status s = ValidateBreakerOptions({.failure_threshold = 0});
  CHECK(s.code() == Status::Code::kInvalidArgument);
  CHECK(s.message() == "failure_threshold must be between 1 and 1000000, found 0");
  s = ValidateBreakerOptions({.recovery_ns = -1});
  CHECK(s.message() ==
        "recovery_ns must be between 0 and 86400000000000 ns "
        "(one day), found -1");
  s = ValidateBreakerOptions({.open_ns = 2 * kSec, .max_open_ns = kSec});
  CHECK(s.message() == "max_open_ns (1000000000) must not be less than open_ns (2000000000)");
}

TEST_CASE("breaker: concurrent callers see consistent transitions") {
  std::mutex mutex;
  std::vector<Change> changes;
  CircuitBreaker b(
      "busy",
      {.failure_threshold = 3, .open_ns = kMs, .max_open_ns = 4 * kMs, .recovery_ns = 2 * kMs},
      [&](BreakerState from, BreakerState to, const std::string& reason) {
        std::lock_guard lock(mutex);
        changes.push_back(Change{from, to, reason});
      });
  std::atomic<int64_t> clock{0};
  std::atomic<uint64_t> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        const int64_t now = clock.fetch_add(1000, std::memory_order_relaxed);
        if (!b.Allow(now, nullptr)) continue;
        allowed.fetch_add(1, std::memory_order_relaxed);
        // Alternating 10 ms phases of failures and successes cycle the breaker through its states.
        if ((now / (10 * kMs)) % 2 == 0) {
          b.OnFailure(now, "fault");
        } else {
          b.OnSuccess(now);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  CHECK(allowed.load() > 0);
  REQUIRE(changes.size() >= 3);
  CHECK(changes.front().from == BreakerState::kClosed);
  for (size_t i = 1; i < changes.size(); ++i) {
    CHECK(changes[i].from == changes[i - 1].to);
    CHECK(changes[i].from != changes[i].to);
  }
  CHECK(b.state() == changes.back().to);
  int closings = 0;
  for (const Change& change : changes) closings += change.to == BreakerState::kClosed ? 1 : 0;
  CHECK(closings >= 1);  // the success phases let it recover through half-open
}

}  // namespace
}  // namespace boxcar::store
