// The Kubo RPC pieces without I/O: query and option parsing, command lookup, the CSRF rules,
// API.Authorizations secrets, and Go's duration text.
#include <doctest/doctest.h>

#include "rpc/rpc_auth.h"
#include "rpc/rpc_request.h"

using namespace boxcar::rpc;

namespace {

RpcCommand Command(std::string name, int min_args, int max_args) {
  RpcCommand c;
  c.name = std::move(name);
  c.arg_name = "peer ID";
  c.min_args = min_args;
  c.max_args = max_args;
  c.options = {{"count", OptionType::kInt}, {"verbose", OptionType::kBool}};
  c.aliases = {{"n", "count"}};
  return c;
}

}  // namespace

TEST_CASE("the query string decodes as Go's url.Query does") {
  std::vector<std::pair<std::string, std::string>> query;
  REQUIRE(ParseQuery("arg=%2Fip4%2F1.2.3.4&arg=b+c&verbose&&x=", &query).ok());
  REQUIRE(query.size() == 4);
  CHECK(query[0].second == "/ip4/1.2.3.4");
  CHECK(query[1].second == "b c");
  CHECK(query[2] == std::make_pair(std::string("verbose"), std::string()));
  const auto bad = ParseQuery("arg=%zz", &query);
  CHECK(bad.message().find("arg=%zz") != std::string::npos);
  CHECK_FALSE(ParseQuery("arg=%4", &query).ok());
}

TEST_CASE("arguments and options are checked with Kubo's 400 texts") {
  const RpcCommand ping = Command("ping", 1, 1);
  RpcRequest request;
  std::vector<std::pair<std::string, std::string>> query = {{"arg", "QmPeer"}, {"n", "3"}};
  REQUIRE(BuildRequest(ping, std::nullopt, query, &request).ok());
  CHECK(request.args == std::vector<std::string>{"QmPeer"});
  CHECK(request.Int("count", 10) == 3);
  CHECK(request.Int("missing", 10) == 10);

  query = {{"count", "x"}, {"arg", "p"}};
  CHECK(BuildRequest(ping, std::nullopt, query, &request).message() ==
        "Could not convert value 'x' to type 'int' (for option '-count')");
  query = {{"verbose", "maybe"}, {"arg", "p"}};
  CHECK(BuildRequest(ping, std::nullopt, query, &request).message() ==
        "Could not convert value 'maybe' to type 'bool' (for option '-verbose')");
  query = {};
  CHECK(BuildRequest(ping, std::nullopt, query, &request).message() ==
        "argument \"peer ID\" is required");
  query = {{"arg", "a"}, {"arg", "b"}};
  CHECK_FALSE(BuildRequest(ping, std::nullopt, query, &request).ok());
  query = {{"unknown-option", "anything"}, {"arg", "p"}, {"verbose", ""}};
  REQUIRE(BuildRequest(ping, std::nullopt, query, &request).ok());
  CHECK(request.Flag("verbose"));
}

TEST_CASE("a command's last path segment may be its argument") {
  RpcCommandTable table;
  table.Add(Command("id", 0, 1));
  table.Add(Command("swarm/peers", 0, 0));
  std::optional<std::string> path_arg;
  CHECK(table.Find("id", &path_arg)->name == "id");
  CHECK_FALSE(path_arg.has_value());
  CHECK(table.Find("id/12D3KooWPeer", &path_arg)->name == "id");
  CHECK(path_arg == "12D3KooWPeer");
  CHECK(table.Find("swarm/peers/x", &path_arg) == nullptr);  // takes no argument
  CHECK(table.Find("swarm", &path_arg) == nullptr);
  CHECK(table.Find("nope", &path_arg) == nullptr);
}

