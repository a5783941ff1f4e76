// libp2p benchmarks (tools/bench/libp2p.sh runs them; figures in docs/benchmarks.md):
//
//   bench-p2p handshakes --target 127.0.0.1:PORT [--pid PID] [--seconds S] [--threads T]
//       Noise handshakes per second against a running node: each thread dials, selects /noise,
//       runs the XX handshake and /yamux/1.0.0, closes, again. With --pid, also the handshakes
//       per second of the node's own CPU time (utime + stime from /proc).
//   bench-p2p setup --target 127.0.0.1:PORT [--count N]
//       Connection setup latency, p50 and p99: TCP connect to yamux ready, and to identify done.
//   bench-p2p idle --target 127.0.0.1:PORT --pid PID [--count N]
//       Opens N connections with distinct identities, completes each handshake, lets them go
//       idle, and reports the node's RSS growth per connection.
//   bench-p2p throughput [--mib N]
//       One stream over Noise + Yamux on loopback between two in-process swarms (the real
//       host/swarm code), sender to a sink: MiB/s.
//
// Output: one JSON object on stdout. Every run is bounded in count and time.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "obs/metrics.h"
#include "proc_stats.h"
#include "raw_peer.h"
#include "swarm/swarm.h"

namespace {

using boxcar::Status;
using boxcar::bench::CpuSeconds;
using boxcar::bench::Percentile;
using boxcar::bench::RssKib;
using boxcar::testing::RawPeer;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string mode;
  std::string target;
  long pid = 0;
  double seconds = 5;
  int threads = 2;
  int count = 0;
  int mib = 256;
};

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr,
               "bench-p2p: %s\n"
               "usage: bench-p2p handshakes --target HOST:PORT [--pid PID] [--seconds S] "
               "[--threads T]\n"
               "       bench-p2p setup --target HOST:PORT [--count N]\n"
               "       bench-p2p idle --target HOST:PORT --pid PID [--count N]\n"
               "       bench-p2p throughput [--mib N]\n",
               why.c_str());
  std::exit(2);
}

Args ParseArgs(int argc, char** argv) {
  if (argc < 2) Usage("no mode given");
  Args args;
  args.mode = argv[1];
  for (int i = 2; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) Usage(flag + " needs a value");
    const std::string value = argv[i + 1];
    if (flag == "--target")
      args.target = value;
    else if (flag == "--pid")
      args.pid = std::stol(value);
    else if (flag == "--seconds")
      args.seconds = std::stod(value);
    else if (flag == "--threads")
      args.threads = std::stoi(value);
    else if (flag == "--count")
      args.count = std::stoi(value);
    else if (flag == "--mib")
      args.mib = std::stoi(value);
    else
      Usage("unknown option " + flag);
  }
  if (args.mode != "throughput" && args.target.empty()) Usage("--target is required");
  return args;
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

