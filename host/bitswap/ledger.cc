#include "bitswap/ledger.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace boxcar::bitswap {
namespace {

static_assert(kLedgerCidBytes <= kMaxCidBytes);

constexpr uint8_t kWantHave = 1, kSendDontHave = 2, kPresent = 4;

uint32_t HashBytes(std::string_view bytes) {
  return static_cast<uint32_t>(std::hash<std::string_view>{}(bytes));
}

}  // namespace

WantLedger::WantLedger(LedgerOptions options) : options_(options) {}

void WantLedger::SetOptions(const LedgerOptions& options) { options_ = options; }

// --- interned CIDs ---

uint32_t WantLedger::FindCid(std::string_view bytes, uint32_t hash) const {
  return cid_table_.Find(hash, [&](uint32_t slot) {
    return cids_[slot].hash == hash && cids_[slot].bytes() == bytes;
  });
}

uint32_t WantLedger::InternCid(const format::Cid& cid) {
  const std::string_view bytes = cid.bytes();
  const uint32_t hash = HashBytes(bytes);
  if (const uint32_t found = FindCid(bytes, hash); found != kNone) return found;
  uint32_t slot = free_cid_;
  if (slot != kNone) {
    free_cid_ = cids_[slot].head;
  } else {
    slot = static_cast<uint32_t>(cids_.size());
    cids_.emplace_back();
  }
  CidRecord& record = cids_[slot];
  record.hash = hash;
  record.head = kNone;
  record.size = static_cast<uint8_t>(bytes.size());
  std::memcpy(record.stored, bytes.data(), bytes.size());
  cid_table_.Insert(slot, hash, [this](uint32_t s) { return cids_[s].hash; });
  return slot;
}

void WantLedger::ReleaseCidIfUnwanted(uint32_t cid) {
  CidRecord& record = cids_[cid];
  if (record.head != kNone) return;
  cid_table_.Erase(cid, record.hash, [this](uint32_t s) { return cids_[s].hash; });
  record.head = free_cid_;
  free_cid_ = cid;
}

format::Cid WantLedger::CidOf(uint32_t cid) const {
  format::Cid out;
  // The bytes came from a parsed CID, so they parse again.
  (void)format::Cid::FromBytes(cids_[cid].bytes(), &out);
  return out;
}

// --- peers ---

uint32_t WantLedger::FindPeer(const std::string& peer) const {
  return peer_table_.Find(HashBytes(peer), [&](uint32_t slot) { return peers_[slot].id == peer; });
}

uint32_t WantLedger::AddPeer(const std::string& peer) {
  uint32_t slot;
  if (!free_peers_.empty()) {
    slot = free_peers_.back();
    free_peers_.pop_back();
  } else {
    slot = static_cast<uint32_t>(peers_.size());
    peers_.emplace_back();
  }
  peers_[slot].id = peer;
  peer_table_.Insert(slot, HashBytes(peer), [this](uint32_t s) { return HashBytes(peers_[s].id); });
  ++peer_count_;
  return slot;
}

void WantLedger::RemovePeerIfEmpty(uint32_t peer) {
  if (peers_[peer].wants.size() != 0) return;
  peer_table_.Erase(peer, HashBytes(peers_[peer].id),
                    [this](uint32_t s) { return HashBytes(peers_[s].id); });
  peers_[peer] = PeerRecord();
  free_peers_.push_back(peer);
  --peer_count_;
}

// --- wants ---

uint32_t WantLedger::FindWant(uint32_t peer, uint32_t cid) const {
  return peers_[peer].wants.Find(cid, [&](uint32_t want) { return wants_[want].cid == cid; });
}

uint32_t WantLedger::AddWant(uint32_t peer, uint32_t cid) {
  uint32_t slot = free_want_;
  if (slot != kNone) {
    free_want_ = wants_[slot].next;
  } else {
    slot = static_cast<uint32_t>(wants_.size());
    wants_.emplace_back();
  }
  Want& want = wants_[slot];
  want = Want();
  want.peer = peer;
  want.cid = cid;
  want.next = cids_[cid].head;
  if (want.next != kNone) wants_[want.next].prev = slot;
  cids_[cid].head = slot;
  peers_[peer].wants.Insert(slot, cid, [this](uint32_t w) { return wants_[w].cid; });
  ++total_wants_;
  return slot;
}

void WantLedger::RemoveWant(uint32_t slot) {
  Want& want = wants_[slot];
  if (want.prev != kNone) {
    wants_[want.prev].next = want.next;
  } else {
    cids_[want.cid].head = want.next;
  }
  if (want.next != kNone) wants_[want.next].prev = want.prev;
  peers_[want.peer].wants.Erase(slot, want.cid, [this](uint32_t w) { return wants_[w].cid; });
  const uint32_t cid = want.cid;
  want = Want();
  want.next = free_want_;
  free_want_ = slot;
  --total_wants_;
  ReleaseCidIfUnwanted(cid);
}