TEST_CASE("CSRF: foreign origins and referers are refused, local ones and curl pass") {
  const auto allowed = DefaultAllowedOrigins(5001);
  CHECK(PassesCsrfChecks(allowed, "", "", "curl/8.0"));
  CHECK(PassesCsrfChecks(allowed, "http://127.0.0.1:5001", "", "Mozilla/5.0"));
  CHECK(PassesCsrfChecks(allowed, "http://localhost:5001", "", ""));
  CHECK_FALSE(PassesCsrfChecks(allowed, "http://evil.example", "", ""));
  CHECK_FALSE(PassesCsrfChecks(allowed, "http://127.0.0.1:5002", "", ""));
  CHECK(PassesCsrfChecks(allowed, "", "http://[::1]:5001/webui/page?x", ""));
  CHECK_FALSE(PassesCsrfChecks(allowed, "", "http://evil.example/page", ""));
  CHECK_FALSE(PassesCsrfChecks(allowed, "", "not a url", ""));
  CHECK_FALSE(PassesCsrfChecks(allowed, "", "", "Mozilla/5.0 (X11)"));
  CHECK(PassesCsrfChecks(allowed, "", "", "Mozilla/5.0 Electron/30"));
}

TEST_CASE("authorization secrets become Kubo's expected headers") {
  CHECK(ExpectedAuthorizationHeader("bearer:tok") == "Bearer tok");
  CHECK(ExpectedAuthorizationHeader("tok") == "Bearer tok");
  CHECK(ExpectedAuthorizationHeader("basic:user:pass") == "Basic dXNlcjpwYXNz");
  CHECK(ExpectedAuthorizationHeader("basic:dXNlcjpwYXNz") == "Basic dXNlcjpwYXNz");
  CHECK(ExpectedAuthorizationHeader("digest:x") == "");

  RpcAuthorizer none({});
  CHECK(none.Allows("/api/v0/id", ""));
  RpcAuthorizer scoped({{"alice", "bearer:secret", {"/api/v0/swarm"}},
                        {"bob", "basic:bob:pw", {"/api/v0"}},
                        {"broken", "digest:x", {"/api/v0"}}});
  CHECK(scoped.enabled());
  CHECK_FALSE(scoped.Allows("/api/v0/id", ""));
  CHECK_FALSE(scoped.Allows("/api/v0/id", "Bearer wrong"));
  CHECK_FALSE(scoped.Allows("/api/v0/id", "Bearer secret"));  // outside alice's prefixes
  CHECK(scoped.Allows("/api/v0/swarm/peers", "Bearer secret"));
  CHECK(scoped.Allows("/api/v0/version", "Bearer secret"));  // always allowed with a secret
  CHECK(scoped.Allows("/api/v0/id", "Basic Ym9iOnB3"));
  CHECK_FALSE(scoped.Allows("/api/v0/version", "Bearer secre"));
}

TEST_CASE("durations print as Go's time.Duration.String") {
  CHECK(FormatGoDuration(0) == "0s");
  CHECK(FormatGoDuration(850) == "850ns");
  CHECK(FormatGoDuration(1500) == "1.5\u00b5s");
  CHECK(FormatGoDuration(1234567) == "1.234567ms");
  CHECK(FormatGoDuration(2000000) == "2ms");
  CHECK(FormatGoDuration(2500000000) == "2.5s");
  CHECK(FormatGoDuration(90000000000) == "1m30s");
  CHECK(FormatGoDuration(3600000000000) == "1h0m0s");
}

TEST_CASE("timeout= parses as Go's time.ParseDuration") {
  CHECK(ParseGoDuration("30s") == 30000000000);
  CHECK(ParseGoDuration("1m30s") == 90000000000);
  CHECK(ParseGoDuration("1.5h") == 5400000000000);
  CHECK(ParseGoDuration("250ms") == 250000000);
  CHECK(ParseGoDuration("10us") == 10000);
  CHECK(ParseGoDuration("10\u00b5s") == 10000);
  CHECK(ParseGoDuration("0") == 0);
  for (const char* bad : {"", "30", "s", "soon", "1x", "-1s", ".s", "5s5"}) {
    INFO(bad);
    CHECK_FALSE(ParseGoDuration(bad));
  }
}
