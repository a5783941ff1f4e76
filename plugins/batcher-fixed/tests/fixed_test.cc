#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "boxcar/batcher.h"
#include "support/plugin_harness.h"

namespace {

using boxcar::Batcher;
using boxcar::PendingBatch;
using boxcar::testing::PluginUnderTest;

constexpr int64_t kNow = 5'000'000'000;

PendingBatch Group(size_t items, uint64_t bytes = 0, int64_t waited_ns = 0) {
  return PendingBatch{items, bytes, kNow - waited_ns, kNow};
}

}  // namespace

TEST_CASE("fixed: flushes when the group reaches max_items") {
  PluginUnderTest<Batcher> p(R"({"max_items": 8})");
  CHECK_FALSE(p->ShouldFlush(Group(1)));
  CHECK_FALSE(p->ShouldFlush(Group(7)));
  CHECK(p->ShouldFlush(Group(8)));
  CHECK(p->ShouldFlush(Group(9)));
}

TEST_CASE("fixed: flushes when the group reaches max_bytes") {
  PluginUnderTest<Batcher> p(R"({"max_bytes": 1000})");
  CHECK_FALSE(p->ShouldFlush(Group(1, 999)));
  CHECK(p->ShouldFlush(Group(1, 1000)));
}

TEST_CASE("fixed: flushes when the first read has waited max_delay_us") {
  PluginUnderTest<Batcher> p(R"({"max_delay_us": 200})");
  CHECK(p->MaxDelayNs() == 200'000);
  CHECK_FALSE(p->ShouldFlush(Group(1, 0, 199'999)));
  CHECK(p->ShouldFlush(Group(1, 0, 200'000)));
}

TEST_CASE("fixed: an empty group is never flushed") {
  PluginUnderTest<Batcher> p(R"({"max_delay_us": 0})");
  CHECK_FALSE(p->ShouldFlush(Group(0, 0, 1'000'000)));
  CHECK(p->ShouldFlush(Group(1)));
}

TEST_CASE("fixed: completed batches do not move the limits") {
  PluginUnderTest<Batcher> p(R"({"max_items": 8})");
  for (int i = 0; i < 10; ++i) p->OnBatchComplete(8, 8192, 10'000'000);
  CHECK_FALSE(p->ShouldFlush(Group(7)));
  CHECK(p->ShouldFlush(Group(8)));
}

TEST_CASE("fixed: tuned max_items and max_delay_us apply to the next call") {
  PluginUnderTest<Batcher> p(R"({"max_items": 8, "max_delay_us": 200})");
  p.harness().SetTunable("max_items", 4);
  CHECK(p->ShouldFlush(Group(4)));
  p.harness().SetTunable("max_items", 16);
  CHECK_FALSE(p->ShouldFlush(Group(8)));

  p.harness().SetTunable("max_delay_us", 50);
  CHECK(p->MaxDelayNs() == 50'000);
  CHECK(p->ShouldFlush(Group(1, 0, 50'000)));
}

TEST_CASE("fixed: the schema rejects bad params") {
  PluginUnderTest<Batcher> p;
  const std::pair<const char*, const char*> bad_params[] = {
      {"max_items", R"({"max_items": 0})"},        {"max_bytes", R"({"max_bytes": 0})"},
      {"max_delay_us", R"({"max_delay_us": -1})"}, {"max_delay_us", R"({"max_delay_us": "soon"})"},
      {"max_item", R"({"max_item": 4})"},
  };
  for (const auto& [param, params] : bad_params) {
    CAPTURE(params);
    CHECK(p.harness().CreateError(params).find(param) != std::string::npos);
  }
  CHECK(p.harness().CreateError(R"({"max_items": 4, "max_delay_us": 0})").empty());
  CHECK(p.harness().faults() == 0);
}
