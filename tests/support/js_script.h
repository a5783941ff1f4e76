// A tests/interop script that speaks JSON lines (tests/interop/helia-bitswap): it prints
// {"event":"ready","peer":ID,"addrs":[...]} first, then answers each JSON command a line with
// one reply {"cmd","id","ok",...} and may print events in between. Header-only.
//
// Thread safety: none; one thread drives a script.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/child_process.h"

namespace boxcar::testing {

class JsScript {
 public:
  // Runs `script` on the project's Node.js with `args`.
  explicit JsScript(const std::filesystem::path& script, std::vector<std::string> args = {})
      : process_(Argv(script, std::move(args))) {}

  // Waits for the ready line; false when it did not come within `timeout`.
  bool Start(std::chrono::seconds timeout = std::chrono::seconds(30)) {
    const auto ready = process_.WaitFor(
        [](const nlohmann::json& e) { return e.value("event", "") == "ready"; }, timeout);
    if (!ready || (*ready)["addrs"].empty()) return false;
    address_ = (*ready)["addrs"][0].get<std::string>();
    peer_id_ = (*ready)["peer"].get<std::string>();
    return true;
  }

  // Sends `command` with a fresh "id" and returns the id, without waiting for the reply.
  int Send(nlohmann::json command) {
    const int id = next_id_++;
    command["id"] = id;
    process_.WriteLine(command.dump());
    return id;
  }

  // The reply to command `id`; {"ok":false,"error":"no reply ..."} when none came in `timeout`.
  nlohmann::json Reply(int id, std::chrono::milliseconds timeout) {
    const auto reply =
        Find([id](const nlohmann::json& e) { return e.value("id", -1) == id; }, timeout);
    if (reply) return *reply;
    return {{"ok", false},
            {"error", "no reply to command " + std::to_string(id) + " within " +
                          std::to_string(timeout.count()) + " ms; stderr: " + process_.Stderr()}};
  }

  // Send, then Reply.
  nlohmann::json Call(const nlohmann::json& command,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    return Reply(Send(command), timeout);
  }

  // The first line (already read or arriving within `timeout`) that `match` accepts.
  template <class Match>
  std::optional<nlohmann::json> Find(Match match, std::chrono::milliseconds timeout) {
    for (const nlohmann::json& e : Events(match)) return e;
    return process_.WaitFor(match, timeout);
  }

  // Every line read so far that `match` accepts.
  template <class Match>
  std::vector<nlohmann::json> Events(Match match) const {
    std::vector<nlohmann::json> out;
    for (const std::string& line : process_.lines()) {
      const nlohmann::json e = nlohmann::json::parse(line, nullptr, false);
      if (e.is_object() && match(e)) out.push_back(e);
    }
    return out;
  }

  const std::string& address() const { return address_; }  // "/ip4/127.0.0.1/tcp/P/p2p/ID"
  const std::string& peer_id() const { return peer_id_; }
  std::string Stderr() const { return process_.Stderr(); }

 private:
  static std::vector<std::string> Argv(const std::filesystem::path& script,
                                       std::vector<std::string> args) {
    std::vector<std::string> argv{BOXCAR_NODEJS, script.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  ChildProcess process_;
  std::string address_;
  std::string peer_id_;
  int next_id_ = 1;
};

}  // namespace boxcar::testing
