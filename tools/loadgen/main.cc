// loadgen: an HTTP/1.1 load generator for boxcar's trustless gateway. See docs/loadgen.md.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>

#include "cids.h"
#include "options.h"
#include "report.h"
#include "runner.h"

namespace boxcar::loadgen {
namespace {

constexpr int kExitFailures = 1;
constexpr int kExitUsage = 2;
constexpr rlim_t kSpareDescriptors = 64;  // stdio, the JSON file, epoll, timers

// Set by SIGINT/SIGTERM: the run ends early and still reports. The handler is one-shot, so a
// second signal terminates the process.
std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

void OnStopSignal(int) { g_stop.store(true); }

void InstallStopHandlers() {
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

// Raises the soft descriptor limit to the hard one and checks the connections fit.
Status RaiseFileLimit(uint32_t connections) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
    return Status::IOError("getrlimit(RLIMIT_NOFILE) failed");
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur != RLIM_INFINITY && connections + kSpareDescriptors > limit.rlim_cur) {
    return Status::InvalidArgument("--connections " + std::to_string(connections) + " needs " +
                                   std::to_string(connections + kSpareDescriptors) +
                                   " file descriptors but the limit is " +
                                   std::to_string(limit.rlim_cur) +
                                   "; lower --connections or raise the hard limit (ulimit -Hn)");
  }
  return Status::OK();
}

Status LoadCids(const Options& o, uint64_t seed, std::vector<std::string>* cids,
                std::vector<std::string>* missing_cids) {
  if (!o.cids_file.empty()) {
    Status s = ReadCidFile(o.cids_file, cids);
    if (!s.ok()) return s.Annotate("--cids");
  }
  std::mt19937_64 rng(seed ^ 0x6d697373696e67ULL);  // independent of the workers' streams
  *missing_cids = RandomMissingCids(o.missing_cids, rng);
  return Status::OK();
}

Status WriteJson(const std::string& path, const nlohmann::json& doc) {
  if (path == "-") {
    std::cout << doc.dump(2) << "\n";
    return Status::OK();
  }
  std::ofstream out(path);
  out << doc.dump(2) << "\n";
  out.close();
  if (!out) return Status::IOError("cannot write --json file '" + path + "'");
  return Status::OK();
}

int Main(int argc, char** argv) {
  Options o;
  Status s = ParseOptions(argc, argv, &o);
  if (!s.ok()) {
    std::fprintf(stderr, "loadgen: %s\n", s.message().c_str());
    return kExitUsage;
  }
  if (o.help) {
    std::fputs(UsageText(), stdout);
    return 0;
  }
  s = RaiseFileLimit(o.connections);
  if (!s.ok()) {
    std::fprintf(stderr, "loadgen: %s\n", s.message().c_str());
    return kExitUsage;
  }
  const uint64_t seed =
      o.seed != 0 ? o.seed : (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  std::vector<std::string> cids;
  std::vector<std::string> missing_cids;
  s = LoadCids(o, seed, &cids, &missing_cids);
  if (!s.ok()) {
    std::fprintf(stderr, "loadgen: %s\n", s.message().c_str());
    return kExitUsage;
  }
  InstallStopHandlers();
  const RunResult result = RunLoad(o, std::move(cids), std::move(missing_cids), seed,
                                   o.progress || isatty(STDERR_FILENO), &g_stop);
  // With --json - stdout carries the JSON alone, so the summary moves to stderr.
  std::fputs(ReportText(o, result).c_str(), o.json_path == "-" ? stderr : stdout);
  std::fflush(stdout);
  if (!o.json_path.empty()) {
    s = WriteJson(o.json_path, ReportJson(o, result));
    if (!s.ok()) {
      std::fprintf(stderr, "loadgen: %s\n", s.message().c_str());
      return kExitFailures;
    }
  }
  if (result.stats.requests == 0) {
    std::fprintf(stderr, "loadgen: no request finished in the measured window%s\n",
                 o.max_failures >= 0 ? "; failing the --max-failures gate" : "");
    if (o.max_failures >= 0) return kExitFailures;
  }
  if (o.max_failures >= 0 && result.stats.TotalFailures() > static_cast<uint64_t>(o.max_failures)) {
    std::fprintf(stderr, "loadgen: %llu failures exceed --max-failures %lld\n",
                 static_cast<unsigned long long>(result.stats.TotalFailures()),
                 static_cast<long long>(o.max_failures));
    return kExitFailures;
  }
  return 0;
}

}  // namespace
}  // namespace boxcar::loadgen

int main(int argc, char** argv) { return boxcar::loadgen::Main(argc, argv); }
