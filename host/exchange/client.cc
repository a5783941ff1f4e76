#include "exchange/client.h"

#include <algorithm>
#include <utility>

#include "exchange/client_core.h"
#include "obs/logging.h"
#include "obs/metrics.h"

namespace boxcar::exchange {
namespace {

// Timeouts are checked this often while anything is wanted: under the 50 ms floor of a peer's
// timeout, so a want moves on within about a quarter of that floor late.
constexpr auto kTickInterval = std::chrono::milliseconds(10);
// Want messages are split well under the 4 MiB cap; an entry is about 45 bytes.
constexpr size_t kMaxWantMessageBytes = 256 << 10;

WantBookOptions BookOptions(const ClientOptions& options) {
  WantBookOptions book;
  book.max_in_flight_per_peer = options.max_in_flight_per_peer;
  book.quality.min_timeout = options.min_peer_timeout;
  book.quality.max_timeout = options.max_peer_timeout;
  return book;
}

class Handle final : public FetchHandle {
 public:
  Handle(std::weak_ptr<ClientCore> core, uint64_t id) : core_(std::move(core)), id_(id) {}
  ~Handle() override { Cancel(); }
  void Cancel() override {
    if (auto core = core_.lock()) {
      core->Post([id = id_](ClientCore& c) { c.CancelFetch(id); });
    }
    core_.reset();
  }

