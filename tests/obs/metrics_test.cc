#include "obs/metrics.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/summary.h>

namespace {

using boxcar::MetricSample;
using boxcar::obs::CanonicalLabels;
using boxcar::obs::HistogramQuantile;
using boxcar::obs::MetricsRegistry;

std::optional<double> Find(const std::vector<MetricSample>& samples, const std::string& name,
                           const std::string& labels = "") {
  for (const auto& sample : samples) {
    if (sample.name == name && sample.labels == labels) return sample.value;
  }
  return std::nullopt;
}

double Require(const std::vector<MetricSample>& samples, const std::string& name,
               const std::string& labels = "") {
  const std::optional<double> value = Find(samples, name, labels);
  INFO("sample ", name, "{", labels, "}");
  REQUIRE(value.has_value());
  return *value;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE("counters and gauges appear with canonical labels") {
  MetricsRegistry metrics;
  prometheus::BuildCounter()
      .Name("test_requests_total")
      .Help("Requests.")
      .Register(*metrics.registry())
      .Add({{"zone", "b"}, {"alpha", "say \"x\"\\"}})
      .Increment(3);
  prometheus::BuildGauge()
      .Name("test_queue_depth")
      .Help("Depth.")
      .Register(*metrics.registry())
      .Add({})
      .Set(7.5);

  const auto samples = metrics.Snapshot();
  CHECK(Require(samples, "test_requests_total", R"(alpha="say \"x\"\\",zone="b")") == 3);
  CHECK(Require(samples, "test_queue_depth") == 7.5);

  const std::string text = metrics.SerializeText();
  CHECK(Contains(text, "# TYPE test_requests_total counter"));
  CHECK(Contains(text, R"(test_requests_total{alpha="say \"x\"\\",zone="b"} 3)"));
  CHECK(Contains(text, "# TYPE test_queue_depth gauge"));
  CHECK(Contains(text, "test_queue_depth 7.5"));
}

TEST_CASE("histograms become count, sum and interpolated quantiles") {
  MetricsRegistry metrics;
  auto& latency = prometheus::BuildHistogram()
                      .Name("test_latency_seconds")
                      .Help("Latency.")
                      .Register(*metrics.registry())
                      .Add({{"op", "get"}}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8});
  // Ten observations in (0, 1] and ten in (1, 2]: the median sits at the top of the first
  // bucket, and the 90th percentile at rank 18 is 8/10 of the way through the second.
  for (int i = 0; i < 10; ++i) latency.Observe(0.5);
  for (int i = 0; i < 10; ++i) latency.Observe(1.5);

  const auto samples = metrics.Snapshot();
  CHECK(Require(samples, "test_latency_seconds_count", R"(op="get")") == 20);
  CHECK(Require(samples, "test_latency_seconds_sum", R"(op="get")") == doctest::Approx(20));
  CHECK(Require(samples, "test_latency_seconds", R"(op="get",quantile="0.5")") ==
        doctest::Approx(1.0));
  CHECK(Require(samples, "test_latency_seconds", R"(op="get",quantile="0.9")") ==
        doctest::Approx(1.8));
  CHECK(Require(samples, "test_latency_seconds", R"(op="get",quantile="0.99")") ==
        doctest::Approx(1.98));

  const std::string text = metrics.SerializeText();
  CHECK(Contains(text, "# TYPE test_latency_seconds histogram"));
  CHECK(Contains(text, R"(test_latency_seconds_bucket{op="get",le="2"} 20)"));
}

TEST_CASE("quantile labels sort in with the others") {
  MetricsRegistry metrics;
  prometheus::BuildHistogram()
      .Name("test_sizes")
      .Help("Sizes.")
      .Register(*metrics.registry())
      .Add({{"slot", "cache"}, {"a", "1"}}, prometheus::Histogram::BucketBoundaries{10})
      .Observe(5);
  const auto samples = metrics.Snapshot();
  CHECK(Require(samples, "test_sizes", R"(a="1",quantile="0.5",slot="cache")") ==
        doctest::Approx(5));
}

TEST_CASE("an empty histogram has a zero count and no quantiles") {
  MetricsRegistry metrics;
  prometheus::BuildHistogram()
      .Name("test_empty")
      .Help("Nothing yet.")
      .Register(*metrics.registry())
      .Add({}, prometheus::Histogram::BucketBoundaries{1, 2});
  const auto samples = metrics.Snapshot();
  CHECK(Require(samples, "test_empty_count") == 0);
  CHECK_FALSE(Find(samples, "test_empty", R"(quantile="0.5")").has_value());
}

TEST_CASE("summaries keep their own quantiles") {
  MetricsRegistry metrics;
  auto& summary = prometheus::BuildSummary()
                      .Name("test_summary")
                      .Help("Summary.")
                      .Register(*metrics.registry())
                      .Add({}, prometheus::Summary::Quantiles{{0.5, 0.05}});
  for (int i = 1; i <= 3; ++i) summary.Observe(i);
  const auto samples = metrics.Snapshot();
  CHECK(Require(samples, "test_summary_count") == 3);
  CHECK(Require(samples, "test_summary_sum") == doctest::Approx(6));
  // The estimate itself is prometheus-cpp's; it must be passed through unchanged.
  const double median =
      metrics.registry()->Collect().at(0).metric.at(0).summary.quantile.at(0).value;
  CHECK(Require(samples, "test_summary", R"(quantile="0.5")") == median);
  CHECK(median >= 1);
  CHECK(median <= 3);
}

TEST_CASE("HistogramQuantile follows histogram_quantile at the edges") {
  prometheus::ClientMetric::Histogram histogram;
  histogram.sample_count = 4;
  histogram.bucket = {{0, 1.0}, {1, 2.0}, {4, std::numeric_limits<double>::infinity()}};

  // Ranks that land in +Inf report the highest finite bound.
  CHECK(HistogramQuantile(0.9, histogram) == 2.0);
  // Rank 1 is the whole of the (1, 2] bucket.
  CHECK(HistogramQuantile(0.25, histogram) == doctest::Approx(2.0));
  CHECK(HistogramQuantile(0.125, histogram) == doctest::Approx(1.5));

  prometheus::ClientMetric::Histogram empty;
  empty.bucket = {{0, 1.0}, {0, std::numeric_limits<double>::infinity()}};
  CHECK(std::isnan(HistogramQuantile(0.5, empty)));
}

TEST_CASE("CanonicalLabels sorts by key and escapes values") {
  CHECK(CanonicalLabels({}) == "");
  CHECK(CanonicalLabels({{"b", "2"}, {"a", "1"}}) == R"(a="1",b="2")");
  CHECK(CanonicalLabels({{"k", "line\nbreak"}}) == R"(k="line\nbreak")");
}

TEST_CASE("process metrics are present with plausible values") {
  MetricsRegistry metrics;
  const auto samples = metrics.Snapshot();
  const double rss = Require(samples, "process_resident_memory_bytes");
  const double open_fds = Require(samples, "process_open_fds");
  CHECK(rss > 0);
  CHECK(Require(samples, "process_virtual_memory_bytes") >= rss);
  CHECK(open_fds >= 3);  // stdin, stdout, stderr
  CHECK(Require(samples, "process_max_fds") >= open_fds);
  CHECK(Require(samples, "process_threads") >= 1);
  CHECK(Require(samples, "process_cpu_seconds_total") >= 0);

  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double start = Require(samples, "process_start_time_seconds");
  CHECK(start <= now + 1);
  CHECK(start > now - 7 * 24 * 3600);  // a test binary started recently

  const std::string text = metrics.SerializeText();
  CHECK(Contains(text, "# TYPE process_cpu_seconds_total counter"));
  CHECK(Contains(text, "# TYPE process_open_fds gauge"));
}

TEST_CASE("process metrics are read at collection time") {
  MetricsRegistry metrics;
  const double fds_before = Require(metrics.Snapshot(), "process_open_fds");
  const double rss_before = Require(metrics.Snapshot(), "process_resident_memory_bytes");

  int pipes[3][2];
  for (auto& pipe_fds : pipes) REQUIRE(pipe(pipe_fds) == 0);
  constexpr std::size_t kTouched = 64 * 1024 * 1024;
  auto memory = std::make_unique<char[]>(kTouched);
  std::memset(memory.get(), 1, kTouched);

  const auto samples = metrics.Snapshot();
  CHECK(Require(samples, "process_open_fds") >= fds_before + 6);
  CHECK(Require(samples, "process_resident_memory_bytes") >= rss_before + kTouched / 2);
  CHECK(memory[kTouched - 1] == 1);  // keeps the memory live and touched until here

  for (auto& pipe_fds : pipes) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
  }
}

}  // namespace
