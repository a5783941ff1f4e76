// Thin POSIX file helpers for the flatfs tier: every failure becomes an IOError naming the path
// and the system's reason.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "boxcar/status.h"

namespace flatfs_tier {

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// A temporary file "<dir>/.put-XXXXXX", removed when the object dies unless it was renamed away
// (Release).
class TempFile {
 public:
  TempFile() = default;
  ~TempFile();
  TempFile(TempFile&& other) noexcept : path_(std::move(other.path_)), fd_(std::move(other.fd_)) {
    other.path_.clear();
  }
  TempFile& operator=(TempFile&& other) noexcept;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  static boxcar::Status Create(const std::string& dir, TempFile* out);

  const Fd& fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // The file now lives under another name: close it and do not remove it.
  void Release();

 private:
  std::string path_;
  Fd fd_;
};

// An IOError "<what> <path>: <strerror(err)>".
boxcar::Status ErrnoError(std::string_view what, const std::string& path, int err);

// Opens `path` read-only; NotFound when it does not exist.
boxcar::Status OpenForReading(const std::string& path, Fd* out);

boxcar::Status WriteAll(const Fd& fd, std::string_view data, const std::string& path);
// Reads up to `n` bytes at `offset`; fewer only at the end of the file.
boxcar::Status ReadAt(const Fd& fd, uint64_t offset, size_t n, char* buf, size_t* got,
                      const std::string& path);
boxcar::Status FileSize(const Fd& fd, const std::string& path, uint64_t* size);
boxcar::Status SyncFile(const Fd& fd, const std::string& path);
boxcar::Status SyncDir(const std::string& path);

// Renames `from` to `to` unless `to` exists; *existed tells which happened (`from` then stays).
boxcar::Status RenameNoReplace(const std::string& from, const std::string& to, bool* existed);

// Removes a file; OK when it is absent, and *removed says whether it was there.
boxcar::Status RemoveFile(const std::string& path, bool* removed);

struct DirEntry {
  std::string name;
  bool is_dir = false;
};
// The entries of a directory, without "." and "..".
boxcar::Status ListDir(const std::string& dir, std::vector<DirEntry>* out);

// Creates a directory; OK when it exists. *created says whether it was made.
boxcar::Status MakeDir(const std::string& path, bool* created);

}  // namespace flatfs_tier
