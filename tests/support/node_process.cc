#include "node_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

extern char** environ;

namespace boxcar::testing {
namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

HttpResult HttpRequest(const std::string& address, const std::string& method,
                       const std::string& target, const std::string& body,
                       const std::string& authorization) {
  HttpResult result;
  try {
    const auto colon = address.rfind(':');
    boost::asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(10));
    tcp::resolver resolver(io);
    stream.connect(resolver.resolve(address.substr(0, colon), address.substr(colon + 1)));
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, address);
    if (!authorization.empty()) req.set(http::field::authorization, authorization);
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    result.status = static_cast<int>(res.result_int());
    result.body = res.body();
    result.content_type = std::string(res[http::field::content_type]);
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  } catch (const std::exception& e) {
    result.status = 0;
    result.body = e.what();
  }
  return result;
}

fs::path BoxcarBinary() { return fs::path(BOXCAR_BINARY_DIR) / "bin" / "boxcar"; }

namespace {

pid_t Spawn(const std::vector<std::string>& argv, const fs::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

std::string ReadAll(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// waitpid with a deadline; the exit code, 128+signal, or -1 on timeout.
int WaitFor(pid_t pid, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0 || std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

fs::path UniqueTemp(const std::string& stem) {
  static int counter = 0;
  return fs::temp_directory_path() /
         (stem + "-" + std::to_string(getpid()) + "-" + std::to_string(++counter));
}

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  const fs::path log = UniqueTemp("boxcar-cmd");
  CommandResult result;
  pid_t pid = Spawn(argv, log);
  if (pid > 0) {
    result.exit_code = WaitFor(pid, timeout);
    if (result.exit_code == -1) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  result.out = ReadAll(log);
  fs::remove(log);
  return result;
}

NodeProcess::NodeProcess(const fs::path& config, const std::vector<std::string>& extra_args)
    : ready_file_(UniqueTemp("boxcar-ready")), log_file_(UniqueTemp("boxcar-log")) {
  std::vector<std::string> argv{BoxcarBinary().string(), "run",          "--config",
                                config.string(),         "--ready-file", ready_file_.string()};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  pid_ = Spawn(argv, log_file_);
}

NodeProcess::~NodeProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  fs::remove(ready_file_, ec);
  fs::remove(log_file_, ec);
}

bool NodeProcess::WaitReady(std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(ready_file_)) {
      auto ready = nlohmann::json::parse(ReadAll(ready_file_), nullptr, false);
      if (!ready.is_discarded()) {
        admin_ = ready.value("admin", "");
        gateway_ = ready.value("gateway", "");
        rpc_ = ready.value("rpc", "");
        return !admin_.empty();
      }
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void NodeProcess::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

int NodeProcess::WaitExit(std::chrono::seconds timeout) {
  if (pid_ <= 0) return -1;
  int code = WaitFor(pid_, timeout);
  if (code != -1) pid_ = -1;
  return code;
}

std::string NodeProcess::Output() const { return ReadAll(log_file_); }

}  // namespace boxcar::testing
