#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "boxcar/tuner.h"
#include "plugin_harness.h"

namespace {

using boxcar::MetricSample;
using boxcar::PluginState;
using boxcar::Proposal;
using boxcar::TunableInfo;
using boxcar::testing::PluginUnderTest;

constexpr int64_t kSecond = 1'000'000'000;
constexpr char kLatency[] = "boxcar_request_latency_seconds";

// Steers "batcher.window" (a real-valued tunable at 100) by the p99 latency.
constexpr char kLatencyLoop[] =
    R"({"param": "batcher.window",
        "metric": "boxcar_request_latency_seconds{quantile=\"0.99\"}",
        "target": 0.1, "increase_step": 10, "decrease_factor": 0.5, "cooldown_ticks": 0})";

std::vector<TunableInfo> Window(double value = 100) {
  return {{"batcher.window", value, 1, 1000, false}};
}

std::vector<MetricSample> P99(double seconds) {
  return {{kLatency, R"(quantile="0.5")", seconds / 10}, {kLatency, R"(quantile="0.99")", seconds}};
}

// The host's side of the loop: applies proposals the way the host does (clamp, round integers).
struct Node {
  std::vector<TunableInfo> tunables;

  std::vector<Proposal> Tick(boxcar::Tuner& tuner, int64_t now_ns,
                             const std::vector<MetricSample>& metrics) {
    std::vector<Proposal> proposals = tuner.Tick(now_ns, metrics, tunables);
    for (const auto& p : proposals) {
      for (auto& t : tunables) {
        if (t.name != p.name) continue;
        const double clamped = std::clamp(p.value, t.min, t.max);
        t.value = t.integer ? std::round(clamped) : clamped;
      }
    }
    return proposals;
  }
};

bool SameProposals(const std::vector<Proposal>& a, const std::vector<Proposal>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.name == y.name && x.value == y.value && x.reason == y.reason;
  });
}

}  // namespace

TEST_CASE("aimd: mode below increases additively while healthy, decreases multiplicatively") {
  PluginUnderTest<boxcar::Tuner> m(kLatencyLoop);
  std::vector<Proposal> proposals = m->Tick(kSecond, P99(0.05), Window());
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].name == "batcher.window");
  CHECK(proposals[0].value == 110);
  CHECK(proposals[0].reason.find("0.05 <= target 0.1") != std::string::npos);

  proposals = m->Tick(2 * kSecond, P99(0.1), Window());  // at the target is still healthy
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].value == 110);

  proposals = m->Tick(3 * kSecond, P99(0.2), Window());
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].value == 50);
  CHECK(proposals[0].reason.find("0.2 > target 0.1") != std::string::npos);
}

TEST_CASE("aimd: mode above keeps the metric above the target") {
  PluginUnderTest<boxcar::Tuner> m(
      R"({"param": "batcher.window", "metric": "boxcar_blocks_served_per_second",
          "target": 500, "mode": "above", "increase_step": 5, "decrease_factor": 0.8,
          "cooldown_ticks": 0})");
  const auto throughput = [](double v) {
    return std::vector<MetricSample>{{"boxcar_blocks_served_per_second", "", v}};
  };
  std::vector<Proposal> proposals = m->Tick(kSecond, throughput(600), Window());
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].value == 105);
  proposals = m->Tick(2 * kSecond, throughput(400), Window());
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].value == doctest::Approx(80));
}

TEST_CASE("aimd: nothing is proposed while the metric or the tunable is absent") {
  PluginUnderTest<boxcar::Tuner> m(kLatencyLoop);
  CHECK(m->Tick(kSecond, {}, Window()).empty());
  // Only the median is exported: the selector does not match it.
  CHECK(m->Tick(2 * kSecond, {{kLatency, R"(quantile="0.5")", 0.01}}, Window()).empty());
  CHECK(m->Tick(3 * kSecond, P99(0.01), {}).empty());
  CHECK(m->Tick(4 * kSecond, P99(0.01), Window()).size() == 1);
  CHECK(m.harness().faults() == 0);
}

