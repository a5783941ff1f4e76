// AbsentKeyIndex: the key cache answers first; the bloom filter answers "absent" only once a
// build completed, and learns writes made while it was being built.
#include "store/absent_key_index.h"

#include <doctest/doctest.h>

namespace boxcar::store {
namespace {

TEST_CASE("absent key index: nothing is absent before a bloom build, except what reads learned") {
  AbsentKeyIndex index(1024);
  CHECK_FALSE(index.bloom_ready());
  CHECK_FALSE(index.ProbablyAbsent("unknown"));  // no filter yet: ask the tiers
  index.RecordAbsent("gone", index.Ticket("gone"));
  CHECK(index.ProbablyAbsent("gone"));
  index.NoteWritten("gone", 5);
  CHECK_FALSE(index.ProbablyAbsent("gone"));
  uint64_t size = 0;
  REQUIRE(index.Lookup("gone", &size) == KeyCache::Answer::kPresent);
  CHECK(size == 5);
}

TEST_CASE("absent key index: a completed build answers misses, including writes during it") {
  AbsentKeyIndex index(0);  // no key cache: only the filter answers
  std::shared_ptr<BloomFilter> filter = index.BeginBuild(1000, 10);
  filter->Add("scanned");            // what the startup scan found
  index.NoteWritten("written", 10);  // a write while the scan ran
  CHECK_FALSE(index.bloom_ready());
  index.FinishBuild(true);
  REQUIRE(index.bloom_ready());
  CHECK_FALSE(index.ProbablyAbsent("scanned"));
  CHECK_FALSE(index.ProbablyAbsent("written"));
  CHECK(index.ProbablyAbsent("never-stored"));
  index.NoteWritten("later", 1);
  CHECK_FALSE(index.ProbablyAbsent("later"));
  index.Forget("later");  // a deleted key stays a false positive, never a false negative
  CHECK_FALSE(index.ProbablyAbsent("later"));
}

TEST_CASE("absent key index: a failed build publishes nothing") {
  AbsentKeyIndex index(0);
  index.BeginBuild(10, 10);
  index.FinishBuild(false);
  CHECK_FALSE(index.bloom_ready());
  CHECK_FALSE(index.ProbablyAbsent("anything"));
}

}  // namespace
}  // namespace boxcar::store
