#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "boxcar/batcher.h"
#include "support/plugin_harness.h"

namespace {

using boxcar::Batcher;
using boxcar::PendingBatch;
using boxcar::PluginState;
using boxcar::testing::PluginUnderTest;

constexpr int64_t kUs = 1000;
constexpr int64_t kNow = 5'000'000'000;

// The batch limit: the smallest group the batcher flushes before any delay has passed.
size_t Limit(Batcher& b) {
  for (size_t items = 1; items <= 65536; ++items) {
    if (b.ShouldFlush(PendingBatch{items, 0, kNow, kNow})) return items;
  }
  FAIL("no group size flushes");
  return 0;
}

// Reports `count` batches as full as the current limit, each taking `latency_us`.
void CompleteFull(Batcher& b, int count, int64_t latency_us) {
  for (int i = 0; i < count; ++i) b.OnBatchComplete(Limit(b), 0, latency_us * kUs);
}

}  // namespace

TEST_CASE("adaptive: starts at initial_items") {
  PluginUnderTest<Batcher> p(R"({"initial_items": 12})");
  CHECK(Limit(*p) == 12);
  CHECK_FALSE(p->ShouldFlush(PendingBatch{0, 0, kNow, kNow}));
}

TEST_CASE("adaptive: grows by one item per full batch below the target, up to max_items") {
  PluginUnderTest<Batcher> p(
      R"({"target_latency_us": 1000, "smoothing": 1, "initial_items": 10, "max_items": 13})");
  CompleteFull(*p, 2, 500);
  CHECK(Limit(*p) == 12);
  CompleteFull(*p, 5, 500);
  CHECK(Limit(*p) == 13);
}

TEST_CASE("adaptive: a batch flushed before reaching the limit does not grow it") {
  PluginUnderTest<Batcher> p(R"({"target_latency_us": 1000, "smoothing": 1, "initial_items": 10})");
  for (int i = 0; i < 5; ++i) p->OnBatchComplete(3, 0, 100 * kUs);
  CHECK(Limit(*p) == 10);
}

TEST_CASE("adaptive: halves above the target, down to min_items") {
  PluginUnderTest<Batcher> p(
      R"({"target_latency_us": 1000, "smoothing": 1, "initial_items": 20, "min_items": 3})");
  CompleteFull(*p, 1, 5000);
  CHECK(Limit(*p) == 10);
  // A small batch that is still too slow shrinks it too: latency is what the limit answers to.
  p->OnBatchComplete(1, 0, 5000 * kUs);
  CHECK(Limit(*p) == 5);
  CompleteFull(*p, 3, 5000);
  CHECK(Limit(*p) == 3);
}

TEST_CASE("adaptive: after halving, waits for the average to catch up before halving again") {
  // Smoothing 0.25: the average needs about four batches to reflect a new size.
  PluginUnderTest<Batcher> p(
      R"({"target_latency_us": 1000, "smoothing": 0.25, "initial_items": 32})");
  CompleteFull(*p, 1, 5000);
  CHECK(Limit(*p) == 16);
  CompleteFull(*p, 3, 5000);
  CHECK(Limit(*p) == 16);
  CompleteFull(*p, 1, 5000);
  CHECK(Limit(*p) == 8);
}

TEST_CASE("adaptive: the EWMA smooths single outliers") {
  PluginUnderTest<Batcher> p(
      R"({"target_latency_us": 1000, "smoothing": 0.2, "initial_items": 10})");
  CompleteFull(*p, 1, 500);  // the first sample sets the average: 500 us
  CHECK(Limit(*p) == 11);
  CompleteFull(*p, 1, 2500);  // 0.2 * 2500 + 0.8 * 500 = 900 us, still under target
  CHECK(Limit(*p) == 12);
}

TEST_CASE("adaptive: a tuned target applies to the next completed batch") {
  PluginUnderTest<Batcher> p(R"({"target_latency_us": 1000, "smoothing": 1, "initial_items": 10})");
  CompleteFull(*p, 1, 2000);
  CHECK(Limit(*p) == 5);
  p.harness().SetTunable("target_latency_us", 3000);
  CompleteFull(*p, 1, 2000);
  CHECK(Limit(*p) == 6);
}

TEST_CASE("adaptive: flushes once the first read waited max_delay_us") {
  PluginUnderTest<Batcher> p(R"({"max_delay_us": 300, "initial_items": 50})");
  CHECK(p->MaxDelayNs() == 300 * kUs);
  CHECK_FALSE(p->ShouldFlush(PendingBatch{1, 0, kNow - 299 * kUs, kNow}));
  CHECK(p->ShouldFlush(PendingBatch{1, 0, kNow - 300 * kUs, kNow}));
}