 private:
  std::weak_ptr<ClientCore> core_;
  uint64_t id_;
};

}  // namespace

ClientCore::ClientCore(BitswapNetwork& network, store::BlockStore& store,
                       obs::MetricsRegistry& metrics, ClientOptions options)
    : network_(network),
      store_(store),
      options_(options),
      metrics_(*metrics.registry()),
      work_(ioc_.get_executor()),
      tick_(ioc_),
      book_(BookOptions(options)) {}

void ClientCore::Start() {
  thread_ = std::thread([this] { ioc_.run(); });
}

// The worker drains rather than stops: the failed fetches' callbacks run before it returns.
void ClientCore::Stop() {
  if (stopped_.exchange(true)) return;
  Post([](ClientCore& core) { core.FailAll(Status::Unavailable("the node is stopping")); });
  work_.reset();
  if (thread_.joinable()) thread_.join();
}

void ClientCore::FailAll(const Status& status) {
  std::vector<uint64_t> ids;
  for (const auto& [id, fetch] : fetches_) ids.push_back(id);
  for (uint64_t id : ids) Finish(*fetches_.at(id), status, nullptr);
}

std::vector<format::Cid> ClientCore::Wantlist() const {
  std::lock_guard lock(mu_);
  return book_.Wanted();
}

BitswapClient::Stats ClientCore::stats() const {
  BitswapClient::Stats stats;
  stats.blocks_received = blocks_received_.load();
  stats.data_received = data_received_.load();
  stats.dup_blks_received = dup_blocks_.load();
  stats.dup_data_received = dup_data_.load();
  return stats;
}

void ClientCore::StartFetch(std::unique_ptr<Fetch> owned) {
  Fetch& fetch = *owned;
  fetch.started = WantClock::now();
  if (stopped_) {
    fetches_.emplace(fetch.id, std::move(owned));
    return Finish(fetch, Status::Unavailable("the node is stopping"), nullptr);
  }
  fetch.deadline = fetch.started + fetch.timeout;
  fetch.to_visit.push_back({fetch.root, fetch.root_follow});
  fetches_.emplace(fetch.id, std::move(owned));
  ScheduleTick();
  Advance(fetch);
}

void ClientCore::CancelFetch(uint64_t id) {
  auto it = fetches_.find(id);
  if (it == fetches_.end()) return;
  it->second->dag_done = nullptr;
  it->second->block_done = nullptr;
  Finish(*it->second, Status::Unavailable("fetch cancelled"), nullptr);
}

void ClientCore::Advance(Fetch& fetch) {
  if (!Visit(fetch)) return;
  Pump(fetch);
  if (fetch.outstanding.empty() && fetch.queued.empty()) Finish(fetch, Status::OK(), nullptr);
}

// Looks up every block found so far: present ones are expanded at once (an explicit stack, so a
// deep DAG already in the store cannot overflow the call stack), missing ones queued for wants.
bool ClientCore::Visit(Fetch& fetch) {
  while (!fetch.to_visit.empty()) {
    format::WalkChild node = std::move(fetch.to_visit.back());
    fetch.to_visit.pop_back();
    if (!fetch.seen.insert(node.cid.hash().bytes()).second) continue;
    if (node.cid.IsIdentity()) {
      ++fetch.counts.blocks;
      const std::string data(node.cid.hash().digest());
      if (fetch.kind == FetchKind::kBlock) {
        Finish(fetch, Status::OK(), std::make_shared<const std::string>(data));
        return false;
      }
      if (!Expand(fetch, node, data)) return false;
      continue;
    }
    BlockData data;
    const Status status = store_.Get(node.cid, &data);
    if (status.IsNotFound()) {
      fetch.queued.push_back(std::move(node));
      continue;
    }
    if (!status.ok()) {
      Finish(fetch, status.Annotate("reading " + node.cid.ToString()), nullptr);
      return false;
    }
    ++fetch.counts.blocks;
    if (fetch.kind == FetchKind::kBlock) {
      Finish(fetch, Status::OK(), std::move(data));
      return false;
    }
    if (!Expand(fetch, node, *data)) return false;
  }
  return true;
}

bool ClientCore::Expand(Fetch& fetch, const format::WalkChild& node, std::string_view data) {
  std::vector<format::WalkChild> children;
  const Status status = format::ChildrenToFollow(node.cid, data, node.follow, &children);
  if (!status.ok()) {
    Finish(fetch, status, nullptr);
    return false;
  }
  // Reversed onto the stack, so the walk goes in link order.
  for (auto it = children.rbegin(); it != children.rend(); ++it) {
    fetch.to_visit.push_back(std::move(*it));
  }
  return true;
}

void ClientCore::Pump(Fetch& fetch) {
  Outbox out;
  const auto now = WantClock::now();
  while (fetch.outstanding.size() < options_.max_parallel_blocks && !fetch.queued.empty()) {
    format::WalkChild node = std::move(fetch.queued.front());
    fetch.queued.pop_front();
    std::string key = node.cid.hash().bytes();
    waiters_[key].push_back(fetch.id);
    book_.Want(node.cid, fetch.last_sender, fetch.excluded, now, &out);
    fetch.outstanding.emplace(std::move(key), std::move(node));
  }
  Send(out);
  metrics_.Wants(book_.size());
}

void ClientCore::Finish(Fetch& fetch, const Status& status, BlockData block) {
  metrics_.FetchDone(fetch.kind, status.ok(), WantClock::now() - fetch.started);
  Outbox out;
  for (const auto& [key, node] : fetch.outstanding) {
    auto waiting = waiters_.find(key);
    if (waiting == waiters_.end()) continue;
    auto& ids = waiting->second;
    ids.erase(std::remove(ids.begin(), ids.end(), fetch.id), ids.end());
    if (!ids.empty()) continue;
    waiters_.erase(waiting);
    book_.Unwant(node.cid, &out);
  }
  Send(out);
  metrics_.Wants(book_.size());
  // The callbacks run after the lock is released, so they may call into the client.
  boost::asio::post(ioc_,
                    [dag_done = std::move(fetch.dag_done), block_done = std::move(fetch.block_done),
                     counts = fetch.counts, status, block = std::move(block)] {
                      if (dag_done) dag_done(status, counts);
                      if (block_done) block_done(status, block);
                    });
  fetches_.erase(fetch.id);
}

void ClientCore::HandleMessage(const p2p::PeerId& peer, const bitswap::Message& message) {
  Outbox out;
  const auto now = WantClock::now();
  for (const bitswap::Presence& presence : message.presences) {
    if (presence.type == bitswap::PresenceType::kHave) {
      book_.OnHave(peer, presence.cid, now, &out);
    } else {
      book_.OnDontHave(peer, presence.cid, now, &out);
    }
  }
  std::vector<std::pair<format::Cid, std::string>> wanted;
  for (const bitswap::ReceivedBlock& block : message.blocks) {
    const uint64_t size = block.data.size();
    auto wanted_as = book_.OnBlock(peer, block.cid, size, now, &out);
    if (!wanted_as && !book_.RecentlyWanted(block.cid)) {
      RejectBadBlock(peer, block.cid, &out);
      continue;
    }
    blocks_received_.fetch_add(1);
    data_received_.fetch_add(size);
    metrics_.BlockReceived(size);
    if (!wanted_as) {
      dup_blocks_.fetch_add(1);
      dup_data_.fetch_add(size);
      metrics_.DuplicateReceived(size);
      continue;
    }
    wanted.emplace_back(std::move(*wanted_as), block.data);
  }
  Send(out);
  for (auto& [cid, data] : wanted) Arrived(peer, cid, std::move(data));
  metrics_.PeersByState(book_.PeersByState());
}

// A block nobody asked for: the decoder rebuilt its CID from its bytes, so a peer that answered
// a want with the wrong bytes shows up this way. The sender is disconnected, counted, and never
// asked again by the fetches running now.
void ClientCore::RejectBadBlock(const p2p::PeerId& peer, const format::Cid& cid, Outbox* out) {
  metrics_.BadBlock();
  book_.OnBadBlock(peer, WantClock::now(), out);
  for (auto& [id, fetch] : fetches_) fetch->excluded.insert(peer);
  obs::Logger("bitswap")->warn("peer {} sent block {}, which nothing wanted: disconnecting it",
                               peer.ToString(), cid.ToString());
  network_.Penalize(peer, "sent an unwanted block " + cid.ToString() +
                              " (wrong bytes for a want, or unsolicited)");
}

void ClientCore::Arrived(const p2p::PeerId& peer, const format::Cid& cid, std::string data) {
  const std::string key = cid.hash().bytes();
  auto waiting = waiters_.find(key);
  if (waiting == waiters_.end()) return;
  const std::vector<uint64_t> ids = std::move(waiting->second);
  waiters_.erase(waiting);
  const uint64_t size = data.size();
  BlockData block = std::make_shared<const std::string>(std::move(data));
  // The store's verified write path and memory budget; a refusal fails the fetches waiting.
  const Status stored = store_.Put(cid, block);
  for (uint64_t id : ids) {
    auto it = fetches_.find(id);
    if (it == fetches_.end()) continue;
    Fetch& fetch = *it->second;
    auto node = fetch.outstanding.find(key);
    if (node == fetch.outstanding.end()) continue;
    const format::WalkChild visited = std::move(node->second);
    fetch.outstanding.erase(node);
    if (!stored.ok()) {
      Finish(fetch, stored.Annotate("storing " + cid.ToString()), nullptr);
      continue;
    }
    ++fetch.counts.blocks;
    ++fetch.counts.fetched;
    fetch.counts.bytes += size;
    fetch.last_sender = peer;
    if (fetch.kind == FetchKind::kBlock) {
      Finish(fetch, Status::OK(), block);
      continue;
    }
    if (fetch.progress) {
      boost::asio::post(ioc_,
                        [progress = fetch.progress, counts = fetch.counts] { progress(counts); });
    }
    if (!Expand(fetch, visited, *block)) continue;
    Advance(fetch);
  }
}

void ClientCore::HandlePeer(const p2p::PeerId& peer, bool connected) {
  Outbox out;
  if (connected) {
    const bool supports_have = network_.PeerVersion(peer) == bitswap::Version::k120;
    book_.AddPeer(peer, supports_have, WantClock::now(), &out);
  } else {
    book_.RemovePeer(peer, WantClock::now(), &out);
  }
  Send(out);
  metrics_.PeersByState(book_.PeersByState());
}

void ClientCore::Send(Outbox& outbox) {
  for (auto& [peer, entries] : outbox) {
    bitswap::Encoder encoder(network_.PeerVersion(peer));
    auto flush = [&] {
      std::string framed;
      encoder.Finish(&framed);
      network_.Send(peer, std::move(framed), [](Status) {
        // A failed send loses nothing: the wants time out and move to other peers.
      });
    };
    for (bitswap::WantEntry& entry : entries) {
      if (!encoder.AddWant(entry) && entry.type == bitswap::WantType::kHave) {
        entry.type = bitswap::WantType::kBlock;  // a peer before 1.2.0 knows no want-have
        entry.send_dont_have = false;
        encoder.AddWant(entry);
      }
      if (encoder.size() >= kMaxWantMessageBytes) flush();
    }
    if (!encoder.empty()) flush();
  }
  outbox.clear();
}

void ClientCore::ScheduleTick() {
  if (ticking_ || stopped_) return;
  ticking_ = true;
  tick_.expires_after(kTickInterval);
  tick_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    std::lock_guard lock(mu_);
    ticking_ = false;
    Tick();
  });
}

