// KeyCache: presence, absence, the 2Q eviction order, and the write tickets that keep a read
// racing a write or delete from caching a stale answer.
#include "store/key_cache.h"

#include <doctest/doctest.h>

#include <string>

namespace boxcar::store {
namespace {

std::string Key(int i) { return "key-" + std::to_string(i); }

TEST_CASE("key cache: writes are present with their size, reads record what the tiers said") {
  KeyCache cache(1024);
  uint64_t size = 0;
  CHECK(cache.Lookup("a", &size) == KeyCache::Answer::kUnknown);
  cache.RecordPresent("a", 42);
  REQUIRE(cache.Lookup("a", &size) == KeyCache::Answer::kPresent);
  CHECK(size == 42);
  cache.RecordAbsent("b", cache.Ticket("b"));
  CHECK(cache.Lookup("b", &size) == KeyCache::Answer::kAbsent);
  cache.RecordFound("c", 7, cache.Ticket("c"));
  REQUIRE(cache.Lookup("c", &size) == KeyCache::Answer::kPresent);
  CHECK(size == 7);
  cache.Forget("a");
  CHECK(cache.Lookup("a", &size) == KeyCache::Answer::kUnknown);
  CHECK(cache.entries() == 2);
}

TEST_CASE("key cache: a write after a reader's ticket keeps the reader's answer out") {
  KeyCache cache(1024);
  uint64_t size = 0;
  const uint64_t absent_ticket = cache.Ticket("k");
  cache.RecordPresent("k", 10);  // a write lands while the reader looked in the tiers
  cache.RecordAbsent("k", absent_ticket);
  REQUIRE(cache.Lookup("k", &size) == KeyCache::Answer::kPresent);
  CHECK(size == 10);

  const uint64_t found_ticket = cache.Ticket("k");
  cache.Forget("k");  // a delete lands while the reader read the old block
  cache.RecordFound("k", 10, found_ticket);
  CHECK(cache.Lookup("k", &size) == KeyCache::Answer::kUnknown);
}

TEST_CASE("key cache: keys asked for again survive a scan of keys seen once") {
  KeyCache cache(16 * 64);  // 64 keys per shard
  uint64_t size = 0;
  for (int i = 0; i < 100; ++i) cache.RecordPresent(Key(i), 1);
  for (int i = 0; i < 100; ++i) cache.Lookup(Key(i), &size);          // seen twice: frequent
  for (int i = 1000; i < 20000; ++i) cache.RecordPresent(Key(i), 1);  // a cold scan
  int kept = 0;
  for (int i = 0; i < 100; ++i) kept += cache.Lookup(Key(i), &size) == KeyCache::Answer::kPresent;
  CHECK(kept == 100);
  CHECK(cache.entries() <= 16 * 64);
}

TEST_CASE("key cache: capacity 0 disables it") {
  KeyCache cache(0);
  uint64_t size = 0;
  cache.RecordPresent("a", 1);
  cache.RecordAbsent("b", cache.Ticket("b"));
  CHECK(cache.Lookup("a", &size) == KeyCache::Answer::kUnknown);
  CHECK(cache.Lookup("b", &size) == KeyCache::Answer::kUnknown);
  CHECK(cache.entries() == 0);
}

}  // namespace
}  // namespace boxcar::store
