// A Bitswap peer inside the test process: a real swarm (host/swarm) with the Bitswap network
// (host/exchange/network), dialing a node and recording every block and presence the node sends
// on its own streams. Tests use it to drive a node's server with exact wantlists.
#pragma once

#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <doctest/doctest.h>

#include "bitswap/message.h"
#include "exchange/network.h"
#include "obs/metrics.h"
#include "p2p/keys.h"
#include "p2p/multiaddr.h"
#include "swarm/swarm.h"

namespace boxcar::testing {

class BitswapTestPeer : public exchange::MessageSink {
 public:
  BitswapTestPeer() {
    p2p::Ed25519Key key;
    REQUIRE(p2p::Ed25519Key::Generate(&key).ok());
    swarm_ = std::make_unique<p2p::Swarm>(p2p::SwarmOptions{}, key, &metrics_, nullptr);
    network_ =
        std::make_unique<exchange::BitswapNetwork>(*swarm_, metrics_, exchange::NetworkOptions{});
    network_->AddSink(this);
    network_->RegisterProtocols();
    REQUIRE(swarm_->Start().ok());
  }
  ~BitswapTestPeer() override {
    network_->Stop();
    swarm_->Stop();
  }

  // Dials "/ip4/.../tcp/P/p2p/ID"; the node's PeerID.
  p2p::PeerId Connect(const std::string& address) {
    p2p::Multiaddr addr;
    REQUIRE(p2p::Multiaddr::Parse(address, &addr).ok());
    std::promise<std::pair<Status, p2p::PeerId>> done;
    swarm_->Connect(addr, [&](Status s, p2p::PeerId peer) { done.set_value({s, peer}); });
    auto [status, peer] = done.get_future().get();
    REQUIRE_MESSAGE(status.ok(), status.ToString());
    node_ = peer;
    return peer;
  }

  // Sends one framed message (or any bytes) on our Bitswap stream to the node.
  Status SendFramed(std::string framed) {
    std::promise<Status> done;
    network_->Send(node_, std::move(framed), [&](Status s) { done.set_value(s); });
    return done.get_future().get();
  }

  Status SendWants(const std::vector<bitswap::WantEntry>& wants, bool full = false) {
    bitswap::Encoder encoder(bitswap::Version::k120);
    for (const bitswap::WantEntry& want : wants) REQUIRE(encoder.AddWant(want));
    if (full) encoder.SetFull(true);
    std::string framed;
    encoder.Finish(&framed);
    return SendFramed(std::move(framed));
  }

  // Waits until `ready` (called under the lock) holds or `timeout` passes.
  template <typename F>
  bool WaitFor(F ready, std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return ready(); });
  }
  bool HasBlock(const format::Cid& cid) const { return blocks_.count(cid) > 0; }
  std::string Block(const format::Cid& cid) const {
    std::lock_guard lock(mu_);
    auto it = blocks_.find(cid);
    return it == blocks_.end() ? "" : it->second;
  }
  std::optional<bitswap::PresenceType> Presence(const format::Cid& cid) const {
    auto it = presences_.find(cid);
    if (it == presences_.end()) return std::nullopt;
    return it->second;
  }
  size_t block_count() const {
    std::lock_guard lock(mu_);
    return block_messages_;
  }
  bool connected() const { return swarm_->IsConnected(node_); }

  void OnMessage(const p2p::PeerId&, bitswap::Version, const bitswap::Message& message) override {
    std::lock_guard lock(mu_);
    for (const bitswap::ReceivedBlock& block : message.blocks) {
      blocks_[block.cid] = block.data;
      ++block_messages_;
    }
    for (const bitswap::Presence& presence : message.presences) {
      presences_[presence.cid] = presence.type;
    }
    cv_.notify_all();
  }
  void OnPeerConnected(const p2p::PeerId&) override {}
  void OnPeerDisconnected(const p2p::PeerId&) override { cv_.notify_all(); }

 private:
  obs::MetricsRegistry metrics_;
  std::unique_ptr<p2p::Swarm> swarm_;
  std::unique_ptr<exchange::BitswapNetwork> network_;
  p2p::PeerId node_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<format::Cid, std::string> blocks_;
  std::unordered_map<format::Cid, bitswap::PresenceType> presences_;
  size_t block_messages_ = 0;
};

}  // namespace boxcar::testing
