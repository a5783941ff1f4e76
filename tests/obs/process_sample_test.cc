#include "obs/process_sample.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support/temp_dir.h"

namespace boxcar::obs {

TEST_CASE("process sample: memory, descriptors and their limits of this process") {
  const ProcessSample before = SampleProcess();
  CHECK(before.rss_bytes > 0);
  CHECK(before.open_fds >= 3);
  CHECK(before.memory_limit_bytes > 0);
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  CHECK(SampleProcess().open_fds == before.open_fds + 1);
  ::close(fd);
}

TEST_CASE("process sample: a cgroup memory.max below physical memory is the limit; max is none") {
  boxcar::testing::TempDir dir;
  std::ofstream(dir.path() / "memory.max") << "1048576\n";
  CHECK(SampleProcess(dir.path().string()).memory_limit_bytes == 1048576);
  std::ofstream(dir.path() / "memory.max") << "max\n";
  CHECK(SampleProcess(dir.path().string()).memory_limit_bytes > 1048576);
}

}  // namespace boxcar::obs
