#include "admin/admin_server.h"

#include <chrono>
#include <future>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boxcar::admin::AdminServer;
using boxcar::admin::HttpRequest;
using boxcar::admin::HttpResponse;

// Bounds every client operation so a server bug fails the test instead of hanging it.
constexpr auto kClientTimeout = std::chrono::seconds(10);

unsigned short PortOf(const std::string& bound_address) {
  return static_cast<unsigned short>(
      std::stoul(bound_address.substr(bound_address.rfind(':') + 1)));
}

HttpResponse Text(std::string body) {
  HttpResponse response;
  response.content_type = "text/plain";
  response.body = std::move(body);
  return response;
}

std::string ErrorOf(const http::response<http::string_body>& response) {
  return nlohmann::json::parse(response.body()).at("error").get<std::string>();
}

// A blocking HTTP client on one connection, built on async operations so each has a timeout.
class Client {
 public:
  explicit Client(const AdminServer& server) : stream_(ioc_) {
    stream_.expires_after(kClientTimeout);
    stream_.connect(
        tcp::endpoint(asio::ip::address_v4::loopback(), PortOf(server.bound_address())));
  }

  http::response<http::string_body> Send(
      http::verb method, const std::string& target, std::string body = "",
      const std::vector<std::pair<http::field, std::string>>& headers = {}) {
    http::request<http::string_body> request(method, target, 11);
    request.set(http::field::host, "127.0.0.1");
    for (const auto& [field, value] : headers) request.set(field, value);
    request.body() = std::move(body);
    request.prepare_payload();
    beast::error_code result;
    stream_.expires_after(kClientTimeout);
    http::async_write(stream_, request, [&](beast::error_code ec, std::size_t) { result = ec; });
    Run();
    if (result) throw beast::system_error(result);
    return Read();
  }

  void WriteRaw(const std::string& bytes) {
    beast::error_code result;
    stream_.expires_after(kClientTimeout);
    asio::async_write(stream_, asio::buffer(bytes),
                      [&](beast::error_code ec, std::size_t) { result = ec; });
    Run();
    if (result) throw beast::system_error(result);
  }

  template <class Body = http::string_body>
  http::response<Body> Read() {
    http::response<Body> response;
    beast::error_code result;
    stream_.expires_after(kClientTimeout);
    http::async_read(stream_, buffer_, response,
                     [&](beast::error_code ec, std::size_t) { result = ec; });
    Run();
    if (result) throw beast::system_error(result);
    return response;
  }

  // True when the server closed the connection (rather than leaving it open until the timeout).
  bool ServerClosed() {
    char byte = 0;
    beast::error_code result;
    stream_.expires_after(kClientTimeout);
    stream_.async_read_some(asio::buffer(&byte, 1),
                            [&](beast::error_code ec, std::size_t) { result = ec; });
    Run();
    return result == asio::error::eof || result == asio::error::connection_reset;
  }

 private:
  void Run() {
    ioc_.restart();
    ioc_.run();
  }

  asio::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

// A started server on an ephemeral loopback port with a few routes.
struct Fixture {
  explicit Fixture(std::string token = "", std::size_t body_limit = AdminServer::kDefaultBodyLimit)
      : server("127.0.0.1:0", std::move(token), body_limit) {
    server.Handle(
        "GET", "/hello", [](const HttpRequest&) { return Text("hi"); }, false);
    server.Handle(
        "POST", "/echo",
        [](const HttpRequest& request) {
          HttpResponse response;
          response.body =
              nlohmann::json{{"method", request.method}, {"target", request.target},
                             {"path", request.path},     {"query", request.query},
                             {"body", request.body},     {"remote", request.remote_address}}
                  .dump();
          response.headers.emplace_back("X-Echo", "yes");
          return response;
        },
        false);
    server.Handle(
        "GET", "/secret", [](const HttpRequest&) { return Text("classified"); }, true);
    server.Handle(
        "GET", "/peer", [](const HttpRequest& request) { return Text(request.remote_address); },
        false);
    server.Handle(
        "GET", "/boom",
        [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("kaboom \"quoted\""); },
        false);
    REQUIRE(server.Start().ok());
  }