json Handshakes(const Args& args) {
  std::atomic<uint64_t> done{0}, failed{0};
  std::atomic<bool> stop{false};
  const double cpu_before = args.pid > 0 ? CpuSeconds(args.pid) : 0;
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < args.threads; ++t) {
    threads.emplace_back([&] {
      while (!stop) {
        RawPeer peer;  // a fresh identity each time, as distinct peers have
        if (peer.Upgrade(args.target).ok())
          ++done;
        else
          ++failed;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(args.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  json out = {{"mode", "handshakes"},    {"threads", args.threads},
              {"seconds", elapsed},      {"handshakes", done.load()},
              {"failed", failed.load()}, {"per_second", done / elapsed}};
  if (args.pid > 0) {
    const double node_cpu = CpuSeconds(args.pid) - cpu_before;
    out["node_cpu_seconds"] = node_cpu;
    out["per_node_cpu_second"] = node_cpu > 0 ? done / node_cpu : 0;
  }
  return out;
}

json Setup(const Args& args) {
  const int count = args.count > 0 ? args.count : 500;
  std::vector<double> to_yamux, to_identify;
  int failed = 0;
  for (int i = 0; i < count; ++i) {
    RawPeer peer;
    const auto start = Clock::now();
    Status s = peer.Upgrade(args.target);
    const auto yamux_ready = Clock::now();
    boxcar::p2p::IdentifyMessage identify;
    if (s.ok()) s = peer.Identify(&identify);
    if (!s.ok()) {
      ++failed;
      continue;
    }
    to_yamux.push_back(Ms(yamux_ready - start));
    to_identify.push_back(Ms(Clock::now() - start));
  }
  return {
      {"mode", "setup"},
      {"connections", to_yamux.size()},
      {"failed", failed},
      {"yamux_ready_ms", {{"p50", Percentile(to_yamux, 0.5)}, {"p99", Percentile(to_yamux, 0.99)}}},
      {"identify_done_ms",
       {{"p50", Percentile(to_identify, 0.5)}, {"p99", Percentile(to_identify, 0.99)}}}};
}

json Idle(const Args& args) {
  if (args.pid <= 0) Usage("idle needs --pid");
  const int count = args.count > 0 ? args.count : 2000;
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  if (files.rlim_cur < static_cast<rlim_t>(count) + 64) {
    Usage("the fd limit (" + std::to_string(files.rlim_cur) + ") is below --count + 64");
  }
  // A few connections first, so the baseline includes what the first connection allocates once.
  std::vector<std::unique_ptr<RawPeer>> peers;
  auto open = [&](int n) {
    int failed = 0;
    for (int i = 0; i < n; ++i) {
      auto peer = std::make_unique<RawPeer>();
      if (!peer->Upgrade(args.target).ok()) {
        ++failed;
        continue;
      }
      (void)peer->PumpFor(std::chrono::milliseconds(1));  // refuse the node's identify stream
      peers.push_back(std::move(peer));
    }
    return failed;
  };
  auto settle = [&] {
    for (auto& peer : peers) (void)peer->PumpFor(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::seconds(2));
  };
  int failed = open(16);
  settle();
  const size_t baseline_connections = peers.size();
  const long rss_before = RssKib(args.pid);
  failed += open(count);
  settle();
  const long rss_after = RssKib(args.pid);
  const size_t added = peers.size() - baseline_connections;
  // A connection the node closed meanwhile would flatter the figure: count the live ones.
  size_t alive = 0;
  for (auto& peer : peers) alive += peer->WaitClosed(std::chrono::milliseconds(0)) ? 0 : 1;
  return {
      {"mode", "idle"},
      {"connections", peers.size()},
      {"alive", alive},
      {"added", added},
      {"failed", failed},
      {"rss_before_kib", rss_before},
      {"rss_after_kib", rss_after},
      {"kib_per_connection", added > 0 ? static_cast<double>(rss_after - rss_before) / added : 0}};
}

// One stream from a dialing swarm to a listening swarm's sink, both in this process.
json Throughput(const Args& args) {
  using namespace boxcar::p2p;
  const uint64_t total = static_cast<uint64_t>(args.mib) << 20;
  boxcar::obs::MetricsRegistry metrics;
  Ed25519Key listener_key, dialer_key;
  if (!Ed25519Key::Generate(&listener_key).ok() || !Ed25519Key::Generate(&dialer_key).ok()) {
    return {{"error", "key generation failed"}};
  }
  SwarmOptions listener_options;
  listener_options.listen.push_back(Multiaddr::FromTcp("127.0.0.1", 0));
  listener_options.agent_version = "boxcar/bench";
  Swarm listener(listener_options, listener_key, &metrics, nullptr);
  std::promise<Clock::time_point> sunk;
  listener.Handle("/bench/sink/1.0.0", [&sunk, total](StreamPtr stream) {
    auto received = std::make_shared<uint64_t>(0);
    stream->SetReader([received](std::string_view data) { *received += data.size(); },
                      [&sunk, received, total](Status) {
                        sunk.set_value(*received == total ? Clock::now() : Clock::time_point{});
                      });
  });
  SwarmOptions dialer_options;
  dialer_options.agent_version = "boxcar/bench";
  boxcar::obs::MetricsRegistry dialer_metrics;
  Swarm dialer(dialer_options, dialer_key, &dialer_metrics, nullptr);
  if (!listener.Start().ok() || !dialer.Start().ok()) return {{"error", "swarm start failed"}};

  std::promise<Status> connected;
  dialer.Connect(listener.ListenAddrs().front().WithPeer(listener.local_peer()),
                 [&](Status s, PeerId) { connected.set_value(s); });
  Status s = connected.get_future().get();
  if (!s.ok()) return {{"error", "connect: " + s.ToString()}};

  std::promise<Clock::time_point> started;
  dialer.NewStream(listener.local_peer(), {"/bench/sink/1.0.0"},
                   [&started, total](Status status, StreamPtr stream) {
                     if (!status.ok()) return started.set_value(Clock::time_point{});
                     started.set_value(Clock::now());
                     auto sent = std::make_shared<uint64_t>(0);
                     auto chunk = std::make_shared<std::string>(64 * 1024, 'x');
                     // The stream keeps the pump (its on_writable) and the pump the stream: a
                     // cycle this one-shot process never frees.
                     auto pump = std::make_shared<std::function<void()>>();
                     auto closed = std::make_shared<bool>(false);
                     *pump = [stream, sent, chunk, total, closed] {
                       while (*sent < total) {
                         const size_t size = std::min<uint64_t>(chunk->size(), total - *sent);
                         const size_t n = stream->Write(std::string_view(*chunk).substr(0, size));
                         *sent += n;
                         if (n < size) return;
                       }
                       if (!*closed) stream->CloseWrite();
                       *closed = true;
                     };
                     stream->SetOnWritable([pump] { (*pump)(); });
                     (*pump)();
                   });
  const Clock::time_point start = started.get_future().get();
  auto end_future = sunk.get_future();
  if (start == Clock::time_point{} ||
      end_future.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
    return {{"error", "the transfer did not complete"}};
  }
  const Clock::time_point end = end_future.get();
  dialer.Stop();
  listener.Stop();
  if (end == Clock::time_point{}) return {{"error", "the sink got a different byte count"}};
  const double seconds = std::chrono::duration<double>(end - start).count();
  return {{"mode", "throughput"},
          {"bytes", total},
          {"seconds", seconds},
          {"mib_per_second", static_cast<double>(total) / (1 << 20) / seconds}};
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv);
  spdlog::set_level(spdlog::level::warn);  // stdout carries only the JSON result
  json out;
  if (args.mode == "handshakes")
    out = Handshakes(args);
  else if (args.mode == "setup")
    out = Setup(args);
  else if (args.mode == "idle")
    out = Idle(args);
  else if (args.mode == "throughput")
    out = Throughput(args);
  else
    Usage("unknown mode " + args.mode);
  std::printf("%s\n", out.dump().c_str());
  return out.contains("error") ? 1 : 0;
}
