#include "rpc/rpc_commands.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "rpc/rpc_auth.h"
#include "rpc/rpc_request.h"
#include "swarm/swarm.h"

namespace boxcar::rpc {
namespace {

using json = nlohmann::ordered_json;
using p2p::Multiaddr;
using p2p::PeerId;

constexpr char kP2pDisabled[] =
    "p2p is not enabled: add a \"p2p\" section to the config (p2p.listen) and restart";
constexpr auto kPingInterval = std::chrono::seconds(1);
constexpr auto kPingTimeout = std::chrono::seconds(10);  // Kubo's kPingTimeout, per ping
constexpr auto kConnectTimeout = std::chrono::seconds(60);

json NullIfEmpty(std::vector<std::string> values) {
  if (values.empty()) return nullptr;
  std::sort(values.begin(), values.end());
  return values;
}

// A peer argument: a PeerID, or a multiaddr ending in /p2p/ID (Kubo's ParsePeerParam).
Status ParsePeerParam(const std::string& text, PeerId* peer, Multiaddr* transport) {
  if (text.empty() || text.front() != '/') return PeerId::Parse(text, peer);
  Multiaddr addr;
  if (Status s = Multiaddr::Parse(text, &addr); !s.ok()) return s;
  auto id = addr.Peer();
  if (!id) return Status::InvalidArgument("invalid p2p multiaddr: no /p2p/<PeerID> at the end");
  *peer = *id;
  *transport = addr.WithoutPeer();
  return Status::OK();
}

// Parses every address first, as Kubo does: one bad address fails the whole call.
Status ParseP2pAddrs(const std::vector<std::string>& args, std::vector<Multiaddr>* out) {
  for (const std::string& text : args) {
    Multiaddr addr;
    if (Status s = Multiaddr::Parse(text, &addr); !s.ok()) return s;
    if (!addr.Peer()) {
      return Status::InvalidArgument("found no ipfs peers at " + text +
                                     ": the address needs a /p2p/<PeerID> suffix");
    }
    out->push_back(std::move(addr));
  }
  return Status::OK();
}

json SelfId(p2p::Swarm& swarm, const std::string& agent_version) {
  std::vector<std::string> addresses;
  for (const Multiaddr& addr : swarm.AdvertisedAddrs()) {
    addresses.push_back(addr.WithPeer(swarm.local_peer()).ToString());
  }
  return IdOutputJson(swarm.local_peer().ToString(), swarm.identity().PublicKeyProto(),
                      std::move(addresses), agent_version, swarm.Protocols());
}

json PeerIdJson(const p2p::PeerInfo& info) {
  return IdOutputJson(info.peer.ToString(), std::string(info.peer.InlinedPublicKey()),
                      {info.addr.WithPeer(info.peer).ToString()}, info.agent_version,
                      info.protocols);
}

void Id(const NodeFacts& facts, const RpcRequest& request, RpcResponder& out) {
  p2p::Swarm& swarm = *facts.swarm;
  if (request.args.empty()) return out.Reply(SelfId(swarm, facts.agent_version));
  PeerId peer;
  if (!PeerId::Parse(request.args[0], &peer).ok()) return out.Fail({"invalid peer id"});
  if (peer == swarm.local_peer()) return out.Reply(SelfId(swarm, facts.agent_version));
  for (const p2p::PeerInfo& info : swarm.Peers()) {
    if (info.peer == peer) return out.Reply(PeerIdJson(info));
  }
  out.Fail({"peer " + peer.ToString() +
            " is not connected, and boxcar has no peer routing to find it: connect to it first "
            "(swarm/connect with its /p2p/ multiaddr)"});
}

json VersionJson(const NodeFacts& facts) {
#if defined(__x86_64__)
  const std::string arch = "amd64";
#elif defined(__aarch64__)
  const std::string arch = "arm64";
#else
  const std::string arch = "unknown";
#endif
  // Commit, Repo and Golang describe a Go build of Kubo; boxcar has none of them to report.
  return {{"Version", facts.version},
          {"Commit", ""},
          {"Repo", ""},
          {"System", arch + "/linux"},
          {"Golang", ""}};
}

// Connects to each address in turn, on the RPC thread; the first failure ends the call with
// Kubo's error text. A dial that never answers fails after kConnectTimeout.
class ConnectRun : public std::enable_shared_from_this<ConnectRun> {
 public:
  ConnectRun(p2p::Swarm& swarm, std::vector<Multiaddr> addrs, std::shared_ptr<RpcResponder> out)
      : swarm_(swarm), addrs_(std::move(addrs)), out_(std::move(out)), timer_(out_->executor()) {}

