// A child process the test talks to through pipes: lines in on stdin, lines out on stdout
// (the js-libp2p peer of tests/interop/libp2p reports its events this way).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace boxcar::testing {

class ChildProcess {
 public:
  // Starts argv[0] (a path) with stdin and stdout piped; stderr goes to a temporary log.
  explicit ChildProcess(const std::vector<std::string>& argv);
  // Closes stdin, waits up to 5 s for the exit, then SIGKILLs.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool started() const { return pid_ > 0; }
  // The next stdout line within `timeout`; nullopt at EOF or on timeout.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);
  // Reads stdout lines until one parses as a JSON object that `match` accepts; every line read
  // is kept in lines(). nullopt when the time runs out or stdout ends first.
  std::optional<nlohmann::json> WaitFor(const std::function<bool(const nlohmann::json&)>& match,
                                        std::chrono::milliseconds timeout);
  bool WriteLine(const std::string& line);
  const std::vector<std::string>& lines() const { return lines_; }
  std::string Stderr() const;

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string pending_;  // stdout bytes after the last full line
  std::vector<std::string> lines_;
  std::filesystem::path stderr_log_;
};

}  // namespace boxcar::testing
