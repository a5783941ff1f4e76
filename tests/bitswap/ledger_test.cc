#include "bitswap/ledger.h"

#include <doctest/doctest.h>
#include <malloc.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace boxcar::bitswap;
using boxcar::format::Cid;
using boxcar::format::kRaw;
using boxcar::format::kSha2_256;
using boxcar::format::Multihash;

Cid CidOf(const std::string& data) { return Cid::V1(kRaw, Multihash::Sum(kSha2_256, data)); }
Cid NthCid(size_t n) { return CidOf("block " + std::to_string(n)); }

// The store's view: CID bytes → block size.
struct Store {
  std::map<std::string, uint64_t> sizes;
  void Put(const Cid& cid, uint64_t size) { sizes[cid.bytes()] = size; }
  WantLedger::SizeLookup Lookup() const {
    return [this](const Cid& cid) -> std::optional<uint64_t> {
      auto it = sizes.find(cid.bytes());
      if (it == sizes.end()) return std::nullopt;
      return it->second;
    };
  }
};

struct Want {
  Cid cid;
  WantType type = WantType::kBlock;
  int32_t priority = 1;
  bool send_dont_have = false;
  bool cancel = false;
};

Message Wantlist(const std::vector<Want>& wants, bool full = false) {
  Message message;
  message.has_wantlist = true;
  message.full = full;
  for (const Want& want : wants) {
    message.wants.push_back(
        WantEntry{want.cid, want.priority, want.cancel, want.type, want.send_dont_have});
  }
  return message;
}

Want BlockWant(const Cid& cid, int32_t priority = 1) { return {cid, WantType::kBlock, priority}; }
Want HaveWant(const Cid& cid, bool send_dont_have = false) {
  return {cid, WantType::kHave, 1, send_dont_have};
}
Want Cancel(const Cid& cid) { return {cid, WantType::kBlock, 1, false, true}; }

// The ledger's two maps agree: the total is the sum over peers, and every peer's want is found
// by CID.
void CheckConsistent(const WantLedger& ledger, const std::vector<std::string>& peers) {
  size_t sum = 0;
  for (const std::string& peer : peers) {
    sum += ledger.PeerWantCount(peer);
    const auto wants = ledger.PeerWants(peer);
    CHECK(wants.size() == ledger.PeerWantCount(peer));
    for (const auto& [cid, state] : wants) CHECK(ledger.Wants(peer, cid));
  }
  CHECK(sum == ledger.wants());
}

TEST_CASE("ledger: want-block of a present block is a block reply; the want stays until Sent") {
  Store store;
  const Cid cid = NthCid(1);
  store.Put(cid, 5000);
  WantLedger ledger;
  LedgerUpdate update = ledger.Apply("peer-a", Wantlist({BlockWant(cid, 7)}), store.Lookup());
  REQUIRE(update.replies.size() == 1);
  CHECK(update.replies[0].peer == "peer-a");
  CHECK(update.replies[0].cid == cid);
  CHECK(update.replies[0].reply == Reply::kBlock);
  CHECK(update.replies[0].priority == 7);
  CHECK(update.replies[0].size == 5000);
  CHECK(ledger.Wants("peer-a", cid));
  CHECK(ledger.wants() == 1);
  CHECK(ledger.peers() == 1);

  ledger.Sent("peer-a", cid, Reply::kBlock);
  CHECK_FALSE(ledger.Wants("peer-a", cid));
  CHECK(ledger.wants() == 0);
  CHECK(ledger.peers() == 0);
  CHECK(ledger.BlockArrived(cid, 5000).empty());
}

