// WantLedger: what each connected peer wants from this node (the server side of Bitswap).
//
// It holds two inverted maps, peer → wants and CID → wanting peers, so that a message, a block
// arrival and a disconnect each cost what they touch. It applies a received wantlist with each
// version's semantics and turns it into replies for the request engine:
//   - `full` replaces the peer's list; a cancel removes the want (and the caller's pending task);
//   - identity CIDs and CIDs over kMaxCidBytes are dropped and counted, and so are CIDs over
//     kLedgerCidBytes: boxcar's multihashes are sha2-256 (CIDs of at most 37 bytes), so a longer
//     CID names a block this node can never hold;
//   - want-block for a present block → kBlock; want-have → kHave, or kBlock when the block is at
//     most `inline_have_bytes` (1 KiB, as Boxo and Helia do);
//   - an absent block → kDontHave when the peer asked for it (sendDontHave), and the want stays
//     in the ledger either way, so BlockArrived can send the block when it arrives;
//   - a want-have for a CID the peer already wants as a block keeps the want-block;
//   - 1.0.0 and 1.1.0 know no want-have and no DONT_HAVE: every want from such a peer is a
//     want-block without sendDontHave, whatever the message's bytes say;
//   - past `max_wants_per_peer` (1,024): wants for absent blocks are dropped first, then the
//     lowest-priority ones, the older listing losing ties, as Boxo's replacement does (boxo#629,
//     not its first truncation, which refused new wants while stale ones filled the list and
//     stalled transfers: Helia never cancels). Whether a block is present is what the size
//     lookup said when the want was last listed (or BlockArrived since), so an overflow reads no
//     store. Dropped wants are counted and reported as cancelled, never silently ignored.
// A want leaves the ledger when its block or HAVE is sent (Sent), on cancel, on `full`
// replacement, on overflow, or when the peer disconnects (DropPeer).
//
// Cost: Apply is O(entries), plus one pass over the peer's wants when the message is `full` or
// overflows the cap; BlockArrived is O(wanters of the CID); DropPeer O(the peer's wants).
//
// Memory: each want costs at most kBytesPerWant (below) when no two peers want the same CID, and
// about 41 bytes when its CID is already wanted by another peer (measured with malloc accounting
// by tests/bitswap/ledger_test.cc). A CID is stored once, in binary, however many peers want it;
// peer ids are stored once; wants live in a pool of 32-byte records indexed by 4-byte hash slots.
// The pools keep their high-water mark of slots for reuse. ApproxBytes reports the total.
//
// Thread safety: not thread-safe; the caller serializes access (the exchange holds one lock per
// shard of peers).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bitswap/index_table.h"
#include "bitswap/message.h"
#include "format/cid.h"

namespace boxcar::bitswap {

enum class Reply : uint8_t { kBlock, kHave, kDontHave };

struct ReplyTask {
  std::string peer;
  format::Cid cid;
  Reply reply = Reply::kBlock;
  int32_t priority = 1;
  uint64_t size = 0;  // the block's size, 0 for kDontHave
};

struct WantState {
  int32_t priority = 1;
  WantType type = WantType::kBlock;
  bool send_dont_have = false;
};

// What applying one message did. Every reply is for a want the ledger holds after the message
// (a want listed and then cancelled or evicted by the same message gets none). Remove the
// cancelled wants' pending tasks first, then queue the replies: a message may cancel a CID and
// list it again.
struct LedgerUpdate {
  std::vector<ReplyTask> replies;      // to queue, in the message's order
  std::vector<format::Cid> cancelled;  // wants removed by cancel, `full` or overflow
  uint64_t dropped_invalid_cids = 0;   // identity or oversized CIDs
  uint64_t dropped_overflow = 0;       // wants that did not fit the per-peer cap
};

struct LedgerOptions {
  size_t max_wants_per_peer = 1024;
  uint64_t inline_have_bytes = 1024;
};

// The longest CID the ledger keeps: a CIDv1 with a two-byte codec and a sha2-256 digest is 37.
inline constexpr size_t kLedgerCidBytes = 39;

// An upper bound of the heap bytes per want, checked by the ledger test ("ledger memory") at
// 1,000 peers × 1,024 wants with no CID shared: 98 bytes measured (41 when all peers want the
// same 1,024 CIDs): a 32-byte want record, a 48-byte CID record and two 4-byte hash slots at
// their load factors.
inline constexpr size_t kBytesPerWant = 104;

class WantLedger {
 public:
  // The store's answer for a CID: its size when present, nullopt when absent.
  using SizeLookup = std::function<std::optional<uint64_t>(const format::Cid&)>;

