#include "obs/logging.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace {

using boxcar::obs::Logger;
using boxcar::obs::MakeJsonFormatter;
using boxcar::obs::SetupLogging;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Matches 2026-11-24T03:45:35.123Z; written out because std::regex trips GCC 12's
// -Wmaybe-uninitialized in sanitizer builds.
bool IsIsoMillisUtc(const std::string& ts) {
  constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (ts.size() != kShape.size()) return false;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const bool ok = kShape[i] == 'd' ? (ts[i] >= '0' && ts[i] <= '9') : ts[i] == kShape[i];
    if (!ok) return false;
  }
  return true;
}

// A logger writing JSON lines into `out`.
std::shared_ptr<spdlog::logger> JsonLogger(const std::string& name, std::ostringstream& out) {
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out);
  sink->set_formatter(MakeJsonFormatter());
  auto logger = std::make_shared<spdlog::logger>(name, sink);
  logger->set_level(spdlog::level::trace);
  return logger;
}

// Captures what the process writes to stderr while alive.
class StderrCapture {
 public:
  StderrCapture() : saved_(dup(STDERR_FILENO)) {
    file_ = std::tmpfile();
    REQUIRE(file_ != nullptr);
    std::fflush(stderr);
    REQUIRE(dup2(fileno(file_), STDERR_FILENO) >= 0);
  }
  ~StderrCapture() { Restore(); }

  std::string Finish() {
    Restore();
    std::rewind(file_);
    std::string text;
    char chunk[4096];
    for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, file_)) > 0;) text.append(chunk, n);
    return text;
  }

 private:
  void Restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    saved_ = -1;
  }

  int saved_;
  std::FILE* file_ = nullptr;
};

TEST_CASE("JSON lines escape quotes, newlines and backslashes in the message") {
  std::ostringstream out;
  auto logger = JsonLogger("json-test", out);
  logger->info("say \"hi\"\nthen {} \\ tab\there", 42);

  const std::string text = out.str();
  REQUIRE(!text.empty());
  CHECK(text.back() == '\n');
  REQUIRE(Lines(text).size() == 1);  // the embedded newline is escaped, not written

  const auto line = nlohmann::json::parse(Lines(text)[0]);
  CHECK(line["msg"] == "say \"hi\"\nthen 42 \\ tab\there");
  CHECK(line["level"] == "info");
  CHECK(line["logger"] == "json-test");
  CHECK(IsIsoMillisUtc(line["ts"].get<std::string>()));
  // Field order is stable for people reading raw lines.
  CHECK(Lines(text)[0].rfind(R"({"ts":)", 0) == 0);
}

TEST_CASE("JSON timestamps are UTC with milliseconds") {
  const spdlog::log_clock::time_point time(std::chrono::milliseconds(1234567890123));
  const spdlog::details::log_msg msg(time, spdlog::source_loc{}, "clock", spdlog::level::warn,
                                     "tick");
  spdlog::memory_buf_t buffer;
  MakeJsonFormatter()->format(msg, buffer);
  const auto line = nlohmann::json::parse(std::string(buffer.data(), buffer.size()));
  CHECK(line["ts"] == "2009-02-13T23:31:30.123Z");
  CHECK(line["level"] == "warn");
}

TEST_CASE("JSON lines use short level names and survive invalid UTF-8") {
  std::ostringstream out;
  auto logger = JsonLogger("levels", out);
  logger->error("bad bytes: \xff\xfe end");
  logger->debug("quiet");
  const auto lines = Lines(out.str());
  REQUIRE(lines.size() == 2);
  const auto first = nlohmann::json::parse(lines[0]);
  CHECK(first["level"] == "error");
  CHECK(first["msg"].get<std::string>().rfind("bad bytes: ", 0) == 0);
  CHECK(nlohmann::json::parse(lines[1])["level"] == "debug");
}

TEST_CASE("SetupLogging sends JSON lines to stderr from every logger at the chosen level") {
  auto early = Logger("created-before-setup");
  StderrCapture capture;
  SetupLogging("debug", "json");
  auto named = Logger("named");
  CHECK(Logger("named") == named);
  named->debug("hello \"world\"");
  named->trace("below the level");
  early->info("early logger");
  spdlog::warn("default logger");
  const auto lines = Lines(capture.Finish());

  REQUIRE(lines.size() == 3);
  const auto first = nlohmann::json::parse(lines[0]);
  CHECK(first["logger"] == "named");
  CHECK(first["level"] == "debug");
  CHECK(first["msg"] == "hello \"world\"");
  CHECK(nlohmann::json::parse(lines[1])["logger"] == "created-before-setup");
  const auto last = nlohmann::json::parse(lines[2]);
  CHECK(last["logger"] == "boxcar");
  CHECK(last["level"] == "warn");

  SetupLogging("info", "text");
}

TEST_CASE("SetupLogging rejects unknown levels and formats") {
  CHECK_THROWS_AS(SetupLogging("loud", "json"), std::invalid_argument);
  CHECK_THROWS_AS(SetupLogging("info", "xml"), std::invalid_argument);
}

}  // namespace
