// WantBook and PeerQuality: the Bitswap client's routing rules, on a fake clock.
#include "exchange/want_book.h"

#include <doctest/doctest.h>

#include <string>

namespace {

using boxcar::bitswap::WantEntry;
using boxcar::bitswap::WantType;
using boxcar::exchange::Outbox;
using boxcar::exchange::PeerQuality;
using boxcar::exchange::QualityState;
using boxcar::exchange::WantBook;
using boxcar::exchange::WantBookOptions;
using boxcar::exchange::WantClock;
using boxcar::format::Cid;
using boxcar::format::Multihash;
using boxcar::p2p::PeerId;
using namespace std::chrono_literals;

Cid BlockCid(const std::string& data) {
  return Cid::V1(boxcar::format::kRaw, Multihash::Sum(boxcar::format::kSha2_256, data));
}

PeerId Peer(char tag) {
  // A sha2-256 PeerID of a made-up key: distinct peers, no crypto needed.
  PeerId id;
  REQUIRE(
      PeerId::FromBytes(Multihash::Sum(boxcar::format::kSha2_256, std::string(1, tag)).bytes(), &id)
          .ok());
  return id;
}

// The entries sent to `peer` of `type` (cancels when `cancel`), for `cid`.
int Count(const Outbox& out, const PeerId& peer, const Cid& cid, WantType type,
          bool cancel = false) {
  auto it = out.find(peer);
  if (it == out.end()) return 0;
  int n = 0;
  for (const WantEntry& e : it->second) {
    if (e.cid == cid && e.cancel == cancel && (cancel || e.type == type)) ++n;
  }
  return n;
}

struct Fixture {
  WantBook book{WantBookOptions{}};
  WantClock::time_point now = WantClock::time_point() + 1h;
  PeerId a = Peer('a'), b = Peer('b'), c = Peer('c');
  Outbox out;

