#include "posix_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "layout.h"

namespace flatfs_tier {

using boxcar::Status;

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

Status ErrnoError(std::string_view what, const std::string& path, int err) {
  return Status::IOError(std::string(what) + " " + path + ": " + std::strerror(err));
}

Status OpenForReading(const std::string& path, Fd* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("not stored");
    return ErrnoError("cannot open", path, errno);
  }
  *out = Fd(fd);
  return Status::OK();
}

TempFile::~TempFile() {
  if (!path_.empty()) ::unlink(path_.c_str());
}

TempFile& TempFile::operator=(TempFile&& other) noexcept {
  if (this != &other) {
    if (!path_.empty()) ::unlink(path_.c_str());
    path_ = std::move(other.path_);
    other.path_.clear();
    fd_ = std::move(other.fd_);
  }
  return *this;
}

Status TempFile::Create(const std::string& dir, TempFile* out) {
  std::string name = dir + "/" + std::string(kTempPrefix) + "XXXXXX";
  const int fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot create a temporary file in", dir, errno);
  TempFile made;
  made.path_ = std::move(name);
  made.fd_ = Fd(fd);
  *out = std::move(made);
  return Status::OK();
}

void TempFile::Release() {
  path_.clear();
  fd_ = Fd();
}

Status WriteAll(const Fd& fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd.get(), data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot write", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

Status ReadAt(const Fd& fd, uint64_t offset, size_t n, char* buf, size_t* got,
              const std::string& path) {
  *got = 0;
  while (*got < n) {
    const ssize_t r = ::pread(fd.get(), buf + *got, n - *got, static_cast<off_t>(offset + *got));
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot read", path, errno);
    }
    if (r == 0) break;
    *got += static_cast<size_t>(r);
  }
  return Status::OK();
}

Status FileSize(const Fd& fd, const std::string& path, uint64_t* size) {
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("cannot stat", path, errno);
  *size = static_cast<uint64_t>(st.st_size);
  return Status::OK();
}

Status SyncFile(const Fd& fd, const std::string& path) {
  if (::fsync(fd.get()) != 0) return ErrnoError("cannot sync", path, errno);
  return Status::OK();
}

Status SyncDir(const std::string& path) {
  Fd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return ErrnoError("cannot open directory", path, errno);
  return SyncFile(dir, path);
}

Status RenameNoReplace(const std::string& from, const std::string& to, bool* existed) {
  *existed = false;
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
    return Status::OK();
  }
  int err = errno;
  if (err == EINVAL || err == ENOSYS) {
    // The file system cannot rename without replacing: a hard link refuses an existing name too.
    if (::link(from.c_str(), to.c_str()) == 0) {
      ::unlink(from.c_str());
      return Status::OK();
    }
    err = errno;
  }
  if (err == EEXIST) {
    *existed = true;
    return Status::OK();
  }
  return ErrnoError("cannot rename " + from + " to", to, err);
}

Status RemoveFile(const std::string& path, bool* removed) {
  *removed = false;
  if (::unlink(path.c_str()) == 0) {
    *removed = true;
    return Status::OK();
  }
  if (errno == ENOENT) return Status::OK();
  return ErrnoError("cannot remove", path, errno);
}

Status MakeDir(const std::string& path, bool* created) {
  *created = false;
  if (::mkdir(path.c_str(), 0755) == 0) {
    *created = true;
    return Status::OK();
  }
  if (errno == EEXIST) return Status::OK();
  return ErrnoError("cannot create directory", path, errno);
}

Status ListDir(const std::string& dir, std::vector<DirEntry>* out) {
  out->clear();
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoError("cannot list", dir, errno);
  while (true) {
    errno = 0;
    const dirent* entry = ::readdir(d);
    if (entry == nullptr) break;
    const std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    bool is_dir = entry->d_type == DT_DIR;
    if (entry->d_type == DT_UNKNOWN) {  // some file systems do not report types
      struct stat st;
      is_dir = ::fstatat(::dirfd(d), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               S_ISDIR(st.st_mode);
    }
    out->push_back(DirEntry{std::string(name), is_dir});
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return ErrnoError("cannot list", dir, err);
  return Status::OK();
}

}  // namespace flatfs_tier