  void Next() {
    if (next_ == addrs_.size()) return out_->Reply({{"Strings", done_}});
    if (out_->cancelled()) return;
    const Multiaddr& addr = addrs_[next_++];
    const size_t attempt = next_;
    timer_.expires_after(kConnectTimeout);
    timer_.async_wait([self = shared_from_this(), attempt](const boost::system::error_code& ec) {
      if (!ec) self->OnResult(attempt, Status::Busy("timed out"));
    });
    swarm_.Connect(addr, [self = shared_from_this(), attempt](Status status, PeerId) {
      boost::asio::post(self->out_->executor(),
                        [self, attempt, status] { self->OnResult(attempt, status); });
    });
  }

 private:
  // A late answer to an attempt that already timed out is dropped.
  void OnResult(size_t attempt, const Status& status) {
    if (attempt != next_ || answered_ == attempt) return;
    answered_ = attempt;
    timer_.cancel();
    const std::string label = "connect " + addrs_[attempt - 1].Peer()->ToString();
    if (!status.ok()) return out_->Fail({label + " failure: " + status.message()});
    done_.push_back(label + " success");
    Next();
  }

  p2p::Swarm& swarm_;
  std::vector<Multiaddr> addrs_;
  std::shared_ptr<RpcResponder> out_;
  boost::asio::steady_timer timer_;
  size_t next_ = 0;
  size_t answered_ = 0;
  std::vector<std::string> done_;
};

void SwarmConnect(p2p::Swarm& swarm, const RpcRequest& request, std::shared_ptr<RpcResponder> out) {
  std::vector<Multiaddr> addrs;
  if (Status s = ParseP2pAddrs(request.args, &addrs); !s.ok()) return out->Fail({s.message()});
  std::make_shared<ConnectRun>(swarm, std::move(addrs), std::move(out))->Next();
}

// Kubo reports each address's outcome in the list and still answers 200.
void SwarmDisconnect(p2p::Swarm& swarm, const RpcRequest& request, RpcResponder& out) {
  std::vector<Multiaddr> addrs;
  if (Status s = ParseP2pAddrs(request.args, &addrs); !s.ok()) return out.Fail({s.message()});
  json strings = json::array();
  for (const Multiaddr& addr : addrs) {
    const PeerId peer = *addr.Peer();
    const Status status =
        swarm.IsConnected(peer) ? swarm.Disconnect(peer) : Status::NotFound("not connected");
    strings.push_back("disconnect " + peer.ToString() +
                      (status.ok() ? " success" : " failure: " + status.message()));
  }
  out.Reply({{"Strings", strings}});
}

void SwarmPeers(p2p::Swarm& swarm, const RpcRequest& request, RpcResponder& out) {
  const bool verbose = request.Flag("verbose");
  std::vector<json> peers;
  for (const p2p::PeerInfo& info : swarm.Peers()) {
    json peer = {{"Addr", info.addr.WithoutPeer().ToString()}, {"Peer", info.peer.ToString()}};
    if (verbose || request.Flag("latency")) {
      peer["Latency"] = info.latency_ns == 0 ? "n/a" : FormatGoDuration(info.latency_ns);
    }
    if (verbose || request.Flag("direction")) {
      peer["Direction"] = info.direction == p2p::Direction::kInbound ? 1 : 2;  // libp2p's enum
    }
    // Kubo always sends Identify (Go has no omitempty for a struct); filled only when asked.
    peer["Identify"] =
        verbose || request.Flag("identify") ? PeerIdJson(info) : IdOutputJson("", "", {}, "", {});
    peers.push_back(std::move(peer));
  }
  std::sort(peers.begin(), peers.end(),
            [](const json& a, const json& b) { return a["Addr"] < b["Addr"]; });
  out.Reply({{"Peers", peers.empty() ? json(nullptr) : json(peers)}});
}

// Kubo's ping: "PING <peer>.", one result per ping a second apart, then the average.
class PingRun : public std::enable_shared_from_this<PingRun> {
 public:
  PingRun(p2p::Swarm& swarm, PeerId peer, int64_t count, std::shared_ptr<RpcResponder> out)
      : swarm_(swarm),
        peer_(std::move(peer)),
        remaining_(count),
        out_(std::move(out)),
        timer_(out_->executor()) {}