TEST_CASE("ledger: an absent block gets DONT_HAVE only when asked, and the want waits either way") {
  Store store;
  const Cid asked = NthCid(1), silent = NthCid(2);
  WantLedger ledger;
  LedgerUpdate update = ledger.Apply(
      "p", Wantlist({{asked, WantType::kBlock, 1, true}, BlockWant(silent)}), store.Lookup());
  REQUIRE(update.replies.size() == 1);
  CHECK(update.replies[0].cid == asked);
  CHECK(update.replies[0].reply == Reply::kDontHave);
  CHECK(update.replies[0].size == 0);
  CHECK(ledger.wants() == 2);

  // A sent DONT_HAVE leaves the want: the block is pushed when it arrives.
  ledger.Sent("p", asked, Reply::kDontHave);
  CHECK(ledger.Wants("p", asked));
  const std::vector<ReplyTask> arrived = ledger.BlockArrived(asked, 300);
  REQUIRE(arrived.size() == 1);
  CHECK(arrived[0].peer == "p");
  CHECK(arrived[0].reply == Reply::kBlock);
  CHECK(arrived[0].size == 300);
  CHECK(ledger.BlockArrived(silent, 10).size() == 1);
}

TEST_CASE("ledger: want-have is HAVE for a big block and the block itself up to 1 KiB") {
  Store store;
  const Cid small = NthCid(1), edge = NthCid(2), big = NthCid(3), absent = NthCid(4);
  store.Put(small, 10);
  store.Put(edge, 1024);
  store.Put(big, 1025);
  WantLedger ledger;
  LedgerUpdate update = ledger.Apply(
      "p", Wantlist({HaveWant(small), HaveWant(edge), HaveWant(big), HaveWant(absent, true)}),
      store.Lookup());
  REQUIRE(update.replies.size() == 4);
  CHECK(update.replies[0].reply == Reply::kBlock);
  CHECK(update.replies[1].reply == Reply::kBlock);
  CHECK(update.replies[2].reply == Reply::kHave);
  CHECK(update.replies[2].size == 1025);
  CHECK(update.replies[3].reply == Reply::kDontHave);

  // A sent HAVE satisfies the want-have.
  ledger.Sent("p", big, Reply::kHave);
  CHECK_FALSE(ledger.Wants("p", big));

  // A block arriving for a want-have: HAVE when big, the block when small.
  std::vector<ReplyTask> arrived = ledger.BlockArrived(absent, 4096);
  REQUIRE(arrived.size() == 1);
  CHECK(arrived[0].reply == Reply::kHave);

  ledger.SetOptions({.max_wants_per_peer = 1024, .inline_have_bytes = 8192});
  arrived = ledger.BlockArrived(absent, 4096);
  REQUIRE(arrived.size() == 1);
  CHECK(arrived[0].reply == Reply::kBlock);
}

TEST_CASE("ledger: a want-have does not downgrade a want-block; a HAVE sent does not satisfy it") {
  Store store;
  const Cid cid = NthCid(1);
  store.Put(cid, 100000);
  WantLedger ledger;
  ledger.Apply("p", Wantlist({BlockWant(cid, 1)}), store.Lookup());
  LedgerUpdate update = ledger.Apply("p", Wantlist({{cid, WantType::kHave, 9}}), store.Lookup());
  REQUIRE(update.replies.size() == 1);
  CHECK(update.replies[0].reply == Reply::kBlock);
  CHECK(update.replies[0].priority == 9);
  const auto wants = ledger.PeerWants("p");
  REQUIRE(wants.size() == 1);
  CHECK(wants[0].second.type == WantType::kBlock);
  CHECK(wants[0].second.priority == 9);

  ledger.Sent("p", cid, Reply::kHave);
  CHECK(ledger.Wants("p", cid));
  ledger.Sent("p", cid, Reply::kBlock);
  CHECK_FALSE(ledger.Wants("p", cid));
}

TEST_CASE("ledger: identity CIDs and CIDs the node cannot hold are dropped and counted") {
  Store store;
  WantLedger ledger;
  const Cid identity = Cid::V1(kRaw, Multihash::Sum(boxcar::format::kIdentity, "inline"));
  const Cid long_identity =
      Cid::V1(kRaw, Multihash::Sum(boxcar::format::kIdentity, std::string(200, 'x')));
  REQUIRE(long_identity.bytes().size() > kMaxCidBytes);
  LedgerUpdate update = ledger.Apply(
      "p",
      Wantlist(
          {BlockWant(identity), {long_identity, WantType::kBlock, 1, true}, BlockWant(NthCid(1))}),
      store.Lookup());
  CHECK(update.dropped_invalid_cids == 2);
  CHECK(update.replies.empty());
  CHECK(ledger.wants() == 1);
  CHECK_FALSE(ledger.Wants("p", identity));
}

