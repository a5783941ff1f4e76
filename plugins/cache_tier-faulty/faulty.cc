// cache_tier "faulty": a persistent tier for tests, which fails on command. Not for production: it
// keeps every block as one file in its data directory, named by the lowercase hex of the key, with
// no sharding, and exists so tests can make the last tier fail, fail writes or slow down while a
// node serves, and watch the store's breaker and error paths react.
//
// Faults come from the file named by the `fault_file` param. It is checked on every data call: a
// stat, and a re-read only when its inode, size, mtime or ctime changed. Replace it by rename to
// switch modes atomically; a file rewritten in place is still noticed, by its content, for two
// seconds after each change, since file timestamps are coarse. Its content, surrounding whitespace
// ignored:
//   ok                   No fault (also when the file is absent or empty).
//   fail                 Every data call (Get, GetMany, Contains, OpenReader, Scan, Put, PutBatch,
//                        Delete, OpenWriter and BlockWriter::Commit) returns IOError.
//   fail_writes          Put, PutBatch, Delete, OpenWriter and Commit return IOError.
//   slow:<ms>            Get, GetMany, Contains, OpenReader and Scan sleep <ms> (0 to 60000) once
//                        per call.
//   fail_rate:<percent>  Data calls are numbered from 1 when the content changes; call n fails when
//                        floor(n*p/100) > floor((n-1)*p/100): exactly p of every 100, evenly
//                        spaced (50: every 2nd, 25: every 4th).
// Anything else makes every data call fail with InvalidArgument naming the file and the content. An
// injected fault reads "injected fault <mode> in <call> (fault file <path>)". Stats never fails.
//
// Writes go to a temporary file, synced when the reason is kWrite, and are renamed into place; a
// kWrite also syncs the directory. Temporary files left by a crash are removed on open.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "boxcar/cache_tier.h"
#include "boxcar_plugins/persistent_tier.h"

namespace {

using boxcar::BlockData;
using boxcar::PutReason;
using boxcar::Status;

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "fault_file": {
      "type": "string", "pattern": "^(/.*)?$",
      "description": "Absolute path of the fault control file (ok, fail, fail_writes, slow:<ms> or fail_rate:<percent>), re-read when it changes; empty: no faults",
      "default": ""
    }
  }
})json";

constexpr size_t kMaxKeyBytes = 127;  // two hex digits a byte in a 255-byte file name
constexpr int64_t kMaxSlowMs = 60'000;
constexpr char kTempPrefix[] = ".tmp-";

