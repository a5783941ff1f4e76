// End-to-end runs of loadgen against FakeGateway on 127.0.0.1.
#include <doctest/doctest.h>

#include "fake_gateway.h"
#include "runner.h"
#include "worker.h"

namespace boxcar::loadgen {
namespace {

Options BaseOptions(uint16_t port) {
  Options o;
  o.target_host = "127.0.0.1";
  o.target_port = port;
  o.connections = 4;
  o.depth = 8;
  o.duration_s = 10;  // a bound in case the request budget is never reached
  o.requests = 3000;
  o.timeout_ms = 2000;
  return o;
}

RunResult Run(const Options& o, const std::string& cid) {
  return RunLoad(o, {cid}, {"bafkreiaaaa", "bafkreibbbb"}, 42, false, nullptr);
}

TEST_CASE("closed loop, pipelined, every kind: all requests answered as expected") {
  testing::FakeGateway server;
  const uint16_t port = server.Start();
  REQUIRE(port != 0);
  Options o = BaseOptions(port);
  o.threads = 2;
  o.mix = {70, 10, 10, 10};
  const RunResult r = Run(o, server.known_cid);
  const Stats& s = r.stats;
  CHECK(s.requests == 3000);
  CHECK(s.responses == 3000);
  CHECK(s.TotalFailures() == 0);
  CHECK(s.status_counts[200] + s.status_counts[404] == 3000);
  CHECK(s.status_counts[404] == s.requests_by_kind[3]);
  CHECK(s.requests_by_kind[1] > 0);
  CHECK(s.latency.Count() == 3000);
  CHECK(s.connects == 4);
  CHECK(r.duration_s > 0);
}

TEST_CASE("stream-error trailers and unexpected statuses are failures") {
  testing::FakeGateway server;
  server.stream_error_every = 4;
  const uint16_t port = server.Start();
  REQUIRE(port != 0);
  Options o = BaseOptions(port);
  o.requests = 400;
  o.mix = {0, 0, 1, 0};
  RunResult r = Run(o, server.known_cid);
  CHECK(r.stats.failures[static_cast<int>(FailureKind::kStreamError)] == 100);
  CHECK(r.stats.TotalFailures() == 100);

  o.mix = {1, 0, 0, 0};
  r = Run(o, "bafkreiunknown");  // 404 where raw expects 2xx
  CHECK(r.stats.status_counts[404] == 400);
  CHECK(r.stats.failures[static_cast<int>(FailureKind::kStatus)] == 400);
  o.ok_statuses = {404};
  r = Run(o, "bafkreiunknown");
  CHECK(r.stats.TotalFailures() == 0);
}

TEST_CASE("Connection: close reconnects without losing or failing requests") {
  testing::FakeGateway server;
  server.close_every = 7;
  const uint16_t port = server.Start();
  REQUIRE(port != 0);
  Options o = BaseOptions(port);
  o.requests = 700;
  const RunResult r = Run(o, server.known_cid);
  CHECK(r.stats.requests == 700);
  CHECK(r.stats.TotalFailures() == 0);
  CHECK(r.stats.server_closes >= 90);
  // Reconnects still in progress when the budget ran out do not count as connects.
  CHECK(r.stats.connects >= r.stats.server_closes);
  CHECK(r.stats.connects <= 4 + r.stats.server_closes);
}

TEST_CASE("a stalled response times out and fails what was in flight") {
  testing::FakeGateway server;
  server.stall_every = 50;
  const uint16_t port = server.Start();
  REQUIRE(port != 0);
  Options o = BaseOptions(port);
  o.requests = 0;
  o.duration_s = 1;
  o.timeout_ms = 100;
  o.connections = 2;
  o.depth = 2;
  const RunResult r = Run(o, server.known_cid);
  CHECK(r.stats.failures[static_cast<int>(FailureKind::kTimeout)] > 0);
  CHECK(r.stats.responses > 0);
  CHECK(r.duration_s == doctest::Approx(1.0).epsilon(0.05));
}

TEST_CASE("open loop sends at the intended rate") {
  testing::FakeGateway server;
  const uint16_t port = server.Start();
  REQUIRE(port != 0);
  Options o = BaseOptions(port);
  o.requests = 0;
  o.duration_s = 1;
  o.depth = 1;
  o.rate = 2000;
  const RunResult r = Run(o, server.known_cid);
  CHECK(r.stats.TotalFailures() == 0);
  CHECK(r.stats.requests >= 1800);
  CHECK(r.stats.requests <= 2010);
}

TEST_CASE("an unreachable target yields connect failures and the run still ends") {
  testing::FakeGateway server;
  const uint16_t port = server.Start();
  REQUIRE(port != 0);
  server.Stop();  // the port is now closed
  Options o = BaseOptions(port);
  o.timeout_ms = 200;
  const RunResult r = Run(o, server.known_cid);
  CHECK(r.stats.failures[static_cast<int>(FailureKind::kConnect)] >= 4);
  CHECK(r.stats.requests == 0);
  CHECK_FALSE(r.stats.first_connect_error.empty());
}

}  // namespace
}  // namespace boxcar::loadgen

namespace boxcar::loadgen {
namespace {

TEST_CASE("connects a full listen backlog never completes time out and the run ends") {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0);
  REQUIRE(listen(fd, 0) == 0);  // never accepted: later SYNs are dropped
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  Options o = BaseOptions(ntohs(addr.sin_port));
  o.connections = 8;
  o.timeout_ms = 200;
  o.duration_s = 1;
  const auto begin = Clock::now();
  const RunResult r = RunLoad(o, {"bafkreiaaaa"}, {}, 1, false, nullptr);
  CHECK(Clock::now() - begin < std::chrono::seconds(3));
  CHECK(r.stats.failures[static_cast<int>(FailureKind::kConnect)] > 0);
  CHECK(r.stats.first_connect_error.find("timed out") != std::string::npos);
  close(fd);
}

TEST_CASE("a stop request ends the run early") {
  testing::FakeGateway server;
  const uint16_t port = server.Start();
  REQUIRE(port != 0);
  Options o = BaseOptions(port);
  o.requests = 0;
  o.duration_s = 30;
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop = true;
  });
  const RunResult r = RunLoad(o, {server.known_cid}, {}, 1, false, &stop);
  stopper.join();
  CHECK(r.duration_s < 2);
  CHECK(r.stats.requests > 0);
  CHECK(r.stats.TotalFailures() == 0);
}

}  // namespace
}  // namespace boxcar::loadgen
