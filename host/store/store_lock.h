// The store's directory lock: one process at a time opens a store, whether it is a running node
// or an offline command such as `boxcar import`.
#pragma once

#include <filesystem>
#include <memory>

#include "boxcar/status.h"

namespace boxcar::store {

class StoreLock {
 public:
  // Creates `dir` if needed and takes an exclusive lock on `dir`/LOCK, recording this process's
  // PID in it. Busy, naming the holder's PID, when another process holds it. The lock is released
  // when the object is destroyed or the process exits, however it exits.
  static Status Acquire(const std::filesystem::path& dir, std::unique_ptr<StoreLock>* out);

  ~StoreLock();
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;

 private:
  explicit StoreLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace boxcar::store