Status ErrnoError(std::string_view what, const std::string& path, int err) {
  return Status::IOError(std::string(what) + " " + path + ": " + std::strerror(err));
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The key a block file name encodes; false for names that are not lowercase hex of a key.
bool Unhex(std::string_view name, std::string* key) {
  if (name.empty() || name.size() % 2 != 0 || name.size() > 2 * kMaxKeyBytes) return false;
  key->clear();
  for (size_t i = 0; i < name.size(); i += 2) {
    const int high = HexDigit(name[i]);
    const int low = HexDigit(name[i + 1]);
    if (high < 0 || low < 0) return false;
    key->push_back(static_cast<char>(high * 16 + low));
  }
  return true;
}

Status CheckKey(std::string_view key) {
  if (key.empty()) return Status::InvalidArgument("empty block key");
  if (key.size() > kMaxKeyBytes) {
    return Status::InvalidArgument("block key of " + std::to_string(key.size()) +
                                   " bytes is longer than the " + std::to_string(kMaxKeyBytes) +
                                   " bytes a hex file name can hold");
  }
  return Status::OK();
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("cannot write", path, errno);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

// Reads up to `n` bytes at `offset`; fewer only at the end of the file.
Status ReadAt(int fd, uint64_t offset, size_t n, char* buf, size_t* got, const std::string& path) {
  *got = 0;
  while (*got < n) {
    const ssize_t r = ::pread(fd, buf + *got, n - *got, static_cast<off_t>(offset + *got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoError("cannot read", path, errno);
    if (r == 0) break;
    *got += static_cast<size_t>(r);
  }
  return Status::OK();
}

Status SyncPath(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError("cannot open", path, errno);
  if (::fsync(fd.get()) != 0) return ErrnoError("cannot sync", path, errno);
  return Status::OK();
}

// A file being written under a temporary name in the data directory; removed on destruction unless
// it was renamed into place.
class TempFile {
 public:
  static Status Create(const std::string& dir, std::unique_ptr<TempFile>* out) {
    std::string path = dir + "/" + kTempPrefix + "XXXXXX";
    const int fd = ::mkstemp(path.data());
    if (fd < 0) return ErrnoError("cannot create a temporary file in", dir, errno);
    out->reset(new TempFile(fd, std::move(path)));
    return Status::OK();
  }
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }

  Status Append(std::string_view data) {
    written_ += data.size();
    return WriteAll(fd_.get(), data, path_);
  }
  uint64_t written() const { return written_; }
  Status Sync() {
    if (::fsync(fd_.get()) != 0) return ErrnoError("cannot sync", path_, errno);
    return Status::OK();
  }
  const std::string& path() const { return path_; }
  // The file now lives under another name.
  void Released() { path_.clear(); }

 private:
  TempFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  Fd fd_;
  std::string path_;
  uint64_t written_ = 0;
};

enum class FaultMode { kOk, kFail, kFailWrites, kSlow, kFailRate };

const char* FaultModeName(FaultMode mode) {
  switch (mode) {
    case FaultMode::kOk:
      return "ok";
    case FaultMode::kFail:
      return "fail";
    case FaultMode::kFailWrites:
      return "fail_writes";
    case FaultMode::kSlow:
      return "slow";
    case FaultMode::kFailRate:
      return "fail_rate";
  }
  return "unknown";
}

struct Fault {
  FaultMode mode = FaultMode::kOk;
  int64_t value = 0;  // milliseconds for slow, percent for fail_rate
};

// Parses the decimal after "<mode>:" in [0, max].
bool ParseBounded(std::string_view digits, int64_t max, int64_t* out) {
  if (digits.empty() || digits.size() > 6) return false;
  int64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  *out = value;
  return value <= max;
}

std::string_view Trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

Status ParseFault(std::string_view content, const std::string& path, Fault* out) {
  const std::string_view text = Trim(content);
  *out = Fault{};
  if (text.empty() || text == "ok") return Status::OK();
  if (text == "fail") out->mode = FaultMode::kFail;
  if (text == "fail_writes") out->mode = FaultMode::kFailWrites;
  if (text.starts_with("slow:")) {
    out->mode = FaultMode::kSlow;
    if (!ParseBounded(text.substr(5), kMaxSlowMs, &out->value)) {
      return Status::InvalidArgument("fault file " + path + ": \"" + std::string(text) +
                                     "\": slow needs milliseconds from 0 to " +
                                     std::to_string(kMaxSlowMs) + ", e.g. slow:200");
    }
  }
  if (text.starts_with("fail_rate:")) {
    out->mode = FaultMode::kFailRate;
    if (!ParseBounded(text.substr(10), 100, &out->value)) {
      return Status::InvalidArgument("fault file " + path + ": \"" + std::string(text) +
                                     "\": fail_rate needs a percent from 0 to 100, e.g. "
                                     "fail_rate:25");
    }
  }
  if (out->mode == FaultMode::kOk) {
    return Status::InvalidArgument("fault file " + path + ": unknown fault \"" +
                                   std::string(text.substr(0, 64)) +
                                   "\"; write one of ok, fail, fail_writes, slow:<ms>, "
                                   "fail_rate:<percent>");
  }
  return Status::OK();
}

// The fault file's current mode, re-read only when the file changed, and the numbering of data
// calls for fail_rate. Thread-safe.
class FaultSwitch {
 public:
  explicit FaultSwitch(std::string path) : path_(std::move(path)) {}

  // The fault for the next data call; `*fails_by_rate` says whether fail_rate picks this call.
  Status Next(Fault* fault, bool* fails_by_rate) {
    *fault = Fault{};
    *fails_by_rate = false;
    if (path_.empty()) return Status::OK();
    FileVersion version;
    struct stat st;
    if (::stat(path_.c_str(), &st) == 0) {
      version = FileVersion{true, st.st_ino, st.st_size, Nanoseconds(st.st_mtim),
                            Nanoseconds(st.st_ctim)};
    } else if (errno != ENOENT) {
      return ErrnoError("cannot stat the fault file", path_, errno);
    }
    std::lock_guard lock(mutex_);
    if (!loaded_ || !(version == version_) || RecentlyModified(version)) Refresh(version);
    if (!parsed_.ok()) return parsed_;
    *fault = fault_;
    const int64_t n = ++calls_;
    *fails_by_rate = fault_.mode == FaultMode::kFailRate &&
                     n * fault_.value / 100 > (n - 1) * fault_.value / 100;
    return Status::OK();
  }

  const std::string& path() const { return path_; }

 private:
  // File timestamps are as coarse as the kernel's tick, so two writes close together can leave
  // the same stat; within this window after a modification, the content is compared too.
  static constexpr int64_t kRacyWindowNs = 2'000'000'000;

  struct FileVersion {
    bool exists = false;
    ino_t inode = 0;
    off_t size = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const FileVersion&) const = default;
  };

  static int64_t Nanoseconds(const timespec& t) { return t.tv_sec * 1'000'000'000 + t.tv_nsec; }

  static bool RecentlyModified(const FileVersion& version) {
    if (!version.exists) return false;
    timespec now;
    ::clock_gettime(CLOCK_REALTIME, &now);
    return Nanoseconds(now) - std::max(version.mtime_ns, version.ctime_ns) < kRacyWindowNs;
  }

  // Re-reads the file; a new content restarts the fail_rate numbering.
  void Refresh(const FileVersion& version) {
    version_ = version;
    std::string content;
    const Status read = version.exists ? ReadContent(&content) : Status::OK();
    if (loaded_ && read.ok() && read_ok_ && content == content_) return;
    loaded_ = true;
    read_ok_ = read.ok();
    content_ = std::move(content);
    calls_ = 0;
    parsed_ = read.ok() ? ParseFault(content_, path_, &fault_) : read;
  }

  Status ReadContent(std::string* content) const {
    Fd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
      return errno == ENOENT ? Status::OK()
                             : ErrnoError("cannot open the fault file", path_, errno);
    }
    char buf[256];
    size_t got = 0;
    if (Status s = ReadAt(fd.get(), 0, sizeof(buf), buf, &got, path_); !s.ok()) return s;
    content->assign(buf, got);
    return Status::OK();
  }

  const std::string path_;
  std::mutex mutex_;
  bool loaded_ = false;   // guarded by mutex_
  FileVersion version_;   // guarded by mutex_
  bool read_ok_ = false;  // guarded by mutex_; whether content_ was read without error
  std::string content_;   // guarded by mutex_; as last read, "" when absent
  Status parsed_;         // guarded by mutex_; an error for unreadable or malformed content
  Fault fault_;           // guarded by mutex_
  int64_t calls_ = 0;     // guarded by mutex_; data calls since the content last changed
};

class FileReader : public boxcar::BlockReader {
 public:
  FileReader(Fd fd, uint64_t size, std::string path)
      : fd_(std::move(fd)), size_(size), path_(std::move(path)) {}
  uint64_t size() const override { return size_; }
  Status Read(uint64_t offset, size_t n, char* buf, size_t* got) override {
    return ReadAt(fd_.get(), offset, n, buf, got, path_);
  }

 private:
  Fd fd_;
  uint64_t size_;
  std::string path_;
};

class FaultyTier : public boxcar::CacheTier {
 public:
  explicit FaultyTier(const boxcar::CreateContext& ctx)
      : dir_(boxcar_plugins::RequireDataDir("faulty", ctx.data_dir)),
        faults_(ctx.params->GetString("fault_file")) {
    if (Status s = LoadDirectory(); !s.ok()) throw std::runtime_error(s.ToString());
  }

  Status Get(std::string_view key, BlockData* out) override {
    if (Status s = Inject(Access::kRead, "Get"); !s.ok()) return s;
    if (Status s = CheckKey(key); !s.ok()) return s;
    Status s = ReadWhole(key, out);
    CountLookup(s);
    return s;
  }

  void GetMany(const std::vector<std::string_view>& keys, std::vector<BlockData>* out,
               std::vector<Status>* status) override {
    out->assign(keys.size(), nullptr);
    status->assign(keys.size(), Status::OK());
    if (Status s = Inject(Access::kRead, "GetMany"); !s.ok()) {
      status->assign(keys.size(), s);
      return;
    }
    for (size_t i = 0; i < keys.size(); ++i) {
      Status s = CheckKey(keys[i]);
      if (s.ok()) s = ReadWhole(keys[i], &(*out)[i]);
      CountLookup(s);
      (*status)[i] = std::move(s);
    }
  }

  Status Contains(std::string_view key, uint64_t* size) override {
    if (Status s = Inject(Access::kRead, "Contains"); !s.ok()) return s;
    if (Status s = CheckKey(key); !s.ok()) return s;
    return StatBlock(PathOf(key), size);
  }

  Status OpenReader(std::string_view key, std::unique_ptr<boxcar::BlockReader>* out) override {
    if (Status s = Inject(Access::kRead, "OpenReader"); !s.ok()) return s;
    if (Status s = CheckKey(key); !s.ok()) return s;
    const std::string path = PathOf(key);
    Fd fd;
    uint64_t size = 0;
    Status s = OpenBlock(path, &fd, &size);
    CountLookup(s);
    if (s.ok()) *out = std::make_unique<FileReader>(std::move(fd), size, path);
    return s;
  }

  Status Put(std::string_view key, BlockData data, PutReason reason) override {
    if (Status s = Inject(Access::kWrite, "Put"); !s.ok()) return s;
    if (data == nullptr) return Status::InvalidArgument("null block data");
    return Store(key, *data, reason == PutReason::kWrite);
  }

  Status PutBatch(const std::vector<std::pair<std::string, BlockData>>& entries,
                  PutReason reason) override {
    if (Status s = Inject(Access::kWrite, "PutBatch"); !s.ok()) return s;
    for (const auto& [key, data] : entries) {
      if (data == nullptr) return Status::InvalidArgument("null block data in a batch");
      if (Status s = Store(key, *data, reason == PutReason::kWrite); !s.ok()) return s;
    }
    return Status::OK();
  }

  Status OpenWriter(std::string_view key, uint64_t size, PutReason reason,
                    std::unique_ptr<boxcar::BlockWriter>* out) override;

  Status Delete(std::string_view key) override {
    if (Status s = Inject(Access::kWrite, "Delete"); !s.ok()) return s;
    if (Status s = CheckKey(key); !s.ok()) return s;
    const std::string path = PathOf(key);
    std::lock_guard lock(write_mutex_);
    uint64_t size = 0;
    Status s = StatBlock(path, &size);
    if (s.IsNotFound()) return Status::OK();
    if (!s.ok()) return s;
    if (::unlink(path.c_str()) != 0) return ErrnoError("cannot remove", path, errno);
    --entries_;
    bytes_ -= size;
    return Status::OK();
  }

  boxcar::TierStats Stats() override {
    boxcar::TierStats stats;
    {
      std::lock_guard lock(write_mutex_);
      stats.entries = entries_;
      stats.bytes = bytes_;
    }
    stats.hits = hits_.load(std::memory_order_relaxed);
    stats.misses = misses_.load(std::memory_order_relaxed);
    return stats;
  }

  Status Scan(const std::function<bool(std::string_view, uint64_t)>& visit) override {
    if (Status s = Inject(Access::kRead, "Scan"); !s.ok()) return s;
    return ForEachBlock([&](const std::string& key, uint64_t size) { return visit(key, size); });
  }

  // BlockWriter::Commit: publishes a streamed block, after its own fault check.
  Status Commit(TempFile& temp, std::string_view key, bool durable) {
    if (Status s = Inject(Access::kWrite, "Commit"); !s.ok()) return s;
    return Install(temp, key, durable);
  }

 private:
  enum class Access { kRead, kWrite };

  // The fault the control file asks for on this call: an error to return, or a delay.
  Status Inject(Access access, const char* call) {
    Fault fault;
    bool fails_by_rate = false;
    if (Status s = faults_.Next(&fault, &fails_by_rate); !s.ok()) return s;
    const bool fails = fault.mode == FaultMode::kFail || fails_by_rate ||
                       (fault.mode == FaultMode::kFailWrites && access == Access::kWrite);
    if (fails) {
      return Status::IOError(std::string("injected fault ") + FaultModeName(fault.mode) + " in " +
                             call + " (fault file " + faults_.path() + ")");
    }
    if (fault.mode == FaultMode::kSlow && access == Access::kRead) {
      std::this_thread::sleep_for(std::chrono::milliseconds(fault.value));
    }
    return Status::OK();
  }

  Status Store(std::string_view key, std::string_view data, bool durable) {
    if (Status s = CheckKey(key); !s.ok()) return s;
    uint64_t size = 0;
    if (StatBlock(PathOf(key), &size).ok()) return Status::OK();
    std::unique_ptr<TempFile> temp;
    if (Status s = TempFile::Create(dir_, &temp); !s.ok()) return s;
    if (Status s = temp->Append(data); !s.ok()) return s;
    return Install(*temp, key, durable);
  }

  // Renames a finished temporary file into place under `key`, unless the block is already there
  // (content addressing: same key, same bytes).
  Status Install(TempFile& temp, std::string_view key, bool durable) {
    if (durable) {
      if (Status s = temp.Sync(); !s.ok()) return s;
    }
    const std::string path = PathOf(key);
    std::lock_guard lock(write_mutex_);
    uint64_t existing = 0;
    Status s = StatBlock(path, &existing);
    if (s.ok()) return Status::OK();
    if (!s.IsNotFound()) return s;
    if (::rename(temp.path().c_str(), path.c_str()) != 0) {
      return ErrnoError("cannot rename " + temp.path() + " to", path, errno);
    }
    temp.Released();
    ++entries_;
    bytes_ += temp.written();
    return durable ? SyncPath(dir_) : Status::OK();
  }

  std::string PathOf(std::string_view key) const { return dir_ + "/" + Hex(key); }

  static Status OpenBlock(const std::string& path, Fd* fd, uint64_t* size) {
    Fd opened(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (opened.get() < 0) {
      if (errno == ENOENT) return Status::NotFound("no block file " + path);
      return ErrnoError("cannot open", path, errno);
    }
    struct stat st;
    if (::fstat(opened.get(), &st) != 0) return ErrnoError("cannot stat", path, errno);
    *size = static_cast<uint64_t>(st.st_size);
    *fd = std::move(opened);
    return Status::OK();
  }

  static Status StatBlock(const std::string& path, uint64_t* size) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return Status::NotFound("no block file " + path);
      return ErrnoError("cannot stat", path, errno);
    }
    *size = static_cast<uint64_t>(st.st_size);
    return Status::OK();
  }

  Status ReadWhole(std::string_view key, BlockData* out) {
    const std::string path = PathOf(key);
    Fd fd;
    uint64_t size = 0;
    if (Status s = OpenBlock(path, &fd, &size); !s.ok()) return s;
    std::string bytes(size, '\0');
    size_t got = 0;
    if (Status s = ReadAt(fd.get(), 0, bytes.size(), bytes.data(), &got, path); !s.ok()) return s;
    if (got != size) {
      return Status::IOError(path + " shrank while being read: " + std::to_string(got) + " of " +
                             std::to_string(size) + " bytes");
    }
    *out = std::make_shared<const std::string>(std::move(bytes));
    return Status::OK();
  }

  void CountLookup(const Status& s) {
    if (s.ok()) hits_.fetch_add(1, std::memory_order_relaxed);
    if (s.IsNotFound()) misses_.fetch_add(1, std::memory_order_relaxed);
  }

  // Visits the blocks in the directory until `visit` returns false.
  Status ForEachBlock(const std::function<bool(const std::string&, uint64_t)>& visit) {
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(dir_.c_str()), &::closedir);
    if (dir == nullptr) return ErrnoError("cannot list", dir_, errno);
    std::string key;
    for (errno = 0; const dirent* entry = ::readdir(dir.get()); errno = 0) {
      if (!Unhex(entry->d_name, &key)) continue;
      uint64_t size = 0;
      Status s = StatBlock(dir_ + "/" + entry->d_name, &size);
      if (s.IsNotFound()) continue;  // deleted meanwhile
      if (!s.ok()) return s;
      if (!visit(key, size)) return Status::OK();
    }
    if (errno != 0) return ErrnoError("cannot list", dir_, errno);
    return Status::OK();
  }

  // Removes temporary files a crash left and counts the blocks, so Stats is exact from the start.
  Status LoadDirectory() {
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(dir_.c_str()), &::closedir);
    if (dir == nullptr) return ErrnoError("cannot list", dir_, errno);
    std::vector<std::string> leftovers;
    for (errno = 0; const dirent* entry = ::readdir(dir.get()); errno = 0) {
      if (std::string_view(entry->d_name).starts_with(kTempPrefix)) {
        leftovers.push_back(dir_ + "/" + entry->d_name);
      }
    }
    if (errno != 0) return ErrnoError("cannot list", dir_, errno);
    for (const std::string& path : leftovers) {
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return ErrnoError("cannot remove", path, errno);
      }
    }
    return ForEachBlock([this](const std::string&, uint64_t size) {
      ++entries_;
      bytes_ += size;
      return true;
    });
  }

  const std::string dir_;
  FaultSwitch faults_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  // Serializes renames into place and removals, so entries_ and bytes_ stay exact.
  std::mutex write_mutex_;
  uint64_t entries_ = 0;  // guarded by write_mutex_
  uint64_t bytes_ = 0;    // guarded by write_mutex_
};