TEST_CASE("ledger: cancel removes the want and reports it; an unknown cancel does nothing") {
  Store store;
  const Cid a = NthCid(1), b = NthCid(2);
  WantLedger ledger;
  ledger.Apply("p", Wantlist({BlockWant(a), BlockWant(b)}), store.Lookup());
  LedgerUpdate update = ledger.Apply("p", Wantlist({Cancel(a), Cancel(NthCid(3))}), store.Lookup());
  REQUIRE(update.cancelled.size() == 1);
  CHECK(update.cancelled[0] == a);
  CHECK_FALSE(ledger.Wants("p", a));
  CHECK(ledger.Wants("p", b));
  CHECK(ledger.BlockArrived(a, 1).empty());
  // A cancel from a peer the ledger does not know creates nothing.
  CHECK(ledger.Apply("q", Wantlist({Cancel(a)}), store.Lookup()).cancelled.empty());
  CHECK(ledger.peers() == 1);
  CheckConsistent(ledger, {"p", "q"});
}

// Found by bitswap_ledger_fuzz: the reply of a want cancelled later in the same message was kept.
TEST_CASE("ledger: a want listed and cancelled by one message gets no reply") {
  Store store;
  const Cid cid = NthCid(1);
  store.Put(cid, 10);
  WantLedger ledger;
  LedgerUpdate update = ledger.Apply("p", Wantlist({BlockWant(cid), Cancel(cid)}), store.Lookup());
  CHECK(update.replies.empty());
  CHECK_FALSE(ledger.Wants("p", cid));
  // Cancelled, then listed again: the want stands and is answered.
  update = ledger.Apply("p", Wantlist({BlockWant(cid)}), store.Lookup());
  update = ledger.Apply("p", Wantlist({Cancel(cid), BlockWant(cid)}), store.Lookup());
  CHECK(update.cancelled.size() == 1);
  REQUIRE(update.replies.size() == 1);
  CHECK(ledger.Wants("p", cid));
}

TEST_CASE("ledger: a full wantlist replaces the peer's list; other peers keep theirs") {
  Store store;
  const Cid a = NthCid(1), b = NthCid(2), c = NthCid(3);
  WantLedger ledger;
  ledger.Apply("p", Wantlist({BlockWant(a), BlockWant(b)}), store.Lookup());
  ledger.Apply("q", Wantlist({BlockWant(a)}), store.Lookup());
  LedgerUpdate update =
      ledger.Apply("p", Wantlist({BlockWant(b), BlockWant(c)}, true), store.Lookup());
  REQUIRE(update.cancelled.size() == 1);
  CHECK(update.cancelled[0] == a);
  CHECK_FALSE(ledger.Wants("p", a));
  CHECK(ledger.Wants("p", b));
  CHECK(ledger.Wants("p", c));
  CHECK(ledger.Wants("q", a));
  CHECK(ledger.BlockArrived(a, 1).size() == 1);
  CheckConsistent(ledger, {"p", "q"});

  // An empty full wantlist clears the peer; a message without a wantlist changes nothing.
  ledger.Apply("q", Message(), store.Lookup());
  CHECK(ledger.Wants("q", a));
  ledger.Apply("p", Wantlist({}, true), store.Lookup());
  CHECK(ledger.PeerWantCount("p") == 0);
  CHECK(ledger.peers() == 1);
  CheckConsistent(ledger, {"p", "q"});
}

