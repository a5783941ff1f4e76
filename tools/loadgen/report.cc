#include "report.h"

#include <cstdio>

namespace boxcar::loadgen {
namespace {

double PerSecond(uint64_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
}

std::string FormatMicros(uint64_t us) {
  char buf[32];
  if (us < 1000) {
    std::snprintf(buf, sizeof(buf), "%lluus", static_cast<unsigned long long>(us));
  } else if (us < 1'000'000) {
    std::snprintf(buf, sizeof(buf), "%.2fms", static_cast<double>(us) / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.2fs", static_cast<double>(us) / 1e6);
  }
  return buf;
}

std::string MixText(const Options& o) {
  std::string text;
  for (int k = 0; k < kRequestKinds; ++k) {
    if (o.mix[k] == 0) continue;
    if (!text.empty()) text += ",";
    text +=
        std::string(RequestKindName(static_cast<RequestKind>(k))) + "=" + std::to_string(o.mix[k]);
  }
  return text;
}

}  // namespace

nlohmann::json ReportJson(const Options& o, const RunResult& r) {
  const Stats& s = r.stats;
  nlohmann::json statuses = nlohmann::json::object();
  for (size_t code = 0; code < s.status_counts.size(); ++code) {
    if (s.status_counts[code] > 0) statuses[std::to_string(code)] = s.status_counts[code];
  }
  nlohmann::json failures = nlohmann::json::object();
  for (int k = 0; k < kFailureKinds; ++k) {
    failures[FailureKindName(static_cast<FailureKind>(k))] = s.failures[k];
  }
  nlohmann::json by_kind = nlohmann::json::object();
  nlohmann::json mix = nlohmann::json::object();
  for (int k = 0; k < kRequestKinds; ++k) {
    const char* name = RequestKindName(static_cast<RequestKind>(k));
    by_kind[name] = s.requests_by_kind[k];
    mix[name] = o.mix[k];
  }
  const Histogram& h = s.latency;
  return {
      {"target", o.target_host + ":" + std::to_string(o.target_port)},
      {"mode", o.rate > 0 ? "open" : "closed"},
      {"connections", o.connections},
      {"depth", o.depth},
      {"threads", o.threads},
      {"rate", o.rate},
      {"mix", mix},
      {"warmup_s", o.warmup_s},
      {"duration_s", r.duration_s},
      {"connect_s", r.connect_s},
      {"requests", s.requests},
      {"responses", s.responses},
      {"requests_by_kind", by_kind},
      {"rps", PerSecond(s.requests, r.duration_s)},
      {"bytes", s.rx_bytes},
      {"tx_bytes", s.tx_bytes},
      {"rx_bytes_per_s", PerSecond(s.rx_bytes, r.duration_s)},
      {"status", statuses},
      {"failures", s.TotalFailures()},
      {"failures_by_kind", failures},
      {"first_connect_error", s.first_connect_error},
      {"connects", s.connects},
      {"server_closes", s.server_closes},
      {"in_flight_at_end", s.in_flight_at_end},
      {"unsent_at_end", s.unsent_at_end},
      {"latency_us",
       {{"count", h.Count()},
        {"min", h.Min()},
        {"mean", h.Mean()},
        {"p50", h.Percentile(50)},
        {"p90", h.Percentile(90)},
        {"p99", h.Percentile(99)},
        {"p99_9", h.Percentile(99.9)},
        {"max", h.Max()}}},
  };
}

std::string ReportText(const Options& o, const RunResult& r) {
  const Stats& s = r.stats;
  const Histogram& h = s.latency;
  char buf[512];
  std::string out;
  std::snprintf(buf, sizeof(buf),
                "target %s:%u  %s loop  %u connections x depth %u  %u thread(s)  mix %s\n",
                o.target_host.c_str(), o.target_port, o.rate > 0 ? "open" : "closed", o.connections,
                o.depth, o.threads, MixText(o).c_str());
  out += buf;
  if (o.rate > 0) {
    std::snprintf(buf, sizeof(buf), "intended rate %.0f req/s (latency from intended send time)\n",
                  o.rate);
    out += buf;
  }
  std::snprintf(buf, sizeof(buf),
                "%llu requests in %.2fs (after %.1fs warm-up; connecting took %.2fs)\n"
                "  %.0f req/s, %.2f MiB/s received\n",
                static_cast<unsigned long long>(s.requests), r.duration_s, o.warmup_s, r.connect_s,
                PerSecond(s.requests, r.duration_s),
                PerSecond(s.rx_bytes, r.duration_s) / (1024.0 * 1024.0));
  out += buf;
  out += "latency  p50 " + FormatMicros(h.Percentile(50)) + "  p90 " +
         FormatMicros(h.Percentile(90)) + "  p99 " + FormatMicros(h.Percentile(99)) + "  p99.9 " +
         FormatMicros(h.Percentile(99.9)) + "  max " + FormatMicros(h.Max()) + "  mean " +
         FormatMicros(static_cast<uint64_t>(h.Mean())) + "\n";
  out += "status  ";
  for (size_t code = 0; code < s.status_counts.size(); ++code) {
    if (s.status_counts[code] == 0) continue;
    std::snprintf(buf, sizeof(buf), " %zu=%llu", code,
                  static_cast<unsigned long long>(s.status_counts[code]));
    out += buf;
  }
  out += "\n";
  std::snprintf(buf, sizeof(buf), "failures %llu",
                static_cast<unsigned long long>(s.TotalFailures()));
  out += buf;
  for (int k = 0; k < kFailureKinds; ++k) {
    if (s.failures[k] == 0) continue;
    std::snprintf(buf, sizeof(buf), "  %s=%llu", FailureKindName(static_cast<FailureKind>(k)),
                  static_cast<unsigned long long>(s.failures[k]));
    out += buf;
  }
  out += "\n";
  if (!s.first_connect_error.empty()) out += "first connect error: " + s.first_connect_error + "\n";
  std::snprintf(buf, sizeof(buf),
                "connects %llu  server closes %llu  in flight at end %llu  unsent at end %llu\n",
                static_cast<unsigned long long>(s.connects),
                static_cast<unsigned long long>(s.server_closes),
                static_cast<unsigned long long>(s.in_flight_at_end),
                static_cast<unsigned long long>(s.unsent_at_end));
  out += buf;
  return out;
}

}  // namespace boxcar::loadgen