void ClientCore::Tick() {
  const auto now = WantClock::now();
  Outbox out;
  book_.Tick(now, &out);
  Send(out);
  std::vector<uint64_t> expired;
  for (const auto& [id, fetch] : fetches_) {
    if (fetch->deadline <= now) expired.push_back(id);
  }
  for (uint64_t id : expired) {
    auto it = fetches_.find(id);
    if (it != fetches_.end()) Finish(*it->second, TimeoutStatus(*it->second), nullptr);
  }
  metrics_.PeersByState(book_.PeersByState());
  if (!fetches_.empty()) ScheduleTick();
}

Status ClientCore::TimeoutStatus(const Fetch& fetch) const {
  const size_t peers = network_.ConnectedPeers().size();
  std::string text = "no peer delivered ";
  if (fetch.kind == FetchKind::kBlock) {
    text += "block " + fetch.root.ToString();
  } else {
    text += std::to_string(fetch.outstanding.size() + fetch.queued.size()) +
            " missing blocks of the DAG under " + fetch.root.ToString();
  }
  text += " within " + std::to_string(fetch.timeout.count()) + " ms (" + std::to_string(peers) +
          " connected peer" + (peers == 1 ? "" : "s") + " asked)";
  return Status::Unavailable(text);
}

struct BitswapClient::Impl {
  std::shared_ptr<ClientCore> core;
};

