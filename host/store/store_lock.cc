#include "store/store_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

namespace boxcar::store {
namespace {

std::string Errno() { return std::strerror(errno); }

std::string ReadHolder(int fd) {
  char buf[32] = {};
  const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid.empty() ? "unknown" : pid;
}

}  // namespace

Status StoreLock::Acquire(const std::filesystem::path& dir, std::unique_ptr<StoreLock>* out) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Status::IOError("cannot create the store directory " + dir.string() + ": " +
                           ec.message());
  }
  const std::filesystem::path file = dir / "LOCK";
  const int fd = open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("cannot open " + file.string() + ": " + Errno());
  // flock, unlike fcntl locks, conflicts between two opens in the same process too, so a second
  // open of the store from this process is refused like one from another process.
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string holder = ReadHolder(fd);
    close(fd);
    if (err == EWOULDBLOCK) {
      return Status::Busy("the store " + dir.string() + " is locked by PID " + holder +
                          ": a node or another boxcar command is using it. Stop that process, "
                          "or point store.path at another directory");
    }
    return Status::IOError("cannot lock " + file.string() + ": " + std::strerror(err));
  }
  const std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    const std::string why = Errno();
    close(fd);
    return Status::IOError("cannot record the PID in " + file.string() + ": " + why);
  }
  out->reset(new StoreLock(fd));
  return Status::OK();
}

// The PID stays in the file: it is read only when the lock is held, and then it is the holder's.
StoreLock::~StoreLock() { close(fd_); }

}  // namespace boxcar::store