TEST_CASE("ledger: 1.0.0 and 1.1.0 peers' wants are want-blocks without DONT_HAVE") {
  Store store;
  const Cid big = NthCid(1), absent = NthCid(2);
  store.Put(big, 100000);
  for (const Version version : {Version::k100, Version::k110}) {
    WantLedger ledger;
    LedgerUpdate update = ledger.Apply("p", Wantlist({HaveWant(big, true), HaveWant(absent, true)}),
                                       store.Lookup(), version);
    REQUIRE(update.replies.size() == 1);
    CHECK(update.replies[0].cid == big);
    CHECK(update.replies[0].reply == Reply::kBlock);
    for (const auto& [cid, state] : ledger.PeerWants("p")) {
      CHECK(state.type == WantType::kBlock);
      CHECK_FALSE(state.send_dont_have);
    }
    const std::vector<ReplyTask> arrived = ledger.BlockArrived(absent, 100000);
    REQUIRE(arrived.size() == 1);
    CHECK(arrived[0].reply == Reply::kBlock);
  }
  // The same bytes on 1.2.0 mean want-have with DONT_HAVE.
  WantLedger ledger;
  LedgerUpdate update =
      ledger.Apply("p", Wantlist({HaveWant(big, true), HaveWant(absent, true)}), store.Lookup());
  REQUIRE(update.replies.size() == 2);
  CHECK(update.replies[0].reply == Reply::kHave);
  CHECK(update.replies[1].reply == Reply::kDontHave);
}

TEST_CASE("ledger: a block arrival reaches every wanting peer; DropPeer forgets one") {
  Store store;
  const Cid cid = NthCid(1), other = NthCid(2);
  WantLedger ledger;
  ledger.Apply("a", Wantlist({BlockWant(cid, 3), BlockWant(other)}), store.Lookup());
  ledger.Apply("b", Wantlist({HaveWant(cid)}), store.Lookup());
  ledger.Apply("c", Wantlist({BlockWant(other)}), store.Lookup());
  std::vector<ReplyTask> arrived = ledger.BlockArrived(cid, 2000);
  REQUIRE(arrived.size() == 2);
  std::map<std::string, ReplyTask> by_peer;
  for (const ReplyTask& task : arrived) by_peer.emplace(task.peer, task);
  CHECK(by_peer.at("a").reply == Reply::kBlock);
  CHECK(by_peer.at("a").priority == 3);
  CHECK(by_peer.at("b").reply == Reply::kHave);

  ledger.DropPeer("a");
  CHECK(ledger.PeerWantCount("a") == 0);
  CHECK(ledger.peers() == 2);
  CHECK(ledger.wants() == 2);
  arrived = ledger.BlockArrived(cid, 2000);
  REQUIRE(arrived.size() == 1);
  CHECK(arrived[0].peer == "b");
  arrived = ledger.BlockArrived(other, 10);
  REQUIRE(arrived.size() == 1);
  CHECK(arrived[0].peer == "c");
  ledger.DropPeer("a");  // twice is harmless
  CheckConsistent(ledger, {"a", "b", "c"});
}

TEST_CASE("ledger: PeerWants lists highest priority first, with each want's state") {
  Store store;
  WantLedger ledger;
  ledger.Apply("p",
               Wantlist({BlockWant(NthCid(1), 1),
                         {NthCid(2), WantType::kHave, 5, true},
                         BlockWant(NthCid(3), -2)}),
               store.Lookup());
  const auto wants = ledger.PeerWants("p");
  REQUIRE(wants.size() == 3);
  CHECK(wants[0].first == NthCid(2));
  CHECK(wants[0].second.type == WantType::kHave);
  CHECK(wants[0].second.send_dont_have);
  CHECK(wants[1].first == NthCid(1));
  CHECK(wants[2].first == NthCid(3));
  CHECK(wants[2].second.priority == -2);
  CHECK(ledger.PeerWants("nobody").empty());
}

