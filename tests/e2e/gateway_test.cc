// The trustless gateway of the real binary on 127.0.0.1: fixtures imported over POST
// /admin/import, then fetched as raw blocks and CAR streams, with the headers, status codes,
// block orders, pipelining, limits and draining the spec and the issue ask for.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "format/car.h"
#include "format/cid.h"
#include "format/walk.h"
#include "support/car_fixture.h"
#include "support/gateway_node.h"
#include "support/http_client.h"
#include "support/node_process.h"
#include "support/temp_dir.h"

namespace boxcar::testing {
namespace {

using format::Cid;
using nlohmann::json;
namespace fs = std::filesystem;

// The CIDs of a CAR response body, in order, after its header (each block verified).
std::vector<std::string> CarBlockOrder(const std::string& car, std::vector<Cid>* roots = nullptr) {
  std::istringstream in(car);
  const CarContents contents = ReadCar(in);
  if (roots) *roots = contents.roots;
  return contents.CidStrings();
}

// The order the spec prescribes (dfs), from the fixture's own blocks.
std::vector<std::string> ExpectedOrder(const CarContents& f, format::DagScope scope, bool dups) {
  std::map<std::string, std::string> by_cid;
  for (const auto& [cid, data] : f.blocks) by_cid[cid.bytes()] = data;
  std::vector<std::string> order;
  format::WalkOptions options;
  options.scope = scope;
  options.dups = dups;
  format::Walk(
      f.root(), options,
      [&](const Cid& cid, std::string* data) {
        auto it = by_cid.find(cid.bytes());
        if (it == by_cid.end()) return Status::NotFound("missing");
        *data = it->second;
        return Status::OK();
      },
      [&](const Cid& cid, std::string_view) {
        order.push_back(cid.ToString());
        return Status::OK();
      });
  return order;
}

const char* kAllFixtures[] = {"gateway-raw-block.car",
                              "subdir-with-two-single-block-files.car",
                              "subdir-with-mixed-block-files.car",
                              "single-layer-hamt-with-multi-block-files.car",
                              "dir-with-duplicate-files.car",
                              "dir-with-dag-cbor-with-links.car",
                              "file-3k-and-3-blocks-missing-block.car",
                              "dag-pb.car"};

const std::string kRawAccept = "Accept: application/vnd.ipld.raw";

}  // namespace

TEST_CASE("gateway: every fixture block as raw, CARs in spec order, headers and status codes") {
  TempDir dir;
  NodeProcess node(dir.Write("boxcar.json", GatewayNodeConfig(dir).dump(2)));
  REQUIRE(node.WaitReady());
  for (const char* name : kAllFixtures) ImportFixture(node, name);

  SUBCASE("raw blocks on one keep-alive connection, with the spec's headers") {
    Client client(node.gateway());
    size_t served = 0;
    for (const char* name : kAllFixtures) {
      const CarContents f = LoadFixture(name);
      for (const auto& [cid, data] : f.blocks) {
        const std::string text = cid.ToString();
        client.Send(RequestText("GET", "/ipfs/" + text + "?format=raw"));
        const Response r = client.Receive();
        REQUIRE_MESSAGE(r.status == 200, text << " " << r.error << r.body);
        CHECK(r.body == data);
        CHECK(r.Header("content-type") == "application/vnd.ipld.raw");
        CHECK(r.Header("content-length") == std::to_string(data.size()));
        CHECK(r.Header("cache-control") == "public, max-age=29030400, immutable");
        CHECK(r.Header("x-content-type-options") == "nosniff");
        CHECK(r.Header("etag") == "\"" + text + ".raw\"");
        CHECK(r.Header("x-ipfs-path") == "/ipfs/" + text);
        CHECK(r.Header("content-disposition").find("attachment") != std::string::npos);
        CHECK_FALSE(r.Has("content-location"));  // the format came from the URL
        ++served;
      }
    }
    CHECK(served > 280);
  }

  SUBCASE("Accept chooses raw and sets Content-Location; HEAD sends the headers only") {
    const CarContents f = LoadFixture("gateway-raw-block.car");
    const std::string cid = f.blocks[1].first.ToString();
    Response r = Fetch(node.gateway(), "GET", "/ipfs/" + cid, {kRawAccept});
    CHECK(r.status == 200);
    CHECK(r.body == f.blocks[1].second);
    CHECK(r.Header("content-location") == "/ipfs/" + cid + "?format=raw");
    r = Fetch(node.gateway(), "HEAD", "/ipfs/" + cid + "?format=raw");
    CHECK(r.status == 200);
    CHECK(r.body.empty());
    CHECK(r.Header("content-length") == std::to_string(f.blocks[1].second.size()));
  }

  SUBCASE("CAR responses follow dfs order for each dag-scope, with dups as asked") {
    for (const char* name : kAllFixtures) {
      if (std::string(name) == "file-3k-and-3-blocks-missing-block.car") continue;
      const CarContents f = LoadFixture(name);
      const std::string root = f.root().ToString();
      for (const char* scope : {"all", "entity", "block"}) {
        format::DagScope parsed;
        REQUIRE(format::ParseDagScope(scope, &parsed).ok());
        for (bool dups : {false, true}) {
          const std::string target = "/ipfs/" + root + "?format=car&dag-scope=" + scope +
                                     "&car-dups=" + (dups ? "y" : "n");
          const Response r = Fetch(node.gateway(), "GET", target);
          INFO(name << " " << target);
          REQUIRE(r.status == 200);
          CHECK(r.Header("content-type") ==
                std::string("application/vnd.ipld.car; version=1; order=dfs; dups=") +
                    (dups ? "y" : "n"));
          CHECK(r.Header("accept-ranges") == "none");
          CHECK(r.Header("x-content-type-options") == "nosniff");
          CHECK_FALSE(r.Has("content-length"));
          CHECK(r.trailers.count("x-stream-error") == 0);
          std::vector<Cid> roots;
          CHECK(CarBlockOrder(r.body, &roots) == ExpectedOrder(f, parsed, dups));
          REQUIRE(roots.size() == 1);
          CHECK(roots[0] == f.root());
        }
      }
    }
  }

  SUBCASE("a CAR through a path includes the blocks that resolve it") {
    const CarContents f = LoadFixture("subdir-with-two-single-block-files.car");
    const Response r = Fetch(node.gateway(), "GET",
                             "/ipfs/" + f.root().ToString() + "/subdir/ascii.txt?format=car");
    REQUIRE(r.status == 200);
    const std::vector<std::string> order = CarBlockOrder(r.body);
    REQUIRE(order.size() == 3);  // root directory, subdir, the file
    CHECK(order[0] == f.root().ToString());
    CHECK(r.Header("x-ipfs-roots").find(f.root().ToString()) == 0);
  }

  SUBCASE("an incomplete DAG ends the stream with an X-Stream-Error trailer") {
    const CarContents f = LoadFixture("file-3k-and-3-blocks-missing-block.car");
    const Response r = Fetch(node.gateway(), "GET", "/ipfs/" + f.root().ToString() + "?format=car");
    REQUIRE(r.status == 200);
    REQUIRE(r.trailers.count("x-stream-error") == 1);
    CHECK(r.trailers.find("x-stream-error")->second.find("missing") != std::string::npos);
    CHECK(r.Header("trailer").find("X-Stream-Error") != std::string::npos);
    const std::vector<std::string> order = CarBlockOrder(r.body);
    CHECK(order.size() == 2);  // the root and the first leaf come before the hole
  }

  SUBCASE("status codes: 400, 404, 405, 406, 412, 304, 431 and the bafkqaaa probe") {
    const std::string gw = node.gateway();
    Response r = Fetch(gw, "GET", "/ipfs/bafkreinotacid?format=raw");
    CHECK(r.status == 400);
    CHECK(r.body.find("bafkreinotacid") != std::string::npos);
    r = Fetch(gw, "GET",
              "/ipfs/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy?format=raw");
    CHECK(r.status == 404);
    r = Fetch(gw, "GET",
              "/ipfs/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy?format=raw",
              {"Cache-Control: only-if-cached"});
    CHECK(r.status == 412);
    const CarContents f = LoadFixture("gateway-raw-block.car");
    r = Fetch(gw, "GET", "/ipfs/" + f.root().ToString() + "?format=dag-json");
    CHECK(r.status == 406);
    r = Fetch(gw, "GET", "/ipfs/" + f.root().ToString(),
              {"Accept: application/vnd.ipld.car; version=2"});
    CHECK(r.status == 406);
    r = Fetch(gw, "GET", "/ipfs/" + f.root().ToString() + "?format=car&dag-scope=nope");
    CHECK(r.status == 400);
    r = Fetch(gw, "GET", "/ipfs/" + f.root().ToString() + "?format=raw",
              {"If-None-Match: \"" + f.root().ToString() + ".raw\""});
    CHECK(r.status == 304);
    CHECK(r.body.empty());
    r = Fetch(gw, "POST", "/ipfs/" + f.root().ToString() + "?format=raw");
    CHECK(r.status == 405);
    CHECK(r.Header("allow") == "GET, HEAD, OPTIONS");
    r = Fetch(gw, "GET", "/ipfs/bafkqaaa?format=raw");
    CHECK(r.status == 200);
    CHECK(r.body.empty());
    r = Fetch(gw, "GET", "/ipfs/" + f.root().ToString() + "?format=raw",
              {"X-Padding: " + std::string(20000, 'a')});
    CHECK(r.status == 431);
  }

  SUBCASE("16 pipelined requests in one write come back in order") {
    const CarContents f = LoadFixture("subdir-with-mixed-block-files.car");
    std::string batch;
    std::vector<const std::pair<Cid, std::string>*> asked;
    for (size_t i = 0; i < 16; ++i) {
      const auto& block = f.blocks[i % f.blocks.size()];
      batch += RequestText(i % 5 == 4 ? "HEAD" : "GET",
                           "/ipfs/" + block.first.ToString() + "?format=raw");
      asked.push_back(&block);
    }
    Client client(node.gateway());
    REQUIRE(client.Send(batch));
    for (size_t i = 0; i < 16; ++i) {
      const bool head = i % 5 == 4;
      const Response r = client.Receive(head);
      REQUIRE(r.status == 200);
      CHECK(r.Header("etag") == "\"" + asked[i]->first.ToString() + ".raw\"");
      if (!head) CHECK(r.body == asked[i]->second);
    }
  }

  SUBCASE("the gateway's work shows in Prometheus text") {
    Fetch(node.gateway(), "GET", "/ipfs/bafkqaaa?format=raw");
    const std::string metrics = HttpRequest(node.admin(), "GET", "/metrics").body;
    CHECK(metrics.find("boxcar_gateway_responses_total{code=\"200\"}") != std::string::npos);
    CHECK(metrics.find("boxcar_engine_tasks_total{class=\"interactive\",outcome=\"served\"}") !=
          std::string::npos);
    CHECK(metrics.find("boxcar_engine_peer_budget_bytes") != std::string::npos);
  }
}

TEST_CASE("gateway: a bad CAR on /admin/import is refused with the reason and pins nothing") {
  TempDir dir;
  NodeProcess node(dir.Write("boxcar.json", GatewayNodeConfig(dir).dump(2)));
  REQUIRE(node.WaitReady());
  std::string car = ReadWholeFile(kFixtureDir / "dag-pb.car");
  car[car.size() - 3] ^= 0x40;  // a flipped bit in the last block
  const HttpResult r = HttpRequest(node.admin(), "POST", "/admin/import", car);
  CHECK(r.status == 400);
  CHECK(r.body.find("do not match CID") != std::string::npos);
  CHECK(r.body.find("bytes_read") != std::string::npos);
  const CarContents f = LoadFixture("dag-pb.car");
  // The root was pinned by nobody: the import refused the CAR before pinning.
  const json store = json::parse(HttpRequest(node.admin(), "GET", "/admin/store").body);
  CHECK(store.dump().find(f.root().ToString()) == std::string::npos);
}

TEST_CASE("gateway: base16 and base64url CIDs are served like their base32 form") {
  TempDir dir;
  NodeProcess node(dir.Write("boxcar.json", GatewayNodeConfig(dir).dump(2)));
  REQUIRE(node.WaitReady());
  ImportFixture(node, "subdir-with-mixed-block-files.car");
  const Cid root = LoadFixture("subdir-with-mixed-block-files.car").root();
  const Response raw = Fetch(node.gateway(), "GET", "/ipfs/" + root.ToString(), {kRawAccept});
  REQUIRE(raw.status == 200);
  const Response car = Fetch(node.gateway(), "GET", "/ipfs/" + root.ToString() + "?format=car");
  REQUIRE(car.status == 200);
  std::string upper16 = root.ToString(format::Multibase::kBase16);
  for (char& c : upper16) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& text : {root.ToString(format::Multibase::kBase16), upper16,
                                  root.ToString(format::Multibase::kBase64url)}) {
    CAPTURE(text);
    const Response r = Fetch(node.gateway(), "GET", "/ipfs/" + text, {kRawAccept});
    CHECK(r.status == 200);
    CHECK(r.body == raw.body);
    CHECK(r.Header("etag") == raw.Header("etag"));
    const Response c = Fetch(node.gateway(), "GET", "/ipfs/" + text + "?format=car");
    CHECK(c.status == 200);
    CHECK(c.body == car.body);
  }
}