BitswapClient::BitswapClient(BitswapNetwork& network, store::BlockStore& store,
                             obs::MetricsRegistry& metrics, ClientOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->core = std::make_shared<ClientCore>(network, store, metrics, options);
  impl_->core->Start();
}

BitswapClient::~BitswapClient() { Stop(); }

void BitswapClient::Stop() { impl_->core->Stop(); }

std::unique_ptr<FetchHandle> BitswapClient::GetBlock(const format::Cid& cid,
                                                     std::chrono::milliseconds timeout,
                                                     std::function<void(Status, BlockData)> done) {
  if (impl_->core->stopped()) {
    done(Status::Unavailable("the node is stopping"), nullptr);
    return std::make_unique<Handle>(std::weak_ptr<ClientCore>(), 0);
  }
  auto fetch = std::make_unique<Fetch>();
  fetch->id = impl_->core->NextFetchId();
  fetch->root = cid;
  fetch->kind = FetchKind::kBlock;
  fetch->root_follow = format::WalkFollow::kNone;
  fetch->timeout = timeout;
  fetch->block_done = std::move(done);
  const uint64_t id = fetch->id;
  impl_->core->Post(
      [fetch = std::move(fetch)](ClientCore& core) mutable { core.StartFetch(std::move(fetch)); });
  return std::make_unique<Handle>(impl_->core, id);
}

std::unique_ptr<FetchHandle> BitswapClient::FetchDag(
    const format::Cid& root, format::DagScope scope, std::chrono::milliseconds timeout,
    std::function<void(const FetchProgress&)> progress,
    std::function<void(Status, FetchProgress)> done) {
  if (impl_->core->stopped()) {
    done(Status::Unavailable("the node is stopping"), {});
    return std::make_unique<Handle>(std::weak_ptr<ClientCore>(), 0);
  }
  auto fetch = std::make_unique<Fetch>();
  fetch->id = impl_->core->NextFetchId();
  fetch->root = root;
  fetch->kind = FetchKind::kDag;
  fetch->root_follow = format::RootFollow(scope);
  fetch->timeout = timeout;
  fetch->progress = std::move(progress);
  fetch->dag_done = std::move(done);
  const uint64_t id = fetch->id;
  impl_->core->Post(
      [fetch = std::move(fetch)](ClientCore& core) mutable { core.StartFetch(std::move(fetch)); });
  return std::make_unique<Handle>(impl_->core, id);
}

void BitswapClient::OnMessage(const p2p::PeerId& peer, bitswap::Version,
                              const bitswap::Message& message) {
  if (message.blocks.empty() && message.presences.empty()) return;  // wants: the server's
  bitswap::Message answers;
  answers.blocks = message.blocks;
  answers.presences = message.presences;
  impl_->core->Post([peer, answers = std::move(answers)](ClientCore& core) {
    core.HandleMessage(peer, answers);
  });
}

void BitswapClient::OnPeerConnected(const p2p::PeerId& peer) {
  impl_->core->Post([peer](ClientCore& core) { core.HandlePeer(peer, true); });
}

void BitswapClient::OnPeerDisconnected(const p2p::PeerId& peer) {
  impl_->core->Post([peer](ClientCore& core) { core.HandlePeer(peer, false); });
}

std::vector<format::Cid> BitswapClient::Wantlist() const { return impl_->core->Wantlist(); }

BitswapClient::Stats BitswapClient::stats() const { return impl_->core->stats(); }

}  // namespace boxcar::exchange