TEST_CASE("adaptive: params that contradict each other are refused") {
  PluginUnderTest<Batcher> p;
  CHECK(p.harness()
            .CreateError(R"({"min_items": 10, "max_items": 5, "initial_items": 7})")
            .find("min_items") != std::string::npos);
  CHECK(p.harness()
            .CreateError(R"({"min_items": 2, "max_items": 8, "initial_items": 9})")
            .find("initial_items") != std::string::npos);
  CHECK(p.harness().CreateError(R"({"smoothing": 0})").find("smoothing") != std::string::npos);
  CHECK(p.harness().CreateError(R"({"smoothing": 1.5})").find("smoothing") != std::string::npos);
  CHECK(p.harness().CreateError(R"({"target_latency_us": 0})").find("target_latency_us") !=
        std::string::npos);
  CHECK(p.harness().CreateError(R"({"min_items": 2, "max_items": 8, "initial_items": 8})").empty());
  CHECK(p.harness().faults() == 0);
}

TEST_CASE("adaptive: Reconfigure moves the bounds and the delay in place") {
  PluginUnderTest<Batcher> p(R"({"initial_items": 20})");
  REQUIRE(p.harness().info().Has(boxcar::kReconfigure));
  REQUIRE(p->Reconfigure(p.harness().ParseParams(
                             R"({"max_items": 8, "initial_items": 4, "max_delay_us": 50})"))
              .ok());
  CHECK(Limit(*p) == 8);
  CHECK(p->MaxDelayNs() == 50 * kUs);

  const boxcar::Status refused = p->Reconfigure(
      p.harness().ParseParams(R"({"min_items": 9, "max_items": 8, "initial_items": 8})"));
  CHECK(refused.code() == boxcar::Status::Code::kInvalidArgument);
  CHECK(Limit(*p) == 8);
}

TEST_CASE("adaptive: learned state survives a swap") {
  PluginUnderTest<Batcher> p(R"({"target_latency_us": 1000, "smoothing": 1, "initial_items": 16})");
  REQUIRE(p.harness().info().Has(boxcar::kStateExport));
  CompleteFull(*p, 4, 500);
  REQUIRE(Limit(*p) == 20);
  PluginState state;
  REQUIRE(p->ExportState(&state).ok());
  CHECK(state.format == "batcher-adaptive/1");

  SUBCASE("the successor continues from the learned limit and average") {
    auto next = p.Another(R"({"target_latency_us": 1000, "smoothing": 0.5, "initial_items": 4})");
    REQUIRE(next->ImportState(state).ok());
    CHECK(Limit(*next) == 20);
    PluginState again;
    REQUIRE(next->ExportState(&again).ok());
    CHECK(again.data == state.data);
    // With the imported 500 us average, 0.5 * 1400 + 0.5 * 500 = 950 us is under the target;
    // a fresh average would be 1400 us and shrink the limit.
    CompleteFull(*next, 1, 1400);
    CHECK(Limit(*next) == 21);
  }
  SUBCASE("the imported limit is clamped to the successor's bounds") {
    auto next = p.Another(R"({"max_items": 10, "initial_items": 4})");
    REQUIRE(next->ImportState(state).ok());
    CHECK(Limit(*next) == 10);
  }
  SUBCASE("a state of another format is refused and the successor starts fresh") {
    auto next = p.Another(R"({"initial_items": 4})");
    CHECK(next->ImportState(PluginState{"batcher-adaptive/2", state.data}).IsNotSupported());
    CHECK(next->ImportState(PluginState{"tuner-aimd/1", state.data}).IsNotSupported());
    CHECK(Limit(*next) == 4);
  }
  SUBCASE("malformed state is refused and the successor starts fresh") {
    auto next = p.Another(R"({"initial_items": 4})");
    const char* const malformed[] = {
        "",
        "garbage",
        "current_items=12\n",
        "current_items=x\nlatency_ewma_ns=1\nsamples=1\n",
        "current_items=12\nlatency_ewma_ns=-5\nsamples=1\n",
    };
    for (const char* data : malformed) {
      CAPTURE(data);
      CHECK_FALSE(next->ImportState(PluginState{"batcher-adaptive/1", data}).ok());
    }
    CHECK(Limit(*next) == 4);
  }
  CHECK(p.harness().faults() == 0);
}

TEST_CASE("adaptive: concurrent ShouldFlush and OnBatchComplete keep the limit in bounds") {
  PluginUnderTest<Batcher> p(
      R"({"target_latency_us": 1000, "min_items": 2, "max_items": 40, "initial_items": 20})");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const size_t limit = Limit(*p);
        CHECK((limit >= 2 && limit <= 40));
        p->OnBatchComplete(limit, 0, (t % 2 == 0 ? 200 : 3000) * kUs);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const size_t limit = Limit(*p);
  CHECK((limit >= 2 && limit <= 40));
  CHECK(p.harness().faults() == 0);
}