TEST_CASE("aimd: the label selector picks the matching series") {
  PluginUnderTest<boxcar::Tuner> m(kLatencyLoop);
  // The median is healthy, the p99 is not: a decrease shows the p99 was read.
  std::vector<MetricSample> metrics = {{kLatency, R"(quantile="0.5")", 0.01},
                                       {kLatency, R"(quantile="0.99")", 0.3},
                                       {"other_metric", R"(quantile="0.99")", 0.01}};
  std::vector<Proposal> proposals = m->Tick(kSecond, metrics, Window());
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].value == 50);
}

TEST_CASE("aimd: a selector matches a subset of labels and sums the series it matches") {
  PluginUnderTest<boxcar::Tuner> m(
      R"({"param": "batcher.window", "metric": "boxcar_requests_in_flight{method=\"GET\"}",
          "target": 12, "mode": "above", "cooldown_ticks": 0})");
  // 10 + 5 GET requests are in flight; PUT ones and escaped label values must not confuse it.
  const std::vector<MetricSample> metrics = {
      {"boxcar_requests_in_flight", R"(code="200",method="GET")", 10},
      {"boxcar_requests_in_flight", R"(code="5\"00",method="GET")", 5},
      {"boxcar_requests_in_flight", R"(code="200",method="PUT")", 100},
      {"boxcar_requests_in_flight", R"(note="method=\"GET\"")", 100},
  };
  std::vector<Proposal> proposals = m->Tick(kSecond, metrics, Window());
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].reason.find("value 15 >= target 12") != std::string::npos);
}

TEST_CASE("aimd: the rate signal is the per-second increase between ticks") {
  PluginUnderTest<boxcar::Tuner> m(
      R"({"param": "batcher.window", "metric": "boxcar_requests_total", "signal": "rate",
          "target": 50, "mode": "above", "cooldown_ticks": 0})");
  const auto counter = [](double v) {
    return std::vector<MetricSample>{{"boxcar_requests_total", "", v}};
  };
  CHECK(m->Tick(10 * kSecond, counter(1000), Window()).empty());  // no rate from one sample

  std::vector<Proposal> proposals = m->Tick(12 * kSecond, counter(1200), Window());
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].reason.find("rate 100 >= target 50") != std::string::npos);

  proposals = m->Tick(14 * kSecond, counter(1250), Window());
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].reason.find("rate 25 < target 50") != std::string::npos);
  CHECK(proposals[0].value == 50);

  // A counter that went down was reset and counts from zero again.
  proposals = m->Tick(15 * kSecond, counter(30), Window());
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].reason.find("rate 30 < target 50") != std::string::npos);
}

TEST_CASE("aimd: after a decrease the cooldown holds every change") {
  PluginUnderTest<boxcar::Tuner> m(
      R"({"param": "batcher.window",
          "metric": "boxcar_request_latency_seconds{quantile=\"0.99\"}",
          "target": 0.1, "increase_step": 10, "decrease_factor": 0.5, "cooldown_ticks": 2})");
  Node node{Window()};
  CHECK(node.Tick(*m, 1 * kSecond, P99(0.05)).size() == 1);  // increases start no cooldown
  CHECK(node.Tick(*m, 2 * kSecond, P99(0.3)).size() == 1);
  CHECK(node.tunables[0].value == 55);
  CHECK(node.Tick(*m, 3 * kSecond, P99(0.3)).empty());
  CHECK(node.Tick(*m, 4 * kSecond, P99(0.01)).empty());
  std::vector<Proposal> proposals = node.Tick(*m, 5 * kSecond, P99(0.3));
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].value == 27.5);
}

