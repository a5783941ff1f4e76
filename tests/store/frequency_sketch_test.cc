// FrequencySketch: estimates never undercount, saturate at 255, and fade with aging.
#include "store/frequency_sketch.h"

#include <doctest/doctest.h>

#include <string>

namespace boxcar::store {
namespace {

TEST_CASE("frequency sketch: counts sightings, never fewer than happened") {
  FrequencySketch sketch(12);
  CHECK(sketch.Estimate("hot") == 0);
  for (uint32_t i = 1; i <= 5; ++i) CHECK(sketch.Increment("hot") >= i);
  CHECK(sketch.Estimate("hot") >= 5);
  CHECK(sketch.Estimate("hot") <= 6);  // four rows rarely all collide at this load
  CHECK(sketch.Estimate("cold") <= 1);
}

TEST_CASE("frequency sketch: counters saturate instead of wrapping") {
  FrequencySketch sketch(12);
  for (int i = 0; i < 300; ++i) sketch.Increment("k");
  CHECK(sketch.Estimate("k") == 255);
}

TEST_CASE("frequency sketch: counts halve after 10 x width additions, so old popularity fades") {
  FrequencySketch sketch(4);  // width 16: ages after 160 additions
  for (int i = 0; i < 40; ++i) sketch.Increment("old");
  const uint32_t before = sketch.Estimate("old");
  CHECK(before >= 40);
  for (int i = 0; i < 120; ++i) sketch.Increment("other-" + std::to_string(i % 3));
  CHECK(sketch.Estimate("old") <= before / 2 + 1);
}

}  // namespace
}  // namespace boxcar::store
