// The want ledger under arbitrary operation sequences: wantlists from a few peers (any version,
// full or not, cancels, want-have and want-block, identity CIDs), block arrivals, sends,
// disconnects and cap changes, over a small universe of CIDs whose presence and size the input
// sets. After every step the ledger's views agree: the total is the sum over peers, each peer's
// list is what Wants() says, a block arrival reaches exactly the peers that want it, and a peer
// that just sent a message is within the cap.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "bitswap/ledger.h"

using namespace boxcar::bitswap;
using boxcar::format::Cid;
using boxcar::format::Multihash;

namespace {

constexpr size_t kCids = 16, kPeers = 4;

// kCids block CIDs (raw and dag-pb, v1 and v0) and one identity CID at the end.
const std::vector<Cid>& Universe() {
  static const std::vector<Cid> cids = [] {
    std::vector<Cid> out;
    for (size_t i = 0; i < kCids; ++i) {
      const Multihash hash = Multihash::Sum(boxcar::format::kSha2_256, std::to_string(i));
      out.push_back(i % 4 == 3 ? Cid::V0(hash) : Cid::V1(boxcar::format::kRaw, hash));
    }
    out.push_back(Cid::V1(boxcar::format::kRaw, Multihash::Sum(boxcar::format::kIdentity, "x")));
    return out;
  }();
  return cids;
}

struct Input {
  const uint8_t* data;
  size_t size;
  size_t pos = 0;
  bool done() const { return pos >= size; }
  uint8_t Byte() { return pos < size ? data[pos++] : 0; }
};

std::string PeerName(size_t peer) { return "peer-" + std::to_string(peer % kPeers); }

// Names the broken invariant before aborting, so a finding explains itself.
#define Check(condition)                                                                      \
  do {                                                                                        \
    if (!(condition)) {                                                                       \
      std::fprintf(stderr, "ledger invariant broken at line %d: %s\n", __LINE__, #condition); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (false)

void CheckViews(const WantLedger& ledger) {
  size_t sum = 0, peers = 0;
  for (size_t p = 0; p < kPeers; ++p) {
    const std::string peer = PeerName(p);
    const size_t count = ledger.PeerWantCount(peer);
    sum += count;
    peers += count > 0 ? 1 : 0;
    const auto wants = ledger.PeerWants(peer);
    Check(wants.size() == count);
    size_t listed = 0;
    for (const Cid& cid : Universe()) listed += ledger.Wants(peer, cid) ? 1 : 0;
    Check(listed == count);
    for (size_t i = 1; i < wants.size(); ++i) {
      Check(wants[i - 1].second.priority >= wants[i].second.priority);
    }
  }
  Check(sum == ledger.wants());
  Check(peers == ledger.peers());
  Check(ledger.wants() == 0 || ledger.ApproxBytes() > ledger.wants());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  // The store: a size per CID, or absent.
  std::vector<std::optional<uint64_t>> store(kCids + 1);
  for (size_t i = 0; i < kCids; ++i) {
    const uint8_t b = in.Byte();
    if (b & 1) store[i] = static_cast<uint64_t>(b) * 16;  // 16 .. 4080 bytes
  }
  const auto lookup = [&](const Cid& cid) -> std::optional<uint64_t> {
    for (size_t i = 0; i < Universe().size(); ++i) {
      if (Universe()[i] == cid) return store[i];
    }
    return std::nullopt;
  };
  WantLedger ledger({.max_wants_per_peer = static_cast<size_t>(in.Byte() % 9),
                     .inline_have_bytes = static_cast<uint64_t>(in.Byte()) * 16});
  while (!in.done()) {
    const uint8_t op = in.Byte();
    const std::string peer = PeerName(in.Byte());
    const Cid& cid = Universe()[in.Byte() % Universe().size()];
    switch (op % 5) {
      case 0: {
        Message message;
        const uint8_t shape = in.Byte();
        message.has_wantlist = (shape & 1) == 0;
        message.full = (shape & 2) != 0;
        const Version version = static_cast<Version>((shape >> 2) % 3);
        for (size_t n = (shape >> 4) % 12; n > 0; --n) {
          const uint8_t flags = in.Byte();
          message.wants.push_back(WantEntry{Universe()[in.Byte() % Universe().size()],
                                            static_cast<int8_t>(in.Byte()), (flags & 1) != 0,
                                            (flags & 2) != 0 ? WantType::kHave : WantType::kBlock,
                                            (flags & 4) != 0});
        }
        const LedgerUpdate update = ledger.Apply(peer, message, lookup, version);
        for (const ReplyTask& reply : update.replies) {
          Check(reply.peer == peer);
          Check(ledger.Wants(peer, reply.cid));
          Check(!reply.cid.IsIdentity());
          Check((reply.reply == Reply::kDontHave) == !lookup(reply.cid).has_value());
          Check(version == Version::k120 || reply.reply == Reply::kBlock);
        }
        Check(!ledger.Wants(peer, Universe().back()));
        if (message.has_wantlist) {
          Check(ledger.PeerWantCount(peer) <= ledger.options().max_wants_per_peer);
        }
        break;
      }
      case 1: {
        const size_t index = static_cast<size_t>(&cid - Universe().data());
        if (!store[index]) store[index] = static_cast<uint64_t>(in.Byte()) * 16;
        const std::vector<ReplyTask> replies = ledger.BlockArrived(cid, *store[index]);
        size_t wanting = 0;
        for (size_t p = 0; p < kPeers; ++p) wanting += ledger.Wants(PeerName(p), cid) ? 1 : 0;
        Check(replies.size() == wanting);
        for (const ReplyTask& reply : replies) {
          Check(ledger.Wants(reply.peer, cid));
          Check(reply.reply != Reply::kDontHave && reply.size == *store[index]);
        }
        break;
      }
      case 2: {
        const Reply reply = static_cast<Reply>(in.Byte() % 3);
        const bool wanted = ledger.Wants(peer, cid);
        ledger.Sent(peer, cid, reply);
        if (reply == Reply::kBlock) Check(!ledger.Wants(peer, cid));
        if (reply == Reply::kDontHave) Check(ledger.Wants(peer, cid) == wanted);
        break;
      }
      case 3:
        ledger.DropPeer(peer);
        Check(ledger.PeerWantCount(peer) == 0);
        break;
      default:
        ledger.SetOptions({.max_wants_per_peer = static_cast<size_t>(in.Byte() % 9),
                           .inline_have_bytes = ledger.options().inline_have_bytes});
        break;
    }
    CheckViews(ledger);
  }
  return 0;
}
