#include "exchange/server.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "engine/request_engine.h"
#include "exchange/server_metrics.h"
#include "obs/metrics.h"
#include "store/blockstore.h"
#include "swarm/swarm.h"

namespace boxcar::exchange {
namespace {

namespace asio = boost::asio;
using bitswap::Reply;
using bitswap::ReplyTask;

// What a HAVE or DONT_HAVE costs a peer's budget: about its encoded size.
constexpr uint64_t kPresenceCost = 64;
// Score sampling, as Boxo's score ledger: short and long EWMAs of the blocks exchanged.
constexpr auto kScoreInterval = std::chrono::seconds(10);
constexpr double kShortAlpha = 0.5, kLongAlpha = 0.05;
constexpr char kScoreTag[] = "bitswap";

// One reply inside an outgoing message: its engine task, released when the message is sent.
struct Record {
  Task task;
  format::Cid cid;
  Reply reply = Reply::kBlock;
  uint64_t bytes = 0;  // block bytes; 0 for a presence
};

struct PeerState {
  PeerState(p2p::PeerId p, bitswap::Version v) : id(std::move(p)), key(id.ToString()), version(v) {}

  const p2p::PeerId id;
  const std::string key;  // the engine's and the ledger's name for the peer
  bitswap::Version version;

  // Under Impl::mu_: replies with a task in the engine (a repeated want does not queue twice),
  // and the score.
  std::unordered_map<format::Cid, Reply> queued;
  uint64_t blocks_at_last_tick = 0;
  // Block bytes of the replies still queued: the pendingBytes each message reports.
  std::atomic<uint64_t> pending_bytes{0};
  double short_score = 0, long_score = 0;
  int ticks = 0;

  // The message being filled.
  std::mutex outbox_mu;
  std::unique_ptr<bitswap::Encoder> encoder;
  std::vector<Record> records;
  bool flush_posted = false;
  // Finished messages: those handed to the network and not yet accepted (their bytes), and
  // those waiting for room.
  uint64_t inflight_bytes = 0;
  std::deque<std::pair<std::string, std::vector<Record>>> held;

  std::atomic<uint64_t> bytes_sent{0}, bytes_received{0}, blocks_sent{0}, blocks_received{0};
};

}  // namespace

struct BitswapServer::Impl : std::enable_shared_from_this<BitswapServer::Impl> {
  Impl(BitswapNetwork& n, engine::RequestEngine& e, store::BlockStore& s, p2p::Swarm& w,
       obs::MetricsRegistry& m, ServerOptions o)
      : network(n),
        engine(e),
        store(s),
        swarm(w),
        metrics(*m.registry()),
        ledger(o.ledger),
        target_message_bytes(o.target_message_bytes),
        score_timer(pump) {}

  BitswapNetwork& network;
  engine::RequestEngine& engine;
  store::BlockStore& store;
  p2p::Swarm& swarm;
  ServerMetrics metrics;

  mutable std::mutex mu;  // ledger and peers
  bitswap::WantLedger ledger;
  std::map<std::string, std::shared_ptr<PeerState>, std::less<>> peers;
  std::atomic<uint64_t> target_message_bytes;
  std::atomic<uint64_t> max_inflight_bytes;

