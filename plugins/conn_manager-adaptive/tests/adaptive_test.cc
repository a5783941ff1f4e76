#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "boxcar/conn_manager.h"
#include "boxcar_plugins/testing/conns.h"
#include "plugin_harness.h"

namespace {

using boxcar::ConnInfo;
using boxcar::ResourcePressure;
using boxcar::testing::PluginUnderTest;
using boxcar_plugins::testing::IdleConns;
using boxcar_plugins::testing::kNow;
using boxcar_plugins::testing::kSecond;
using boxcar_plugins::testing::PeerConn;

ResourcePressure FdUse(uint64_t open_fds, uint64_t fd_limit) {
  ResourcePressure pressure;
  pressure.open_fds = open_fds;
  pressure.fd_limit = fd_limit;
  return pressure;
}

ResourcePressure MemoryUse(uint64_t rss, uint64_t limit) {
  ResourcePressure pressure;
  pressure.rss_bytes = rss;
  pressure.memory_limit_bytes = limit;
  return pressure;
}

// The value of a plugin gauge in the Prometheus text exposition, if it is there.
std::optional<double> GaugeValue(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  std::string line;
  const std::string full_name = "boxcar_plugin_" + name;
  while (std::getline(lines, line)) {
    if (line.rfind(full_name, 0) != 0) continue;
    const char next = line[full_name.size()];
    if (next != '{' && next != ' ') continue;
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return std::nullopt;
}

// Base watermarks 100/80; at full pressure they halve.
constexpr char kParams[] =
    R"({"high_water": 100, "low_water": 80, "pressure_threshold": 0.7, "min_scale": 0.5,
        "reject_above": 0.95, "grace_period_ms": 0, "silence_period_ms": 0})";

}  // namespace

TEST_CASE("adaptive: below the pressure threshold the base watermarks apply") {
  PluginUnderTest<boxcar::ConnManager> m(kParams);
  // A trim starts at high_water, as go-libp2p's does (adaptive 1.0 waited for one more).
  CHECK(m->SelectTrim(IdleConns(99), kNow, FdUse(700, 1000)).empty());
  CHECK(m->SelectTrim(IdleConns(100), kNow, FdUse(700, 1000)).size() == 20);
}

TEST_CASE("adaptive: watermarks shrink linearly with fd pressure") {
  PluginUnderTest<boxcar::ConnManager> m(kParams);
  // 0.85 is halfway from 0.7 to 1.0, so the scale is halfway from 1.0 to 0.5: 75 / 60.
  CHECK(m->SelectTrim(IdleConns(74), kNow, FdUse(850, 1000)).empty());
  const std::vector<uint64_t> victims = m->SelectTrim(IdleConns(75), kNow, FdUse(850, 1000));
  REQUIRE(victims.size() == 15);
  CHECK(victims.front() == 75);  // still the longest idle first

  const std::string metrics = m.harness().MetricsText();
  CHECK(GaugeValue(metrics, "effective_high_water") == 75.0);
  CHECK(GaugeValue(metrics, "effective_low_water") == 60.0);
  CHECK(GaugeValue(metrics, "resource_pressure") == doctest::Approx(0.85));
}

TEST_CASE("adaptive: at and beyond full use the scale stays at min_scale") {
  PluginUnderTest<boxcar::ConnManager> m(kParams);
  CHECK(m->SelectTrim(IdleConns(51), kNow, FdUse(1000, 1000)).size() == 11);
  CHECK(m->SelectTrim(IdleConns(51), kNow, FdUse(5000, 1000)).size() == 11);
  CHECK(GaugeValue(m.harness().MetricsText(), "effective_high_water") == 50.0);
}

TEST_CASE("adaptive: memory pressure counts when it is the larger one") {
  PluginUnderTest<boxcar::ConnManager> m(kParams);
  ResourcePressure pressure = MemoryUse(900, 1000);
  pressure.open_fds = 100;
  pressure.fd_limit = 1000;
  // 0.9 is two thirds of the way to full use: scale 2/3, watermarks 67 / 53.
  CHECK(m->SelectTrim(IdleConns(66), kNow, pressure).empty());
  CHECK(m->SelectTrim(IdleConns(67), kNow, pressure).size() == 14);
}

TEST_CASE("adaptive: an unknown limit is not pressure") {
  PluginUnderTest<boxcar::ConnManager> m(kParams);
  CHECK(m->SelectTrim(IdleConns(99), kNow, MemoryUse(1ull << 40, 0)).empty());
  CHECK(m->Admit(IdleConns(1)[0], 1000, FdUse(5000, 0)));
}

TEST_CASE("adaptive: the base watermarks are tunable") {
  PluginUnderTest<boxcar::ConnManager> m(kParams);
  m.harness().SetTunable("high_water", 200);
  m.harness().SetTunable("low_water", 100);
  CHECK(m->SelectTrim(IdleConns(149), kNow, FdUse(850, 1000)).empty());
  CHECK(m->SelectTrim(IdleConns(150), kNow, FdUse(850, 1000)).size() == 75);
}