  Fixture() {
    for (const PeerId& p : {a, b, c}) book.AddPeer(p, true, now, &out);
    out.clear();
  }
};

TEST_CASE("a new want is a want-have with sendDontHave to every connected peer") {
  Fixture f;
  const Cid cid = BlockCid("x");
  CHECK(f.book.Want(cid, std::nullopt, {}, f.now, &f.out));
  CHECK_FALSE(f.book.Want(cid, std::nullopt, {}, f.now, &f.out));  // already wanted
  for (const PeerId& p : {f.a, f.b, f.c}) {
    REQUIRE(Count(f.out, p, cid, WantType::kHave) == 1);
    CHECK(f.out[p][0].send_dont_have);
  }
}

TEST_CASE("a hinted want goes as want-block to the hinted peer only") {
  Fixture f;
  const Cid cid = BlockCid("x");
  f.book.Want(cid, f.b, {}, f.now, &f.out);
  CHECK(Count(f.out, f.b, cid, WantType::kBlock) == 1);
  CHECK(f.out.count(f.a) == 0);
  CHECK(f.book.InFlight(f.b) == 1);
  // It says DONT_HAVE: the want is broadcast to the others.
  f.out.clear();
  f.book.OnDontHave(f.b, cid, f.now + 1ms, &f.out);
  CHECK(Count(f.out, f.a, cid, WantType::kHave) == 1);
  CHECK(Count(f.out, f.c, cid, WantType::kHave) == 1);
  CHECK(f.out.count(f.b) == 0);
  CHECK(f.book.InFlight(f.b) == 0);
}

TEST_CASE("HAVE pipelines a want-block; the block cancels the others") {
  Fixture f;
  const Cid cid = BlockCid("x");
  f.book.Want(cid, std::nullopt, {}, f.now, &f.out);
  f.out.clear();
  f.book.OnHave(f.a, cid, f.now + 2ms, &f.out);
  CHECK(Count(f.out, f.a, cid, WantType::kBlock) == 1);
  f.book.OnHave(f.b, cid, f.now + 3ms, &f.out);
  CHECK(Count(f.out, f.b, cid, WantType::kBlock) == 0);  // one want-block at a time
  f.out.clear();
  auto wanted = f.book.OnBlock(f.a, cid, 1, f.now + 5ms, &f.out);
  REQUIRE(wanted);
  CHECK(*wanted == cid);
  CHECK(Count(f.out, f.b, cid, WantType::kBlock, true) == 1);
  CHECK(Count(f.out, f.c, cid, WantType::kBlock, true) == 1);
  CHECK(Count(f.out, f.a, cid, WantType::kBlock, true) == 0);
  CHECK(f.book.size() == 0);
  CHECK(f.book.InFlight(f.a) == 0);
  // A second copy is a duplicate.
  CHECK_FALSE(f.book.OnBlock(f.b, cid, 1, f.now + 6ms, &f.out));
  // Latency was measured from the answers.
  REQUIRE(f.book.Quality(f.a) != nullptr);
  CHECK(f.book.Quality(f.a)->measured());
}

TEST_CASE("a block answers a want by multihash, whatever its CID version") {
  Fixture f;
  const Cid v1 = Cid::V1(boxcar::format::kDagPb, Multihash::Sum(boxcar::format::kSha2_256, "x"));
  const Cid v0 = Cid::V0(v1.hash());
  f.book.Want(v1, std::nullopt, {}, f.now, &f.out);
  auto wanted = f.book.OnBlock(f.a, v0, 1, f.now, &f.out);
  REQUIRE(wanted);
  CHECK(*wanted == v1);
}

TEST_CASE("a slow peer's want-block moves to another peer that has the block") {
  Fixture f;
  const Cid cid = BlockCid("x");
  f.book.Want(cid, std::nullopt, {}, f.now, &f.out);
  // Measure a: 10 ms answers, so its timeout is the 50 ms floor (3 x 10 ms = 30 ms).
  f.book.OnHave(f.a, cid, f.now + 10ms, &f.out);
  f.book.OnHave(f.b, cid, f.now + 12ms, &f.out);
  CHECK(f.book.InFlight(f.a) == 1);
  f.out.clear();
  f.book.Tick(f.now + 40ms, &f.out);  // not yet
  CHECK(f.out.empty());
  f.book.Tick(f.now + 10ms + 51ms, &f.out);
  CHECK(Count(f.out, f.a, cid, WantType::kBlock, true) == 1);
  CHECK(Count(f.out, f.b, cid, WantType::kBlock) == 1);
  CHECK(f.book.InFlight(f.a) == 0);
  CHECK(f.book.InFlight(f.b) == 1);
  CHECK(f.book.Quality(f.a)->timeout_rate() > 0);
}

TEST_CASE("without an alternative the slow peer keeps the want") {
  Fixture f;
  const Cid cid = BlockCid("x");
  f.book.Want(cid, std::nullopt, {}, f.now, &f.out);
  f.book.OnHave(f.a, cid, f.now + 10ms, &f.out);
  f.out.clear();
  f.book.Tick(f.now + 200ms, &f.out);
  CHECK(Count(f.out, f.a, cid, WantType::kBlock, true) == 0);
  CHECK(f.book.InFlight(f.a) == 1);
  CHECK(f.book.OnBlock(f.a, cid, 1, f.now + 300ms, &f.out));
}

TEST_CASE("the per-peer in-flight limit holds wants until a slot frees") {
  WantBookOptions options;
  options.max_in_flight_per_peer = 2;
  WantBook book(options);
  auto now = WantClock::time_point() + 1h;
  const PeerId a = Peer('a');
  Outbox out;
  book.AddPeer(a, true, now, &out);
  std::vector<Cid> cids;
  for (int i = 0; i < 4; ++i) {
    cids.push_back(BlockCid("block " + std::to_string(i)));
    book.Want(cids.back(), std::nullopt, {}, now, &out);
  }
  for (const Cid& cid : cids) book.OnHave(a, cid, now, &out);
  CHECK(book.InFlight(a) == 2);
  out.clear();
  book.OnBlock(a, cids[0], 1, now, &out);
  CHECK(book.InFlight(a) == 2);  // the next waiting want took the slot
  int asked = 0;
  for (const Cid& cid : cids) asked += Count(out, a, cid, WantType::kBlock);
  CHECK(asked == 1);
}

TEST_CASE("a wrong block rules its sender out; excluded peers are never asked") {
  Fixture f;
  const Cid cid = BlockCid("x");
  f.book.Want(cid, std::nullopt, {}, f.now, &f.out);
  f.book.OnHave(f.a, cid, f.now, &f.out);
  f.book.OnHave(f.b, cid, f.now, &f.out);
  f.out.clear();
  f.book.OnBadBlock(f.a, f.now, &f.out);
  CHECK(Count(f.out, f.b, cid, WantType::kBlock) == 1);
  CHECK(f.book.Quality(f.a)->State() == QualityState::kFailing);
  f.book.OnHave(f.a, cid, f.now, &f.out);  // ignored now
  CHECK(f.book.InFlight(f.a) == 0);

  const Cid other = BlockCid("y");
  f.out.clear();
  f.book.Want(other, f.a, {f.a}, f.now, &f.out);
  CHECK(f.out.count(f.a) == 0);
  CHECK(Count(f.out, f.b, other, WantType::kHave) == 1);
}

TEST_CASE("peers joining get the broadcast wants; leaving moves their want-blocks") {
  Fixture f;
  const Cid cid = BlockCid("x");
  f.book.Want(cid, std::nullopt, {}, f.now, &f.out);
  f.book.OnHave(f.a, cid, f.now, &f.out);
  f.book.OnHave(f.b, cid, f.now, &f.out);
  const PeerId d = Peer('d');
  f.out.clear();
  f.book.AddPeer(d, false, f.now, &f.out);  // 1.1.0: want-block instead of want-have
  CHECK(Count(f.out, d, cid, WantType::kBlock) == 1);
  f.out.clear();
  f.book.RemovePeer(f.a, f.now, &f.out);
  CHECK(Count(f.out, f.b, cid, WantType::kBlock) == 1);
  CHECK(f.out.count(f.a) == 0);
}

TEST_CASE("unwanting cancels at every peer asked") {
  Fixture f;
  const Cid cid = BlockCid("x");
  f.book.Want(cid, std::nullopt, {}, f.now, &f.out);
  f.out.clear();
  f.book.Unwant(cid, &f.out);
  for (const PeerId& p : {f.a, f.b, f.c}) CHECK(Count(f.out, p, cid, WantType::kBlock, true) == 1);
  CHECK(f.book.Wanted().empty());
}

TEST_CASE("PeerQuality: the timeout is 3x the latency EWMA, clamped to 50 ms .. 7 s") {
  PeerQuality q;
  CHECK(q.State() == QualityState::kUnmeasured);
  CHECK(q.Timeout() == 5s);  // Boxo's wait for an unmeasured peer
  q.OnAnswer(10ms, false, 0);
  CHECK(q.Timeout() == 50ms);  // 30 ms is under the floor
  for (int i = 0; i < 50; ++i) q.OnAnswer(100ms, false, 0);
  CHECK(q.Timeout() > 290ms);
  CHECK(q.Timeout() < 310ms);
  CHECK(q.State() == QualityState::kGood);
  for (int i = 0; i < 50; ++i) q.OnAnswer(10s, false, 0);
  CHECK(q.Timeout() == 7s);
  CHECK(q.State() == QualityState::kSlow);
}

TEST_CASE("PeerQuality: throughput, DONT_HAVE and timeout rates, and the rank") {
  PeerQuality fast, failing;
  fast.OnAnswer(10ms, false, 1 << 20);
  CHECK(fast.throughput_bytes_per_second() > 100e6 - 1);
  fast.OnAnswer(10ms, true, 0);
  CHECK(fast.dont_have_rate() > 0);
  for (int i = 0; i < 10; ++i) failing.OnTimeout();
  CHECK(failing.State() == QualityState::kFailing);
  CHECK(fast.Rank() < PeerQuality().Rank());     // measured good before unmeasured
  CHECK(PeerQuality().Rank() < failing.Rank());  // and failing last
}

}  // namespace

namespace {

TEST_CASE("a late copy of an ended want is a duplicate; a block never wanted is not") {
  Fixture f;
  const Cid cid = BlockCid("x");
  f.book.Want(cid, std::nullopt, {}, f.now, &f.out);
  CHECK_FALSE(f.book.RecentlyWanted(cid));
  f.book.OnBlock(f.a, cid, 1, f.now, &f.out);
  CHECK(f.book.RecentlyWanted(cid));
  CHECK_FALSE(f.book.RecentlyWanted(BlockCid("never")));
  const Cid cancelled = BlockCid("y");
  f.book.Want(cancelled, std::nullopt, {}, f.now, &f.out);
  f.book.Unwant(cancelled, &f.out);
  CHECK(f.book.RecentlyWanted(cancelled));
}

}  // namespace