  AdminServer server;
};

TEST_CASE("bound_address reports the real port after Start") {
  AdminServer server("127.0.0.1:0", "");
  CHECK(server.bound_address().empty());
  REQUIRE(server.Start().ok());
  const std::string bound = server.bound_address();
  CHECK(bound.rfind("127.0.0.1:", 0) == 0);
  CHECK(PortOf(bound) != 0);
}

TEST_CASE("routes a request and passes method, target, path, query and body") {
  Fixture f;
  Client client(f.server);
  const auto response = client.Send(http::verb::post, "/echo?slot=cache&x=1", "payload");
  CHECK(response.result_int() == 200);
  CHECK(response[http::field::content_type] == "application/json");
  CHECK(response["X-Echo"] == "yes");
  const auto seen = nlohmann::json::parse(response.body());
  CHECK(seen["method"] == "POST");
  CHECK(seen["target"] == "/echo?slot=cache&x=1");
  CHECK(seen["path"] == "/echo");
  CHECK(seen["query"] == "slot=cache&x=1");
  CHECK(seen["body"] == "payload");
  CHECK(seen["remote"].get<std::string>().rfind("127.0.0.1:", 0) == 0);

  const auto hello = client.Send(http::verb::get, "/hello");
  CHECK(hello.body() == "hi");
  CHECK(hello[http::field::content_type] == "text/plain");
}

TEST_CASE("unknown path is 404 and unknown method on a known path is 405 with Allow") {
  Fixture f;
  f.server.Handle(
      "PUT", "/hello", [](const HttpRequest&) { return Text("put"); }, false);
  Client client(f.server);

  const auto missing = client.Send(http::verb::get, "/x");
  CHECK(missing.result_int() == 404);
  CHECK(ErrorOf(missing) == "no route for GET /x");

  const auto wrong_method = client.Send(http::verb::delete_, "/hello");
  CHECK(wrong_method.result_int() == 405);
  CHECK(wrong_method[http::field::allow] == "GET, PUT");
  CHECK(ErrorOf(wrong_method).find("DELETE") != std::string::npos);

  // Refusals of bodiless requests keep the connection usable.
  CHECK(client.Send(http::verb::put, "/hello").body() == "put");
}

TEST_CASE("a configured token is required on routes that need it") {
  Fixture f("s3cret");
  Client client(f.server);

  const auto missing = client.Send(http::verb::get, "/secret");
  CHECK(missing.result_int() == 401);
  CHECK(missing[http::field::www_authenticate] == "Bearer");
  CHECK(ErrorOf(missing).find("token") != std::string::npos);

  const auto wrong =
      client.Send(http::verb::get, "/secret", "", {{http::field::authorization, "Bearer s3cre"}});
  CHECK(wrong.result_int() == 401);
  const auto longer =
      client.Send(http::verb::get, "/secret", "", {{http::field::authorization, "Bearer s3cretX"}});
  CHECK(longer.result_int() == 401);
  const auto wrong_scheme =
      client.Send(http::verb::get, "/secret", "", {{http::field::authorization, "Basic s3cret"}});
  CHECK(wrong_scheme.result_int() == 401);

  const auto accepted =
      client.Send(http::verb::get, "/secret", "", {{http::field::authorization, "Bearer s3cret"}});
  CHECK(accepted.result_int() == 200);
  CHECK(accepted.body() == "classified");
  const auto any_case =
      client.Send(http::verb::get, "/secret", "", {{http::field::authorization, "bearer s3cret"}});
  CHECK(any_case.result_int() == 200);

  // Routes that do not need the token stay open.
  CHECK(client.Send(http::verb::get, "/hello").result_int() == 200);
}

TEST_CASE("no token is needed when none is configured") {
  Fixture f;
  Client client(f.server);
  const auto response = client.Send(http::verb::get, "/secret");
  CHECK(response.result_int() == 200);
  CHECK(response.body() == "classified");
}

TEST_CASE("keep-alive serves two requests on one connection") {
  Fixture f;
  Client client(f.server);
  const auto first = client.Send(http::verb::get, "/peer");
  const auto second = client.Send(http::verb::get, "/peer");
  CHECK(first.result_int() == 200);
  CHECK(first.keep_alive());
  // The same client port both times means the same TCP connection.
  CHECK(second.body() == first.body());
}

TEST_CASE("bodies over the limit are refused with 413") {
  Fixture f("", 1024);
  f.server.Handle(
      "POST", "/upload",
      [](const HttpRequest& request) { return Text(std::to_string(request.body.size())); }, false);

  SUBCASE("a body at the limit is accepted") {
    Client client(f.server);
    const auto response = client.Send(http::verb::post, "/upload", std::string(1024, 'a'));
    CHECK(response.result_int() == 200);
    CHECK(response.body() == "1024");
  }
  SUBCASE("a body over the limit gets 413 and the connection closes") {
    Client client(f.server);
    const auto response = client.Send(http::verb::post, "/upload", std::string(4096, 'a'));
    CHECK(response.result_int() == 413);
    CHECK(ErrorOf(response).find("1024") != std::string::npos);
    CHECK_FALSE(response.keep_alive());
    CHECK(client.ServerClosed());
  }
  SUBCASE("a chunked body over the limit gets 413") {
    Client client(f.server);
    client.WriteRaw(
        "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "800\r\n" +
        std::string(0x800, 'b') + "\r\n0\r\n\r\n");
    CHECK(client.Read().result_int() == 413);
  }
  SUBCASE("Expect: 100-continue gets 100 before the body, or 413 without it") {
    Client client(f.server);
    client.WriteRaw(
        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    CHECK(client.Read<http::empty_body>().result() == http::status::continue_);
    client.WriteRaw("hello");
    const auto accepted = client.Read();
    CHECK(accepted.result_int() == 200);
    CHECK(accepted.body() == "5");

    Client refused(f.server);
    refused.WriteRaw(
        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\nExpect: 100-continue\r\n\r\n");
    CHECK(refused.Read().result_int() == 413);
  }
}

TEST_CASE("oversized headers get 431 and malformed requests get 400") {
  Fixture f;
  Client big(f.server);
  big.WriteRaw("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20 * 1024, 'h') +
               "\r\n\r\n");
  CHECK(big.Read().result_int() == 431);

  Client garbage(f.server);
  garbage.WriteRaw("GET /hello HTTP/9\r\n\r\n");
  CHECK(garbage.Read().result_int() == 400);
}

TEST_CASE("a throwing handler becomes a 500 and the server keeps serving") {
  Fixture f;
  Client client(f.server);
  const auto failed = client.Send(http::verb::get, "/boom");
  CHECK(failed.result_int() == 500);
  CHECK(ErrorOf(failed) == "kaboom \"quoted\"");
  CHECK(client.Send(http::verb::get, "/hello").body() == "hi");
  Client another(f.server);
  CHECK(another.Send(http::verb::get, "/hello").result_int() == 200);
}

TEST_CASE("Stop returns promptly with idle clients connected and closes their connections") {
  Fixture f;
  Client used(f.server);
  REQUIRE(used.Send(http::verb::get, "/hello").result_int() == 200);
  Client silent(f.server);
  // Make sure the silent connection has been accepted before stopping.
  Client probe(f.server);
  REQUIRE(probe.Send(http::verb::get, "/hello").result_int() == 200);

  const auto start = std::chrono::steady_clock::now();
  f.server.Stop();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // Idle connections must not wait out the 2 s grace given to requests in flight.
  CHECK(elapsed < std::chrono::milliseconds(1500));
  CHECK(used.ServerClosed());
  CHECK(silent.ServerClosed());
  f.server.Stop();  // idempotent
}

TEST_CASE("Stop lets a request in flight finish") {
  AdminServer server("127.0.0.1:0", "");
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  server.Handle(
      "GET", "/slow",
      [&](const HttpRequest&) {
        entered.set_value();
        released.wait();
        return Text("done");
      },
      false);
  REQUIRE(server.Start().ok());

  Client client(server);
  client.WriteRaw("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  entered.get_future().wait();
  auto stopped = std::async(std::launch::async, [&] { server.Stop(); });
  release.set_value();
  const auto response = client.Read();
  CHECK(response.result_int() == 200);
  CHECK(response.body() == "done");
  stopped.get();
}

TEST_CASE("Start reports the address when it cannot listen") {
  Fixture f;
  AdminServer second(f.server.bound_address(), "");
  const boxcar::Status in_use = second.Start();
  CHECK_FALSE(in_use.ok());
  CHECK(in_use.message().find(f.server.bound_address()) != std::string::npos);

  AdminServer malformed("no-port-here", "");
  const boxcar::Status invalid = malformed.Start();
  CHECK(invalid.code() == boxcar::Status::Code::kInvalidArgument);
  CHECK(invalid.message().find("no-port-here") != std::string::npos);

  CHECK_FALSE(f.server.Start().ok());  // only the first Start succeeds
}

}  // namespace
