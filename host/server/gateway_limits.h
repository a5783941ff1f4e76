// The gateway limits a reload may change while the server runs.
//
// Thread safety: every accessor may be called from any thread. Each value is read on its own
// (relaxed), so a connection may see a new max_pipeline with an old timeout for one step; each
// limit on its own is always a value some config held.
#pragma once

#include <atomic>
#include <cstdint>

#include "runtime/config.h"

namespace boxcar::server {

class GatewayLimits {
 public:
  explicit GatewayLimits(const runtime::GatewayConfig& config) { Apply(config); }

  // Takes max_header_bytes, max_pipeline, the header, idle and write timeouts and fetch_missing
  // with its timeout from `config`; open connections use them from their next read, parse,
  // request or sweep.
  void Apply(const runtime::GatewayConfig& config) {
    max_header_bytes_.store(config.max_header_bytes, std::memory_order_relaxed);
    max_pipeline_.store(config.max_pipeline, std::memory_order_relaxed);
    header_timeout_ms_.store(config.header_timeout_ms, std::memory_order_relaxed);
    idle_timeout_ms_.store(config.idle_timeout_ms, std::memory_order_relaxed);
    write_timeout_ms_.store(config.write_timeout_ms, std::memory_order_relaxed);
    fetch_missing_.store(config.fetch_missing, std::memory_order_relaxed);
    fetch_timeout_ms_.store(config.fetch_timeout_ms, std::memory_order_relaxed);
  }

  uint32_t max_header_bytes() const { return max_header_bytes_.load(std::memory_order_relaxed); }
  size_t max_pipeline() const {
    return static_cast<size_t>(max_pipeline_.load(std::memory_order_relaxed));
  }
  int64_t header_timeout_ms() const { return header_timeout_ms_.load(std::memory_order_relaxed); }
  int64_t idle_timeout_ms() const { return idle_timeout_ms_.load(std::memory_order_relaxed); }
  int64_t write_timeout_ms() const { return write_timeout_ms_.load(std::memory_order_relaxed); }
  bool fetch_missing() const { return fetch_missing_.load(std::memory_order_relaxed); }
  int64_t fetch_timeout_ms() const { return fetch_timeout_ms_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint32_t> max_header_bytes_;
  std::atomic<int> max_pipeline_;
  std::atomic<int64_t> header_timeout_ms_;
  std::atomic<int64_t> idle_timeout_ms_;
  std::atomic<int64_t> write_timeout_ms_;
  std::atomic<bool> fetch_missing_;
  std::atomic<int64_t> fetch_timeout_ms_;
};

}  // namespace boxcar::server
