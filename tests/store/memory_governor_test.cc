// MemoryGovernor over a fake set of memory tiers: reservations, admission as a ceiling, the
// high/low water shrink, and the cgroup limit.
#include "store/memory_governor.h"

#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "support/temp_dir.h"

namespace boxcar::store {
namespace {

// Memory tiers as a byte count: ShrinkTo gives back what is asked for.
class FakeMemory final : public ShrinkableMemory {
 public:
  uint64_t CachedBytes() override { return cached.load(); }
  uint64_t ShrinkTo(uint64_t target) override {
    ++shrink_calls;
    if (cached.load() > target) cached.store(target);
    return cached.load();
  }
  std::atomic<uint64_t> cached{0};
  std::atomic<int> shrink_calls{0};
};

constexpr uint64_t kMiB = 1 << 20;

TEST_CASE("memory governor: reservations count until released and refuse past the budget") {
  FakeMemory memory;
  MemoryGovernor governor(10 * kMiB, &memory);
  CHECK(governor.budget() == 10 * kMiB);
  {
    Reservation a;
    REQUIRE(governor.Reserve(6 * kMiB, "buffer a", &a).ok());
    CHECK(governor.reserved() == 6 * kMiB);
    Reservation b;
    const Status refused = governor.Reserve(5 * kMiB, "buffer b", &b);
    CHECK(refused.IsBusy());
    CHECK(refused.message().find("buffer b needs 5 MiB") != std::string::npos);
    CHECK(governor.refusals() == 1);
    Reservation moved = std::move(a);
    CHECK(governor.reserved() == 6 * kMiB);
  }
  CHECK(governor.reserved() == 0);
}

TEST_CASE("memory governor: a reservation shrinks the caches to make room") {
  FakeMemory memory;
  memory.cached = 8 * kMiB;
  MemoryGovernor governor(10 * kMiB, &memory);
  Reservation r;
  REQUIRE(governor.Reserve(4 * kMiB, "a block", &r).ok());
  CHECK(memory.cached.load() + governor.reserved() <= 10 * kMiB);
  CHECK(governor.used() <= 10 * kMiB);
}

TEST_CASE("memory governor: Rebalance shrinks past 90% to 80% and leaves a lower usage alone") {
  FakeMemory memory;
  MemoryGovernor governor(100 * kMiB, &memory, "/nonexistent");
  memory.cached = 85 * kMiB;
  CHECK(governor.Rebalance() == 0);
  memory.cached = 95 * kMiB;
  CHECK(governor.Rebalance() == 15 * kMiB);
  CHECK(memory.cached.load() == 80 * kMiB);
  CHECK(governor.shrinks() == 1);
}

TEST_CASE("memory governor: Admit runs the put only within the budget, shrinking first") {
  FakeMemory memory;
  MemoryGovernor governor(10 * kMiB, &memory);
  bool ran = false;
  auto put = [&](uint64_t bytes) {
    return [&, bytes] {
      ran = true;
      memory.cached += bytes;
      return Status::OK();
    };
  };
  REQUIRE(governor.Admit(6 * kMiB, put(6 * kMiB)).ok());
  CHECK(ran);
  REQUIRE(governor.Admit(6 * kMiB, put(6 * kMiB)).ok());  // the first 6 MiB shrank to 4
  CHECK(memory.cached.load() == 10 * kMiB);
  Reservation r;
  REQUIRE(governor.Reserve(9 * kMiB, "a buffer", &r).ok());  // shrinks the cache to 1 MiB
  ran = false;
  CHECK(governor.Admit(2 * kMiB, put(2 * kMiB)).IsBusy());
  CHECK_FALSE(ran);
  CHECK(memory.cached.load() + governor.reserved() <= 10 * kMiB);
}

TEST_CASE("memory governor: concurrent admissions never pass the budget together") {
  FakeMemory memory;
  MemoryGovernor governor(4 * kMiB, &memory);
  std::atomic<uint64_t> max_seen{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        governor.Admit(256 << 10, [&] {
          memory.cached += 256 << 10;
          const uint64_t now = memory.cached.load();
          if (now > max_seen.load()) max_seen.store(now);
          return Status::OK();
        });
      }
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK(max_seen.load() <= 4 * kMiB);
}

TEST_CASE("memory governor: the automatic budget follows the cgroup limit") {
  boxcar::testing::TempDir dir;
  dir.Write("memory.max", "1073741824\n");
  CHECK(AutomaticBudget(dir.path().string()) <= 1073741824ull / 100 * 85);
  dir.Write("memory.max", "max\n");
  CHECK(AutomaticBudget(dir.path().string()) > 0);
  FakeMemory memory;
  MemoryGovernor automatic(0, &memory, dir.path().string());
  CHECK(automatic.budget() == AutomaticBudget(dir.path().string()));
}

TEST_CASE("memory governor: a cgroup near its limit shrinks the caches by a fifth") {
  boxcar::testing::TempDir dir;
  dir.Write("memory.max", "1000\n");
  dir.Write("memory.current", "950\n");
  FakeMemory memory;
  memory.cached = 10 * kMiB;
  MemoryGovernor governor(100 * kMiB, &memory, dir.path().string());
  governor.Rebalance();
  CHECK(memory.cached.load() == 8 * kMiB);
}

}  // namespace
}  // namespace boxcar::store
