// bench-bitswap: Bitswap load against a running server (boxcar, Helia, Kubo), run by
// tools/bench/bitswap.sh (figures in docs/benchmarks.md). Every peer is its own Ed25519
// identity with its own TCP + Noise + Yamux connection; they share one io_context thread, or two
// with --threads 2 (the new-peer probes have one of their own).
//
//   bench-bitswap load --target HOST:PORT --cids FILE [--peers N] [--threads 1|2] [--wants K]
//   [--rate R]
//       [--want-have PCT] [--no-dont-have] [--seconds S] [--warmup S] [--count C]
//       [--timeout-ms T] [--pid PID]
//     Closed loop (no --rate): each peer keeps K wants outstanding. Open loop: R wants per
//     second across the peers, at most K outstanding per peer. Reports blocks/s, MiB/s, the
//     want-to-block latency p50/p99, and the failures (DONT_HAVE, timeouts, unexpected blocks).
//   bench-bitswap new-peer --target HOST:PORT --cids FILE [--peers 64] [--wants 1024]
//       [--probes N] [--pid PID] ...
//     The closed-loop load above, and meanwhile N fresh peers one after another, each connecting
//     and wanting one block: their first-block latency p50/p99. With --hold-missing the peers
//     instead hold K wants each for blocks nobody has (a full ledger, an idle server).
//   bench-bitswap idle --target HOST:PORT --pid PID [--peers 2000] [--wants 8]
//     Peers that each send a small wantlist for absent blocks and stay connected: the server's
//     RSS growth per peer.
//
// Output: one JSON object on stdout. Every run is bounded in count and time.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "bitswap_load.h"
#include "cids.h"

namespace {

using boxcar::Status;
using boxcar::bench::LoadOptions;

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr,
               "bench-bitswap: %s\n"
               "usage: bench-bitswap load|new-peer|idle --target HOST:PORT [--cids FILE] "
               "[--peers N] [--threads 1|2] [--wants K]\n"
               "         [--rate R] [--want-have PCT] [--no-dont-have] [--seconds S] "
               "[--warmup S] [--count C]\n"
               "         [--timeout-ms T] [--probes N] [--probe-gap-ms MS] [--hold-missing]\n"
               "         [--pid PID]\n",
               why.c_str());
  std::exit(2);
}

double Number(const std::string& flag, const std::string& value) {
  char* end = nullptr;
  const double n = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || n < 0) Usage(flag + " wants a number >= 0, not " + value);
  return n;
}

LoadOptions ParseArgs(int argc, char** argv, std::string* mode) {
  if (argc < 2) Usage("no mode given");
  *mode = argv[1];
  LoadOptions options;
  std::string cids_file;
  if (*mode == "new-peer") {
    options.wants = 1024;
    options.probes = 100;
  }
  if (*mode == "idle") {
    options.peers = 2000;
    options.wants = 8;
  }
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--no-dont-have") {
      options.send_dont_have = false;
      continue;
    }
    if (flag == "--hold-missing") {
      options.hold_missing = true;
      continue;
    }
    if (i + 1 >= argc) Usage(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--target")
      options.target = value;
    else if (flag == "--cids")
      cids_file = value;
    else if (flag == "--threads")
      options.threads = static_cast<int>(Number(flag, value));
    else if (flag == "--peers")
      options.peers = static_cast<int>(Number(flag, value));
    else if (flag == "--wants")
      options.wants = static_cast<int>(Number(flag, value));
    else if (flag == "--rate")
      options.rate = Number(flag, value);
    else if (flag == "--want-have")
      options.want_have_percent = static_cast<int>(Number(flag, value));
    else if (flag == "--seconds")
      options.seconds = Number(flag, value);
    else if (flag == "--warmup")
      options.warmup = Number(flag, value);
    else if (flag == "--count")
      options.count = static_cast<uint64_t>(Number(flag, value));
    else if (flag == "--timeout-ms")
      options.timeout = std::chrono::milliseconds(static_cast<int64_t>(Number(flag, value)));
    else if (flag == "--probes")
      options.probes = static_cast<int>(Number(flag, value));
    else if (flag == "--probe-gap-ms")
      options.probe_gap = std::chrono::milliseconds(static_cast<int64_t>(Number(flag, value)));
    else if (flag == "--pid")
      options.pid = static_cast<long>(Number(flag, value));
    else
      Usage("unknown option " + flag);
  }
  if (options.target.empty()) Usage("--target is required");
  if (options.peers < 1 || options.wants < 1) Usage("--peers and --wants must be at least 1");
  if (options.threads < 1 || options.threads > 2) Usage("--threads is 1 or 2");
  if (options.want_have_percent > 100) Usage("--want-have is a percentage (0-100)");
  if (*mode != "idle") {
    if (cids_file.empty()) Usage("--cids FILE is required (the CIDs the server holds)");
    std::vector<std::string> texts;
    Status s = boxcar::loadgen::ReadCidFile(cids_file, &texts);
    if (!s.ok()) Usage(s.ToString());
    for (const std::string& text : texts) {
      boxcar::format::Cid cid;
      s = boxcar::format::Cid::Parse(text, &cid);
      if (!s.ok()) Usage(cids_file + ": " + text + ": " + s.ToString());
      options.cids.push_back(cid);
    }
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode;
  const LoadOptions options = ParseArgs(argc, argv, &mode);
  spdlog::set_level(spdlog::level::warn);  // stdout carries only the JSON result
  nlohmann::json report;
  Status s;
  if (mode == "load" || mode == "new-peer")
    s = boxcar::bench::RunLoad(options, &report);
  else if (mode == "idle")
    s = boxcar::bench::RunIdle(options, &report);
  else
    Usage("unknown mode " + mode);
  if (!s.ok()) {
    std::fprintf(stderr, "bench-bitswap: %s\n", s.ToString().c_str());
    return 1;
  }
  report["mode"] = mode;
  std::printf("%s\n", report.dump().c_str());
  return 0;
}
