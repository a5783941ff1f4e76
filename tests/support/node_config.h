// The node config the end-to-end tests start from.
#pragma once

#include <filesystem>

#include <nlohmann/json.hpp>

namespace boxcar::testing {

// Loopback ephemeral ports, one gateway thread, the bundled default strategies (fifo, fixed,
// watermark, static), and an lru tier over a leveldb tier, with the store in `store_path`.
inline nlohmann::json TestNodeConfig(const std::filesystem::path& store_path) {
  return {
      {"admin", {{"listen", "127.0.0.1:0"}}},
      {"gateway", {{"listen", "127.0.0.1:0"}, {"io_threads", 1}}},
      {"strategies",
       {{"prioritizer", {{"plugin", "fifo"}}},
        {"batcher", {{"plugin", "fixed"}}},
        {"conn_manager", {{"plugin", "watermark"}}},
        {"tuner", {{"plugin", "static"}}}}},
      {"store",
       {{"path", store_path.string()}, {"tiers", {{{"plugin", "lru"}}, {{"plugin", "leveldb"}}}}}}};
}

}  // namespace boxcar::testing
