// Floods that must not flood the log or spin: refused connections from many sources, and accept
// failures while the process is out of file descriptors.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <sstream>
#include <vector>

#include "swarm/swarm_fixture.h"

namespace boxcar::p2p {
namespace {

using boost::asio::ip::tcp;
using testing::TestSwarm;

// Captures the default logger's warnings while alive.
// spdlog's default logger is not synchronized with the threads that log through it: create a
// CapturedLog before the swarms whose lines it captures, so it outlives them.
class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("captured", sink));
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }

  size_t Count(const std::string& needle) {
    spdlog::default_logger()->flush();
    std::istringstream lines(text_.str());
    size_t n = 0;
    for (std::string line; std::getline(lines, line);) n += line.find(needle) != std::string::npos;
    return n;
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream text_;
};

uint16_t PortOf(const TestSwarm& swarm) {
  const std::string addr = swarm.swarm->ListenAddrs().at(0).ToString();
  return static_cast<uint16_t>(std::stoi(addr.substr(addr.rfind('/') + 1)));
}

TEST_CASE("swarm: refusals from 200 rotating sources log at most about 10 lines a second") {
  CapturedLog log;  // before the swarm's threads start, and restored after they stop
  TestSwarm server([](SwarmOptions& options) { options.max_pending_handshakes = 0; });
  boost::asio::io_context io;
  std::vector<tcp::socket> clients;
  for (int i = 0; i < 200; ++i) {
    tcp::socket socket(io);
    socket.open(tcp::v4());
    const auto source = boost::asio::ip::make_address_v4("127.0.1." + std::to_string(i + 1));
    socket.bind(tcp::endpoint(source, 0));
    socket.connect(tcp::endpoint(boost::asio::ip::make_address_v4("127.0.0.1"), PortOf(server)));
    clients.push_back(std::move(socket));
  }
  REQUIRE(testing::Eventually([&] {
    return server.Metric("boxcar_p2p_refused_total", "reason=\"pending_handshakes\"") == 200;
  }));
  CHECK(log.Count("p2p: refused") <= 20);
  CHECK(log.Count("p2p: refused") >= 1);
}

TEST_CASE("swarm: out of file descriptors, accept retries on a timer instead of spinning") {
  CapturedLog log;  // before the swarm's threads start, and restored after they stop
  TestSwarm server;
  boost::asio::io_context io;
  tcp::socket client(io);
  client.open(tcp::v4());
  // Use up every descriptor under a low limit, so the swarm's accept fails with EMFILE.
  rlimit old_limit{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &old_limit) == 0);
  rlimit low = old_limit;
  low.rlim_cur = 256;
  REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
  std::vector<int> fillers;
  for (int fd; (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fillers.push_back(fd);
  client.connect(tcp::endpoint(boost::asio::ip::make_address_v4("127.0.0.1"), PortOf(server)));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const size_t failures = log.Count("p2p accept failed");
  for (int fd : fillers) close(fd);
  REQUIRE(setrlimit(RLIMIT_NOFILE, &old_limit) == 0);
  CHECK(failures >= 1);
  CHECK(failures <= 2);
  // With descriptors back, accepting works again: a real peer connects.
  TestSwarm peer;
  CHECK(testing::Connect(*peer.swarm, server.Addr()).ok());
}

// Silent connections (TCP only, no handshake) from `source`, kept open in `into`.
void OpenSilent(boost::asio::io_context& io, const std::string& source, uint16_t port, int count,
                std::vector<tcp::socket>* into) {
  for (int i = 0; i < count; ++i) {
    tcp::socket socket(io);
    socket.open(tcp::v4());
    socket.bind(tcp::endpoint(boost::asio::ip::make_address_v4(source), 0));
    socket.connect(tcp::endpoint(boost::asio::ip::make_address_v4("127.0.0.1"), port));
    into->push_back(std::move(socket));
  }
}

TEST_CASE(
    "swarm: one address cannot take every pending-handshake slot, nor can inbound block dials") {
  TestSwarm server([](SwarmOptions& options) {
    options.max_pending_handshakes = 10;
    options.max_pending_handshakes_per_ip = 4;
    options.handshake_timeout = std::chrono::seconds(60);
  });
  const uint16_t port = PortOf(server);
  auto refused = [&] {
    return server.Metric("boxcar_p2p_refused_total", "reason=\"pending_handshakes\"");
  };
  boost::asio::io_context io;
  std::vector<tcp::socket> silent;
  // Past 4 from 127.0.0.1, its connections are refused and counted.
  OpenSilent(io, "127.0.0.1", port, 6, &silent);
  REQUIRE(testing::Eventually([&] { return refused() == 2; }));
  // Another address still gets its handshake started (garbage ends it as a protocol error).
  tcp::socket other(io);
  other.open(tcp::v4());
  other.bind(tcp::endpoint(boost::asio::ip::make_address_v4("127.0.0.2"), 0));
  other.connect(tcp::endpoint(boost::asio::ip::make_address_v4("127.0.0.1"), port));
  boost::asio::write(other, boost::asio::buffer(std::string("\x13/multistream/1.0.0\n", 20)));
  other.close();
  CHECK(testing::Eventually([&] {
    return server.Metric("boxcar_p2p_handshakes_total", "result=\"protocol_error\"") == 1;
  }));
  // Fill the inbound budget (10) from other addresses: the next one is refused...
  OpenSilent(io, "127.0.0.3", port, 4, &silent);
  OpenSilent(io, "127.0.0.4", port, 2, &silent);
  OpenSilent(io, "127.0.0.5", port, 1, &silent);
  REQUIRE(testing::Eventually([&] { return refused() == 3; }));
  // ...while a dial out has its own budget and works.
  TestSwarm peer;
  CHECK(testing::Connect(*server.swarm, peer.Addr()).ok());
  CHECK(refused() == 3);
}

}  // namespace
}  // namespace boxcar::p2p