ReplyTask WantLedger::ReplyFor(uint32_t slot, const format::Cid& cid,
                               std::optional<uint64_t> size) const {
  const Want& want = wants_[slot];
  ReplyTask task{peers_[want.peer].id, cid, Reply::kDontHave, want.priority, 0};
  if (size) {
    const bool small = *size <= options_.inline_have_bytes;
    task.reply = (want.flags & kWantHave) == 0 || small ? Reply::kBlock : Reply::kHave;
    task.size = *size;
  }
  return task;
}

std::optional<ReplyTask> WantLedger::List(uint32_t peer, const WantEntry& entry, Version version,
                                          const SizeLookup& sizes) {
  const uint32_t cid = InternCid(entry.cid);
  uint32_t slot = FindWant(peer, cid);
  const bool wanted_as_block = slot != kNone && (wants_[slot].flags & kWantHave) == 0;
  if (slot == kNone) slot = AddWant(peer, cid);
  const std::optional<uint64_t> size = sizes(entry.cid);
  uint8_t flags = size ? kPresent : 0;
  if (version == Version::k120) {
    if (entry.type == WantType::kHave && !wanted_as_block) flags |= kWantHave;
    if (entry.send_dont_have) flags |= kSendDontHave;
  }
  Want& want = wants_[slot];
  want.flags = flags;
  want.priority = entry.priority;
  want.seq = next_seq_++;
  if (!size && (flags & kSendDontHave) == 0) return std::nullopt;
  return ReplyFor(slot, entry.cid, size);
}

void WantLedger::RemoveUnlisted(uint32_t peer, uint64_t listed_from, LedgerUpdate* update) {
  std::vector<uint32_t> stale;
  peers_[peer].wants.ForEach([&](uint32_t want) {
    if (wants_[want].seq < listed_from) stale.push_back(want);
  });
  for (const uint32_t want : stale) {
    update->cancelled.push_back(CidOf(wants_[want].cid));
    RemoveWant(want);
  }
}

void WantLedger::Evict(uint32_t peer, LedgerUpdate* update) {
  std::vector<uint32_t> order;
  order.reserve(peers_[peer].wants.size());
  peers_[peer].wants.ForEach([&](uint32_t want) { order.push_back(want); });
  const size_t excess = order.size() - options_.max_wants_per_peer;
  std::nth_element(order.begin(), order.begin() + static_cast<ptrdiff_t>(excess), order.end(),
                   [this](uint32_t a, uint32_t b) {
                     const Want& x = wants_[a];
                     const Want& y = wants_[b];
                     const bool x_present = (x.flags & kPresent) != 0;
                     const bool y_present = (y.flags & kPresent) != 0;
                     if (x_present != y_present) return y_present;
                     if (x.priority != y.priority) return x.priority < y.priority;
                     return x.seq < y.seq;
                   });
  for (size_t i = 0; i < excess; ++i) {
    update->cancelled.push_back(CidOf(wants_[order[i]].cid));
    RemoveWant(order[i]);
  }
  update->dropped_overflow += excess;
  DropRepliesOfRemoved(peer, update);
}

void WantLedger::DropRepliesOfRemoved(uint32_t peer, LedgerUpdate* update) const {
  std::erase_if(update->replies, [&](const ReplyTask& reply) {
    const std::string_view bytes = reply.cid.bytes();
    const uint32_t cid = FindCid(bytes, HashBytes(bytes));
    return cid == kNone || FindWant(peer, cid) == kNone;
  });
}

LedgerUpdate WantLedger::Apply(const std::string& peer_id, const Message& message,
                               const SizeLookup& sizes, Version version) {
  LedgerUpdate update;
  if (!message.has_wantlist) return update;
  const uint64_t listed_from = next_seq_;
  uint32_t peer = FindPeer(peer_id);
  bool cancelled_listed = false;  // a want this message listed, then cancelled
  for (const WantEntry& entry : message.wants) {
    // kLedgerCidBytes is under Boxo's kMaxCidBytes, so this drops all that Boxo drops.
    if (entry.cid.IsIdentity() || entry.cid.bytes().size() > kLedgerCidBytes) {
      ++update.dropped_invalid_cids;
      continue;
    }
    if (entry.cancel) {
      const std::string_view bytes = entry.cid.bytes();
      const uint32_t cid = peer == kNone ? kNone : FindCid(bytes, HashBytes(bytes));
      const uint32_t want = cid == kNone ? kNone : FindWant(peer, cid);
      if (want != kNone) {
        cancelled_listed |= wants_[want].seq >= listed_from;
        RemoveWant(want);
        update.cancelled.push_back(entry.cid);
      }
      continue;
    }
    if (peer == kNone) peer = AddPeer(peer_id);
    if (auto reply = List(peer, entry, version, sizes)) update.replies.push_back(std::move(*reply));
  }
  if (peer == kNone) return update;
  if (cancelled_listed) DropRepliesOfRemoved(peer, &update);
  if (message.full) RemoveUnlisted(peer, listed_from, &update);
  if (peers_[peer].wants.size() > options_.max_wants_per_peer) Evict(peer, &update);
  RemovePeerIfEmpty(peer);
  return update;
}

