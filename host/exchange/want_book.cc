#include "exchange/want_book.h"

#include <algorithm>

namespace boxcar::exchange {
namespace {

using bitswap::WantEntry;
using bitswap::WantType;

WantEntry Entry(const format::Cid& cid, WantType type) {
  WantEntry entry;
  entry.cid = cid;
  entry.type = type;
  entry.send_dont_have = true;
  return entry;
}

}  // namespace

void WantBook::AddPeer(const p2p::PeerId& peer, bool supports_have, WantClock::time_point now,
                       Outbox* out) {
  auto [it, added] = peers_.try_emplace(peer, Peer{PeerQuality(options_.quality)});
  it->second.supports_have = supports_have;
  if (!added) return;
  for (auto& [key, want] : wants_) {
    if (want.broadcast && !want.ruled_out.count(peer)) AskHave(want, peer, it->second, now, out);
  }
}

void WantBook::RemovePeer(const p2p::PeerId& peer, WantClock::time_point now, Outbox* out) {
  if (!peers_.count(peer)) return;
  for (auto& [key, want] : wants_) {
    want.contacted.erase(peer);  // no cancel to a peer that is gone
    RuleOut(want, peer, now, out);
    want.ruled_out.erase(peer);  // it may come back with the block
  }
  peers_.erase(peer);
  RouteWaiting(now, out);
}

bool WantBook::Want(const format::Cid& cid, const std::optional<p2p::PeerId>& hint,
                    const std::unordered_set<p2p::PeerId>& excluded, WantClock::time_point now,
                    Outbox* out) {
  auto [it, added] = wants_.try_emplace(cid.hash().bytes());
  if (!added) return false;
  WantState& want = it->second;
  want.cid = cid;
  want.ruled_out = excluded;
  if (hint && !excluded.count(*hint)) {
    auto peer = peers_.find(*hint);
    if (peer != peers_.end() && peer->second.in_flight < options_.max_in_flight_per_peer &&
        peer->second.quality.State() != QualityState::kFailing) {
      AskBlock(want, *hint, now, out);
      return true;
    }
  }
  Broadcast(want, now, out);
  return true;
}

void WantBook::Unwant(const format::Cid& cid, Outbox* out) {
  auto it = wants_.find(cid.hash().bytes());
  if (it == wants_.end()) return;
  WantState& want = it->second;
  if (want.block_peer) ReleaseBlockAsk(want, *want.block_peer);
  for (const p2p::PeerId& peer : want.contacted) SendCancel(want, peer, out);
  RememberEnded(it->first);
  wants_.erase(it);
}

void WantBook::OnHave(const p2p::PeerId& peer, const format::Cid& cid, WantClock::time_point now,
                      Outbox* out) {
  auto it = wants_.find(cid.hash().bytes());
  auto state = peers_.find(peer);
  if (it == wants_.end() || state == peers_.end()) return;
  WantState& want = it->second;
  if (want.ruled_out.count(peer)) return;
  auto ask = want.asked.find(peer);
  if (ask != want.asked.end() && !ask->second.block) {
    state->second.quality.OnAnswer(now - ask->second.sent, false, 0);
    want.asked.erase(ask);
  }
  if (want.block_peer == peer) return;
  if (std::find(want.candidates.begin(), want.candidates.end(), peer) == want.candidates.end()) {
    want.candidates.push_back(peer);
  }
  if (!want.block_peer) Route(want, now, out);
}

void WantBook::OnDontHave(const p2p::PeerId& peer, const format::Cid& cid,
                          WantClock::time_point now, Outbox* out) {
  auto it = wants_.find(cid.hash().bytes());
  auto state = peers_.find(peer);
  if (it == wants_.end() || state == peers_.end()) return;
  WantState& want = it->second;
  auto ask = want.asked.find(peer);
  if (ask != want.asked.end()) state->second.quality.OnAnswer(now - ask->second.sent, true, 0);
  want.contacted.erase(peer);  // it holds no want of ours for this block any more
  RuleOut(want, peer, now, out);
  RouteWaiting(now, out);
}

std::optional<format::Cid> WantBook::OnBlock(const p2p::PeerId& peer, const format::Cid& cid,
                                             uint64_t bytes, WantClock::time_point now,
                                             Outbox* out) {
  auto it = wants_.find(cid.hash().bytes());
  if (it == wants_.end()) return std::nullopt;
  WantState& want = it->second;
  auto state = peers_.find(peer);
  auto ask = want.asked.find(peer);
  if (state != peers_.end() && ask != want.asked.end()) {
    state->second.quality.OnAnswer(now - ask->second.sent, false, bytes);
  }
  if (want.block_peer) ReleaseBlockAsk(want, *want.block_peer);
  for (const p2p::PeerId& other : want.contacted) {
    if (other != peer) SendCancel(want, other, out);
  }
  format::Cid wanted_as = std::move(want.cid);
  RememberEnded(it->first);
  wants_.erase(it);
  RouteWaiting(now, out);
  return wanted_as;
}

void WantBook::OnBadBlock(const p2p::PeerId& peer, WantClock::time_point now, Outbox* out) {
  auto state = peers_.find(peer);
  if (state == peers_.end()) return;
  state->second.quality.OnBadBlock();
  for (auto& [key, want] : wants_) RuleOut(want, peer, now, out);
  RouteWaiting(now, out);
}

void WantBook::Tick(WantClock::time_point now, Outbox* out) {
  for (auto& [key, want] : wants_) ExpireAsks(want, now, out);
  RouteWaiting(now, out);
}

std::vector<format::Cid> WantBook::Wanted() const {
  std::vector<format::Cid> cids;
  cids.reserve(wants_.size());
  for (const auto& [key, want] : wants_) cids.push_back(want.cid);
  return cids;
}

const PeerQuality* WantBook::Quality(const p2p::PeerId& peer) const {
  auto it = peers_.find(peer);
  return it == peers_.end() ? nullptr : &it->second.quality;
}

uint32_t WantBook::InFlight(const p2p::PeerId& peer) const {
  auto it = peers_.find(peer);
  return it == peers_.end() ? 0 : it->second.in_flight;
}

std::array<uint64_t, kQualityStates> WantBook::PeersByState() const {
  std::array<uint64_t, kQualityStates> counts{};
  for (const auto& [id, peer] : peers_) ++counts[static_cast<size_t>(peer.quality.State())];
  return counts;
}

void WantBook::Broadcast(WantState& want, WantClock::time_point now, Outbox* out) {
  want.broadcast = true;
  for (auto& [id, peer] : peers_) {
    if (!want.ruled_out.count(id) && !want.asked.count(id) && want.block_peer != id) {
      AskHave(want, id, peer, now, out);
    }
  }
}

void WantBook::AskHave(WantState& want, const p2p::PeerId& peer, Peer& state,
                       WantClock::time_point now, Outbox* out) {
  // A peer without want-have gets want-block; it is not counted in flight, since it may hold
  // nothing and will never say so.
  (*out)[peer].push_back(Entry(want.cid, state.supports_have ? WantType::kHave : WantType::kBlock));
  want.asked[peer] = Ask{now, false};
  want.contacted.insert(peer);
}

void WantBook::AskBlock(WantState& want, const p2p::PeerId& peer, WantClock::time_point now,
                        Outbox* out) {
  (*out)[peer].push_back(Entry(want.cid, WantType::kBlock));
  want.asked[peer] = Ask{now, true};
  want.contacted.insert(peer);
  want.block_peer = peer;
  ++peers_[peer].in_flight;
  want.candidates.erase(std::remove(want.candidates.begin(), want.candidates.end(), peer),
                        want.candidates.end());
}

bool WantBook::Route(WantState& want, WantClock::time_point now, Outbox* out) {
  const p2p::PeerId* best = nullptr;
  double best_rank = 0;
  for (const p2p::PeerId& id : want.candidates) {
    auto peer = peers_.find(id);
    if (peer == peers_.end() || peer->second.in_flight >= options_.max_in_flight_per_peer) {
      continue;
    }
    const double rank = peer->second.quality.Rank();
    if (best == nullptr || rank < best_rank) {
      best = &id;
      best_rank = rank;
    }
  }
  if (best == nullptr) return false;
  const p2p::PeerId chosen = *best;
  AskBlock(want, chosen, now, out);
  return true;
}

void WantBook::RouteWaiting(WantClock::time_point now, Outbox* out) {
  for (auto& [key, want] : wants_) {
    if (!want.block_peer && !want.candidates.empty()) Route(want, now, out);
  }
}

void WantBook::ReleaseBlockAsk(WantState& want, const p2p::PeerId& peer) {
  if (want.block_peer != peer) return;
  auto state = peers_.find(peer);  // before the reset: `peer` may be *want.block_peer
  want.block_peer.reset();
  if (state != peers_.end() && state->second.in_flight > 0) --state->second.in_flight;
}

void WantBook::RuleOut(WantState& want, const p2p::PeerId& peer, WantClock::time_point now,
                       Outbox* out) {
  want.ruled_out.insert(peer);
  want.asked.erase(peer);
  want.candidates.erase(std::remove(want.candidates.begin(), want.candidates.end(), peer),
                        want.candidates.end());
  if (want.block_peer == peer) {
    ReleaseBlockAsk(want, peer);
    Recover(want, now, out);
  }
}

// The want-block failed: the next candidate, else (a hinted want never broadcast) everyone.
void WantBook::Recover(WantState& want, WantClock::time_point now, Outbox* out) {
  if (Route(want, now, out)) return;
  if (!want.broadcast) Broadcast(want, now, out);
}

void WantBook::SendCancel(const WantState& want, const p2p::PeerId& peer, Outbox* out) {
  WantEntry entry;
  entry.cid = want.cid;
  entry.cancel = true;
  (*out)[peer].push_back(std::move(entry));
}

void WantBook::ExpireAsks(WantState& want, WantClock::time_point now, Outbox* out) {
  std::vector<p2p::PeerId> expired;
  for (const auto& [id, ask] : want.asked) {
    auto peer = peers_.find(id);
    if (peer != peers_.end() && now - ask.sent >= peer->second.quality.Timeout()) {
      expired.push_back(id);
    }
  }
  for (const p2p::PeerId& id : expired) {
    Peer& peer = peers_[id];
    peer.quality.OnTimeout();
    if (!want.asked[id].block) {
      want.asked.erase(id);
      continue;
    }
    // The slow peer stays a fallback at the back of the line; another candidate takes over.
    ReleaseBlockAsk(want, id);
    want.asked.erase(id);
    if (Route(want, now, out)) {
      SendCancel(want, id, out);
      want.contacted.erase(id);
      want.candidates.push_back(id);
    } else {
      want.asked[id] = Ask{now, true};  // no alternative: keep waiting on it
      want.block_peer = id;
      ++peer.in_flight;
      if (!want.broadcast) Broadcast(want, now, out);
    }
  }
}

void WantBook::RememberEnded(const std::string& key) {
  if (!recent_set_.insert(key).second) return;
  recent_.push_back(key);
  if (recent_.size() > kRecentWants) {
    recent_set_.erase(recent_.front());
    recent_.pop_front();
  }
}

}  // namespace boxcar::exchange
