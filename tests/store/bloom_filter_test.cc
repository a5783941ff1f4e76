// BloomFilter: no false negatives, a false-positive rate near what bits_per_key promises, and
// concurrent adds and lookups.
#include "store/bloom_filter.h"

#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

namespace boxcar::store {
namespace {

std::string Key(int i) { return "block-" + std::to_string(i); }

TEST_CASE("bloom filter: every added key may be contained; others mostly are not") {
  constexpr int kKeys = 20000;
  BloomFilter filter(kKeys, 10);
  CHECK(filter.expected_keys() == kKeys);
  CHECK(filter.bytes() >= kKeys * 10 / 8);
  for (int i = 0; i < kKeys; ++i) filter.Add(Key(i));
  for (int i = 0; i < kKeys; ++i) REQUIRE(filter.MayContain(Key(i)));
  int false_positives = 0;
  for (int i = kKeys; i < 3 * kKeys; ++i) false_positives += filter.MayContain(Key(i));
  // 10 bits per key give about 1% in a classic filter; blocking costs a little more.
  CHECK(false_positives < 2 * kKeys * 3 / 100);
}

TEST_CASE("bloom filter: an empty filter contains nothing") {
  BloomFilter filter(0, 10);
  CHECK_FALSE(filter.MayContain("anything"));
  filter.Add("one");
  CHECK(filter.MayContain("one"));
}

TEST_CASE("bloom filter: concurrent adds are all seen") {
  BloomFilter filter(40000, 10);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < 40000; i += 4) filter.Add(Key(i));
    });
  }
  for (std::thread& t : threads) t.join();
  int missing = 0;
  for (int i = 0; i < 40000; ++i) missing += !filter.MayContain(Key(i));
  CHECK(missing == 0);
}

}  // namespace
}  // namespace boxcar::store