TEST_CASE("aimd: steps finer than an integer tunable's rounding accumulate") {
  PluginUnderTest<boxcar::Tuner> m(
      R"({"param": "prioritizer.quantum_kb", "metric": "boxcar_request_latency_seconds",
          "target": 1, "increase_step": 0.4, "cooldown_ticks": 0})");
  Node node{{{"prioritizer.quantum_kb", 10, 1, 12, true}}};
  const std::vector<MetricSample> healthy = {{kLatency, "", 0.5}};
  CHECK(node.Tick(*m, 1 * kSecond, healthy).empty());      // 10.4 still rounds to 10
  CHECK(node.Tick(*m, 2 * kSecond, healthy).size() == 1);  // 10.8 rounds to 11
  CHECK(node.tunables[0].value == 11);

  node.tunables[0].value = 5;  // someone else moved it: continue from there
  std::vector<Proposal> proposals = node.Tick(*m, 3 * kSecond, healthy);
  CHECK(proposals.empty());  // 5.4
  node.tunables[0].value = 12;
  CHECK(node.Tick(*m, 4 * kSecond, healthy).empty());  // at the maximum
}

TEST_CASE("aimd: exported state makes a successor continue exactly like the original") {
  // A rate loop on an integer tunable with a cooldown: the successor needs the counter sample,
  // the cooldown, and the unrounded setpoint to act like an instance that never stopped.
  constexpr char kParams[] =
      R"({"param": "prioritizer.quantum_kb", "metric": "boxcar_requests_total",
          "signal": "rate", "target": 50, "mode": "above", "increase_step": 0.4,
          "decrease_factor": 0.5, "cooldown_ticks": 1})";
  const std::vector<double> counts = {0, 100, 200, 220, 320, 420, 430, 530, 630};
  const auto metrics = [&](size_t tick) {
    return std::vector<MetricSample>{{"boxcar_requests_total", "", counts[tick]}};
  };
  const auto now = [](size_t tick) { return static_cast<int64_t>(tick + 1) * kSecond; };
  const std::vector<TunableInfo> start = {{"prioritizer.quantum_kb", 10, 1, 100, true}};

  PluginUnderTest<boxcar::Tuner> m(kParams);
  Node reference{start};
  std::vector<std::vector<Proposal>> expected;
  for (size_t tick = 0; tick < counts.size(); ++tick) {
    expected.push_back(reference.Tick(*m, now(tick), metrics(tick)));
  }

  for (size_t swap_after = 1; swap_after < counts.size(); ++swap_after) {
    CAPTURE(swap_after);
    Node node{start};
    std::unique_ptr<boxcar::Tuner> before = m.Another(kParams);
    for (size_t tick = 0; tick < swap_after; ++tick) node.Tick(*before, now(tick), metrics(tick));
    PluginState state;
    REQUIRE(before->ExportState(&state).ok());
    CHECK(state.format == "tuner-aimd/1");
    before.reset();

    std::unique_ptr<boxcar::Tuner> after = m.Another(kParams);
    REQUIRE(after->ImportState(state).ok());
    for (size_t tick = swap_after; tick < counts.size(); ++tick) {
      CAPTURE(tick);
      CHECK(SameProposals(node.Tick(*after, now(tick), metrics(tick)), expected[tick]));
    }
  }

  // Without the state, a successor acts differently: the round trip above is not vacuous.
  Node node{start};
  std::unique_ptr<boxcar::Tuner> before = m.Another(kParams);
  for (size_t tick = 0; tick < 4; ++tick) node.Tick(*before, now(tick), metrics(tick));
  before.reset();
  std::unique_ptr<boxcar::Tuner> fresh = m.Another(kParams);
  bool differs = false;
  for (size_t tick = 4; tick < counts.size(); ++tick) {
    differs |= !SameProposals(node.Tick(*fresh, now(tick), metrics(tick)), expected[tick]);
  }
  CHECK(differs);
}

