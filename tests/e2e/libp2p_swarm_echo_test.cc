// boxcar's swarm (host/swarm, in process) as the dialer against the js-libp2p peer of
// tests/interop/libp2p: 200 /echo/1.0.0 streams at once, then 64 MiB through one echo stream.
// js kills the whole connection when a yamux window is overrun, so the connection still being
// open afterwards, with no close error reported by js, shows the window was respected.
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <memory>

#include <nlohmann/json.hpp>

#include "obs/metrics.h"
#include "support/child_process.h"
#include "swarm/swarm.h"

namespace boxcar::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const fs::path kJs = fs::path(BOXCAR_SOURCE_DIR) / "tests/interop/libp2p";
constexpr std::string_view kEcho = "/echo/1.0.0";

// The byte at `offset` of the transfer: a pattern that a shifted or dropped chunk breaks.
char PatternByte(uint64_t offset) {
  return static_cast<char>((offset * 131 + offset / 65521) & 0xff);
}

// Sends `total` pattern bytes on a stream, honouring Write's backpressure, then FINs; checks what
// comes back against the same pattern. `done` gets the outcome once the echo ended. Lives on the
// stream's I/O thread.
class EchoTransfer : public std::enable_shared_from_this<EchoTransfer> {
 public:
  EchoTransfer(p2p::StreamPtr stream, uint64_t total, std::function<void(std::string)> done)
      : stream_(std::move(stream)), total_(total), done_(std::move(done)) {}

  void Start() {
    auto self = shared_from_this();
    stream_->SetReader([self](std::string_view data) { self->Check(data); },
                       [self](Status end) { self->Finish(end); });
    stream_->SetOnWritable([self] { self->Send(); });
    Send();
  }

 private:
  void Send() {
    char chunk[64 * 1024];
    while (sent_ < total_) {
      const size_t size = static_cast<size_t>(std::min<uint64_t>(sizeof(chunk), total_ - sent_));
      for (size_t i = 0; i < size; ++i) chunk[i] = PatternByte(sent_ + i);
      const size_t accepted = stream_->Write(std::string_view(chunk, size));
      sent_ += accepted;
      if (accepted < size) return;  // on_writable calls Send again
    }
    if (!closed_) {
      closed_ = true;
      stream_->CloseWrite();
    }
  }
  void Check(std::string_view data) {
    for (char c : data) {
      if (mismatch_ == 0 && c != PatternByte(received_)) mismatch_ = received_ + 1;
      ++received_;
    }
  }
  void Finish(const Status& end) {
    std::string outcome;
    if (!end.ok())
      outcome = "the stream ended with " + end.ToString();
    else if (mismatch_ != 0)
      outcome = "the echo differs at byte " + std::to_string(mismatch_ - 1);
    else if (received_ != total_) {
      outcome = "echoed " + std::to_string(received_) + " of " + std::to_string(total_) + " bytes";
    }
    done_(outcome);
  }

  p2p::StreamPtr stream_;
  uint64_t total_;
  std::function<void(std::string)> done_;
  uint64_t sent_ = 0;
  uint64_t received_ = 0;
  uint64_t mismatch_ = 0;  // 1 + offset of the first wrong byte
  bool closed_ = false;
};

// Opens `count` echo streams at once, each moving `bytes`; the failures, "" for each success.
std::vector<std::string> EchoStreams(p2p::Swarm& swarm, const p2p::PeerId& peer, int count,
                                     uint64_t bytes, std::chrono::seconds timeout) {
  auto results = std::make_shared<std::vector<std::promise<std::string>>>(count);
  for (int i = 0; i < count; ++i) {
    swarm.NewStream(peer, {std::string(kEcho)}, [results, i, bytes](Status s, p2p::StreamPtr st) {
      if (!s.ok()) return (*results)[i].set_value("NewStream: " + s.ToString());
      std::make_shared<EchoTransfer>(std::move(st), bytes, [results, i](std::string outcome) {
        (*results)[i].set_value(std::move(outcome));
      })->Start();
    });
  }
  std::vector<std::string> failures;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto& result : *results) {
    auto future = result.get_future();
    if (future.wait_until(deadline) != std::future_status::ready) {
      failures.push_back("timed out");
      continue;
    }
    std::string outcome = future.get();
    if (!outcome.empty()) failures.push_back(outcome);
  }
  return failures;
}

}  // namespace

TEST_CASE("libp2p interop: boxcar's swarm dials js, 200 echo streams at once, 64 MiB on one") {
  const bool installed = fs::exists(BOXCAR_NODEJS) && fs::exists(kJs / "node_modules");
  REQUIRE_MESSAGE(installed,
                  "run tools/install-deps.sh: it installs Node.js and the js-libp2p packages");
  ChildProcess js({BOXCAR_NODEJS, (kJs / "peer.mjs").string()});
  const auto listening = js.WaitFor(
      [](const json& e) { return e.value("event", "") == "listening"; }, std::chrono::seconds(30));
  REQUIRE_MESSAGE(listening.has_value(), js.Stderr());
  p2p::Multiaddr js_addr;
  REQUIRE(p2p::Multiaddr::Parse((*listening)["addrs"][0].get<std::string>(), &js_addr).ok());

  p2p::Ed25519Key identity;
  REQUIRE(p2p::Ed25519Key::Generate(&identity).ok());
  obs::MetricsRegistry metrics;
  p2p::SwarmOptions options;
  options.agent_version = "boxcar/interop-test";
  p2p::Swarm swarm(options, identity, &metrics, /*runtime=*/nullptr);
  REQUIRE(swarm.Start().ok());

  std::promise<std::pair<Status, p2p::PeerId>> connected;
  swarm.Connect(js_addr, [&](Status s, p2p::PeerId peer) { connected.set_value({s, peer}); });
  auto connect_future = connected.get_future();
  REQUIRE(connect_future.wait_for(std::chrono::seconds(15)) == std::future_status::ready);
  const auto [status, peer] = connect_future.get();
  REQUIRE_MESSAGE(status.ok(), status.ToString());
  CHECK(peer.ToString() == (*listening)["peer"].get<std::string>());

  const std::vector<std::string> many =
      EchoStreams(swarm, peer, 200, 4096, std::chrono::seconds(60));
  INFO(many.size(), " of 200 failed, first: ", many.empty() ? std::string() : many.front());
  CHECK(many.empty());

  const auto start = std::chrono::steady_clock::now();
  const std::vector<std::string> big =
      EchoStreams(swarm, peer, 1, uint64_t{64} << 20, std::chrono::seconds(120));
  MESSAGE("64 MiB echoed through js in ",
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), " s");
  INFO("64 MiB: ", big.empty() ? std::string() : big.front());
  CHECK(big.empty());

  // js still holds the connection open and never reported a yamux error.
  REQUIRE(js.WriteLine("connections"));
  const auto connections =
      js.WaitFor([](const json& e) { return e.value("event", "") == "connections"; },
                 std::chrono::seconds(10));
  REQUIRE(connections.has_value());
  bool open = false;
  for (const json& c : (*connections)["list"]) {
    open = open || (c.value("peer", "") == swarm.local_peer().ToString() && c["status"] == "open");
  }
  CHECK_MESSAGE(open, connections->dump());
  for (const std::string& line : js.lines()) {
    CHECK_MESSAGE(line.find("\"event\":\"connection:close\"") == std::string::npos, line);
  }
  swarm.Stop();
}

}  // namespace boxcar::testing