// Appends to a temporary file; Commit checks the size and publishes it. Destroying it without a
// Commit removes the temporary file.
class FileWriter : public boxcar::BlockWriter {
 public:
  FileWriter(FaultyTier* tier, std::string key, uint64_t size, bool durable,
             std::unique_ptr<TempFile> temp)
      : tier_(tier), key_(std::move(key)), size_(size), durable_(durable), temp_(std::move(temp)) {}

  Status Append(std::string_view chunk) override {
    if (chunk.size() > size_ - temp_->written()) {
      return Status::InvalidArgument("appending " + std::to_string(chunk.size()) + " bytes at " +
                                     std::to_string(temp_->written()) +
                                     " passes the declared size of " + std::to_string(size_) +
                                     " bytes");
    }
    return temp_->Append(chunk);
  }

  Status Commit() override {
    if (temp_->written() != size_) {
      return Status::InvalidArgument("commit after " + std::to_string(temp_->written()) +
                                     " bytes, but the declared size is " + std::to_string(size_));
    }
    return tier_->Commit(*temp_, key_, durable_);
  }

 private:
  FaultyTier* tier_;
  std::string key_;
  uint64_t size_;
  bool durable_;
  std::unique_ptr<TempFile> temp_;
};

Status FaultyTier::OpenWriter(std::string_view key, uint64_t size, PutReason reason,
                              std::unique_ptr<boxcar::BlockWriter>* out) {
  if (Status s = Inject(Access::kWrite, "OpenWriter"); !s.ok()) return s;
  if (Status s = CheckKey(key); !s.ok()) return s;
  std::unique_ptr<TempFile> temp;
  if (Status s = TempFile::Create(dir_, &temp); !s.ok()) return s;
  *out = std::make_unique<FileWriter>(this, std::string(key), size, reason == PutReason::kWrite,
                                      std::move(temp));
  return Status::OK();
}

}  // namespace

BOXCAR_PLUGIN(FaultyTier, "faulty", "1.0.0",
              "Test-only persistent tier, one unsharded file per block, that "
              "injects failures "
              "and delays from a fault control file; not for production",
              kSchema, boxcar::kThreadSafe | boxcar::kPersistent);
