#include "options.h"

#include <boost/asio/ip/address.hpp>
#include <charconv>
#include <cmath>
#include <string_view>
#include <type_traits>

namespace boxcar::loadgen {
namespace {

constexpr uint32_t kMaxConnections = 1'000'000;

Status Bad(std::string_view option, std::string_view value, std::string_view why) {
  return Status::InvalidArgument(std::string(option) + " '" + std::string(value) +
                                 "': " + std::string(why) + " (see loadgen --help)");
}

template <typename T>
Status ParseInt(std::string_view option, std::string_view text, T min, T max, T* out) {
  // Parsed wide so that values beyond T's range get the range message, not a syntax one.
  using Wide = std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>;
  Wide value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec == std::errc::invalid_argument || end != text.data() + text.size()) {
    return Bad(option, text, "expected a whole number");
  }
  if (ec == std::errc::result_out_of_range || value < static_cast<Wide>(min) ||
      value > static_cast<Wide>(max)) {
    return Bad(option, text,
               "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  *out = static_cast<T>(value);
  return Status::OK();
}

Status ParseSeconds(std::string_view option, std::string_view text, double* out) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      !std::isfinite(value) || value < 0 || value > 366 * 86400.0) {
    return Bad(option, text, "expected a number of seconds, e.g. 10 or 0.5");
  }
  *out = value;
  return Status::OK();
}

Status ParseTarget(std::string_view text, Options* options) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return Bad("--target", text, "expected HOST:PORT, e.g. 127.0.0.1:8080");
  }
  std::string host(text.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(host, ec);
  if (ec) {
    return Bad("--target", text,
               "the host must be a loopback IP address such as 127.0.0.1 or [::1]");
  }
  if (!address.is_loopback()) {
    return Bad("--target", text,
               "refusing a non-loopback address: loadgen only sends traffic to this machine "
               "(127.0.0.0/8 or ::1)");
  }
  options->target_host = address.to_string();
  return ParseInt<uint16_t>("--target port", text.substr(colon + 1), 1, 65535,
                            &options->target_port);
}

Status ParseMix(std::string_view text, Options* options) {
  std::array<uint32_t, kRequestKinds> mix = {0, 0, 0, 0};
  std::string_view rest = text;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return Bad("--mix", text, "expected KIND=WEIGHT items, e.g. raw=90,head=5,car=3,missing=2");
    }
    const std::string_view name = item.substr(0, eq);
    int kind = -1;
    for (int k = 0; k < kRequestKinds; ++k) {
      if (name == RequestKindName(static_cast<RequestKind>(k))) kind = k;
    }
    if (kind < 0) {
      return Bad("--mix", text,
                 "unknown kind '" + std::string(name) + "'; kinds are raw, head, car, missing");
    }
    Status s = ParseInt<uint32_t>("--mix " + std::string(name), item.substr(eq + 1), 0, 1000000,
                                  &mix[kind]);
    if (!s.ok()) return s;
  }
  if (mix[0] + mix[1] + mix[2] + mix[3] == 0) {
    return Bad("--mix", text, "at least one weight must be above 0");
  }
  options->mix = mix;
  return Status::OK();
}

Status ParseOkStatuses(std::string_view text, Options* options) {
  std::string_view rest = text;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    int status = 0;
    Status s = ParseInt<int>("--ok-status", rest.substr(0, comma), 100, 599, &status);
    if (!s.ok()) return s;
    options->ok_statuses.push_back(status);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  if (options->ok_statuses.empty()) return Bad("--ok-status", text, "expected e.g. 429,503");
  return Status::OK();
}

Status ParseHeader(std::string_view text, Options* options) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 ||
      text.find_first_of("\r\n") != std::string_view::npos ||
      text.substr(0, colon).find_first_of(" \t") != std::string_view::npos) {
    return Bad("--header", text, "expected 'Name: value' on one line, e.g. 'X-Peer: bench-1'");
  }
  options->headers.emplace_back(text);
  return Status::OK();
}

