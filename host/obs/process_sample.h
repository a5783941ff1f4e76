// What the process uses now, for the conn_manager plugins' ResourcePressure: resident memory,
// open descriptors and their limits. Each call reads /proc and /sys, so callers sample it on a
// timer (about once a second), not per connection.
//
// Thread safety: the functions are safe to call from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace boxcar::obs {

struct ProcessSample {
  uint64_t rss_bytes = 0;           // resident set size; 0 when /proc is unreadable
  uint64_t open_fds = 0;            // entries of /proc/self/fd; 0 when unreadable
  uint64_t fd_limit = 0;            // RLIMIT_NOFILE soft limit; 0 when unlimited
  uint64_t memory_limit_bytes = 0;  // the cgroup's memory.max, else physical memory; 0 unknown
};

// Samples the process; `cgroup_dir` is where memory.max is read (cgroup v2).
ProcessSample SampleProcess(const std::string& cgroup_dir = "/sys/fs/cgroup");

// The resident set size from /proc/self/statm; 0 when unreadable.
uint64_t ReadRssBytes();

// The number of open descriptors (/proc/self/fd), or nullopt when it cannot be listed.
std::optional<uint64_t> CountOpenFds();

}  // namespace boxcar::obs