TEST_CASE("adaptive: near exhaustion only protected peers are admitted") {
  PluginUnderTest<boxcar::ConnManager> m(
      R"({"reject_above": 0.95, "protected_peers": ["10.0.0.9"]})");
  ConnInfo stranger = IdleConns(1)[0];
  CHECK(m->Admit(stranger, 10, FdUse(950, 1000)));
  CHECK_FALSE(m->Admit(stranger, 10, FdUse(960, 1000)));
  CHECK_FALSE(m->Admit(stranger, 10, MemoryUse(990, 1000)));

  ConnInfo listed = stranger;
  listed.peer = "10.0.0.9";
  CHECK(m->Admit(listed, 10, FdUse(990, 1000)));
  ConnInfo host_protected = stranger;
  host_protected.is_protected = true;
  CHECK(m->Admit(host_protected, 10, FdUse(990, 1000)));
}

TEST_CASE("adaptive: protection and grace period still hold under pressure") {
  PluginUnderTest<boxcar::ConnManager> m(
      R"({"high_water": 4, "low_water": 2, "grace_period_ms": 30000,
          "protected_peers": ["10.0.0.6"]})");
  std::vector<ConnInfo> conns = IdleConns(6);
  conns[4].opened_ns = kNow - 10 * kSecond;  // id 5, in its grace period
  conns[0].is_protected = true;              // id 1
  // Full pressure scales both watermarks to 1. Of the three trimmable connections (2, 3, 4) one
  // stays: protected and young ones do not count towards low_water, as in go-libp2p.
  const std::vector<uint64_t> victims = m->SelectTrim(conns, kNow, FdUse(1000, 1000));
  CHECK(victims == std::vector<uint64_t>{4, 3});
}

TEST_CASE("adaptive: a trim is followed by a silence period") {
  PluginUnderTest<boxcar::ConnManager> m(
      R"({"high_water": 10, "low_water": 5, "grace_period_ms": 0, "silence_period_ms": 5000})");
  CHECK(m->SelectTrim(IdleConns(12), kNow, {}).size() == 7);
  CHECK(m->SelectTrim(IdleConns(12), kNow + 4 * kSecond, {}).empty());
  CHECK(m->SelectTrim(IdleConns(12), kNow + 5 * kSecond, {}).size() == 7);
}

TEST_CASE("adaptive: bad params are rejected") {
  PluginUnderTest<boxcar::ConnManager> m(kParams);
  auto& h = m.harness();
  CHECK(h.CreateError(R"({"high_water": 10, "low_water": 11})").find("low_water") !=
        std::string::npos);
  CHECK(h.CreateError(R"({"pressure_threshold": 0.9, "reject_above": 0.8})").find("reject_above") !=
        std::string::npos);
  CHECK_FALSE(h.CreateError(R"({"min_scale": 0})").empty());
  CHECK_FALSE(h.CreateError(R"({"pressure_threshold": 1.0})").empty());
  CHECK(h.CreateError(kParams).empty());

  CHECK(
      m->Reconfigure(h.ParseParams(R"({"pressure_threshold": 0.9, "reject_above": 0.8})")).code() ==
      boxcar::Status::Code::kInvalidArgument);
  CHECK(m->Reconfigure(h.ParseParams(R"({"reject_above": 0.5, "pressure_threshold": 0.5})")).ok());
  CHECK_FALSE(m->Admit(IdleConns(1)[0], 0, FdUse(600, 1000)));
}

TEST_CASE(
    "adaptive: under pressure libp2p peers trim in go-libp2p's order, whole, never protected") {
  PluginUnderTest<boxcar::ConnManager> m(kParams);
  using boxcar::ConnDirection;
  std::vector<ConnInfo> conns;
  // 60 busy, valuable outbound peers; then the ones a trim should take first.
  for (uint64_t id = 1; id <= 60; ++id) {
    conns.push_back(PeerConn(id, "peer" + std::to_string(id), 50, 2, ConnDirection::kOutbound));
  }
  conns.push_back(PeerConn(61, "cheap", 0, 1, ConnDirection::kOutbound));
  conns.push_back(PeerConn(62, "cheap", 0, 0, ConnDirection::kOutbound));
  conns.push_back(PeerConn(63, "idle-in", 10, 0, ConnDirection::kInbound));
  conns.push_back(PeerConn(64, "idle-out", 10, 0, ConnDirection::kOutbound));
  conns.push_back(PeerConn(65, "kept", 0, 0, ConnDirection::kInbound));
  conns.back().is_protected = true;
  // Full fd use: watermarks 50 / 40. 64 trimmable connections, so 24 go: the untagged peer
  // (two connections), the idle inbound, the idle outbound, then 20 of the valuable ones.
  const std::vector<uint64_t> victims = m->SelectTrim(conns, kNow, FdUse(1000, 1000));
  REQUIRE(victims.size() == 24);
  CHECK(std::vector<uint64_t>(victims.begin(), victims.begin() + 4) ==
        std::vector<uint64_t>{61, 62, 63, 64});
  CHECK(std::find(victims.begin(), victims.end(), 65) == victims.end());
}