TEST_CASE("gateway: slowloris clients are cut off while others are served") {
  TempDir dir;
  json config = GatewayNodeConfig(dir);
  config["gateway"].update({{"header_timeout_ms", 400}, {"idle_timeout_ms", 1500}});
  NodeProcess node(dir.Write("boxcar.json", config.dump(2)));
  REQUIRE(node.WaitReady());
  ImportFixture(node, "gateway-raw-block.car");
  const CarContents f = LoadFixture("gateway-raw-block.car");
  const std::string request = RequestText("GET", "/ipfs/" + f.root().ToString() + "?format=raw");

  std::vector<std::unique_ptr<Client>> slow;
  for (int i = 0; i < 20; ++i) {
    slow.push_back(std::make_unique<Client>(node.gateway()));
    REQUIRE(slow.back()->Send(request.substr(0, 10)));
  }
  // Dribble one byte each 100 ms: never a whole header.
  for (size_t step = 0; step < 3; ++step) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (auto& c : slow) c->Send(request.substr(10 + step, 1));
    const Response r = Fetch(node.gateway(), "GET", "/ipfs/" + f.root().ToString() + "?format=raw");
    CHECK(r.status == 200);
  }
  for (auto& c : slow) CHECK(c->WaitClosed(std::chrono::seconds(3)));
  Client idle(node.gateway());
  REQUIRE(idle.Send(request));
  CHECK(idle.Receive().status == 200);
  CHECK(idle.WaitClosed(std::chrono::seconds(4)));  // idle keep-alive past idle_timeout_ms
  const std::string metrics = HttpRequest(node.admin(), "GET", "/metrics").body;
  CHECK(metrics.find("boxcar_gateway_connections_closed_total{reason=\"header_timeout\"} 20") !=
        std::string::npos);
}

