// LogLimiter: bounds how many warnings a flood of hostile input can write. Each key (a peer's
// address, "accept") logs at most once per `per_key_interval_ns`, and all keys together at most
// `lines_per_second` lines a second (a token bucket), so rotating sources cannot flood the log.
// Lines it refuses are counted; the next line it allows reports that count.
//
// Thread safety: all members may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace boxcar::p2p {

class LogLimiter {
 public:
  LogLimiter(int64_t per_key_interval_ns, int lines_per_second);

  // True when a line about `key` may be logged at `now_ns`; then *suppressed_since is the number
  // of lines suppressed since the last allowed one (and the count restarts).
  bool Allow(const std::string& key, int64_t now_ns, uint64_t* suppressed_since);

  // Lines refused since construction.
  uint64_t suppressed_total() const;

 private:
  static constexpr size_t kMaxKeys = 4096;  // past it the per-key memory restarts; the bucket holds

  const int64_t per_key_interval_ns_;
  const int lines_per_second_;
  mutable std::mutex mu_;
  std::map<std::string, int64_t> last_logged_;  // key -> time of its last allowed line
  double tokens_;
  int64_t refilled_ns_ = 0;
  uint64_t suppressed_since_ = 0;
  uint64_t suppressed_total_ = 0;
};

}  // namespace boxcar::p2p
