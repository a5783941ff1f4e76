// The Kubo RPC server's conventions, on 127.0.0.1 with commands registered by the test: methods,
// CSRF, the 404/400 texts, the error JSON, single answers, flushed streams with the
// X-Stream-Error trailer, authorizations (and their live replacement), limits, and a client
// leaving in the middle of a stream.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "http_client.h"
#include "node_process.h"
#include "rpc/rpc_server.h"

using namespace boxcar::rpc;
using boxcar::testing::Client;
using boxcar::testing::Eventually;
using boxcar::testing::Fetch;
using boxcar::testing::RequestText;
using boxcar::testing::Response;
using nlohmann::json;

namespace {

// Emits `count` objects 20 ms apart, then ends with `error` (none when "").
void EmitSlowly(std::shared_ptr<RpcResponder> out, int count, std::string error,
                std::shared_ptr<std::atomic<bool>> saw_cancel) {
  if (out->cancelled()) {
    saw_cancel->store(true);
    return;
  }
  if (count == 0) {
    if (error.empty()) return out->Close();
    return out->Fail({error});
  }
  out->Emit({{"n", count}});
  auto timer = std::make_shared<boost::asio::steady_timer>(out->executor());
  timer->expires_after(std::chrono::milliseconds(20));
  timer->async_wait([timer, out, count, error, saw_cancel](const boost::system::error_code&) {
    EmitSlowly(out, count - 1, error, saw_cancel);
  });
}

struct TestServer {
  explicit TestServer(std::vector<boxcar::runtime::RpcAuthorization> authorizations = {}) {
    boxcar::runtime::RpcConfig config;
    config.enabled = true;
    config.listen = "127.0.0.1:0";
    config.authorizations = std::move(authorizations);
    server = std::make_unique<RpcServer>(config, "boxcar/test");
    server->Register(
        {"version", "", 0, 0, {}, {}, [](const RpcRequest&, std::shared_ptr<RpcResponder> out) {
           out->Reply({{"Version", "test"}});
         }});
    server->Register({"echo",
                      "text",
                      1,
                      -1,
                      {{"loud", OptionType::kBool}},
                      {},
                      [](const RpcRequest& request, std::shared_ptr<RpcResponder> out) {
                        out->Reply({{"Args", request.args}, {"Loud", request.Flag("loud")}});
                      }});
    server->Register({"fail",
                      "",
                      0,
                      0,
                      {{"client", OptionType::kBool}, {"missing", OptionType::kBool}},
                      {},
                      [](const RpcRequest& request, std::shared_ptr<RpcResponder> out) {
                        ErrorCode code = ErrorCode::kNormal;
                        if (request.Flag("client")) code = ErrorCode::kClient;
                        if (request.Flag("missing")) code = ErrorCode::kNotFound;
                        out->Fail({"it broke", code});
                      }});
    server->Register({"stream",
                      "",
                      0,
                      0,
                      {{"count", OptionType::kInt}, {"error", OptionType::kString}},
                      {},
                      [this](const RpcRequest& request, std::shared_ptr<RpcResponder> out) {
                        auto it = request.options.find("error");
                        EmitSlowly(out, static_cast<int>(request.Int("count", 3)),
                                   it == request.options.end() ? "" : it->second, saw_cancel);
                      }});
    // Answers after 30 s: a command whose timer is still pending when the server stops.
    server->Register(
        {"slow", "", 0, 0, {}, {}, [](const RpcRequest&, std::shared_ptr<RpcResponder> out) {
           auto timer = std::make_shared<boost::asio::steady_timer>(out->executor());
           timer->expires_after(std::chrono::seconds(30));
           timer->async_wait([timer, out](const boost::system::error_code&) {
             out->Reply({{"late", true}});
           });
         }});
    server->Register(
        {"throws", "", 0, 0, {}, {}, [](const RpcRequest&, std::shared_ptr<RpcResponder>) {
           throw std::runtime_error("handler bug");
         }});
    REQUIRE(server->Start().ok());
    address = server->bound_address();
  }

  Response Post(const std::string& target, const std::vector<std::string>& headers = {}) {
    return Fetch(address, "POST", target, headers);
  }