Status ParseOne(std::string_view name, std::string_view value, Options* o) {
  if (name == "--target") return ParseTarget(value, o);
  if (name == "--cids") {
    o->cids_file = value;
    return Status::OK();
  }
  if (name == "--missing-cids")
    return ParseInt<uint64_t>(name, value, 1, 10'000'000, &o->missing_cids);
  if (name == "--mix") return ParseMix(value, o);
  if (name == "--header") return ParseHeader(value, o);
  if (name == "--connections")
    return ParseInt<uint32_t>(name, value, 1, kMaxConnections, &o->connections);
  if (name == "--depth") return ParseInt<uint32_t>(name, value, 1, 1024, &o->depth);
  if (name == "--rate") {
    uint64_t rate = 0;
    Status s = ParseInt<uint64_t>(name, value, 1, 100'000'000, &rate);
    o->rate = static_cast<double>(rate);
    return s;
  }
  if (name == "--threads") return ParseInt<uint32_t>(name, value, 1, 256, &o->threads);
  if (name == "--duration") return ParseSeconds(name, value, &o->duration_s);
  if (name == "--requests") return ParseInt<uint64_t>(name, value, 1, UINT64_MAX / 2, &o->requests);
  if (name == "--warmup") return ParseSeconds(name, value, &o->warmup_s);
  if (name == "--timeout-ms") return ParseInt<uint64_t>(name, value, 1, 3'600'000, &o->timeout_ms);
  if (name == "--ok-status") return ParseOkStatuses(value, o);
  if (name == "--max-failures")
    return ParseInt<int64_t>(name, value, 0, INT64_MAX, &o->max_failures);
  if (name == "--json") {
    o->json_path = value;
    return Status::OK();
  }
  if (name == "--connect-burst")
    return ParseInt<uint32_t>(name, value, 1, 65536, &o->connect_burst);
  if (name == "--seed") return ParseInt<uint64_t>(name, value, 1, UINT64_MAX, &o->seed);
  return Status::InvalidArgument("unknown option '" + std::string(name) + "' (see loadgen --help)");
}

Status Validate(Options* o) {
  if (o->target_port == 0) {
    return Status::InvalidArgument("--target is required, e.g. --target 127.0.0.1:8080");
  }
  if (o->duration_s <= 0 && o->requests == 0) {
    return Status::InvalidArgument(
        "every load must be bounded: give --duration SECONDS and/or --requests N");
  }
  const bool needs_cids = o->mix[0] + o->mix[1] + o->mix[2] > 0;
  if (needs_cids && o->cids_file.empty()) {
    return Status::InvalidArgument(
        "the mix has raw, head or car requests, which need --cids FILE (one CID per line); "
        "or use --mix missing=1 to request only missing CIDs");
  }
  if (o->mix[3] > 0 && o->missing_cids == 0) o->missing_cids = 1000;
  if (o->threads > o->connections) {
    return Status::InvalidArgument("--threads " + std::to_string(o->threads) +
                                   " exceeds --connections " + std::to_string(o->connections) +
                                   "; every thread needs at least one connection");
  }
  return Status::OK();
}

}  // namespace

const char* RequestKindName(RequestKind kind) {
  switch (kind) {
    case RequestKind::kRaw:
      return "raw";
    case RequestKind::kHead:
      return "head";
    case RequestKind::kCar:
      return "car";
    case RequestKind::kMissing:
      return "missing";
  }
  return "?";
}

Status ParseOptions(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      options->help = true;
      return Status::OK();
    }
    if (arg == "--progress") {
      options->progress = true;
      continue;
    }
    if (arg.substr(0, 2) != "--") {
      return Status::InvalidArgument("unexpected argument '" + std::string(arg) +
                                     "'; options start with -- (see loadgen --help)");
    }
    std::string_view name = arg;
    std::string_view value;
    if (const size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return Status::InvalidArgument("option " + std::string(arg) + " needs a value");
    }
    Status s = ParseOne(name, value, options);
    if (!s.ok()) return s;
  }
  if (options->help) return Status::OK();
  return Validate(options);
}

const char* UsageText() {
  return R"(loadgen: an HTTP/1.1 load generator for boxcar's trustless gateway (loopback only)

usage: loadgen --target 127.0.0.1:PORT (--duration S | --requests N) [options]

target and requests
  --target HOST:PORT      loopback address of the server (127.0.0.0/8, ::1, localhost)
  --cids FILE             CIDs to request, one per line; blank lines and # comments skipped
  --missing-cids N        random CIDs the server lacks, for 'missing' (default 1000 if used)
  --mix K=W,...           request mix weights; kinds raw, head, car, missing (default raw=100)
  --header 'Name: value'  extra request header; repeatable

load shape
  --connections N         connections (default 64)
  --depth D               requests in flight per connection, pipelined (default 1)
  --rate R                open loop: R requests/s in total; latency from intended send time
  --threads T             threads, each with its own share of connections (default 1)
  --connect-burst N       connects in progress at once, per thread (default 128)
  --seed N                seed for CID and mix choices (default random)

duration (at least one is required)
  --duration S            measure for S seconds (after the warm-up)
  --requests N            stop after N measured requests
  --warmup S              run S seconds first, excluded from the statistics (default 0)

outcome
  --timeout-ms MS         a request without a response after MS fails (default 10000)
  --ok-status LIST        also count these statuses as expected, e.g. 429,503
  --max-failures K        exit 1 when more than K requests fail
  --json FILE             write all figures as JSON to FILE ('-' for stdout)
  --progress              print a progress line every second (default when stderr is a TTY)

exit status: 0 done, 1 more failures than --max-failures, 2 usage error
)";
}

}  // namespace boxcar::loadgen