// The gateway reads a socket only when its epoll set reports new bytes, and that report comes
// once: a client that sends its requests and its FIN together must still get every answer and
// then the close, not wait for the idle timeout.
TEST_CASE(
    "gateway: a client that half-closes after pipelined requests gets every answer, then EOF") {
  TempDir dir;
  json config = GatewayNodeConfig(dir);
  config["gateway"].update({{"idle_timeout_ms", 30000}});
  NodeProcess node(dir.Write("boxcar.json", config.dump(2)));
  REQUIRE(node.WaitReady());
  ImportFixture(node, "gateway-raw-block.car");
  const CarContents f = LoadFixture("gateway-raw-block.car");
  const std::string request = RequestText("GET", "/ipfs/" + f.root().ToString() + "?format=raw");

  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port =
      htons(static_cast<uint16_t>(std::stoi(node.gateway().substr(node.gateway().rfind(':') + 1))));
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  const std::string three = request + request + request;
  REQUIRE(send(fd, three.data(), three.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(three.size()));
  REQUIRE(shutdown(fd, SHUT_WR) == 0);

  std::string received;
  bool closed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!closed && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char chunk[4096];
    const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) closed = true;
    if (n > 0) received.append(chunk, static_cast<size_t>(n));
  }
  close(fd);
  CHECK(closed);
  size_t answers = 0;
  for (size_t at = received.find("HTTP/1.1 200"); at != std::string::npos;
       at = received.find("HTTP/1.1 200", at + 1)) {
    ++answers;
  }
  CHECK(answers == 3);
}

TEST_CASE("gateway: SIGTERM finishes the response in flight and exits 0") {
  TempDir dir;
  NodeProcess node(dir.Write("boxcar.json", GatewayNodeConfig(dir).dump(2)));
  REQUIRE(node.WaitReady());
  ImportFixture(node, "single-layer-hamt-with-multi-block-files.car");
  const CarContents f = LoadFixture("single-layer-hamt-with-multi-block-files.car");
  Client client(node.gateway());
  // A keep-alive connection with a request in flight, and one idle connection.
  Client idle(node.gateway());
  REQUIRE(client.Send(RequestText("GET", "/ipfs/" + f.root().ToString() + "?format=car")));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the request is being served
  node.Signal(SIGTERM);
  const Response r = client.Receive();
  CHECK(r.status == 200);
  CHECK(CarBlockOrder(r.body).size() == f.blocks.size());
  CHECK(idle.WaitClosed(std::chrono::seconds(5)));
  CHECK(node.WaitExit() == 0);
}

}  // namespace boxcar::testing