  asio::io_context pump{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> pump_guard;
  std::thread pump_thread;
  std::atomic<bool> pump_scheduled{false};
  std::atomic<bool> stopped{false};
  asio::steady_timer score_timer;
  int wakeup_id = 0;

  std::atomic<uint64_t> messages_received{0}, blocks_sent{0}, data_sent{0};

  std::shared_ptr<PeerState> FindPeer(std::string_view key) const {
    std::lock_guard lock(mu);
    auto it = peers.find(key);
    return it == peers.end() ? nullptr : it->second;
  }

  // One engine batch per turn of the pump thread, so flushes posted by the batch's tasks go out
  // between batches instead of after the whole queue.
  void KickPump() {
    if (stopped.load() || pump_scheduled.exchange(true)) return;
    asio::post(pump, [self = shared_from_this()] { self->PumpOnce(); });
  }

  void PumpOnce() {
    pump_scheduled.store(false);
    if (stopped.load()) return;
    if (engine.Pump()) KickPump();
  }

  void ApplyWantlist(const std::shared_ptr<PeerState>& peer, bitswap::Version version,
                     const bitswap::Message& message);
  void Submit(const std::shared_ptr<PeerState>& peer, const ReplyTask& reply);
  void Deliver(const std::shared_ptr<PeerState>& peer, const ReplyTask& reply, const Task& task,
               engine::ReadResult* read);
  void Dropped(const std::shared_ptr<PeerState>& peer, const ReplyTask& reply, const Task& task);
  void AddToOutbox(const std::shared_ptr<PeerState>& peer, Record record,
                   const std::string_view* block);
  void Flush(const std::shared_ptr<PeerState>& peer);
  void SendHeld(const std::shared_ptr<PeerState>& peer);
  void MessageDone(const std::shared_ptr<PeerState>& peer, std::vector<Record> records,
                   const Status& status);
  void ScoreTick();

  class ReplyWork;
};

// A reply as an engine task. The engine reads the block (for kBlock) in its batched store path,
// then runs it on a pumping thread.
class BitswapServer::Impl::ReplyWork final : public engine::Work {
 public:
  ReplyWork(std::shared_ptr<BitswapServer::Impl> server, std::shared_ptr<PeerState> peer,
            ReplyTask reply)
      : server_(std::move(server)), peer_(std::move(peer)), reply_(std::move(reply)) {}

  const format::Cid* block() const override {
    return reply_.reply == Reply::kBlock ? &reply_.cid : nullptr;
  }
  void Run(const Task& task, engine::ReadResult* read) override {
    server_->Deliver(peer_, reply_, task, read);
  }
  void Shed(const Task& task, int) override { server_->Dropped(peer_, reply_, task); }

