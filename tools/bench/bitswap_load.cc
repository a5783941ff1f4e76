#include "bitswap_load.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "bitswap_peer.h"
#include "cids.h"
#include "histogram.h"
#include "proc_stats.h"
#include "raw_peer.h"

namespace boxcar::bench {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
using testing::RawPeer;

constexpr auto kTick = std::chrono::milliseconds(1);
constexpr auto kSweep = std::chrono::milliseconds(100);

uint64_t MicrosSince(Clock::time_point start) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
}

json LatencyMs(const loadgen::Histogram& h) {
  return {{"p50", h.Percentile(50) / 1000.0},
          {"p90", h.Percentile(90) / 1000.0},
          {"p99", h.Percentile(99) / 1000.0},
          {"max", h.Max() / 1000.0},
          {"count", h.Count()}};
}

// An io_context with its own thread, stopped and joined on destruction.
class IoThread {
 public:
  IoThread() : guard_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~IoThread() { Stop(); }
  // Lets the handlers of closed connections finish (so no connection outlives its context),
  // then stops the context if something is still pending after two seconds.
  void Stop() {
    if (!thread_.joinable()) return;
    guard_.reset();
    for (int i = 0; i < 200 && !io_.stopped(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    io_.stop();
    thread_.join();
  }
  boost::asio::io_context& io() { return io_; }
  // Runs `fn` on the thread and waits for its result.
  template <typename Fn>
  auto Call(Fn fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    return result.get();
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

struct Counters {
  uint64_t wants_sent = 0;
  uint64_t blocks = 0;
  uint64_t block_bytes = 0;
  uint64_t haves = 0;
  uint64_t dont_haves = 0;
  uint64_t timeouts = 0;
  uint64_t unexpected_blocks = 0;  // not outstanding: a duplicate, or bytes not matching a CID
  uint64_t problems = 0;           // undecodable messages, reset streams
  uint64_t skipped_at_cap = 0;

  void Add(const Counters& o) {
    wants_sent += o.wants_sent;
    blocks += o.blocks;
    block_bytes += o.block_bytes;
    haves += o.haves;
    dont_haves += o.dont_haves;
    timeouts += o.timeouts;
    unexpected_blocks += o.unexpected_blocks;
    problems += o.problems;
    skipped_at_cap += o.skipped_at_cap;
  }
};

// What one load thread measured; the threads' figures add up.
struct Figures {
  Counters counters;
  loadgen::Histogram latency;
  uint64_t disconnected = 0;
  uint64_t outstanding_at_end = 0;
  size_t alive = 0;
  double seconds = 0;

  void Add(const Figures& o) {
    counters.Add(o.counters);
    latency.Merge(o.latency);
    disconnected += o.disconnected;
    outstanding_at_end += o.outstanding_at_end;
    alive += o.alive;
    seconds = std::max(seconds, o.seconds);
  }

  json ToJson() const {
    const double s = std::max(seconds, 1e-9);
    return {{"seconds", seconds},
            {"wants_sent", counters.wants_sent},
            {"blocks", counters.blocks},
            {"blocks_per_s", counters.blocks / s},
            {"mib_per_s", counters.block_bytes / s / (1 << 20)},
            {"haves", counters.haves},
            {"latency_ms", LatencyMs(latency)},
            {"failures",
             {{"dont_have", counters.dont_haves},
              {"timeouts", counters.timeouts},
              {"unexpected_blocks", counters.unexpected_blocks},
              {"problems", counters.problems},
              {"disconnected", disconnected}}},
            {"skipped_at_cap", counters.skipped_at_cap},
            {"outstanding_at_end", outstanding_at_end},
            {"alive", alive}};
  }
};

struct Want {
  Clock::time_point sent;
  bitswap::WantType type;
};

struct PeerState {
  std::shared_ptr<BitswapPeer> conn;
  std::unordered_map<format::Cid, Want> outstanding;
  size_t cursor = 0;  // into the CID list; each peer starts at a random place
  bool closed = false;
};

// The load itself; every member is touched only on the io thread.
class Load {
 public:
  explicit Load(const LoadOptions& options) : options_(options), rng_(std::random_device{}()) {}

  // On the io thread: adopts a connected peer and starts it.
  void AddPeer(RawPeer::Transport transport) {
    auto state = std::make_unique<PeerState>();
    PeerState* peer = state.get();
    peer->cursor = rng_() % options_.cids.size();
    BitswapPeer::Callbacks callbacks;
    callbacks.on_message = [this, peer](const bitswap::Message& m) { OnMessage(*peer, m); };
    callbacks.on_problem = [this](const Status&) { ++counters_.problems; };
    callbacks.on_closed = [this, peer](const Status&) {
      peer->closed = true;
      ++disconnected_;
    };
    peer->conn = std::make_shared<BitswapPeer>(*io_, std::move(transport), std::move(callbacks));
    peers_.push_back(std::move(state));
    peer->conn->Start();
  }

  void Begin(boost::asio::io_context& io) { io_ = &io; }

  // On the io thread: starts issuing wants, the ticker (open loop) and the timeout sweep.
  void StartLoad() {
    start_ = Clock::now();
    measure_from_ = start_ + Seconds(options_.warmup);
    end_ = measure_from_ + Seconds(options_.seconds);
    ticker_.emplace(*io_);
    sweeper_.emplace(*io_);
    if (options_.rate <= 0) {
      for (auto& peer : peers_) Replenish(*peer);
    } else {
      Tick();
    }
    Sweep();
  }

  // On the io thread: stops issuing and freezes the figures.
  void StopLoad() {
    stopped_ = true;
    if (ticker_) ticker_->cancel();
    if (sweeper_) sweeper_->cancel();
    measured_seconds_ = std::chrono::duration<double>(std::min(Clock::now(), end_) -
                                                      std::max(start_, measure_from_))
                            .count();
    outstanding_at_end_ = 0;
    for (auto& peer : peers_) outstanding_at_end_ += peer->outstanding.size();
  }

  void CloseAll() {
    for (auto& peer : peers_) peer->conn->Close();
  }

  bool Done() const {
    if (Clock::now() >= end_) return true;
    if (options_.count == 0 || issued_ < options_.count) return false;
    for (auto& peer : peers_)
      if (!peer->outstanding.empty()) return false;
    return true;
  }

  // On the io thread, after StopLoad.
  Figures Collect() const {
    Figures figures;
    figures.counters = counters_;
    figures.latency = latency_;
    figures.disconnected = disconnected_;
    figures.outstanding_at_end = outstanding_at_end_;
    figures.seconds = measured_seconds_;
    for (auto& peer : peers_) figures.alive += peer->closed ? 0 : 1;
    return figures;
  }

 private:
  static Clock::duration Seconds(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  }
  bool Measuring(Clock::time_point t) const { return t >= measure_from_ && t < end_; }

  // Sends up to `n` new wants in one message.
  void Issue(PeerState& peer, size_t n) {
    if (peer.closed || stopped_ || n == 0) return;
    bitswap::Encoder encoder(bitswap::Version::k120);
    const auto now = Clock::now();
    size_t added = 0;
    for (size_t tries = 0; added < n && tries < 2 * n + 8; ++tries) {
      if (options_.count > 0 && issued_ >= options_.count) break;
      const format::Cid& cid = options_.cids[peer.cursor];
      peer.cursor = (peer.cursor + 1) % options_.cids.size();
      if (peer.outstanding.count(cid)) continue;
      bitswap::WantEntry want;
      want.cid = cid;
      want.type = static_cast<int>(rng_() % 100) < options_.want_have_percent
                      ? bitswap::WantType::kHave
                      : bitswap::WantType::kBlock;
      want.send_dont_have = options_.send_dont_have;
      encoder.AddWant(want);
      peer.outstanding.emplace(cid, Want{now, want.type});
      ++added;
      ++issued_;
    }
    if (added == 0) return;
    if (Measuring(now)) counters_.wants_sent += added;
    std::string framed;
    encoder.Finish(&framed);
    peer.conn->Send(std::move(framed));
  }

  void Replenish(PeerState& peer) {
    const size_t target = static_cast<size_t>(options_.wants);
    if (peer.outstanding.size() < target) Issue(peer, target - peer.outstanding.size());
  }

  void Resolve(PeerState& peer, std::unordered_map<format::Cid, Want>::iterator it,
               Clock::time_point now) {
    if (Measuring(now)) {
      latency_.Record(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(now - it->second.sent).count()));
    }
    peer.outstanding.erase(it);
  }

  void OnMessage(PeerState& peer, const bitswap::Message& message) {
    const auto now = Clock::now();
    const bool measuring = Measuring(now);
    for (const auto& block : message.blocks) {
      auto it = peer.outstanding.find(block.cid);
      if (it == peer.outstanding.end()) {
        if (measuring) ++counters_.unexpected_blocks;
        continue;
      }
      if (measuring) {
        ++counters_.blocks;
        counters_.block_bytes += block.data.size();
      }
      Resolve(peer, it, now);
    }
    for (const auto& presence : message.presences) {
      auto it = peer.outstanding.find(presence.cid);
      if (it == peer.outstanding.end()) continue;
      if (presence.type == bitswap::PresenceType::kDontHave) {
        if (measuring) ++counters_.dont_haves;
        peer.outstanding.erase(it);
      } else if (it->second.type == bitswap::WantType::kHave) {
        if (measuring) ++counters_.haves;
        Resolve(peer, it, now);
      }
    }
    if (options_.rate <= 0) Replenish(peer);
  }

  // Open loop: the wants due since the start, spread round-robin over the peers.
  void Tick() {
    if (stopped_) return;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const auto due = static_cast<uint64_t>(elapsed * options_.rate);
    if (due > scheduled_) {
      std::vector<size_t> per_peer(peers_.size(), 0);
      for (uint64_t i = scheduled_; i < due; ++i) {
        PeerState& peer = *peers_[next_peer_];
        const size_t index = next_peer_;
        next_peer_ = (next_peer_ + 1) % peers_.size();
        if (peer.outstanding.size() + per_peer[index] >= static_cast<size_t>(options_.wants)) {
          if (Measuring(Clock::now())) ++counters_.skipped_at_cap;
          continue;
        }
        ++per_peer[index];
      }
      scheduled_ = due;
      for (size_t i = 0; i < peers_.size(); ++i) Issue(*peers_[i], per_peer[i]);
    }
    ticker_->expires_after(kTick);
    ticker_->async_wait([this](const boost::system::error_code& ec) {
      if (!ec) Tick();
    });
  }

  // Wants unanswered past the timeout are failures; the closed loop replaces them.
  void Sweep() {
    if (stopped_) return;
    const auto now = Clock::now();
    for (auto& peer : peers_) {
      bool expired = false;
      for (auto it = peer->outstanding.begin(); it != peer->outstanding.end();) {
        if (now - it->second.sent < options_.timeout) {
          ++it;
          continue;
        }
        if (Measuring(now)) ++counters_.timeouts;
        it = peer->outstanding.erase(it);
        expired = true;
      }
      if (expired && options_.rate <= 0) Replenish(*peer);
    }
    sweeper_->expires_after(kSweep);
    sweeper_->async_wait([this](const boost::system::error_code& ec) {
      if (!ec) Sweep();
    });
  }

  const LoadOptions& options_;
  std::mt19937_64 rng_;
  boost::asio::io_context* io_ = nullptr;
  std::deque<std::unique_ptr<PeerState>> peers_;
  std::optional<boost::asio::steady_timer> ticker_;
  std::optional<boost::asio::steady_timer> sweeper_;
  Clock::time_point start_, measure_from_, end_;
  bool stopped_ = false;
  uint64_t issued_ = 0;
  uint64_t scheduled_ = 0;
  size_t next_peer_ = 0;
  Counters counters_;
  uint64_t disconnected_ = 0;
  uint64_t outstanding_at_end_ = 0;
  double measured_seconds_ = 0;
  loadgen::Histogram latency_;
};

// Connects `count` peers to the target on this thread (blocking handshakes) and hands each to
// `adopt` on the io thread. Returns how many failed.
int ConnectPeers(const std::string& target, int count, IoThread& io,
                 const std::function<void(RawPeer::Transport)>& adopt) {
  int failed = 0;
  for (int i = 0; i < count; ++i) {
    RawPeer raw;
    if (!raw.Upgrade(target).ok()) {
      ++failed;
      continue;
    }
    auto transport = std::make_shared<RawPeer::Transport>(raw.Detach());
    boost::asio::post(io.io(), [transport, &adopt] { adopt(std::move(*transport)); });
  }
  io.Call([] { return 0; });  // every adopt ran
  return failed;
}

Status CheckFdLimit(int peers) {
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  if (files.rlim_cur < static_cast<rlim_t>(peers) + 64) {
    return Status::InvalidArgument("the fd limit (" + std::to_string(files.rlim_cur) +
                                   ") is below --peers + 64: raise it with ulimit -n");
  }
  return Status::OK();
}

// One probe: a fresh peer connects on its own io thread, wants one block, and times it.
struct ProbeResult {
  bool ok = false;
  double connect_ms = 0;
  double first_block_ms = 0;  // from the want's hand-over, stream negotiation included
  double negotiate_ms = 0;    // of which the round trip of the outbound stream's protocol echo
};

ProbeResult Probe(const LoadOptions& options, IoThread& io, const format::Cid& cid) {
  ProbeResult result;
  const auto connect_start = Clock::now();
  RawPeer raw;
  if (!raw.Upgrade(options.target).ok()) return result;
  result.connect_ms = MicrosSince(connect_start) / 1000.0;
  auto transport = std::make_shared<RawPeer::Transport>(raw.Detach());
  auto got = std::make_shared<std::promise<double>>();
  auto done = std::make_shared<bool>(false);
  auto negotiated = std::make_shared<double>(0);
  std::shared_ptr<BitswapPeer> peer;
  io.Call([&] {
    const auto sent = Clock::now();
    BitswapPeer::Callbacks callbacks;
    callbacks.on_ready = [negotiated, sent] { *negotiated = MicrosSince(sent) / 1000.0; };
    callbacks.on_message = [got, done, cid, sent](const bitswap::Message& message) {
      for (const auto& block : message.blocks) {
        if (block.cid == cid && !*done) {
          *done = true;
          got->set_value(MicrosSince(sent) / 1000.0);
        }
      }
    };
    peer = std::make_shared<BitswapPeer>(io.io(), std::move(*transport), std::move(callbacks));
    peer->Start();
    bitswap::Encoder encoder(bitswap::Version::k120);
    bitswap::WantEntry want;
    want.cid = cid;
    want.send_dont_have = true;
    encoder.AddWant(want);
    std::string framed;
    encoder.Finish(&framed);
    peer->Send(std::move(framed));
    return 0;
  });
  auto future = got->get_future();
  if (future.wait_for(options.timeout) == std::future_status::ready) {
    result.ok = true;
    result.first_block_ms = future.get();
  }
  io.Call([&] {
    result.negotiate_ms = *negotiated;
    peer->Close();
    peer.reset();
    return 0;
  });
  return result;
}

json RunProbes(const LoadOptions& options) {
  IoThread io;
  std::mt19937_64 rng(std::random_device{}());
  std::vector<double> first_block, connect, negotiate;
  int failed = 0;
  for (int i = 0; i < options.probes; ++i) {
    const ProbeResult r = Probe(options, io, options.cids[rng() % options.cids.size()]);
    if (r.ok) {
      first_block.push_back(r.first_block_ms);
      connect.push_back(r.connect_ms);
      negotiate.push_back(r.negotiate_ms);
    } else {
      ++failed;
    }
    std::this_thread::sleep_for(options.probe_gap);
  }
  return {
      {"probes", options.probes},
      {"failed", failed},
      {"first_block_ms",
       {{"p50", Percentile(first_block, 0.5)},
        {"p99", Percentile(first_block, 0.99)},
        {"max", Percentile(first_block, 1.0)}}},
      {"negotiate_ms", {{"p50", Percentile(negotiate, 0.5)}, {"p99", Percentile(negotiate, 0.99)}}},
      {"connect_ms", {{"p50", Percentile(connect, 0.5)}, {"p99", Percentile(connect, 0.99)}}}};
}

}  // namespace

Status RunLoad(const LoadOptions& options, json* report) {
  if (options.cids.empty()) return Status::InvalidArgument("no CIDs to want (--cids FILE)");
  Status s = CheckFdLimit(options.peers);
  if (!s.ok()) return s;
  // With hold_missing the peers' wants name blocks nobody has, without sendDontHave: they sit in
  // the server's ledger unanswered, and only the probes are served.
  LoadOptions load_options = options;
  if (options.hold_missing) {
    std::mt19937_64 rng(std::random_device{}());
    load_options.cids.clear();
    for (const std::string& text :
         loadgen::RandomMissingCids(static_cast<size_t>(options.wants) * 4, rng)) {
      load_options.cids.emplace_back();
      (void)format::Cid::Parse(text, &load_options.cids.back());
    }
    load_options.send_dont_have = false;
    load_options.timeout = std::chrono::hours(1);
  }
  // One load per thread, the peers, rate and count split between them.
  struct Shard {
    LoadOptions options;
    IoThread io;
    std::unique_ptr<Load> load;
  };
  const int threads = std::clamp(options.threads, 1, std::min(2, options.peers));
  std::vector<std::unique_ptr<Shard>> shards;
  for (int t = 0; t < threads; ++t) {
    auto shard = std::make_unique<Shard>();
    shard->options = load_options;
    shard->options.peers = options.peers / threads + (t < options.peers % threads ? 1 : 0);
    shard->options.rate = options.rate / threads;
    shard->options.count = options.count / threads + (t == 0 ? options.count % threads : 0);
    shard->load = std::make_unique<Load>(shard->options);
    shard->io.Call([&shard] {
      shard->load->Begin(shard->io.io());
      return 0;
    });
    shards.push_back(std::move(shard));
  }
  int connect_failed = 0;
  for (auto& shard : shards) {
    Load* load = shard->load.get();
    connect_failed += ConnectPeers(options.target, shard->options.peers, shard->io,
                                   [load](RawPeer::Transport t) { load->AddPeer(std::move(t)); });
  }
  if (connect_failed == options.peers) {
    return Status::IOError("no peer could connect to " + options.target);
  }
  const double cpu_before = options.pid > 0 ? CpuSeconds(options.pid) : 0;
  auto on_each = [&shards](auto fn) {
    for (auto& shard : shards) shard->io.Call([&] { return fn(*shard->load); });
  };
  on_each([](Load& load) {
    load.StartLoad();
    return 0;
  });
  json probes;
  if (options.probes > 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(options.warmup));
    probes = RunProbes(options);
  }
  for (auto& shard : shards) {
    while (!shard->io.Call([&] { return shard->load->Done(); })) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  on_each([](Load& load) {
    load.StopLoad();
    return 0;
  });
  const double node_cpu = options.pid > 0 ? CpuSeconds(options.pid) - cpu_before : 0;
  Figures figures;
  for (auto& shard : shards) figures.Add(shard->io.Call([&] { return shard->load->Collect(); }));
  on_each([](Load& load) {
    load.CloseAll();
    return 0;
  });
  for (auto& shard : shards) shard->io.Stop();
  *report = figures.ToJson();
  (*report)["threads"] = threads;
  (*report)["peers"] = options.peers;
  (*report)["connect_failed"] = connect_failed;
  (*report)["wants_per_peer"] = options.wants;
  (*report)["rate"] = options.rate;
  (*report)["want_have_percent"] = options.want_have_percent;
  if (options.pid > 0) {
    (*report)["node_cpu_seconds"] = node_cpu;  // includes the warmup
    (*report)["node_rss_kib"] = RssKib(options.pid);
  }
  if (options.probes > 0) (*report)["new_peer"] = probes;
  return Status::OK();
}

Status RunIdle(const LoadOptions& options, json* report) {
  if (options.pid <= 0) return Status::InvalidArgument("idle needs --pid (the server's)");
  Status s = CheckFdLimit(options.peers + 16);
  if (!s.ok()) return s;
  IoThread io;
  std::mt19937_64 rng(std::random_device{}());
  std::vector<std::shared_ptr<BitswapPeer>> peers;  // touched on the io thread only
  uint64_t closed = 0;
  auto adopt = [&](RawPeer::Transport transport) {
    BitswapPeer::Callbacks callbacks;
    callbacks.on_closed = [&closed](const Status&) { ++closed; };
    auto peer = std::make_shared<BitswapPeer>(io.io(), std::move(transport), std::move(callbacks));
    peer->Start();
    bitswap::Encoder encoder(bitswap::Version::k120);
    bool have = false;
    for (const std::string& text : loadgen::RandomMissingCids(options.wants, rng)) {
      bitswap::WantEntry want;
      (void)format::Cid::Parse(text, &want.cid);
      have = !have;
      want.type = have ? bitswap::WantType::kHave : bitswap::WantType::kBlock;
      want.send_dont_have = have;
      encoder.AddWant(want);
    }
    std::string framed;
    encoder.Finish(&framed);
    peer->Send(std::move(framed));
    peers.push_back(std::move(peer));
  };
  auto settle = [] { std::this_thread::sleep_for(std::chrono::seconds(3)); };
  // A few peers first, so the baseline includes what the first peers allocate once.
  int failed = ConnectPeers(options.target, 16, io, adopt);
  settle();
  const long rss_before = RssKib(options.pid);
  failed += ConnectPeers(options.target, options.peers, io, adopt);
  settle();
  const long rss_after = RssKib(options.pid);
  const size_t connected = io.Call([&] { return peers.size(); });
  const uint64_t closed_now = io.Call([&] { return closed; });
  const size_t added = connected > 16 ? connected - 16 : 0;
  io.Call([&] {
    for (auto& peer : peers) peer->Close();
    peers.clear();
    return 0;
  });
  io.Stop();
  *report = {{"peers", connected},
             {"added", added},
             {"failed", failed},
             {"closed_by_server", closed_now},
             {"wants_per_peer", options.wants},
             {"rss_before_kib", rss_before},
             {"rss_after_kib", rss_after},
             {"kib_per_peer", added > 0 ? static_cast<double>(rss_after - rss_before) / added : 0}};
  return Status::OK();
}

}  // namespace boxcar::bench
