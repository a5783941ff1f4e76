// The configuration the gateway's end-to-end tests start the real binary with, and the fixture
// import they all begin with.
#pragma once

#include <doctest/doctest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "support/car_fixture.h"
#include "support/node_process.h"
#include "support/temp_dir.h"

namespace boxcar::testing {

// Admin and gateway on ephemeral loopback ports (2 I/O threads), the bundled fair prioritizer,
// adaptive batcher, watermark conn_manager and static tuner, and an lru over a leveldb tier in
// `dir`. Tests patch what they exercise.
inline nlohmann::json GatewayNodeConfig(const TempDir& dir) {
  return {{"admin", {{"listen", "127.0.0.1:0"}}},
          {"gateway", {{"listen", "127.0.0.1:0"}, {"io_threads", 2}}},
          {"engine", nlohmann::json::object()},
          {"plugins", {{"path", {BOXCAR_PLUGIN_DIR}}}},
          {"strategies",
           {{"prioritizer", {{"plugin", "fair"}}},
            {"batcher", {{"plugin", "adaptive"}}},
            {"conn_manager", {{"plugin", "watermark"}}},
            {"tuner", {{"plugin", "static"}}}}},
          {"store",
           {{"path", (dir / "data").string()},
            {"tiers", {{{"plugin", "lru"}}, {{"plugin", "leveldb"}}}}}},
          {"reload", {{"debounce_ms", 50}, {"watch_config", false}}}};
}

// Imports one of the gateway conformance fixtures through POST /admin/import.
inline void ImportFixture(const NodeProcess& node, const std::string& fixture) {
  const HttpResult r =
      HttpRequest(node.admin(), "POST", "/admin/import", ReadWholeFile(kFixtureDir / fixture));
  REQUIRE_MESSAGE(r.status == 200, fixture << ": " << r.body);
}

}  // namespace boxcar::testing
