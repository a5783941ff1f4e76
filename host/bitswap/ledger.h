// WantLedger: what each connected peer wants from this node (the server side of Bitswap).
//
// It holds two inverted maps, peer → wants and CID → wanting peers, so that a message, a block
// arrival and a disconnect each cost what they touch. It applies a received wantlist with each
// version's semantics and turns it into replies for the request engine:
//   - `full` replaces the peer's list; a cancel removes the want (and the caller's pending task);
//   - identity CIDs and CIDs over kMaxCidBytes are dropped and counted;
//   - want-block for a present block → kBlock; want-have → kHave, or kBlock when the block is at
//     most `inline_have_bytes` (1 KiB, as Boxo and Helia do);
//   - an absent block → kDontHave when the peer asked for it (sendDontHave), and the want stays
//     in the ledger either way, so BlockArrived can send the block when it arrives;
//   - past `max_wants_per_peer` (1,024): wants for absent blocks are dropped first, then the
//     lowest-priority ones, newest losing ties (boxo#629, not its first truncation, which kept
//     stale wants and stalled transfers). Dropped wants are counted, never silently ignored.
// A want leaves the ledger when its block or HAVE is sent (Sent), on cancel, on `full`
// replacement, on overflow, or when the peer disconnects (DropPeer).
//
// Memory: each entry costs about kBytesPerWant in the two maps (measured by the ledger test);
// ApproxBytes reports the total.
//
// Thread safety: not thread-safe; the caller serializes access (the exchange holds one lock per
// shard of peers).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

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

// What applying one message did.
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

class WantLedger {
 public:
  // The store's answer for a CID: its size when present, nullopt when absent.
  using SizeLookup = std::function<std::optional<uint64_t>(const format::Cid&)>;

  explicit WantLedger(LedgerOptions options = {});

  void SetOptions(const LedgerOptions& options);
  const LedgerOptions& options() const { return options_; }

  // Applies the wantlist of `message` from `peer` (a message without one changes nothing).
  LedgerUpdate Apply(const std::string& peer, const Message& message, const SizeLookup& sizes);

  // A block arrived in the store: a kBlock reply for each peer that wants it (want-block), a
  // kHave (or kBlock when small) for each want-have.
  std::vector<ReplyTask> BlockArrived(const format::Cid& cid, uint64_t size);

  // A reply went out: a sent block or HAVE satisfies the want, which leaves the ledger. A
  // DONT_HAVE leaves the want in place.
  void Sent(const std::string& peer, const format::Cid& cid, Reply reply);

  // Whether `peer` still wants `cid` (a cancel after the task was queued skips the send).
  bool Wants(const std::string& peer, const format::Cid& cid) const;

  void DropPeer(const std::string& peer);

  size_t peers() const { return by_peer_.size(); }
  size_t wants() const { return total_wants_; }
  size_t PeerWantCount(const std::string& peer) const;
  // The peer's wants, highest priority first (RPC bitswap/wantlist?peer=).
  std::vector<std::pair<format::Cid, WantState>> PeerWants(const std::string& peer) const;
  uint64_t ApproxBytes() const;

 private:
  LedgerOptions options_;
  std::unordered_map<std::string, std::unordered_map<format::Cid, WantState>> by_peer_;
  std::unordered_map<format::Cid, std::vector<std::string>> by_cid_;
  size_t total_wants_ = 0;
};

}  // namespace boxcar::bitswap
