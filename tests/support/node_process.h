// Runs the real boxcar binary for end-to-end tests, and talks HTTP to it on 127.0.0.1.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace boxcar::testing {

struct HttpResult {
  int status = 0;  // 0 when the request failed at the socket level
  std::string body;
  std::string content_type;
};

// One request on a fresh connection to "host:port"; bounded by a 10 s timeout.
HttpResult HttpRequest(const std::string& address, const std::string& method,
                       const std::string& target, const std::string& body = "",
                       const std::string& authorization = "");

// Output and exit code of a command that runs to completion (bounded by `timeout`).
struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr, interleaved
};
CommandResult RunCommand(const std::vector<std::string>& argv,
                         std::chrono::seconds timeout = std::chrono::seconds(60));

std::filesystem::path BoxcarBinary();

// `boxcar run --config CONFIG --ready-file ...` in the background. The destructor SIGKILLs it if
// it is still running.
class NodeProcess {
 public:
  NodeProcess(const std::filesystem::path& config, const std::vector<std::string>& extra_args = {});
  ~NodeProcess();

  // Waits (bounded) for the ready file; false if the process exited or the time ran out.
  bool WaitReady(std::chrono::seconds timeout = std::chrono::seconds(20));
  const std::string& admin() const { return admin_; }
  const std::string& gateway() const { return gateway_; }
  const std::filesystem::path& ready_file() const { return ready_file_; }
  const std::string& rpc() const { return rpc_; }  // "" when the config has no rpc section
  pid_t pid() const { return pid_; }

  void Signal(int sig);
  // Waits (bounded) for exit; the exit code, or -1 on timeout, or 128+signal if killed.
  int WaitExit(std::chrono::seconds timeout = std::chrono::seconds(20));
  // Everything the process wrote to stderr and stdout so far.
  std::string Output() const;

 private:
  pid_t pid_ = -1;
  std::filesystem::path ready_file_;
  std::filesystem::path log_file_;
  std::string admin_;
  std::string gateway_;
  std::string rpc_;
};

// Polls `predicate` every 20 ms until it holds or `timeout` passes.
template <class P>
bool Eventually(P predicate, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return predicate();
}

}  // namespace boxcar::testing