TEST_CASE("aimd: state of another format or another loop is not imported") {
  PluginUnderTest<boxcar::Tuner> m(kLatencyLoop);
  CHECK(m->ImportState(PluginState{"tuner-aimd/2", ""}).IsNotSupported());
  CHECK(m->ImportState(PluginState{"tuner-static/1", "x=1"}).IsNotSupported());
  CHECK(m->ImportState(PluginState{"tuner-aimd/1", "garbage"}).code() ==
        boxcar::Status::Code::kInvalidArgument);
  CHECK(m->ImportState(PluginState{"tuner-aimd/1", "param=batcher.window\nticks=x\n"}).code() ==
        boxcar::Status::Code::kInvalidArgument);

  // A cooldown learned while steering another tunable does not hold this one.
  std::unique_ptr<boxcar::Tuner> other = m.Another(
      R"({"param": "other.knob", "metric": "boxcar_request_latency_seconds{quantile=\"0.99\"}",
          "target": 0.1, "cooldown_ticks": 100})");
  other->Tick(kSecond, P99(0.5), {{"other.knob", 10, 1, 100, false}});
  PluginState state;
  REQUIRE(other->ExportState(&state).ok());
  other.reset();
  CHECK(m->ImportState(state).ok());
  CHECK(m->Tick(2 * kSecond, P99(0.5), Window()).size() == 1);
}

TEST_CASE("aimd: bad params are rejected") {
  PluginUnderTest<boxcar::Tuner> m(kLatencyLoop);
  auto& h = m.harness();
  CHECK_FALSE(h.CreateError(R"({"param": "a.b", "metric": "m", "target": 1,
                               "decrease_factor": 1.5})")
                  .empty());
  CHECK_FALSE(h.CreateError(R"({"metric": "m", "target": 1})").empty());
  CHECK_FALSE(h.CreateError(R"({"param": "a.b", "target": 1})").empty());
  CHECK_FALSE(h.CreateError(R"({"param": "a.b", "metric": "m"})").empty());
  CHECK_FALSE(h.CreateError(R"({"param": "a.b", "metric": "m", "target": 1,
                               "mode": "sideways"})")
                  .empty());
  CHECK_FALSE(h.CreateError(R"({"param": "a.b", "metric": "m", "target": 1,
                               "signal": "delta"})")
                  .empty());
  CHECK(h.CreateError(R"({"param": " ", "metric": "m", "target": 1})").find("param") !=
        std::string::npos);
  // Each is a JSON string literal.
  for (const char* selector :
       {R"("9lives")", R"("m{quantile=0.99}")", R"("m{quantile=\"0.99\"")", R"("m{=\"x\"}")",
        R"("m{a=\"x\" b=\"y\"}")", R"("m{a=\"\\q\"}")", R"("")"}) {
    CAPTURE(selector);
    const std::string params =
        std::string(R"({"param": "a.b", "target": 1, "metric": )") + selector + "}";
    CHECK(h.CreateError(params).find("metric") != std::string::npos);
  }
  CHECK(h.CreateError(R"({"param": "a.b", "metric": "m{a=\"x\", b=\"y\"}", "target": 1})").empty());
}

TEST_CASE("aimd: reconfigure applies new params and drops state of another loop") {
  PluginUnderTest<boxcar::Tuner> m(kLatencyLoop);
  auto& h = m.harness();
  CHECK(m->Reconfigure(h.ParseParams(
                           R"({"param": "batcher.window",
                               "metric": "boxcar_request_latency_seconds{quantile=\"0.99\"}",
                               "target": 0.01, "cooldown_ticks": 0})"))
            .ok());
  std::vector<Proposal> proposals = m->Tick(kSecond, P99(0.05), Window());
  REQUIRE(proposals.size() == 1);
  CHECK(proposals[0].value == 50);  // 0.05 is now above the target

  CHECK(m->Reconfigure(h.ParseParams(R"({"param": "a.b", "metric": "m{", "target": 1})")).code() ==
        boxcar::Status::Code::kInvalidArgument);
  CHECK(m->Tick(2 * kSecond, P99(0.05), Window()).size() == 1);  // the old loop still runs
}
