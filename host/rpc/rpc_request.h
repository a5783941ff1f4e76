// The pieces of a Kubo RPC request that need no I/O: the query string, the command lookup (with
// go-ipfs-cmds' "last path segment is an argument" rule), option type checks, and the CSRF
// origin rules. Kept apart from the server so they are tested directly.
//
// Thread safety: free functions; RpcCommandTable is immutable once the server starts.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rpc/rpc_server.h"

namespace boxcar::rpc {

// Percent-decodes `text` ('+' is a space when `plus_is_space`); nullopt on a bad escape.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space);

// "a=1&arg=x&arg=y" -> ordered (key, value) pairs; an error names the bad pair.
Status ParseQuery(std::string_view query, std::vector<std::pair<std::string, std::string>>* out);

// Go's strconv.ParseBool, plus "" (a bare "?verbose") as true.
std::optional<bool> ParseGoBool(std::string_view text);

class RpcCommandTable {
 public:
  void Add(RpcCommand command);

  // The command for `path` (after "/api/v0/"), and the argument a trailing path segment supplies
  // ("id/QmPeer" runs id with the argument "QmPeer"); nullptr when none matches.
  const RpcCommand* Find(const std::string& path, std::optional<std::string>* path_arg) const;

 private:
  std::map<std::string, RpcCommand> commands_;
};

// Builds the request from the query: arg= values (after any path argument), declared options
// type-checked; undeclared options are ignored, as Kubo does. Errors are the 400 texts Kubo
// sends ("argument \"address\" is required", "Could not convert value 'x' to type 'int' (for
// option '-count')").
Status BuildRequest(const RpcCommand& command, const std::optional<std::string>& path_arg,
                    const std::vector<std::pair<std::string, std::string>>& query, RpcRequest* out);

// Kubo's default allowed origins for an API bound to `port`.
std::vector<std::string> DefaultAllowedOrigins(uint16_t port);
// go-ipfs-cmds' CSRF rules: Origin and Referer (as scheme://host), when present, must be allowed;
// a POST with neither from a browser (User-Agent "Mozilla...") is refused.
bool PassesCsrfChecks(const std::vector<std::string>& allowed_origins, std::string_view origin,
                      std::string_view referer, std::string_view user_agent);

// Go's time.Duration.String(), which Kubo's Latency fields use: "0s", "850ns", "1.5µs",
// "1.234567ms", "2.5s", "1m30s".
std::string FormatGoDuration(int64_t nanoseconds);
// Go's time.ParseDuration for the non-negative durations Kubo's --timeout takes: "30s", "1m30s",
// "1.5h", "250ms" (units ns, us, µs, ms, s, m, h). nullopt for anything else.
std::optional<int64_t> ParseGoDuration(std::string_view text);

}  // namespace boxcar::rpc
