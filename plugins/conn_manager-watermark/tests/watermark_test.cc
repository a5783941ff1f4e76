#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "boxcar/conn_manager.h"
#include "boxcar_plugins/testing/conns.h"
#include "plugin_harness.h"

namespace {

using boxcar::ConnInfo;
using boxcar::ResourcePressure;
using boxcar::testing::PluginUnderTest;
using boxcar_plugins::testing::Conn;
using boxcar_plugins::testing::IdleConns;
using boxcar_plugins::testing::kNow;
using boxcar_plugins::testing::kSecond;

bool Contains(const std::vector<uint64_t>& ids, uint64_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

constexpr char kSmall[] =
    R"({"high_water": 10, "low_water": 5, "grace_period_ms": 0, "silence_period_ms": 0,
        "max_conns": 100})";

}  // namespace

// go-libp2p's background check skips only while the count is below HighWater (watermark 1.0
// waited for one more).
TEST_CASE("watermark: a trim starts when the count reaches high_water") {
  PluginUnderTest<boxcar::ConnManager> m(kSmall);
  CHECK(m->SelectTrim(IdleConns(9), kNow, {}).empty());
  CHECK(m->SelectTrim(IdleConns(10), kNow, {}).size() == 5);
}

TEST_CASE("watermark: trims down to low_water, longest idle first") {
  PluginUnderTest<boxcar::ConnManager> m(kSmall);
  const std::vector<uint64_t> victims = m->SelectTrim(IdleConns(12), kNow, {});
  CHECK(victims == std::vector<uint64_t>{12, 11, 10, 9, 8, 7, 6});
}

TEST_CASE("watermark: busy connections only when no idle one is left") {
  PluginUnderTest<boxcar::ConnManager> m(
      R"({"high_water": 4, "low_water": 2, "grace_period_ms": 0, "max_conns": 100})");
  // The busy ones have been active longest ago, so only the idle preference keeps them last.
  std::vector<ConnInfo> conns = {Conn(1, 5),      Conn(2, 6),      Conn(3, 7),
                                 Conn(4, 100, 1), Conn(5, 100, 3), Conn(6, 100, 2)};
  const std::vector<uint64_t> victims = m->SelectTrim(conns, kNow, {});
  CHECK(victims == std::vector<uint64_t>{3, 2, 1, 4});
}

// As go-libp2p's getConnsToClose, the trim keeps low_water of the trimmable connections:
// protected and young ones do not count towards it (watermark 1.0 counted them, closing 3 here).
TEST_CASE("watermark: protected connections are never trimmed") {
  PluginUnderTest<boxcar::ConnManager> m(
      R"({"high_water": 3, "low_water": 1, "grace_period_ms": 0, "max_conns": 100,
          "protected_peers": ["10.0.0.2"]})");
  std::vector<ConnInfo> conns = IdleConns(5);
  conns[0].is_protected = true;  // id 1
  const std::vector<uint64_t> victims = m->SelectTrim(conns, kNow, {});
  CHECK(victims == std::vector<uint64_t>{5, 4});
  CHECK_FALSE(Contains(victims, 1));
  CHECK_FALSE(Contains(victims, 2));
}

TEST_CASE("watermark: connections within the grace period are never trimmed") {
  PluginUnderTest<boxcar::ConnManager> m(
      R"({"high_water": 3, "low_water": 1, "grace_period_ms": 30000, "max_conns": 100})");
  // 3 and 4 are the longest idle but only 10 s old; 1 is exactly at the end of its grace.
  std::vector<ConnInfo> conns = {Conn(1, 1, 0, 30), Conn(2, 2), Conn(3, 50, 0, 10),
                                 Conn(4, 60, 0, 10), Conn(5, 5)};
  const std::vector<uint64_t> victims = m->SelectTrim(conns, kNow, {});
  CHECK(victims == std::vector<uint64_t>{5, 2});  // one trimmable connection stays
}

TEST_CASE("watermark: a trim is followed by a silence period") {
  PluginUnderTest<boxcar::ConnManager> m(
      R"({"high_water": 10, "low_water": 5, "grace_period_ms": 0,
          "silence_period_ms": 10000, "max_conns": 100})");
  // A call below high_water does not start the silence.
  CHECK(m->SelectTrim(IdleConns(9), kNow, {}).empty());
  CHECK(m->SelectTrim(IdleConns(12), kNow, {}).size() == 7);
  CHECK(m->SelectTrim(IdleConns(12), kNow + 9 * kSecond, {}).empty());
  CHECK(m->SelectTrim(IdleConns(12), kNow + 10 * kSecond, {}).size() == 7);
}

TEST_CASE("watermark: admission is capped at max_conns") {
  PluginUnderTest<boxcar::ConnManager> m(R"({"high_water": 2, "low_water": 1, "max_conns": 3})");
  const ConnInfo conn = Conn(1, 0);
  CHECK(m->Admit(conn, 0, {}));
  CHECK(m->Admit(conn, 2, {}));
  CHECK_FALSE(m->Admit(conn, 3, {}));
  CHECK_FALSE(m->Admit(conn, 4, {}));
}

TEST_CASE("watermark: the watermarks are read live from the tunables") {
  PluginUnderTest<boxcar::ConnManager> m(kSmall);
  m.harness().SetTunable("high_water", 20);
  CHECK(m->SelectTrim(IdleConns(15), kNow, {}).empty());
  m.harness().SetTunable("high_water", 12);
  m.harness().SetTunable("low_water", 8);
  CHECK(m->SelectTrim(IdleConns(15), kNow, {}).size() == 7);
  // Crossed watermarks trim to high_water, never above it.
  m.harness().SetTunable("low_water", 14);
  CHECK(m->SelectTrim(IdleConns(15), kNow, {}).size() == 3);
}

TEST_CASE("watermark: bad params are rejected") {
  PluginUnderTest<boxcar::ConnManager> m(kSmall);
  auto& h = m.harness();
  CHECK(h.CreateError(R"({"high_water": 10, "low_water": 11})").find("low_water") !=
        std::string::npos);
  CHECK(h.CreateError(R"({"high_water": 500, "low_water": 100, "max_conns": 200})")
            .find("max_conns") != std::string::npos);
  CHECK_FALSE(h.CreateError(R"({"grace_period_ms": -1})").empty());
  CHECK_FALSE(h.CreateError(R"({"hihg_water": 10})").empty());
  CHECK_FALSE(h.CreateError(R"({"protected_peers": "10.0.0.1"})").empty());
  CHECK(h.CreateError(kSmall).empty());
}

TEST_CASE("watermark: reconfigure replaces the settings, and refuses bad ones") {
  PluginUnderTest<boxcar::ConnManager> m(kSmall);
  auto& h = m.harness();
  CHECK(m->Reconfigure(h.ParseParams(
                           R"({"high_water": 10, "low_water": 5, "grace_period_ms": 0,
                               "max_conns": 100, "protected_peers": ["10.0.0.12"]})"))
            .ok());
  // 11 trimmable connections, so 6 go (the protected one does not count towards low_water).
  CHECK(m->SelectTrim(IdleConns(12), kNow, {}) == std::vector<uint64_t>{11, 10, 9, 8, 7, 6});

  const boxcar::Status bad =
      m->Reconfigure(h.ParseParams(R"({"high_water": 10, "low_water": 5, "max_conns": 5})"));
  CHECK(bad.code() == boxcar::Status::Code::kInvalidArgument);
  CHECK(m->Admit(Conn(1, 0), 50, {}));  // max_conns is still 100
  CHECK(h.faults() == 0);
}
