// The admin endpoint's timeouts in the real binary: a silent connection, a body trickled byte by
// byte, and an idle keep-alive connection are closed at admin.*_timeout_ms, while a prompt
// client is served.
#include <doctest/doctest.h>

#include <thread>

#include <nlohmann/json.hpp>

#include "support/gateway_node.h"
#include "support/http_client.h"
#include "support/node_process.h"
#include "support/temp_dir.h"

namespace boxcar::testing {

TEST_CASE("admin: silent, trickling and idle connections are closed at the admin timeouts") {
  TempDir dir;
  nlohmann::json config = GatewayNodeConfig(dir);
  config["admin"].update(
      {{"header_timeout_ms", 500}, {"body_timeout_ms", 1000}, {"idle_timeout_ms", 700}});
  NodeProcess node(dir.Write("boxcar.json", config.dump(2)));
  REQUIRE(node.WaitReady());
  const auto start = std::chrono::steady_clock::now();
  Client silent(node.admin());
  Client trickle(node.admin());
  REQUIRE(trickle.Send("POST /admin/import HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"));
  bool trickle_closed = false;
  for (int i = 0; i < 30 && !trickle_closed; ++i) {  // one byte each 100 ms: 10 B/s
    trickle.Send("x");
    trickle_closed = trickle.WaitClosed(std::chrono::milliseconds(100));
  }
  CHECK(trickle_closed);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
  CHECK(silent.WaitClosed(std::chrono::seconds(1)));

  Client kept(node.admin());
  REQUIRE(kept.Send(RequestText("GET", "/healthz")));
  CHECK(kept.Receive().status == 200);
  CHECK(kept.WaitClosed(std::chrono::seconds(2)));  // idle past admin.idle_timeout_ms
  CHECK(HttpRequest(node.admin(), "GET", "/healthz").status == 200);
}

TEST_CASE("admin: timeouts out of range are refused with the key") {
  TempDir dir;
  nlohmann::json config = GatewayNodeConfig(dir);
  config["admin"]["body_timeout_ms"] = 0;
  const CommandResult r = RunCommand(
      {BoxcarBinary().string(), "check-config", dir.Write("boxcar.json", config.dump(2)).string()});
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.out.find("/admin/body_timeout_ms") != std::string::npos, r.out);
}

}  // namespace boxcar::testing