 private:
  std::shared_ptr<BitswapServer::Impl> server_;
  std::shared_ptr<PeerState> peer_;
  ReplyTask reply_;
};

void BitswapServer::Impl::ApplyWantlist(const std::shared_ptr<PeerState>& peer,
                                        bitswap::Version version, const bitswap::Message& message) {
  // Sizes are looked up before taking the lock: a look-up may reach the persistent tier.
  std::unordered_map<format::Cid, std::optional<uint64_t>> sizes;
  for (const bitswap::WantEntry& want : message.wants) {
    if (want.cancel || want.cid.IsIdentity() || want.cid.bytes().size() > bitswap::kMaxCidBytes) {
      continue;
    }
    uint64_t size = 0;
    sizes[want.cid] =
        store.Has(want.cid, &size).ok() ? std::optional<uint64_t>(size) : std::nullopt;
  }
  bitswap::LedgerUpdate update;
  {
    std::lock_guard lock(mu);
    update = ledger.Apply(
        peer->key, message,
        [&](const format::Cid& cid) {
          auto it = sizes.find(cid);
          return it == sizes.end() ? std::nullopt : it->second;
        },
        version);
    for (const format::Cid& cid : update.cancelled) peer->queued.erase(cid);
  }
  metrics.Wants(message, update);
  for (const ReplyTask& reply : update.replies) Submit(peer, reply);
}

void BitswapServer::Impl::Submit(const std::shared_ptr<PeerState>& peer, const ReplyTask& reply) {
  {
    std::lock_guard lock(mu);
    auto [it, fresh] = peer->queued.emplace(reply.cid, reply.reply);
    // A want-block after a queued HAVE still needs its block; anything else is already coming.
    if (!fresh && !(it->second != Reply::kBlock && reply.reply == Reply::kBlock)) return;
    it->second = reply.reply;
  }
  const bool block = reply.reply == Reply::kBlock;
  if (block) peer->pending_bytes += reply.size;  // before the task can run and take it off
  const engine::SubmitResult result =
      engine.Submit(block ? TaskClass::kInteractive : TaskClass::kBackground, peer->key,
                    block ? std::max<uint64_t>(reply.size, 1) : kPresenceCost,
                    std::make_shared<ReplyWork>(shared_from_this(), peer, reply));
  if (result.refusal == engine::Refusal::kNone) {
    KickPump();
    return;
  }
  if (block) peer->pending_bytes -= reply.size;
  // Shed: the want stays in the ledger, so a later wantlist or the block's arrival retries it.
  metrics.shed.Increment();
  std::lock_guard lock(mu);
  peer->queued.erase(reply.cid);
}

void BitswapServer::Impl::Deliver(const std::shared_ptr<PeerState>& peer, const ReplyTask& reply,
                                  const Task& task, engine::ReadResult* read) {
  bool wanted = false;
  if (reply.reply == Reply::kBlock) peer->pending_bytes -= reply.size;
  {
    std::lock_guard lock(mu);
    peer->queued.erase(reply.cid);
    wanted = !stopped.load() && ledger.Wants(peer->key, reply.cid);
  }
  Record record{task, reply.cid, reply.reply, 0};
  if (!wanted) {
    engine.Complete(task, 0);  // cancelled or disconnected while queued
    return;
  }
  if (reply.reply != Reply::kBlock) {
    AddToOutbox(peer, std::move(record), nullptr);
    return;
  }
  if (read == nullptr || !read->status.ok()) {
    // The block went away since the want arrived: the want stays for its return.
    engine.Complete(task, 0);
    return;
  }
  const std::string_view data(*read->data);
  record.bytes = data.size();
  AddToOutbox(peer, std::move(record), &data);
}

void BitswapServer::Impl::Dropped(const std::shared_ptr<PeerState>& peer, const ReplyTask& reply,
                                  const Task& task) {
  metrics.shed.Increment();
  if (reply.reply == Reply::kBlock) peer->pending_bytes -= reply.size;
  {
    std::lock_guard lock(mu);
    peer->queued.erase(reply.cid);
  }
  engine.Complete(task, 0);
}

void BitswapServer::Impl::AddToOutbox(const std::shared_ptr<PeerState>& peer, Record record,
                                      const std::string_view* block) {
  bool flush_now = false, post_flush = false, carried = false;
  {
    std::lock_guard lock(peer->outbox_mu);
    if (!peer->encoder) peer->encoder = std::make_unique<bitswap::Encoder>(peer->version);
    if (block != nullptr) {
      carried = peer->encoder->AddBlock(record.cid, *block);
    } else {
      carried = peer->encoder->AddPresence(record.cid, record.reply == Reply::kHave
                                                           ? bitswap::PresenceType::kHave
                                                           : bitswap::PresenceType::kDontHave);
    }
    if (carried) {
      peer->records.push_back(record);
      flush_now = peer->encoder->size() >= target_message_bytes.load();
      if (!flush_now && !peer->flush_posted) post_flush = peer->flush_posted = true;
    }
  }
  if (!carried) {
    // The peer's version cannot carry it (a presence for 1.0.0/1.1.0, a CIDv1 block for 1.0.0).
    engine.Complete(record.task, 0);
    return;
  }
  if (flush_now) {
    Flush(peer);
  } else if (post_flush) {
    asio::post(pump, [self = shared_from_this(), peer] { self->Flush(peer); });
  }
}

void BitswapServer::Impl::Flush(const std::shared_ptr<PeerState>& peer) {
  {
    std::lock_guard lock(peer->outbox_mu);
    peer->flush_posted = false;
    if (!peer->encoder || peer->records.empty()) return;
    peer->encoder->SetPendingBytes(static_cast<int32_t>(
        std::min<uint64_t>(peer->pending_bytes.load(), std::numeric_limits<int32_t>::max())));
    std::string framed;
    peer->encoder->Finish(&framed);
    peer->held.emplace_back(std::move(framed), std::move(peer->records));
    peer->records.clear();
  }
  SendHeld(peer);
}

// Hands finished messages to the network while the peer's stream has room for them (one always
// goes when nothing is in flight, however large).
void BitswapServer::Impl::SendHeld(const std::shared_ptr<PeerState>& peer) {
  for (;;) {
    std::string framed;
    std::vector<Record> records;
    {
      std::lock_guard lock(peer->outbox_mu);
      if (peer->held.empty()) return;
      const uint64_t size = peer->held.front().first.size();
      if (peer->inflight_bytes > 0 && peer->inflight_bytes + size > max_inflight_bytes.load()) {
        return;  // MessageDone sends it once the stream took an earlier one
      }
      peer->inflight_bytes += size;
      framed = std::move(peer->held.front().first);
      records = std::move(peer->held.front().second);
      peer->held.pop_front();
    }
    const uint64_t size = framed.size();
    network.Send(peer->id, std::move(framed),
                 [self = shared_from_this(), peer, size,
                  records = std::move(records)](const Status& status) mutable {
                   {
                     std::lock_guard lock(peer->outbox_mu);
                     peer->inflight_bytes -= size;
                   }
                   self->MessageDone(peer, std::move(records), status);
                   self->SendHeld(peer);
                 });
  }
}

void BitswapServer::Impl::MessageDone(const std::shared_ptr<PeerState>& peer,
                                      std::vector<Record> records, const Status& status) {
  uint64_t blocks = 0, bytes = 0;
  {
    std::lock_guard lock(mu);
    for (const Record& r : records) {
      if (!status.ok()) continue;
      ledger.Sent(peer->key, r.cid, r.reply);
      if (r.reply == Reply::kBlock) {
        ++blocks;
        bytes += r.bytes;
      }
    }
  }
  for (const Record& r : records) {
    engine.Complete(r.task, status.ok() ? std::max<uint64_t>(r.bytes, kPresenceCost) : 0);
  }
  if (status.ok()) {
    metrics.Sent(records, blocks, bytes);
    peer->blocks_sent += blocks;
    peer->bytes_sent += bytes;
    blocks_sent += blocks;
    data_sent += bytes;
  }
  KickPump();  // completions may have released the peer's backlog
}

// Every 10 s: each peer's score from the blocks exchanged since the last tick, set as its
// connection-manager tag. Boxo weighs peers that send us data above those that only take.
void BitswapServer::Impl::ScoreTick() {
  std::vector<std::pair<p2p::PeerId, int>> tags;
  size_t ledger_peers = 0, ledger_wants = 0;
  {
    std::lock_guard lock(mu);
    ledger_peers = ledger.peers();
    ledger_wants = ledger.wants();
    for (auto& [key, peer] : peers) {
      const uint64_t sent = peer->blocks_sent.load(), received = peer->blocks_received.load();
      const uint64_t exchanged = sent + received;
      const double recent = static_cast<double>(exchanged - peer->blocks_at_last_tick);
      peer->blocks_at_last_tick = exchanged;
      peer->short_score = kShortAlpha * recent + (1 - kShortAlpha) * peer->short_score;
      if (++peer->ticks % 10 == 0) {
        peer->long_score = kLongAlpha * peer->short_score + (1 - kLongAlpha) * peer->long_score;
      }
      const double ratio =
          exchanged == 0 ? 0 : static_cast<double>(received) / static_cast<double>(exchanged);
      const double score = (peer->short_score + peer->long_score) * (0.75 + 0.5 * ratio);
      const int queued = peer->queued.empty() ? 0 : 10;
      tags.emplace_back(peer->id, static_cast<int>(std::min(score, 1000.0)) + queued);
    }
  }
  for (const auto& [peer, value] : tags) swarm.SetTag(peer, kScoreTag, value);
  metrics.Ledger(ledger_peers, ledger_wants);
  score_timer.expires_after(kScoreInterval);
  score_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec && !self->stopped.load()) self->ScoreTick();
  });
}

