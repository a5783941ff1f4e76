#include "obs/process_sample.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace boxcar::obs {
namespace {

uint64_t PhysicalMemoryBytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return 0;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size);
}

// cgroup v2's memory.max: a number of bytes, or "max" (no limit, then physical memory counts).
uint64_t MemoryLimitBytes(const std::string& cgroup_dir) {
  const uint64_t physical = PhysicalMemoryBytes();
  std::ifstream in(cgroup_dir + "/memory.max");
  uint64_t limit = 0;
  if (!(in >> limit) || limit == 0) return physical;
  return physical == 0 ? limit : std::min(limit, physical);
}

uint64_t FdLimit() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 0;
  return limit.rlim_cur;
}

}  // namespace

uint64_t ReadRssBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0, resident = 0;
  if (!(statm >> pages >> resident)) return 0;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGE_SIZE));
}

std::optional<uint64_t> CountOpenFds() {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/fd", ec);
  if (ec) return std::nullopt;
  uint64_t count = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return std::nullopt;
    ++count;
  }
  return count;
}

ProcessSample SampleProcess(const std::string& cgroup_dir) {
  ProcessSample sample;
  sample.rss_bytes = ReadRssBytes();
  sample.open_fds = CountOpenFds().value_or(0);
  sample.fd_limit = FdLimit();
  sample.memory_limit_bytes = MemoryLimitBytes(cgroup_dir);
  return sample;
}

}  // namespace boxcar::obs
