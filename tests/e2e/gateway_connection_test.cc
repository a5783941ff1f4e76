// The gateway's connection handling in the real binary, on 127.0.0.1 with raw sockets: deep
// pipelines, HTTP/1.0 framing, the header timeout of a silent connection, CORS, and a second
// node on a port already taken.
#include <doctest/doctest.h>

#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "format/car.h"
#include "support/car_fixture.h"
#include "support/gateway_node.h"
#include "support/http_client.h"
#include "support/node_process.h"
#include "support/temp_dir.h"

namespace boxcar::testing {
namespace {

using nlohmann::json;

const std::string kMissingRaw =
    "/ipfs/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy?format=raw";

// `count` minimal GETs of `target` for one write (short, so that many fit in one read of the
// server); the last one with `last_header`.
std::string Batch(size_t count, const std::string& target, const std::string& last_header = "") {
  const std::string request = "GET " + target + " HTTP/1.1\r\n";
  std::string batch;
  for (size_t i = 0; i + 1 < count; ++i) batch += request + "\r\n";
  return batch + request + last_header + "\r\n";
}

// Reads `count` responses; how many came back with `status` before the first other one.
size_t ReceiveAll(Client& client, size_t count, int status) {
  for (size_t i = 0; i < count; ++i) {
    const Response r = client.Receive();
    if (r.status != status) {
      MESSAGE("response " << i << ": " << r.status << " " << r.error << r.body);
      return i;
    }
  }
  return count;
}

}  // namespace

TEST_CASE("gateway: deep pipelines resume as the responses ahead of them leave") {
  TempDir dir;
  NodeProcess node(dir.Write("boxcar.json", GatewayNodeConfig(dir).dump(2)));
  REQUIRE(node.WaitReady());
  ImportFixture(node, "gateway-raw-block.car");
  const std::string root = LoadFixture("gateway-raw-block.car").root().ToString();
  const auto timeout = std::chrono::seconds(5);

  SUBCASE("70 raw requests in one write get 70 responses") {
    Client client(node.gateway(), timeout);
    REQUIRE(client.Send(Batch(70, "/ipfs/bafkqaaa?format=raw")));
    CHECK(ReceiveAll(client, 70, 200) == 70);
  }
  SUBCASE("65 requests, the last with Connection: close, then the connection closes") {
    Client client(node.gateway(), timeout);
    REQUIRE(client.Send(Batch(65, "/ipfs/bafkqaaa?format=raw", "Connection: close\r\n")));
    CHECK(ReceiveAll(client, 65, 200) == 65);
    CHECK(client.WaitClosed(timeout));
  }
  SUBCASE("100 pipelined CAR requests get 100 CARs") {
    Client client(node.gateway(), timeout);
    REQUIRE(client.Send(Batch(100, "/ipfs/" + root + "?format=car")));
    CHECK(ReceiveAll(client, 100, 200) == 100);
  }
  SUBCASE("100 pipelined 404s get 100 answers") {
    Client client(node.gateway(), timeout);
    REQUIRE(client.Send(Batch(100, kMissingRaw)));
    CHECK(ReceiveAll(client, 100, 404) == 100);
  }
  SUBCASE("300 pipelined 404s, more bytes than the read buffer holds, get 300 answers") {
    Client client(node.gateway(), timeout);
    REQUIRE(client.Send(Batch(300, kMissingRaw)));
    CHECK(ReceiveAll(client, 300, 404) == 300);
  }
}

TEST_CASE("gateway: an HTTP/1.0 client gets a CAR delimited by the close, never chunked") {
  TempDir dir;
  NodeProcess node(dir.Write("boxcar.json", GatewayNodeConfig(dir).dump(2)));
  REQUIRE(node.WaitReady());
  ImportFixture(node, "subdir-with-mixed-block-files.car");
  const CarContents f = LoadFixture("subdir-with-mixed-block-files.car");
  const std::string target = "/ipfs/" + f.root().ToString() + "?format=car";
  for (const std::string connection : {"", "Connection: keep-alive\r\n"}) {
    INFO("extra header: " << connection);
    Client client(node.gateway(), std::chrono::seconds(5));
    REQUIRE(client.Send("GET " + target + " HTTP/1.0\r\n" + connection + "\r\n"));
    const Response r = client.Receive();
    REQUIRE(r.status == 200);
    CHECK_FALSE(r.Has("transfer-encoding"));
    CHECK_FALSE(r.Has("trailer"));
    CHECK(r.Header("connection") == "close");
    CHECK(r.close_delimited);
    std::istringstream in(r.body);
    CHECK(ReadCar(in).blocks.size() == f.blocks.size());
    CHECK(client.WaitClosed(std::chrono::seconds(2)));
  }
  // A raw block keeps its Content-Length.
  Client client(node.gateway(), std::chrono::seconds(5));
  REQUIRE(client.Send("GET /ipfs/bafkqaaa?format=raw HTTP/1.0\r\n\r\n"));
  const Response raw = client.Receive();
  CHECK(raw.status == 200);
  CHECK(raw.Header("content-length") == "0");
}

TEST_CASE("gateway: a connection that sends no whole header is closed at header_timeout_ms") {
  TempDir dir;
  json config = GatewayNodeConfig(dir);
  config["gateway"].update({{"header_timeout_ms", 300}, {"idle_timeout_ms", 8000}});
  NodeProcess node(dir.Write("boxcar.json", config.dump(2)));
  REQUIRE(node.WaitReady());
  Client silent(node.gateway());
  Client request_line_only(node.gateway());
  REQUIRE(request_line_only.Send("GET /ipfs/bafkqaaa?format=raw HTTP/1.1\r\n"));
  CHECK(silent.WaitClosed(std::chrono::seconds(2)));
  CHECK(request_line_only.WaitClosed(std::chrono::seconds(2)));
  // After a response, the keep-alive connection waits idle_timeout_ms for its next request.
  Client kept(node.gateway());
  REQUIRE(kept.Send(RequestText("GET", "/ipfs/bafkqaaa?format=raw")));
  CHECK(kept.Receive().status == 200);
  CHECK_FALSE(kept.WaitClosed(std::chrono::seconds(1)));
  REQUIRE(kept.Send(RequestText("GET", "/ipfs/bafkqaaa?format=raw")));
  CHECK(kept.Receive().status == 200);
}

TEST_CASE("gateway: a second node on the same gateway port fails with address in use") {
  TempDir dir;
  NodeProcess first(dir.Write("boxcar.json", GatewayNodeConfig(dir).dump(2)));
  REQUIRE(first.WaitReady());
  TempDir other;
  json config = GatewayNodeConfig(other);
  config["gateway"]["listen"] = first.gateway();
  const CommandResult second = RunCommand({BoxcarBinary().string(), "run", "--config",
                                           other.Write("boxcar.json", config.dump(2)).string()},
                                          std::chrono::seconds(20));
  CHECK(second.exit_code == 1);
  const std::string& output = second.out;
  CHECK_MESSAGE(output.find("ddress already in use") != std::string::npos, output);
  CHECK_MESSAGE(output.find(first.gateway()) != std::string::npos, output);
  // Every connection still reaches the first node.
  for (int i = 0; i < 20; ++i) {
    CHECK(Fetch(first.gateway(), "GET", "/ipfs/bafkqaaa?format=raw").status == 200);
  }
}

TEST_CASE("gateway: CORS headers on every response, and OPTIONS preflights") {
  TempDir dir;
  NodeProcess node(dir.Write("boxcar.json", GatewayNodeConfig(dir).dump(2)));
  REQUIRE(node.WaitReady());
  ImportFixture(node, "gateway-raw-block.car");
  const std::string root = LoadFixture("gateway-raw-block.car").root().ToString();
  const std::vector<std::string> origin = {"Origin: https://example.com"};
  for (const std::string& target :
       {"/ipfs/" + root + "?format=raw", "/ipfs/" + root + "?format=car", kMissingRaw}) {
    INFO(target);
    const Response r = Fetch(node.gateway(), "GET", target, origin);
    CHECK(r.status != 0);
    CHECK(r.Header("access-control-allow-origin") == "*");
    const std::string exposed = r.Header("access-control-expose-headers");
    for (const char* name : {"Content-Length", "Content-Range", "X-Chunked-Output",
                             "X-Stream-Output", "X-Ipfs-Path", "X-Ipfs-Roots", "Etag"}) {
      CHECK_MESSAGE(exposed.find(name) != std::string::npos, name << " in " << exposed);
    }
  }
  const Response preflight =
      Fetch(node.gateway(), "OPTIONS", "/ipfs/" + root + "?format=raw",
            {"Origin: https://example.com", "Access-Control-Request-Method: GET",
             "Access-Control-Request-Headers: Range"});
  CHECK(preflight.status == 204);
  CHECK(preflight.body.empty());
  CHECK(preflight.Header("access-control-allow-origin") == "*");
  CHECK(preflight.Header("access-control-allow-methods") == "GET, HEAD, OPTIONS");
  CHECK(preflight.Header("access-control-allow-headers") ==
        "Content-Type, Range, User-Agent, X-Requested-With");
  CHECK(std::atoi(preflight.Header("access-control-max-age").c_str()) > 0);
  CHECK(Fetch(node.gateway(), "POST", "/ipfs/" + root).Header("allow") == "GET, HEAD, OPTIONS");
}

}  // namespace boxcar::testing
