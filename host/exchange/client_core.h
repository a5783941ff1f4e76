// The Bitswap client's internals (client.h is the contract): one worker thread owns the want
// book and every fetch; messages, peer events, calls and timers are posted to it, so store
// writes and DAG parsing never run on a swarm I/O thread. Private to host/exchange/client*.cc.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "exchange/client.h"
#include "exchange/client_metrics.h"
#include "exchange/want_book.h"

namespace boxcar::exchange {

// One FetchDag or GetBlock.
struct Fetch {
  uint64_t id = 0;
  format::Cid root;
  FetchKind kind = FetchKind::kDag;
  format::WalkFollow root_follow = format::WalkFollow::kAll;
  WantClock::time_point started;
  WantClock::time_point deadline;
  std::chrono::milliseconds timeout{0};
  std::function<void(const FetchProgress&)> progress;
  std::function<void(Status, FetchProgress)> dag_done;
  std::function<void(Status, BlockData)> block_done;
  FetchProgress counts;
  std::unordered_set<std::string> seen;     // multihashes visited or wanted
  std::vector<format::WalkChild> to_visit;  // found, not yet looked up in the store
  std::deque<format::WalkChild> queued;     // missing, waiting for a want slot
  std::unordered_map<std::string, format::WalkChild> outstanding;  // wanted, by multihash
  std::optional<p2p::PeerId> last_sender;                          // the hint for the next wants
  std::unordered_set<p2p::PeerId> excluded;                        // sent this fetch a wrong block
};

class ClientCore : public std::enable_shared_from_this<ClientCore> {
 public:
  ClientCore(BitswapNetwork& network, store::BlockStore& store, obs::MetricsRegistry& metrics,
             ClientOptions options);
  void Start();
  void Stop();

  // Posts `f` to the worker, which runs it under the lock. Handlers hold `this`, not a
  // reference count: Stop joins the worker before the core can go, and handlers still queued
  // then are destroyed unrun with the io_context.
  template <class F>
  void Post(F f) {
    boost::asio::post(ioc_, [this, f = std::move(f)]() mutable {
      std::lock_guard lock(mu_);
      f(*this);
    });
  }

  // Worker-thread entry points (called with mu_ held).
  void StartFetch(std::unique_ptr<Fetch> fetch);
  void FailAll(const Status& status);
  bool stopped() const { return stopped_.load(); }
  void CancelFetch(uint64_t id);
  void HandleMessage(const p2p::PeerId& peer, const bitswap::Message& message);
  void HandlePeer(const p2p::PeerId& peer, bool connected);

  uint64_t NextFetchId() { return next_id_.fetch_add(1) + 1; }
  std::vector<format::Cid> Wantlist() const;
  BitswapClient::Stats stats() const;

 private:
  // Each returns false when it finished (and destroyed) the fetch.
  bool Visit(Fetch& fetch);
  bool Expand(Fetch& fetch, const format::WalkChild& node, std::string_view data);
  void Pump(Fetch& fetch);
  void Advance(Fetch& fetch);
  void Finish(Fetch& fetch, const Status& status, BlockData block);
  void Arrived(const p2p::PeerId& peer, const format::Cid& cid, std::string data);
  void RejectBadBlock(const p2p::PeerId& peer, const format::Cid& cid, Outbox* out);
  void Send(Outbox& outbox);
  void ScheduleTick();
  void Tick();
  Status TimeoutStatus(const Fetch& fetch) const;

  BitswapNetwork& network_;
  store::BlockStore& store_;
  ClientOptions options_;
  ClientMetrics metrics_;
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::steady_timer tick_;
  std::thread thread_;
  std::atomic<uint64_t> next_id_{0};
  std::atomic<bool> stopped_{false};

  mutable std::mutex mu_;  // held by the worker while it runs; Wantlist() takes it briefly
  WantBook book_;
  std::unordered_map<uint64_t, std::unique_ptr<Fetch>> fetches_;
  std::unordered_map<std::string, std::vector<uint64_t>> waiters_;  // multihash -> fetch ids
  bool ticking_ = false;

  std::atomic<uint64_t> blocks_received_{0};
  std::atomic<uint64_t> data_received_{0};
  std::atomic<uint64_t> dup_blocks_{0};
  std::atomic<uint64_t> dup_data_{0};
};

}  // namespace boxcar::exchange