BitswapServer::BitswapServer(BitswapNetwork& network, engine::RequestEngine& engine,
                             store::BlockStore& store, p2p::Swarm& swarm,
                             obs::MetricsRegistry& metrics, ServerOptions options)
    : impl_(std::make_shared<Impl>(network, engine, store, swarm, metrics, options)) {}

BitswapServer::~BitswapServer() { Stop(); }

void BitswapServer::Start() {
  impl_->pump_guard.emplace(impl_->pump.get_executor());
  impl_->pump_thread = std::thread([impl = impl_.get()] { impl->pump.run(); });
  std::weak_ptr<Impl> weak = impl_;
  impl_->wakeup_id = impl_->engine.AddWakeup([weak] {
    if (auto impl = weak.lock()) impl->KickPump();
  });
  asio::post(impl_->pump, [impl = impl_] { impl->ScoreTick(); });
}

void BitswapServer::Stop() {
  if (impl_->stopped.exchange(true)) return;
  impl_->engine.RemoveWakeup(impl_->wakeup_id);
  asio::post(impl_->pump, [impl = impl_.get()] { impl->score_timer.cancel(); });
  impl_->pump_guard.reset();
  if (impl_->pump_thread.joinable()) impl_->pump_thread.join();
  // Handlers still queued hold the Impl; run them out (each sees `stopped`) so none is left
  // holding it in its own io_context.
  impl_->pump.restart();
  impl_->pump.run();
}

