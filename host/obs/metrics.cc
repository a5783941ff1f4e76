#include "obs/metrics.h"

#include "obs/process_sample.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <string_view>

#include <fmt/format.h>
#include <prometheus/text_serializer.h>

namespace boxcar::obs {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

struct QuantileLabel {
  double q;
  const char* text;
};
constexpr QuantileLabel kSnapshotQuantiles[] = {{0.5, "0.5"}, {0.9, "0.9"}, {0.99, "0.99"}};

// The fields of /proc/self/stat that the process metrics need, already in their units.
struct ProcStat {
  double cpu_seconds = 0;
  double threads = 0;
  double start_ticks_after_boot = 0;
  double virtual_bytes = 0;
  double resident_pages = 0;
};

std::optional<ProcStat> ReadProcStat(double ticks_per_second) {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // The command name in parentheses may contain spaces and ')', so fields are counted from the
  // last ')'. The first field after it is field 3 (state) in proc(5) numbering.
  const auto close_paren = line.rfind(')');
  if (close_paren == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close_paren + 1));
  const std::vector<std::string> tokens{std::istream_iterator<std::string>(fields),
                                        std::istream_iterator<std::string>()};
  auto field = [&](int proc5_number) { return std::stod(tokens.at(proc5_number - 3)); };
  try {
    ProcStat stat;
    stat.cpu_seconds = (field(14) + field(15)) / ticks_per_second;  // utime + stime
    stat.threads = field(20);
    stat.start_ticks_after_boot = field(22);
    stat.virtual_bytes = field(23);
    stat.resident_pages = field(24);
    return stat;
  } catch (const std::exception&) {  // a kernel with a different layout: report nothing
    return std::nullopt;
  }
}

double ReadBootTimeSeconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double seconds = 0;
      if (in >> seconds) return seconds;
      return 0;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

MetricFamily SingleValueFamily(std::string name, std::string help, MetricType type, double value) {
  MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  ClientMetric metric;
  if (type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return family;
}

std::string QuantileLabels(std::vector<ClientMetric::Label> labels, const char* quantile) {
  labels.push_back({"quantile", quantile});
  return CanonicalLabels(std::move(labels));
}

void AppendHistogramSamples(const std::string& name, const ClientMetric& metric,
                            std::vector<MetricSample>& out) {
  const std::string labels = CanonicalLabels(metric.label);
  out.push_back({name + "_count", labels, static_cast<double>(metric.histogram.sample_count)});
  out.push_back({name + "_sum", labels, metric.histogram.sample_sum});
  for (const auto& [q, text] : kSnapshotQuantiles) {
    const double value = HistogramQuantile(q, metric.histogram);
    if (!std::isnan(value)) out.push_back({name, QuantileLabels(metric.label, text), value});
  }
}

void AppendSummarySamples(const std::string& name, const ClientMetric& metric,
                          std::vector<MetricSample>& out) {
  const std::string labels = CanonicalLabels(metric.label);
  out.push_back({name + "_count", labels, static_cast<double>(metric.summary.sample_count)});
  out.push_back({name + "_sum", labels, metric.summary.sample_sum});
  for (const auto& quantile : metric.summary.quantile) {
    const std::string text = fmt::format("{}", quantile.quantile);
    out.push_back({name, QuantileLabels(metric.label, text.c_str()), quantile.value});
  }
}

void AppendSamples(const MetricFamily& family, std::vector<MetricSample>& out) {
  for (const ClientMetric& metric : family.metric) {
    switch (family.type) {
      case MetricType::Counter:
        out.push_back({family.name, CanonicalLabels(metric.label), metric.counter.value});
        break;
      case MetricType::Gauge:
        out.push_back({family.name, CanonicalLabels(metric.label), metric.gauge.value});
        break;
      case MetricType::Untyped:
        out.push_back({family.name, CanonicalLabels(metric.label), metric.untyped.value});
        break;
      case MetricType::Histogram:
        AppendHistogramSamples(family.name, metric, out);
        break;
      case MetricType::Summary:
        AppendSummarySamples(family.name, metric, out);
        break;
    }
  }
}

}  // namespace

ProcessCollector::ProcessCollector()
    : boot_time_seconds_(ReadBootTimeSeconds()),
      clock_ticks_per_second_(static_cast<double>(sysconf(_SC_CLK_TCK))),
      page_size_bytes_(static_cast<double>(sysconf(_SC_PAGESIZE))) {}

