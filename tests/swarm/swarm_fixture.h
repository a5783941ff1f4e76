// Helpers for the in-process swarm tests: swarms on 127.0.0.1:0 with their own metrics, blocking
// wrappers around the callback API (bounded in time), and an echo protocol.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "obs/metrics.h"
#include "swarm/swarm.h"

namespace boxcar::p2p::testing {

inline constexpr char kEchoProtocol[] = "/boxcar/test/echo/1.0.0";
inline constexpr auto kWait = std::chrono::seconds(20);

// An echo handler that respects the stream's send buffer: bytes it cannot write yet wait in a
// queue that drains on writability; it FINs after the peer's FIN once the queue is empty.
inline void EchoHandler(StreamPtr stream) {
  struct State {
    std::string queue;
    bool fin = false;
  };
  auto state = std::make_shared<State>();
  Stream* raw = stream.get();
  auto drain = [state, raw] {
    while (!state->queue.empty()) {
      const size_t n = raw->Write(state->queue);
      if (n == 0) return;
      state->queue.erase(0, n);
    }
    if (state->fin) raw->CloseWrite();
  };
  stream->SetOnWritable(drain);
  stream->SetReader(
      [state, drain](std::string_view data) {
        state->queue.append(data);
        drain();
      },
      [state, drain](Status end) {
        if (!end.ok()) return;
        state->fin = true;
        drain();
      });
}

struct TestSwarm {
  explicit TestSwarm(std::function<void(SwarmOptions&)> tweak = {}, bool start = true,
                     std::optional<Ed25519Key> key = std::nullopt) {
    SwarmOptions options;
    Multiaddr listen;
    REQUIRE(Multiaddr::Parse("/ip4/127.0.0.1/tcp/0", &listen).ok());
    options.listen = {listen};
    options.agent_version = "boxcar/test";
    if (tweak) tweak(options);
    Ed25519Key identity;
    if (key) {
      identity = *key;
    } else {
      REQUIRE(Ed25519Key::Generate(&identity).ok());
    }
    swarm = std::make_unique<Swarm>(options, identity, &metrics, nullptr);
    swarm->Handle(kEchoProtocol, EchoHandler);
    if (start) REQUIRE(swarm->Start().ok());
  }

  Multiaddr Addr() const { return swarm->ListenAddrs().at(0).WithPeer(swarm->local_peer()); }
  const PeerId& id() const { return swarm->local_peer(); }

  // The value of `name{labels}` in the text exposition, 0 when absent.
  double Metric(const std::string& name, const std::string& labels) const {
    std::istringstream text(metrics.SerializeText());
    const std::string prefix = labels.empty() ? name : name + "{" + labels + "}";
    for (std::string line; std::getline(text, line);) {
      if (line.rfind(prefix + " ", 0) == 0) return std::stod(line.substr(prefix.size() + 1));
    }
    return 0;
  }

  obs::MetricsRegistry metrics;
  std::unique_ptr<Swarm> swarm;
};

inline Status Connect(Swarm& from, const Multiaddr& addr, PeerId* peer = nullptr) {
  auto promise = std::make_shared<std::promise<std::pair<Status, PeerId>>>();
  auto future = promise->get_future();
  from.Connect(addr, [promise](Status s, PeerId p) { promise->set_value({s, p}); });
  if (future.wait_for(kWait) != std::future_status::ready) {
    return Status::Unavailable("connect did not call back");
  }
  auto [status, id] = future.get();
  if (peer) *peer = id;
  return status;
}

inline Status Ping(Swarm& from, const PeerId& to, int64_t* rtt) {
  auto promise = std::make_shared<std::promise<std::pair<Status, int64_t>>>();
  auto future = promise->get_future();
  from.Ping(to, [promise](Status s, int64_t r) { promise->set_value({s, r}); });
  if (future.wait_for(kWait) != std::future_status::ready) {
    return Status::Unavailable("ping did not call back");
  }
  auto [status, value] = future.get();
  *rtt = value;
  return status;
}

// Polls `condition` every 10 ms for up to `limit`.
inline bool Eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

}  // namespace boxcar::p2p::testing
