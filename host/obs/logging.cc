#include "obs/logging.h"

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <mutex>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace boxcar::obs {
namespace {

constexpr const char* kTextPattern = "%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v";
constexpr const char* kDefaultLoggerName = "boxcar";

// spdlog's own names say "warning" and "err"; log collectors expect the short common ones.
std::string_view LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    case spdlog::level::off:
      return "off";
    case spdlog::level::n_levels:
      break;
  }
  return "unknown";
}

spdlog::level::level_enum ParseLevel(const std::string& level) {
  for (int i = 0; i < spdlog::level::n_levels; ++i) {
    auto candidate = static_cast<spdlog::level::level_enum>(i);
    if (level == LevelName(candidate)) return candidate;
  }
  if (level == "warning") return spdlog::level::warn;
  throw std::invalid_argument("unknown log level \"" + level +
                              "\" (expected trace, debug, info, warn, error, critical or off)");
}

std::string FormatUtcMillis(std::chrono::system_clock::time_point time) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  const auto since_epoch = duration_cast<milliseconds>(time.time_since_epoch());
  std::time_t seconds = static_cast<std::time_t>(since_epoch.count() / 1000);
  long millis = static_cast<long>(since_epoch.count() % 1000);
  if (millis < 0) {  // times before 1970 round toward the earlier second
    millis += 1000;
    --seconds;
  }
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, millis);
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    // ordered_json keeps the field order stable for people reading raw lines.
    nlohmann::ordered_json line;
    line["ts"] = FormatUtcMillis(msg.time);
    line["level"] = LevelName(msg.level);
    line["logger"] = std::string_view(msg.logger_name.data(), msg.logger_name.size());
    line["msg"] = std::string_view(msg.payload.data(), msg.payload.size());
    // A log call must never throw because a message carried bytes that are not UTF-8.
    const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

// One sink for every logger, so a format change reaches loggers created before it.
const std::shared_ptr<spdlog::sinks::stderr_color_sink_mt>& SharedSink() {
  static const auto sink = [] {
    auto s = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(spdlog::color_mode::automatic);
    s->set_formatter(std::make_unique<spdlog::pattern_formatter>(kTextPattern));
    return s;
  }();
  return sink;
}

std::mutex& LoggerCreationMutex() {
  static std::mutex mu;
  return mu;
}

}  // namespace

std::unique_ptr<spdlog::formatter> MakeJsonFormatter() { return std::make_unique<JsonFormatter>(); }

void SetupLogging(const std::string& level, const std::string& format) {
  const spdlog::level::level_enum parsed_level = ParseLevel(level);
  bool json = false;
  if (format == "json") {
    json = true;
  } else if (format == "auto") {
    json = isatty(STDERR_FILENO) == 0;
  } else if (format != "text") {
    throw std::invalid_argument("unknown log format \"" + format +
                                "\" (expected auto, text or json)");
  }

  if (json) {
    SharedSink()->set_formatter(MakeJsonFormatter());
  } else {
    SharedSink()->set_formatter(std::make_unique<spdlog::pattern_formatter>(kTextPattern));
  }
  spdlog::set_default_logger(Logger(kDefaultLoggerName));
  spdlog::set_level(parsed_level);  // every registered logger, and the default for new ones
}

std::shared_ptr<spdlog::logger> Logger(const std::string& name) {
  std::lock_guard lock(LoggerCreationMutex());
  if (auto existing = spdlog::get(name)) return existing;
  auto logger = std::make_shared<spdlog::logger>(name, SharedSink());
  logger->set_level(spdlog::get_level());
  // register_logger, unlike initialize_logger, leaves the shared sink's formatter alone.
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace boxcar::obs