std::vector<MetricFamily> ProcessCollector::Collect() const {
  std::vector<MetricFamily> families;
  if (const auto stat = ReadProcStat(clock_ticks_per_second_)) {
    families.push_back(SingleValueFamily("process_cpu_seconds_total",
                                         "Total user and system CPU time spent in seconds.",
                                         MetricType::Counter, stat->cpu_seconds));
    families.push_back(SingleValueFamily("process_resident_memory_bytes",
                                         "Resident memory size in bytes.", MetricType::Gauge,
                                         stat->resident_pages * page_size_bytes_));
    families.push_back(SingleValueFamily("process_virtual_memory_bytes",
                                         "Virtual memory size in bytes.", MetricType::Gauge,
                                         stat->virtual_bytes));
    families.push_back(SingleValueFamily("process_threads", "Number of OS threads in the process.",
                                         MetricType::Gauge, stat->threads));
    if (boot_time_seconds_ > 0) {
      families.push_back(SingleValueFamily(
          "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
          MetricType::Gauge,
          boot_time_seconds_ + stat->start_ticks_after_boot / clock_ticks_per_second_));
    }
  }
  if (const auto open_fds = CountOpenFds()) {
    families.push_back(SingleValueFamily("process_open_fds", "Number of open file descriptors.",
                                         MetricType::Gauge, static_cast<double>(*open_fds)));
  }
  rlimit fd_limit{};
  if (getrlimit(RLIMIT_NOFILE, &fd_limit) == 0) {
    families.push_back(
        SingleValueFamily("process_max_fds", "Maximum number of open file descriptors.",
                          MetricType::Gauge, static_cast<double>(fd_limit.rlim_cur)));
  }
  return families;
}

MetricsRegistry::MetricsRegistry() : registry_(std::make_shared<prometheus::Registry>()) {}

std::vector<MetricFamily> MetricsRegistry::Collect() const {
  std::vector<MetricFamily> families = registry_->Collect();
  std::vector<MetricFamily> process = process_.Collect();
  families.insert(families.end(), std::make_move_iterator(process.begin()),
                  std::make_move_iterator(process.end()));
  return families;
}

std::string MetricsRegistry::SerializeText() const {
  return prometheus::TextSerializer().Serialize(Collect());
}

std::vector<MetricSample> MetricsRegistry::Snapshot() const {
  std::vector<MetricSample> samples;
  for (const MetricFamily& family : Collect()) AppendSamples(family, samples);
  return samples;
}

std::string CanonicalLabels(std::vector<ClientMetric::Label> labels) {
  std::sort(labels.begin(), labels.end());
  std::string out;
  for (const auto& label : labels) {
    if (!out.empty()) out.push_back(',');
    out.append(label.name).append("=\"");
    for (char c : label.value) {
      switch (c) {
        case '\\':
          out.append("\\\\");
          break;
        case '"':
          out.append("\\\"");
          break;
        case '\n':
          out.append("\\n");
          break;
        default:
          out.push_back(c);
      }
    }
    out.push_back('"');
  }
  return out;
}

double HistogramQuantile(double q, const ClientMetric::Histogram& histogram) {
  const auto& buckets = histogram.bucket;
  // The last bucket is +Inf; without a finite bucket before it there is nothing to interpolate.
  if (buckets.size() < 2 || histogram.sample_count == 0) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  const double rank =
      std::clamp(q, 0.0, 1.0) * static_cast<double>(buckets.back().cumulative_count);
  const auto finite_end = buckets.end() - 1;
  const auto bucket = std::find_if(buckets.begin(), finite_end, [rank](const auto& b) {
    return static_cast<double>(b.cumulative_count) >= rank;
  });
  if (bucket == finite_end) return (finite_end - 1)->upper_bound;
  if (bucket == buckets.begin() && bucket->upper_bound <= 0) return bucket->upper_bound;

  const bool first = bucket == buckets.begin();
  const double start = first ? 0.0 : (bucket - 1)->upper_bound;
  const double below = first ? 0.0 : static_cast<double>((bucket - 1)->cumulative_count);
  const double in_bucket = static_cast<double>(bucket->cumulative_count) - below;
  if (in_bucket <= 0) return start;
  return start + (bucket->upper_bound - start) * ((rank - below) / in_bucket);
}

}  // namespace boxcar::obs