std::vector<ReplyTask> WantLedger::BlockArrived(const format::Cid& cid, uint64_t size) {
  std::vector<ReplyTask> replies;
  const uint32_t slot = FindCid(cid.bytes(), HashBytes(cid.bytes()));
  if (slot == kNone) return replies;
  for (uint32_t want = cids_[slot].head; want != kNone; want = wants_[want].next) {
    wants_[want].flags |= kPresent;
    replies.push_back(ReplyFor(want, cid, size));
  }
  return replies;
}

uint32_t WantLedger::FindWant(const std::string& peer_id, const format::Cid& cid) const {
  const uint32_t peer = FindPeer(peer_id);
  if (peer == kNone) return kNone;
  const uint32_t slot = FindCid(cid.bytes(), HashBytes(cid.bytes()));
  return slot == kNone ? kNone : FindWant(peer, slot);
}

void WantLedger::Sent(const std::string& peer, const format::Cid& cid, Reply reply) {
  if (reply == Reply::kDontHave) return;
  const uint32_t want = FindWant(peer, cid);
  if (want == kNone) return;
  // A HAVE satisfies a want-have only: the peer may have asked for the block since.
  if (reply == Reply::kHave && (wants_[want].flags & kWantHave) == 0) return;
  const uint32_t owner = wants_[want].peer;
  RemoveWant(want);
  RemovePeerIfEmpty(owner);
}

bool WantLedger::Wants(const std::string& peer, const format::Cid& cid) const {
  return FindWant(peer, cid) != kNone;
}

void WantLedger::DropPeer(const std::string& peer_id) {
  const uint32_t peer = FindPeer(peer_id);
  if (peer == kNone) return;
  std::vector<uint32_t> wants;
  peers_[peer].wants.ForEach([&](uint32_t want) { wants.push_back(want); });
  for (const uint32_t want : wants) RemoveWant(want);
  RemovePeerIfEmpty(peer);
}

size_t WantLedger::PeerWantCount(const std::string& peer_id) const {
  const uint32_t peer = FindPeer(peer_id);
  return peer == kNone ? 0 : peers_[peer].wants.size();
}

std::vector<std::pair<format::Cid, WantState>> WantLedger::PeerWants(
    const std::string& peer_id) const {
  std::vector<std::pair<format::Cid, WantState>> out;
  const uint32_t peer = FindPeer(peer_id);
  if (peer == kNone) return out;
  std::vector<uint32_t> order;
  peers_[peer].wants.ForEach([&](uint32_t want) { order.push_back(want); });
  std::sort(order.begin(), order.end(), [this](uint32_t a, uint32_t b) {
    if (wants_[a].priority != wants_[b].priority) return wants_[a].priority > wants_[b].priority;
    return wants_[a].seq < wants_[b].seq;
  });
  out.reserve(order.size());
  for (const uint32_t slot : order) {
    const Want& want = wants_[slot];
    const WantType type = (want.flags & kWantHave) != 0 ? WantType::kHave : WantType::kBlock;
    out.emplace_back(CidOf(want.cid),
                     WantState{want.priority, type, (want.flags & kSendDontHave) != 0});
  }
  return out;
}

uint64_t WantLedger::ApproxBytes() const {
  uint64_t bytes = sizeof(*this) + wants_.capacity() * sizeof(Want) +
                   cids_.capacity() * sizeof(CidRecord) + cid_table_.bytes() +
                   peers_.capacity() * sizeof(PeerRecord) +
                   free_peers_.capacity() * sizeof(uint32_t) + peer_table_.bytes();
  for (const PeerRecord& peer : peers_) {
    bytes += peer.wants.bytes();
    // std::string keeps up to 15 characters inline.
    if (peer.id.capacity() > 15) bytes += peer.id.capacity() + 1;
  }
  return bytes;
}

}  // namespace boxcar::bitswap