void BitswapServer::Reconfigure(const ServerOptions& options) {
  impl_->target_message_bytes.store(options.target_message_bytes);
  impl_->max_inflight_bytes.store(options.max_inflight_bytes);
  std::lock_guard lock(impl_->mu);
  impl_->ledger.SetOptions(options.ledger);
}

void BitswapServer::BlocksAdded(const std::vector<std::pair<format::Cid, uint64_t>>& blocks) {
  std::vector<std::pair<std::shared_ptr<PeerState>, ReplyTask>> replies;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->ledger.wants() == 0) return;
    for (const auto& [cid, size] : blocks) {
      for (ReplyTask& reply : impl_->ledger.BlockArrived(cid, size)) {
        auto it = impl_->peers.find(reply.peer);
        if (it != impl_->peers.end()) replies.emplace_back(it->second, std::move(reply));
      }
    }
  }
  for (const auto& [peer, reply] : replies) impl_->Submit(peer, reply);
}

void BitswapServer::OnMessage(const p2p::PeerId& peer_id, bitswap::Version version,
                              const bitswap::Message& message) {
  impl_->messages_received.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<PeerState> peer;
  {
    std::lock_guard lock(impl_->mu);
    auto& slot = impl_->peers[peer_id.ToString()];
    if (!slot) slot = std::make_shared<PeerState>(peer_id, version);
    peer = slot;
  }
  {
    std::lock_guard lock(peer->outbox_mu);
    peer->version = version;
  }
  uint64_t received_bytes = 0;
  for (const bitswap::ReceivedBlock& block : message.blocks) received_bytes += block.data.size();
  peer->blocks_received += message.blocks.size();
  peer->bytes_received += received_bytes;
  if (message.has_wantlist) impl_->ApplyWantlist(peer, version, message);
}

void BitswapServer::OnPeerConnected(const p2p::PeerId&) {}

void BitswapServer::OnPeerDisconnected(const p2p::PeerId& peer_id) {
  std::lock_guard lock(impl_->mu);
  const std::string key = peer_id.ToString();
  impl_->ledger.DropPeer(key);
  impl_->peers.erase(key);
}

ServerStats BitswapServer::stats() const {
  ServerStats stats;
  stats.messages_received = impl_->messages_received.load();
  stats.blocks_sent = impl_->blocks_sent.load();
  stats.data_sent = impl_->data_sent.load();
  std::lock_guard lock(impl_->mu);
  stats.peers = impl_->ledger.peers();
  stats.wants = impl_->ledger.wants();
  return stats;
}

std::vector<std::pair<format::Cid, bitswap::WantState>> BitswapServer::PeerWantlist(
    const p2p::PeerId& peer) const {
  std::lock_guard lock(impl_->mu);
  return impl_->ledger.PeerWants(peer.ToString());
}

PeerLedger BitswapServer::Ledger(const p2p::PeerId& peer_id) const {
  PeerLedger out;
  std::shared_ptr<PeerState> peer = impl_->FindPeer(peer_id.ToString());
  if (!peer) return out;
  out.bytes_sent = peer->bytes_sent.load();
  out.bytes_received = peer->bytes_received.load();
  out.blocks_sent = peer->blocks_sent.load();
  out.blocks_received = peer->blocks_received.load();
  std::lock_guard lock(impl_->mu);
  out.score = peer->short_score + peer->long_score;
  out.wants = impl_->ledger.PeerWantCount(peer->key);
  return out;
}

}  // namespace boxcar::exchange