  std::unique_ptr<RpcServer> server;
  std::string address;
  std::shared_ptr<std::atomic<bool>> saw_cancel = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace

TEST_CASE("only POST runs a command: OPTIONS 204, GET and others 405") {
  TestServer node;
  Response get = Fetch(node.address, "GET", "/api/v0/version");
  CHECK(get.status == 405);
  CHECK(get.body == "405 - Method Not Allowed\n");
  CHECK(get.Header("allow") == "OPTIONS, POST");
  CHECK(get.Header("content-type") == "text/plain; charset=utf-8");
  CHECK(get.Header("x-content-type-options") == "nosniff");
  CHECK(Fetch(node.address, "PUT", "/api/v0/version").status == 405);
  Response head = Fetch(node.address, "HEAD", "/api/v0/version");
  CHECK(head.status == 405);
  CHECK(head.body.empty());
  Response options = Fetch(node.address, "OPTIONS", "/api/v0/version");
  CHECK(options.status == 204);
  CHECK(options.Header("allow") == "OPTIONS, POST");
}

TEST_CASE("a foreign Origin or Referer, or a browser without either, gets 403") {
  TestServer node;
  const std::string port = node.address.substr(node.address.rfind(':') + 1);
  Response foreign = node.Post("/api/v0/version", {"Origin: http://evil.example"});
  CHECK(foreign.status == 403);
  CHECK(foreign.body == "403 - Forbidden\n");
  CHECK(node.Post("/api/v0/version", {"Referer: http://evil.example/x"}).status == 403);
  CHECK(node.Post("/api/v0/version", {"User-Agent: Mozilla/5.0"}).status == 403);
  Response local = node.Post("/api/v0/version", {"Origin: http://127.0.0.1:" + port});
  CHECK(local.status == 200);
  CHECK(local.Header("access-control-allow-origin") == "http://127.0.0.1:" + port);
}

TEST_CASE("unknown paths 404, bad arguments 400, with Kubo's plain texts") {
  TestServer node;
  for (const char* target : {"/api/v0/nope", "/api/v0/", "/webui", "/api/v0/version/extra"}) {
    CAPTURE(target);
    Response r = node.Post(target);
    CHECK(r.status == 404);
    CHECK(r.body == "404 page not found\n");
  }
  Response missing = node.Post("/api/v0/echo");
  CHECK(missing.status == 400);
  CHECK(missing.body == "argument \"text\" is required\n");
  Response bad_bool = node.Post("/api/v0/echo?arg=x&loud=perhaps");
  CHECK(bad_bool.status == 400);
  CHECK(bad_bool.body == "Could not convert value 'perhaps' to type 'bool' (for option '-loud')\n");
  CHECK(node.Post("/api/v0/echo?arg=%zz").status == 400);
}

TEST_CASE("a single answer is one JSON line in a chunked 200 with Kubo's headers") {
  TestServer node;
  Response r = node.Post("/api/v0/echo?arg=%2Fip4%2F1.2.3.4&arg=b&loud=true&ignored=1");
  REQUIRE(r.status == 200);
  CHECK(r.chunked);
  CHECK(r.Header("content-type") == "application/json");
  CHECK(r.Header("trailer") == "X-Stream-Error");
  CHECK(r.Header("server") == "boxcar/test");
  CHECK_FALSE(r.Has("x-chunked-output"));
  CHECK(r.body == R"({"Args":["/ip4/1.2.3.4","b"],"Loud":true})"
                  "\n");
  Response path_arg = node.Post("/api/v0/echo/word");
  CHECK(json::parse(path_arg.body)["Args"] == json::array({"word"}));
}

TEST_CASE("command errors are Kubo's error JSON: 500, 400 for the client's fault, 404 not found") {
  TestServer node;
  Response normal = node.Post("/api/v0/fail");
  CHECK(normal.status == 500);
  CHECK(normal.Header("content-type") == "application/json");
  CHECK(json::parse(normal.body) == json{{"Message", "it broke"}, {"Code", 0}, {"Type", "error"}});
  Response client = node.Post("/api/v0/fail?client=1");
  CHECK(client.status == 400);
  CHECK(json::parse(client.body)["Code"] == 1);
  Response missing = node.Post("/api/v0/fail?missing=1");
  CHECK(missing.status == 404);
  CHECK(json::parse(missing.body)["Code"] == 3);
  Response thrown = node.Post("/api/v0/throws");
  CHECK(thrown.status == 500);
  CHECK(json::parse(thrown.body)["Message"] == "internal error: handler bug");
}

TEST_CASE("a stream is flushed object by object; a late error goes in the trailer") {
  TestServer node;
  Client client(node.address);
  REQUIRE(client.connected());
  // Each object arrives on its own before the stream ends: read the head and the first chunk.
  client.Send(RequestText("POST", "/api/v0/stream?count=3"));
  Response r = client.Receive();
  REQUIRE(r.status == 200);
  CHECK(r.Header("x-chunked-output") == "1");
  CHECK(r.body == "{\"n\":3}\n{\"n\":2}\n{\"n\":1}\n");
  CHECK(r.trailers.empty());
  // The same connection carries the next request.
  client.Send(RequestText("POST", "/api/v0/stream?count=1&error=went%20wrong"));
  Response failed = client.Receive();
  CHECK(failed.status == 200);
  CHECK(failed.body == "{\"n\":1}\n");
  REQUIRE(failed.trailers.count("x-stream-error") == 1);
  CHECK(failed.trailers.find("x-stream-error")->second == "went wrong");
}

TEST_CASE("a client that leaves mid-stream cancels the command") {
  TestServer node;
  {
    Client client(node.address);
    client.Send(RequestText("POST", "/api/v0/stream?count=500"));
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
  }
  CHECK(Eventually([&] { return node.saw_cancel->load(); }, std::chrono::seconds(5)));
  // The server still answers others, and stops with nothing in flight.
  CHECK(node.Post("/api/v0/version").status == 200);
  Client streaming(node.address);
  streaming.Send(RequestText("POST", "/api/v0/stream?count=500"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  node.server->Stop();
  CHECK(streaming.WaitClosed(std::chrono::seconds(5)));
}

TEST_CASE("Stop does not wait for a command's pending timer") {
  TestServer node;
  Client client(node.address);
  client.Send(RequestText("POST", "/api/v0/slow"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(node.Post("/api/v0/version").status == 200);  // the server is up, the command running
  const auto start = std::chrono::steady_clock::now();
  node.server->Stop();
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  CHECK(client.WaitClosed(std::chrono::seconds(1)));
}

TEST_CASE("authorizations: a matching secret whose paths cover the request, else Kubo's 403") {
  TestServer node(
      {{"alice", "bearer:s3cret", {"/api/v0/echo"}}, {"bob", "basic:bob:pw", {"/api/v0"}}});
  const std::string denied =
      "Kubo RPC Access Denied: Please provide a valid authorization token as defined in the "
      "API.Authorizations configuration.\n";
  Response none = node.Post("/api/v0/echo?arg=x");
  CHECK(none.status == 403);
  CHECK(none.body == denied);
  CHECK(node.Post("/api/v0/echo?arg=x", {"Authorization: Bearer wrong"}).status == 403);
  CHECK(node.Post("/api/v0/echo?arg=x", {"Authorization: Bearer s3cret"}).status == 200);
  CHECK(node.Post("/api/v0/stream", {"Authorization: Bearer s3cret"}).status == 403);
  CHECK(node.Post("/api/v0/version", {"Authorization: Bearer s3cret"}).status == 200);
  CHECK(node.Post("/api/v0/stream?count=1", {"Authorization: Basic Ym9iOnB3"}).status == 200);
  // Even a GET needs the secret first, as in Kubo where the check wraps the whole API.
  CHECK(Fetch(node.address, "GET", "/api/v0/version").status == 403);

  node.server->SetAuthorizations({{"carol", "bearer:new", {"/api/v0"}}});
  CHECK(node.Post("/api/v0/echo?arg=x", {"Authorization: Bearer s3cret"}).status == 403);
  CHECK(node.Post("/api/v0/echo?arg=x", {"Authorization: Bearer new"}).status == 200);
  node.server->SetAuthorizations({});
  CHECK(node.Post("/api/v0/echo?arg=x").status == 200);
}

TEST_CASE("oversized or malformed requests get a clear status, never a crash") {
  TestServer node;
  Response big = node.Post("/api/v0/version", {"X-Big: " + std::string(20000, 'a')});
  CHECK(big.status == 431);
  Client garbage(node.address);
  garbage.Send("NOT HTTP AT ALL\r\n\r\n");
  CHECK(garbage.Receive().status == 400);
  Client body(node.address);
  body.Send("POST /api/v0/version HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n");
  CHECK(body.Receive().status == 413);
  CHECK(node.Post("/api/v0/version").status == 200);
}