  void Start() {
    out_->Emit({{"Success", true}, {"Time", 0}, {"Text", "PING " + peer_.ToString() + "."}});
    PingOnce();
  }

 private:
  void PingOnce() {
    if (out_->cancelled()) return;
    const uint64_t attempt = ++attempt_;
    next_ = std::chrono::steady_clock::now() + kPingInterval;
    timer_.expires_after(kPingTimeout);
    timer_.async_wait([self = shared_from_this(), attempt](const boost::system::error_code& ec) {
      if (!ec && self->attempt_ == attempt) self->OnResult(attempt, Status::Busy("timeout"), 0);
    });
    swarm_.Ping(peer_, [self = shared_from_this(), attempt](Status status, int64_t rtt_ns) {
      boost::asio::post(self->out_->executor(), [self, attempt, status, rtt_ns] {
        self->OnResult(attempt, status, rtt_ns);
      });
    });
  }

  // Runs on the RPC thread; a late answer to an attempt that already timed out is dropped.
  void OnResult(uint64_t attempt, const Status& status, int64_t rtt_ns) {
    if (attempt != attempt_ || answered_ == attempt) return;
    answered_ = attempt;
    timer_.cancel();
    if (status.ok()) {
      ++succeeded_;
      total_ns_ += rtt_ns;
      out_->Emit({{"Success", true}, {"Time", rtt_ns}, {"Text", ""}});
    } else {
      out_->Emit({{"Success", false}, {"Time", 0}, {"Text", "Ping error: " + status.message()}});
    }
    if (--remaining_ > 0) {
      timer_.expires_at(next_);
      timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) self->PingOnce();
      });
      return;
    }
    if (succeeded_ == 0) return out_->Fail({"ping failed"});
    char average[64];
    std::snprintf(average, sizeof average, "Average latency: %.2fms",
                  static_cast<double>(total_ns_) / 1e6 / static_cast<double>(succeeded_));
    out_->Emit({{"Success", true}, {"Time", 0}, {"Text", average}});
    out_->Close();
  }

  p2p::Swarm& swarm_;
  const PeerId peer_;
  int64_t remaining_;
  std::shared_ptr<RpcResponder> out_;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point next_;
  uint64_t attempt_ = 0;
  uint64_t answered_ = 0;
  int64_t succeeded_ = 0;
  int64_t total_ns_ = 0;
};