TEST_CASE("ledger overflow: wants for absent blocks go first, even of higher priority") {
  Store store;
  const Cid present_low = NthCid(1), present_mid = NthCid(2), absent_high = NthCid(3),
            absent_top = NthCid(4), incoming = NthCid(5);
  for (const Cid& cid : {present_low, present_mid, incoming}) store.Put(cid, 100);
  WantLedger ledger({.max_wants_per_peer = 4, .inline_have_bytes = 1024});
  ledger.Apply("p",
               Wantlist({BlockWant(present_low, 1), BlockWant(present_mid, 2),
                         BlockWant(absent_high, 50), BlockWant(absent_top, 60)}),
               store.Lookup());
  LedgerUpdate update = ledger.Apply("p", Wantlist({BlockWant(incoming, 1)}), store.Lookup());
  CHECK(update.dropped_overflow == 1);
  REQUIRE(update.cancelled.size() == 1);
  CHECK(update.cancelled[0] == absent_high);
  REQUIRE(update.replies.size() == 1);
  CHECK(update.replies[0].cid == incoming);
  CHECK(ledger.PeerWantCount("p") == 4);

  // Among absent wants, the lowest priority goes: here the new one itself.
  update = ledger.Apply("p", Wantlist({BlockWant(NthCid(6), 9)}), store.Lookup());
  REQUIRE(update.cancelled.size() == 1);
  CHECK(update.cancelled[0] == NthCid(6));
  // An absent want goes before a present one of far lower priority.
  store.Put(NthCid(7), 100);
  update = ledger.Apply("p", Wantlist({BlockWant(NthCid(7), 1)}), store.Lookup());
  REQUIRE(update.cancelled.size() == 1);
  CHECK(update.cancelled[0] == absent_top);
  // With only present blocks wanted, the lowest priority goes, the older of equals first.
  store.Put(NthCid(8), 100);
  update = ledger.Apply("p", Wantlist({BlockWant(NthCid(8), 1)}), store.Lookup());
  REQUIRE(update.cancelled.size() == 1);
  CHECK(update.cancelled[0] == present_low);
  CHECK(update.dropped_overflow == 1);
  for (const Cid& cid : {present_mid, incoming, NthCid(7), NthCid(8)})
    CHECK(ledger.Wants("p", cid));
  CheckConsistent(ledger, {"p"});
}

TEST_CASE("ledger overflow: a new want below everything kept is dropped, without a reply") {
  Store store;
  WantLedger ledger({.max_wants_per_peer = 2, .inline_have_bytes = 1024});
  ledger.Apply("p", Wantlist({BlockWant(NthCid(1), 5), BlockWant(NthCid(2), 5)}), store.Lookup());
  const Cid low = NthCid(3);
  LedgerUpdate update =
      ledger.Apply("p", Wantlist({{low, WantType::kBlock, 1, true}}), store.Lookup());
  CHECK(update.dropped_overflow == 1);
  CHECK(update.replies.empty());  // no DONT_HAVE for a want the ledger does not keep
  CHECK_FALSE(ledger.Wants("p", low));
  CHECK(ledger.PeerWantCount("p") == 2);
  CheckConsistent(ledger, {"p"});
}

TEST_CASE("ledger overflow: one message over the cap keeps the cap and the best wants") {
  Store store;
  WantLedger ledger({.max_wants_per_peer = 10, .inline_have_bytes = 1024});
  std::vector<Want> wants;
  for (size_t i = 0; i < 30; ++i) {
    if (i % 3 == 0) store.Put(NthCid(i), 10);
    wants.push_back(BlockWant(NthCid(i), static_cast<int32_t>(i)));
  }
  LedgerUpdate update = ledger.Apply("p", Wantlist(wants), store.Lookup());
  CHECK(update.dropped_overflow == 20);
  CHECK(ledger.PeerWantCount("p") == 10);
  // The ten present blocks (i % 3 == 0) are kept, and answered.
  for (size_t i = 0; i < 30; i += 3) CHECK(ledger.Wants("p", NthCid(i)));
  CHECK(update.replies.size() == 10);
  CheckConsistent(ledger, {"p"});
}

TEST_CASE("ledger overflow: a lowered cap applies at the peer's next message") {
  Store store;
  WantLedger ledger;
  std::vector<Want> wants;
  for (size_t i = 0; i < 8; ++i) wants.push_back(BlockWant(NthCid(i), static_cast<int32_t>(i)));
  ledger.Apply("p", Wantlist(wants), store.Lookup());
  ledger.SetOptions({.max_wants_per_peer = 3, .inline_have_bytes = 1024});
  CHECK(ledger.PeerWantCount("p") == 8);
  LedgerUpdate update = ledger.Apply("p", Wantlist({BlockWant(NthCid(100), 100)}), store.Lookup());
  CHECK(update.dropped_overflow == 6);
  CHECK(ledger.PeerWantCount("p") == 3);
  CHECK(ledger.Wants("p", NthCid(100)));
  CHECK(ledger.Wants("p", NthCid(7)));
  CHECK(ledger.Wants("p", NthCid(6)));
}

