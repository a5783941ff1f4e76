#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "boxcar/tuner.h"
#include "plugin_harness.h"

namespace {

using boxcar::Proposal;
using boxcar::TunableInfo;
using boxcar::testing::PluginUnderTest;

constexpr int64_t kNow = 5'000'000'000;

std::vector<TunableInfo> NodeTunables() {
  return {
      {"prioritizer.quantum_bytes", 4096, 512, 1 << 20, true},
      {"batcher.max_delay_us", 250, 0, 10000, true},
      {"tuner.gain", 0.5, 0, 1, false},
  };
}

void Apply(const std::vector<Proposal>& proposals, std::vector<TunableInfo>* tunables) {
  for (const auto& p : proposals) {
    for (auto& t : *tunables) {
      if (t.name == p.name) t.value = p.value;
    }
  }
}

}  // namespace

TEST_CASE("static: proposes only the pins that differ from the live value") {
  PluginUnderTest<boxcar::Tuner> m(
      R"({"set": ["prioritizer.quantum_bytes=16384", "batcher.max_delay_us=250"]})");
  const std::vector<Proposal> proposals = m->Tick(kNow, {}, NodeTunables());
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].name == "prioritizer.quantum_bytes");
  CHECK(proposals[0].value == 16384);
  CHECK(proposals[0].reason == "pinned by tuner-static");
}

TEST_CASE("static: re-asserts a pin after someone else moved the value") {
  PluginUnderTest<boxcar::Tuner> m(R"({"set": ["prioritizer.quantum_bytes=16384"]})");
  std::vector<TunableInfo> tunables = NodeTunables();
  Apply(m->Tick(kNow, {}, tunables), &tunables);
  CHECK(m->Tick(kNow, {}, tunables).empty());

  tunables[0].value = 8192;
  const std::vector<Proposal> proposals = m->Tick(kNow, {}, tunables);
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].value == 16384);
}

TEST_CASE("static: pins naming unknown tunables are ignored") {
  PluginUnderTest<boxcar::Tuner> m(R"({"set": ["nosuch.param=3", "tuner.gain=0.25"]})");
  const std::vector<Proposal> proposals = m->Tick(kNow, {}, NodeTunables());
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].name == "tuner.gain");
  CHECK(proposals[0].value == 0.25);
}

TEST_CASE("static: a pin the host must clamp or round is not re-proposed forever") {
  PluginUnderTest<boxcar::Tuner> m(
      R"({"set": ["prioritizer.quantum_bytes=4096.3", "batcher.max_delay_us=99999"]})");
  std::vector<TunableInfo> tunables = NodeTunables();
  tunables[1].value = 10000;  // already at its maximum
  CHECK(m->Tick(kNow, {}, tunables).empty());

  tunables[1].value = 300;
  const std::vector<Proposal> proposals = m->Tick(kNow, {}, tunables);
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].name == "batcher.max_delay_us");
}

TEST_CASE("static: spaces around the name and value are allowed") {
  PluginUnderTest<boxcar::Tuner> m(R"({"set": [" tuner.gain = 1e-1 "]})");
  const std::vector<Proposal> proposals = m->Tick(kNow, {}, NodeTunables());
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].name == "tuner.gain");
  CHECK(proposals[0].value == 0.1);
}

TEST_CASE("static: bad set syntax is rejected") {
  PluginUnderTest<boxcar::Tuner> m;
  auto& h = m.harness();
  for (const char* params : {
           R"({"set": ["prioritizer.quantum_bytes"]})",
           R"({"set": ["=5"]})",
           R"({"set": ["a.b="]})",
           R"({"set": ["a.b=12abc"]})",
           R"({"set": ["a.b=inf"]})",
           R"({"set": ["a.b=nan"]})",
           R"({"set": ["a.b=1", "a.b=2"]})",
           R"({"set": "a.b=1"})",
       }) {
    CAPTURE(params);
    CHECK_FALSE(h.CreateError(params).empty());
  }
  CHECK(h.CreateError(R"({"set": ["a=1"]})").empty());
  CHECK(h.CreateError(R"({"set": ["a.b"]})").find("a.b") != std::string::npos);
}

TEST_CASE("static: reconfigure replaces the pins and refuses bad ones") {
  PluginUnderTest<boxcar::Tuner> m(R"({"set": ["tuner.gain=0.25"]})");
  auto& h = m.harness();
  CHECK(m->Reconfigure(h.ParseParams(R"({"set": ["batcher.max_delay_us=500"]})")).ok());
  std::vector<Proposal> proposals = m->Tick(kNow, {}, NodeTunables());
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].name == "batcher.max_delay_us");

  CHECK(m->Reconfigure(h.ParseParams(R"({"set": ["oops"]})")).code() ==
        boxcar::Status::Code::kInvalidArgument);
  proposals = m->Tick(kNow, {}, NodeTunables());
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].name == "batcher.max_delay_us");
}