void Ping(p2p::Swarm& swarm, const RpcRequest& request, std::shared_ptr<RpcResponder> out) {
  PeerId peer;
  Multiaddr transport;
  if (Status s = ParsePeerParam(request.args[0], &peer, &transport); !s.ok()) {
    return out->Fail({"failed to parse peer address '" + request.args[0] + "': " + s.message()});
  }
  if (peer == swarm.local_peer()) return out->Fail({"error: can't ping self"});
  const int64_t count = request.Int("count", 10);
  if (count <= 0) {
    return out->Fail({"ping count must be greater than 0, was " + std::to_string(count)});
  }
  auto run = std::make_shared<PingRun>(swarm, peer, count, out);
  if (swarm.IsConnected(peer)) return run->Start();
  if (transport.empty()) {
    return out->Fail({"peer lookup failed: " + peer.ToString() +
                      " is not connected, and boxcar has no peer routing: give its address "
                      "(/ip4/.../tcp/.../p2p/" +
                      peer.ToString() + ") or swarm/connect first"});
  }
  swarm.Connect(transport.WithPeer(peer), [run, out](Status status, PeerId) {
    boost::asio::post(out->executor(), [run, out, status] {
      if (!status.ok()) return out->Fail({"ping failed: " + status.message()});
      run->Start();
    });
  });
}

// Wraps a p2p command: 500 "p2p is not enabled" without a swarm.
RpcHandler NeedsSwarm(
    p2p::Swarm* swarm,
    std::function<void(p2p::Swarm&, const RpcRequest&, std::shared_ptr<RpcResponder>)> run) {
  return
      [swarm, run = std::move(run)](const RpcRequest& request, std::shared_ptr<RpcResponder> out) {
        if (swarm == nullptr) return out->Fail({kP2pDisabled});
        run(*swarm, request, std::move(out));
      };
}

}  // namespace

json IdOutputJson(const std::string& peer_id, const std::string& public_key_proto,
                  std::vector<std::string> addresses, const std::string& agent_version,
                  std::vector<std::string> protocols) {
  return {{"ID", peer_id},
          {"PublicKey", Base64Encode(public_key_proto)},
          {"Addresses", NullIfEmpty(std::move(addresses))},
          {"AgentVersion", agent_version},
          {"Protocols", NullIfEmpty(std::move(protocols))}};
}

void RegisterCommands(RpcServer& server, const NodeFacts& facts) {
  p2p::Swarm* swarm = facts.swarm;
  server.Register(
      {"version", "", 0, 0, {}, {}, [facts](const RpcRequest&, std::shared_ptr<RpcResponder> out) {
         out->Reply(VersionJson(facts));
       }});
  server.Register({"id",
                   "peerid",
                   0,
                   1,
                   {{"peerid-base", OptionType::kString}},
                   {},
                   NeedsSwarm(swarm, [facts](p2p::Swarm&, const RpcRequest& request,
                                             std::shared_ptr<RpcResponder> out) {
                     Id(facts, request, *out);
                   })});
  server.Register({"swarm/connect", "address", 1, -1, {}, {}, NeedsSwarm(swarm, SwarmConnect)});
  server.Register({"swarm/disconnect",
                   "address",
                   1,
                   -1,
                   {},
                   {},
                   NeedsSwarm(swarm, [](p2p::Swarm& s, const RpcRequest& request,
                                        std::shared_ptr<RpcResponder> out) {
                     SwarmDisconnect(s, request, *out);
                   })});
  server.Register(
      {"swarm/peers",
       "",
       0,
       0,
       {{"verbose", OptionType::kBool},
        {"streams", OptionType::kBool},
        {"latency", OptionType::kBool},
        {"direction", OptionType::kBool},
        {"identify", OptionType::kBool}},
       {{"v", "verbose"}},
       NeedsSwarm(swarm, [](p2p::Swarm& s, const RpcRequest& request,
                            std::shared_ptr<RpcResponder> out) { SwarmPeers(s, request, *out); })});
  server.Register({"ping",
                   "peer ID",
                   1,
                   -1,
                   {{"count", OptionType::kInt}},
                   {{"n", "count"}},
                   NeedsSwarm(swarm, Ping)});
  RegisterBlockCommands(server, facts);
}

}  // namespace boxcar::rpc
