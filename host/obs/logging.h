// Process-wide logging setup: every logger writes to one shared stderr sink, as human-readable
// text or as JSON lines for log collectors.
//
// Thread safety: Logger() may be called from any thread. SetupLogging() is meant to run once at
// startup, before other threads log; calling it later is safe but lines logged concurrently may
// use either format.
#pragma once

#include <memory>
#include <string>

#include <spdlog/formatter.h>
#include <spdlog/logger.h>

namespace boxcar::obs {

// `level`: trace|debug|info|warn|error|critical|off. `format`: "auto" (text when stderr is a
// TTY, else JSON lines), "text" or "json". Also makes Logger("boxcar") the spdlog default
// logger, so spdlog::info() and friends go to the same sink.
// Throws std::invalid_argument on an unknown level or format.
void SetupLogging(const std::string& level, const std::string& format);

// The logger with this name, created on first use. Loggers created here share the stderr sink,
// so SetupLogging's format applies to them whenever they were created.
std::shared_ptr<spdlog::logger> Logger(const std::string& name);

// One JSON object per line:
// {"ts":"2026-11-24T03:45:35.123Z","level":"info","logger":"admin","msg":"..."}.
// The timestamp is UTC with milliseconds; the message is JSON-escaped, invalid UTF-8 replaced.
std::unique_ptr<spdlog::formatter> MakeJsonFormatter();

}  // namespace boxcar::obs
