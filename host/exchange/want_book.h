// WantBook: the Bitswap client's want scheduling, without I/O or threads, so its rules can be
// tested with a fake clock. For each wanted block it decides whom to ask and how:
//
//  - A want starts with a want-block to a hinted peer (one that delivered the block's parent,
//    so likely holds the rest of the DAG) when that peer has room, else with a want-have +
//    sendDontHave broadcast to every connected peer that is not ruled out.
//  - A HAVE makes the peer a candidate; the want's block is asked from the best-ranked
//    candidate (PeerQuality::Rank) with fewer than max_in_flight_per_peer want-blocks
//    outstanding. One want-block per want is outstanding at a time, so blocks are not fetched
//    twice; the other candidates are the alternate routes.
//  - A DONT_HAVE, a disconnect or a bad block rules the peer out for that want (a bad block: for
//    every current want). A want-block that outlives the peer's timeout (PeerQuality::Timeout)
//    is counted against the peer and moved to the next candidate, with a cancel to the slow
//    peer; with no other candidate it stays where it is. A want-have that outlives it is
//    counted and forgotten (a late HAVE is still taken). When a hinted want-block fails, the
//    want is broadcast.
//  - A block that arrives ends its want and sends a cancel to every other peer asked.
//
// Peers speaking 1.0.0/1.1.0 (no want-have) get want-block in the broadcast instead.
// Entries to send are appended to an Outbox, per peer, in order; the caller encodes them.
// Wants are keyed by multihash, so a block answers a want whatever its CID version or codec.
//
// Thread safety: none; the client calls it under its own lock.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "bitswap/message.h"
#include "exchange/peer_quality.h"
#include "format/cid.h"
#include "p2p/peer_id.h"

namespace boxcar::exchange {

using WantClock = std::chrono::steady_clock;
using Outbox = std::map<p2p::PeerId, std::vector<bitswap::WantEntry>>;

struct WantBookOptions {
  uint32_t max_in_flight_per_peer = 64;
  QualityLimits quality;
};

class WantBook {
 public:
  explicit WantBook(WantBookOptions options) : options_(options) {}

  // A connected peer: it is asked for every broadcast want. `supports_have`: it speaks 1.2.0.
  void AddPeer(const p2p::PeerId& peer, bool supports_have, WantClock::time_point now, Outbox* out);
  // Its wants move to other candidates. Its quality is forgotten.
  void RemovePeer(const p2p::PeerId& peer, WantClock::time_point now, Outbox* out);

  // Starts wanting `cid`; false when it is already wanted. `hint`: a peer likely to hold it;
  // `excluded`: peers never to ask for it (they sent a wrong block to this fetch).
  bool Want(const format::Cid& cid, const std::optional<p2p::PeerId>& hint,
            const std::unordered_set<p2p::PeerId>& excluded, WantClock::time_point now,
            Outbox* out);
  // Stops wanting `cid` (nobody waits for it any more): cancels at every peer asked.
  void Unwant(const format::Cid& cid, Outbox* out);

  void OnHave(const p2p::PeerId& peer, const format::Cid& cid, WantClock::time_point now,
              Outbox* out);
  void OnDontHave(const p2p::PeerId& peer, const format::Cid& cid, WantClock::time_point now,
                  Outbox* out);
  // A verified block. Returns the CID it was wanted as (the caller stores it under that), or
  // nullopt when it was not wanted (a duplicate, or unsolicited).
  std::optional<format::Cid> OnBlock(const p2p::PeerId& peer, const format::Cid& cid,
                                     uint64_t bytes, WantClock::time_point now, Outbox* out);
  // A block that did not match its CID: the peer is ruled out for every current want.
  void OnBadBlock(const p2p::PeerId& peer, WantClock::time_point now, Outbox* out);
  // Applies the timeouts due at `now`.
  void Tick(WantClock::time_point now, Outbox* out);

  bool wanted(const format::Cid& cid) const { return wants_.count(cid.hash().bytes()) > 0; }
  // True for a block wanted until recently (the last kRecentWants ended wants): a copy that
  // arrives late is a duplicate. A block neither wanted nor recently wanted is one nobody asked
  // for — the decoder rebuilds a block's CID from its bytes, so that is how a peer answering a
  // want with the wrong bytes shows up.
  bool RecentlyWanted(const format::Cid& cid) const {
    return recent_set_.count(cid.hash().bytes()) > 0;
  }
  static constexpr size_t kRecentWants = 8192;
  std::vector<format::Cid> Wanted() const;
  size_t size() const { return wants_.size(); }
  // Null for a peer that is not connected.
  const PeerQuality* Quality(const p2p::PeerId& peer) const;
  uint32_t InFlight(const p2p::PeerId& peer) const;
  std::array<uint64_t, kQualityStates> PeersByState() const;

 private:
  struct Ask {
    WantClock::time_point sent;
    bool block = false;  // a want-block counted in the peer's in-flight
  };
  struct WantState {
    format::Cid cid;
    std::unordered_map<p2p::PeerId, Ask> asked;  // questions without an answer yet
    std::vector<p2p::PeerId> candidates;         // said HAVE; not being asked for the block
    std::unordered_set<p2p::PeerId> ruled_out;   // DONT_HAVE, disconnected, bad block
    std::unordered_set<p2p::PeerId> contacted;   // sent anything: they get the cancel
    std::optional<p2p::PeerId> block_peer;       // the want-block outstanding
    bool broadcast = false;
  };
  struct Peer {
    PeerQuality quality;
    bool supports_have = true;
    uint32_t in_flight = 0;
  };

  void Broadcast(WantState& want, WantClock::time_point now, Outbox* out);
  void AskHave(WantState& want, const p2p::PeerId& peer, Peer& state, WantClock::time_point now,
               Outbox* out);
  void AskBlock(WantState& want, const p2p::PeerId& peer, WantClock::time_point now, Outbox* out);
  // Asks the best candidate with room for the block; false when none has room.
  bool Route(WantState& want, WantClock::time_point now, Outbox* out);
  // Routes every want that has candidates and no want-block outstanding.
  void RouteWaiting(WantClock::time_point now, Outbox* out);
  // Ends the outstanding want-block at `peer`, if there is one.
  void ReleaseBlockAsk(WantState& want, const p2p::PeerId& peer);
  // The peer answered (or can no longer answer): forget the question and the candidacy.
  void RuleOut(WantState& want, const p2p::PeerId& peer, WantClock::time_point now, Outbox* out);
  void Recover(WantState& want, WantClock::time_point now, Outbox* out);
  void SendCancel(const WantState& want, const p2p::PeerId& peer, Outbox* out);
  void ExpireAsks(WantState& want, WantClock::time_point now, Outbox* out);
  void RememberEnded(const std::string& key);

  WantBookOptions options_;
  std::unordered_map<std::string, WantState> wants_;  // by multihash bytes
  std::unordered_map<p2p::PeerId, Peer> peers_;
  std::deque<std::string> recent_;  // ended wants, oldest first
  std::unordered_set<std::string> recent_set_;
};

}  // namespace boxcar::exchange
