// Command-line options of loadgen and their validation.
//
// Thread safety: Options is a plain value, read-only once parsed.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "boxcar/status.h"

namespace boxcar::loadgen {

enum class RequestKind : uint8_t { kRaw = 0, kHead, kCar, kMissing };
inline constexpr int kRequestKinds = 4;
const char* RequestKindName(RequestKind kind);

struct Options {
  std::string target_host;  // a loopback IP address literal
  uint16_t target_port = 0;
  std::string cids_file;
  uint64_t missing_cids = 0;
  std::array<uint32_t, kRequestKinds> mix = {100, 0, 0, 0};  // weights by RequestKind
  std::vector<std::string> headers;                          // "Name: value" lines
  uint32_t connections = 64;
  uint32_t depth = 1;
  double rate = 0;  // requests/s in total; 0 = closed loop
  uint32_t threads = 1;
  double duration_s = 0;  // 0 = not bounded by time
  uint64_t requests = 0;  // 0 = not bounded by count
  double warmup_s = 0;
  uint64_t timeout_ms = 10000;
  std::vector<int> ok_statuses;  // also counted as expected, for every kind
  int64_t max_failures = -1;     // -1 = failures never change the exit code
  std::string json_path;         // "" = none, "-" = stdout
  bool progress = false;
  uint32_t connect_burst = 128;
  uint64_t seed = 0;  // 0 = from std::random_device
  bool help = false;
};

// Parses argv. Returns InvalidArgument saying what is wrong and how to fix it.
Status ParseOptions(int argc, char** argv, Options* options);

// The usage text printed by --help.
const char* UsageText();

}  // namespace boxcar::loadgen