// Boxo's first cap (before boxo#629) truncated the *incoming* wants once a peer's list was full,
// so stale wants (Helia never cancels) locked the peer out: a block the node holds was never
// sent. Here the stale wants make room.
TEST_CASE("ledger overflow: stale wants of a full list do not lock out a new want (boxo#527)") {
  Store store;
  WantLedger ledger;  // the default cap, 1,024
  const std::string helia = "helia";
  std::vector<Want> stale;
  for (size_t i = 0; i < 1024; ++i) stale.push_back({NthCid(i), WantType::kBlock, 1, true});
  ledger.Apply(helia, Wantlist(stale), store.Lookup());
  REQUIRE(ledger.PeerWantCount(helia) == 1024);

  const Cid held = CidOf("a block the node holds");
  store.Put(held, 4096);
  LedgerUpdate update = ledger.Apply(helia, Wantlist({BlockWant(held)}), store.Lookup());
  REQUIRE(update.replies.size() == 1);
  CHECK(update.replies[0].cid == held);
  CHECK(update.replies[0].reply == Reply::kBlock);
  CHECK(ledger.Wants(helia, held));
  CHECK(ledger.PeerWantCount(helia) == 1024);
  REQUIRE(update.cancelled.size() == 1);
  CHECK(update.cancelled[0] == NthCid(0));  // the oldest stale want

  // A new want for a block the node lacks also displaces the oldest stale one, so the block is
  // pushed when it arrives.
  const Cid later = CidOf("a block that arrives later");
  update = ledger.Apply(helia, Wantlist({BlockWant(later)}), store.Lookup());
  CHECK(ledger.Wants(helia, later));
  CHECK(ledger.BlockArrived(later, 10).size() == 1);
  CheckConsistent(ledger, {helia});
}

// Sanitizers replace malloc, so glibc's accounting sees none of the ledger's memory there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kMallocAccounting = false;
#else
constexpr bool kMallocAccounting = true;
#endif

// glibc's bytes in use: small chunks plus mmapped big ones (the pools' vectors).
size_t HeapInUse() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

// Builds `peers` × `per_peer` wants, CIDs distinct across peers or shared by all; returns the
// bytes per want: the heap's growth, checked against ApproxBytes, or ApproxBytes alone under a
// sanitizer.
double MeasureBytesPerWant(size_t peers, size_t per_peer, bool shared) {
  const size_t before = HeapInUse();
  auto ledger = std::make_unique<WantLedger>();
  Store store;
  for (size_t p = 0; p < peers; ++p) {
    Message message;
    message.has_wantlist = true;
    message.wants.resize(per_peer);
    for (size_t i = 0; i < per_peer; ++i) {
      message.wants[i].cid = NthCid(shared ? i : p * per_peer + i);
      message.wants[i].send_dont_have = true;
    }
    ledger->Apply("12D3KooWPeer" + std::to_string(1000000 + p), message, store.Lookup());
  }
  REQUIRE(ledger->wants() == peers * per_peer);
  const double approx = static_cast<double>(ledger->ApproxBytes());
  double bytes = approx;
  if (kMallocAccounting) {
    bytes = static_cast<double>(HeapInUse() - before);
    // ApproxBytes counts what the ledger holds; malloc adds its chunk headers on top.
    CHECK(approx <= bytes * 1.02);
    CHECK(approx >= bytes * 0.9);
  }
  MESSAGE("ledger of ", peers, " peers x ", per_peer, " wants (",
          std::string(shared ? "shared" : "distinct"), " CIDs): heap ", bytes / 1e6,
          " MB, ApproxBytes ", approx / 1e6, " MB, ", bytes / static_cast<double>(ledger->wants()),
          " bytes per want");
  ledger.reset();
  return bytes / static_cast<double>(peers * per_peer);
}

TEST_CASE("ledger memory: bytes per want at 1,000 peers x 1,024 wants (kBytesPerWant)") {
  const double distinct = MeasureBytesPerWant(1000, 1024, false);
  CHECK(distinct <= static_cast<double>(kBytesPerWant));
  const double shared = MeasureBytesPerWant(1000, 1024, true);
  CHECK(shared <= 48.0);
}

}  // namespace