  explicit WantLedger(LedgerOptions options = {});

  // A lowered cap applies to each peer at its next message.
  void SetOptions(const LedgerOptions& options);
  const LedgerOptions& options() const { return options_; }

  // Applies the wantlist of `message` from `peer`, received on a stream of `version` (a message
  // without a wantlist changes nothing).
  LedgerUpdate Apply(const std::string& peer, const Message& message, const SizeLookup& sizes,
                     Version version = Version::k120);

  // A block arrived in the store: a kBlock reply for each peer that wants it (want-block), a
  // kHave (or kBlock when small) for each want-have.
  std::vector<ReplyTask> BlockArrived(const format::Cid& cid, uint64_t size);

  // A reply went out: a sent block or HAVE satisfies the want, which leaves the ledger. A
  // DONT_HAVE leaves the want in place.
  void Sent(const std::string& peer, const format::Cid& cid, Reply reply);

  // Whether `peer` still wants `cid` (a cancel after the task was queued skips the send).
  bool Wants(const std::string& peer, const format::Cid& cid) const;

  void DropPeer(const std::string& peer);

  // Peers with at least one want.
  size_t peers() const { return peer_count_; }
  size_t wants() const { return total_wants_; }
  size_t PeerWantCount(const std::string& peer) const;
  // The peer's wants, highest priority first (RPC bitswap/wantlist?peer=).
  std::vector<std::pair<format::Cid, WantState>> PeerWants(const std::string& peer) const;
  // The heap and object bytes the ledger holds.
  uint64_t ApproxBytes() const;

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  // One peer's want of one CID. Wants live in a pool and link the other wants of the same CID,
  // so a block arrival walks exactly its wanters.
  struct Want {
    uint32_t peer = kNone;  // slot in peers_
    uint32_t cid = kNone;   // slot in cids_
    uint32_t prev = kNone;  // the CID's other wants; `next` also links the pool's free slots
    uint32_t next = kNone;
    int32_t priority = 1;
    uint8_t flags = 0;  // kWantHave | kSendDontHave | kPresent
    uint64_t seq = 0;   // when the peer last listed it: the older want loses an overflow tie
  };
  // An interned CID, stored once however many peers want it.
  struct CidRecord {
    uint32_t hash = 0;
    uint32_t head = kNone;  // first want of this CID; for a free slot, the next free slot
    uint8_t size = 0;
    char stored[kLedgerCidBytes] = {};
    std::string_view bytes() const { return {stored, size}; }
  };
  struct PeerRecord {
    std::string id;
    IndexTable wants;  // slots in wants_, found by CID slot
  };

  uint32_t FindCid(std::string_view bytes, uint32_t hash) const;
  uint32_t InternCid(const format::Cid& cid);
  void ReleaseCidIfUnwanted(uint32_t cid);
  format::Cid CidOf(uint32_t cid) const;
  uint32_t FindPeer(const std::string& peer) const;
  uint32_t AddPeer(const std::string& peer);
  uint32_t FindWant(uint32_t peer, uint32_t cid) const;
  uint32_t FindWant(const std::string& peer, const format::Cid& cid) const;
  uint32_t AddWant(uint32_t peer, uint32_t cid);
  void RemoveWant(uint32_t want);
  void RemovePeerIfEmpty(uint32_t peer);
  ReplyTask ReplyFor(uint32_t want, const format::Cid& cid, std::optional<uint64_t> size) const;
  // Listing of one entry of a message: adds or updates the want, returns the reply to queue.
  std::optional<ReplyTask> List(uint32_t peer, const WantEntry& entry, Version version,
                                const SizeLookup& sizes);
  // `full`: removes the peer's wants not listed since `listed_from`.
  void RemoveUnlisted(uint32_t peer, uint64_t listed_from, LedgerUpdate* update);
  // Brings the peer back to the cap: absent blocks first, then lowest priority, oldest first.
  void Evict(uint32_t peer, LedgerUpdate* update);
  // Drops the replies whose wants the message removed again.
  void DropRepliesOfRemoved(uint32_t peer, LedgerUpdate* update) const;

  LedgerOptions options_;
  std::vector<Want> wants_;
  uint32_t free_want_ = kNone;
  std::vector<CidRecord> cids_;
  uint32_t free_cid_ = kNone;
  IndexTable cid_table_;  // slots in cids_, by CID bytes
  std::vector<PeerRecord> peers_;
  std::vector<uint32_t> free_peers_;
  IndexTable peer_table_;  // slots in peers_, by peer id
  size_t peer_count_ = 0;
  uint64_t next_seq_ = 0;
  size_t total_wants_ = 0;
};

}  // namespace boxcar::bitswap
