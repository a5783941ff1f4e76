#include "flat_store.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "block_files.h"

namespace flatfs_tier {
namespace {

using boxcar::Status;

// Files of one PutBatch held open at once, so a large batch cannot run out of descriptors.
constexpr size_t kMaxStagedAtOnce = 64;
// A SHARDING file holds one short line.
constexpr size_t kMaxShardingBytes = 4096;

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

std::string_view Trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

void AddOnce(std::vector<std::string>* dirs, const std::string& dir) {
  if (std::find(dirs->begin(), dirs->end(), dir) == dirs->end()) dirs->push_back(dir);
}

void SubtractClamped(std::atomic<uint64_t>& counter, uint64_t amount) {
  uint64_t current = counter.load(std::memory_order_relaxed);
  while (!counter.compare_exchange_weak(current, current - std::min(current, amount),
                                        std::memory_order_relaxed)) {
  }
}

}  // namespace

FlatStore::FlatStore(std::string dir, const FlatPolicy& policy, const FlatMetrics& metrics,
                     boxcar::Logger& logger)
    : dir_(std::move(dir)), metrics_(metrics), logger_(logger), policy_(policy) {}

Status FlatStore::Open(const std::string& dir, const FlatPolicy& policy, const FlatMetrics& metrics,
                       boxcar::Logger& logger, std::unique_ptr<FlatStore>* out) {
  std::unique_ptr<FlatStore> store(new FlatStore(dir, policy, metrics, logger));
  bool created = false;
  Status s = MakeDir(dir, &created);
  if (s.ok()) s = store->CheckSharding();
  if (s.ok()) s = store->CountBlocks();
  if (s.ok()) *out = std::move(store);
  return s;
}

Status FlatStore::CheckKey(std::string_view key) {
  if (key.empty()) return Status::InvalidArgument("empty block key");
  if (key.size() > kMaxKeyBytes) {
    return Status::InvalidArgument("block key of " + std::to_string(key.size()) +
                                   " bytes is longer than the " + std::to_string(kMaxKeyBytes) +
                                   " bytes a file name can hold");
  }
  return Status::OK();
}

Status FlatStore::CheckSharding() {
  const std::string path = dir_ + "/" + std::string(kShardingFile);
  Fd fd;
  Status s = OpenForReading(path, &fd);
  if (s.ok()) {
    std::string content(kMaxShardingBytes, '\0');
    size_t got = 0;
    if (s = ReadAt(fd, 0, content.size(), content.data(), &got, path); !s.ok()) return s;
    const std::string_view found = Trim(std::string_view(content).substr(0, got));
    if (found == kShardingSpec) return Status::OK();
    return Status::InvalidArgument(path + " names the sharding \"" + std::string(found) +
                                   "\", but the flatfs tier shards by \"" +
                                   std::string(kShardingSpec) +
                                   "\"; give the tier a directory of its own");
  }
  if (!s.IsNotFound()) return s;
  // The first open writes it, atomically and durably, like a block.
  TempFile temp;
  if (s = TempFile::Create(dir_, &temp); !s.ok()) return s;
  if (s = WriteAll(temp.fd(), std::string(kShardingSpec) + "\n", temp.path()); !s.ok()) return s;
  if (s = SyncFile(temp.fd(), temp.path()); !s.ok()) return s;
  bool existed = false;
  if (s = RenameNoReplace(temp.path(), path, &existed); !s.ok()) return s;
  if (existed) return CheckSharding();
  temp.Release();
  return SyncDir(dir_);
}

Status FlatStore::CountBlocks() {
  std::vector<DirEntry> entries;
  if (Status s = ListDir(dir_, &entries); !s.ok()) return s;
  uint64_t temps = 0;
  uint64_t damaged = 0;
  for (const DirEntry& entry : entries) {
    const std::string path = dir_ + "/" + entry.name;
    if (!entry.is_dir && entry.name.starts_with(kTempPrefix)) {
      bool removed = false;
      if (Status s = RemoveFile(path, &removed); !s.ok()) return s;
      ++temps;
    } else if (entry.is_dir && entry.name.size() == 2) {
      if (Status s = CountShard(path, &temps, &damaged); !s.ok()) return s;
      known_shards_.insert(path);
    }
  }
  if (temps > 0) {
    logger_.Log(boxcar::LogLevel::kInfo,
                "removed " + std::to_string(temps) + " temporary files left by interrupted writes");
  }
  if (damaged > 0) {
    logger_.Log(boxcar::LogLevel::kWarn, std::to_string(damaged) + " block files in " + dir_ +
                                             " are damaged; reads of them report Corruption");
  }
  return Status::OK();
}

Status FlatStore::CountShard(const std::string& shard_dir, uint64_t* temps, uint64_t* damaged) {
  std::vector<DirEntry> entries;
  if (Status s = ListDir(shard_dir, &entries); !s.ok()) return s;
  for (const DirEntry& entry : entries) {
    if (entry.is_dir) continue;
    const std::string path = shard_dir + "/" + entry.name;
    if (entry.name.starts_with(kTempPrefix)) {
      bool removed = false;
      if (Status s = RemoveFile(path, &removed); !s.ok()) return s;
      ++*temps;
      continue;
    }
    if (!entry.name.ends_with(kDataSuffix)) continue;
    Fd fd;
    if (Status s = OpenForReading(path, &fd); !s.ok()) {
      if (s.IsNotFound()) continue;
      return s;
    }
    FileHeader header;
    uint64_t file_size = 0;
    bool decoded = false;
    const Status s = ReadHeader(fd, path, &header, &file_size, &decoded);
    if (!s.ok() && s.code() != Status::Code::kCorruption) return s;
    if (!s.ok()) ++*damaged;
    entries_.fetch_add(1, std::memory_order_relaxed);
    if (decoded) bytes_.fetch_add(header.size, std::memory_order_relaxed);
  }
  return Status::OK();
}

FlatPolicy FlatStore::Policy() const {
  std::lock_guard lock(policy_mutex_);
  return policy_;
}

void FlatStore::SetPolicy(const FlatPolicy& policy) {
  std::lock_guard lock(policy_mutex_);
  policy_ = policy;
}

FlatStore::Placement FlatStore::Place(std::string_view key) const {
  const std::string name = Base32(key);
  Placement where;
  where.shard_dir = dir_ + "/" + ShardOf(name);
  where.path = where.shard_dir + "/" + name + std::string(kDataSuffix);
  return where;
}

Status FlatStore::EnsureShardDir(const std::string& shard_dir, bool sync) {
  {
    std::lock_guard lock(shards_mutex_);
    if (known_shards_.contains(shard_dir)) return Status::OK();
  }
  bool created = false;
  if (Status s = MakeDir(shard_dir, &created); !s.ok()) return s;
  // Whoever created it, the directory's entry is durable only once the root is synced.
  if (sync) {
    if (Status s = SyncDirCounted(dir_); !s.ok()) return s;
  }
  std::lock_guard lock(shards_mutex_);
  known_shards_.insert(shard_dir);
  return Status::OK();
}

Status FlatStore::Corruption(const std::string& path, std::string_view what) {
  metrics_.corruption->Increment();
  return Status::Corruption("block file " + path + ": " + std::string(what));
}

Status FlatStore::ReadHeader(const Fd& fd, const std::string& path, FileHeader* header,
                             uint64_t* file_size, bool* header_decoded) {
  *header_decoded = false;
  char bytes[kHeaderBytes];
  size_t got = 0;
  if (Status s = ReadAt(fd, 0, sizeof(bytes), bytes, &got, path); !s.ok()) return s;
  if (std::string error = ParseHeader(std::string_view(bytes, got), header); !error.empty()) {
    return Corruption(path, error);
  }
  *header_decoded = true;
  if (Status s = FileSize(fd, path, file_size); !s.ok()) return s;
  const uint64_t payload = *file_size - kHeaderBytes;
  if (header->format == FileFormat::kRaw && payload != header->size) {
    return Corruption(path, "the raw payload holds " + std::to_string(payload) +
                                " bytes, the header says " + std::to_string(header->size));
  }
  if (header->format == FileFormat::kZstd && payload == 0) {
    return Corruption(path, "the zstd payload is empty");
  }
  return Status::OK();
}

Status FlatStore::Get(std::string_view key, std::string* out) {
  const Placement where = Place(key);
  Fd fd;
  if (Status s = OpenForReading(where.path, &fd); !s.ok()) return s;
  FileHeader header;
  uint64_t file_size = 0;
  bool decoded = false;
  if (Status s = ReadHeader(fd, where.path, &header, &file_size, &decoded); !s.ok()) return s;
  std::string payload(file_size - kHeaderBytes, '\0');
  size_t got = 0;
  if (Status s = ReadAt(fd, kHeaderBytes, payload.size(), payload.data(), &got, where.path);
      !s.ok()) {
    return s;
  }
  if (got != payload.size()) return Corruption(where.path, "the file shrank while it was read");
  if (header.format == FileFormat::kRaw) {
    *out = std::move(payload);
    return Status::OK();
  }
  if (std::string error = codec_.Decompress(payload, header.size, out); !error.empty()) {
    return Corruption(where.path, error);
  }
  return Status::OK();
}

Status FlatStore::Contains(std::string_view key, uint64_t* size) {
  const Placement where = Place(key);
  Fd fd;
  if (Status s = OpenForReading(where.path, &fd); !s.ok()) return s;
  FileHeader header;
  uint64_t file_size = 0;
  bool decoded = false;
  if (Status s = ReadHeader(fd, where.path, &header, &file_size, &decoded); !s.ok()) return s;
  *size = header.size;
  return Status::OK();
}

Status FlatStore::WriteBlockFile(const TempFile& temp, std::string_view data,
                                 const CompressionPolicy& compression) {
  std::string frames;
  bool zstd = compression.Applies(data.size());
  for (size_t at = 0; zstd && at < data.size(); at += kFrameBytes) {
    zstd = codec_.CompressFrame(data.substr(at, kFrameBytes), compression.level, &frames);
  }
  zstd = zstd && WorthKeeping(frames.size(), data.size());
  const std::string header = EncodeHeader(zstd ? FileFormat::kZstd : FileFormat::kRaw, data.size());
  const std::string_view payload = zstd ? std::string_view(frames) : data;
  if (Status s = WriteAll(temp.fd(), header, temp.path()); !s.ok()) return s;
  if (Status s = WriteAll(temp.fd(), payload, temp.path()); !s.ok()) return s;
  metrics_.written_bytes->Increment(static_cast<double>(header.size() + payload.size()));
  if (zstd) metrics_.compression_saved->Increment(static_cast<double>(data.size() - frames.size()));
  return Status::OK();
}

Status FlatStore::Stage(const NewBlock& block, const CompressionPolicy& compression, bool sync,
                        Staged* out) {
  out->where = Place(block.key);
  out->size = block.data.size();
  if (Status s = EnsureShardDir(out->where.shard_dir, sync); !s.ok()) return s;
  if (Status s = TempFile::Create(out->where.shard_dir, &out->temp); !s.ok()) return s;
  return WriteBlockFile(out->temp, block.data, compression);
}

Status FlatStore::SyncCounted(const Fd& fd, const std::string& path) {
  metrics_.syncs->Increment();
  return SyncFile(fd, path);
}

Status FlatStore::SyncPresent(const std::string& path) {
  Fd fd;
  const Status s = OpenForReading(path, &fd);
  if (s.IsNotFound()) return Status::OK();  // deleted since: the put came first
  if (!s.ok()) return s;
  return SyncCounted(fd, path);
}

Status FlatStore::SyncDirCounted(const std::string& path) {
  metrics_.syncs->Increment();
  return SyncDir(path);
}

Status FlatStore::Publish(TempFile* temp, const Placement& where, uint64_t size, bool* placed) {
  bool existed = false;
  if (Status s = RenameNoReplace(temp->path(), where.path, &existed); !s.ok()) return s;
  *placed = !existed;
  if (existed) return Status::OK();  // another writer placed it first; the temp file goes
  temp->Release();
  entries_.fetch_add(1, std::memory_order_relaxed);
  bytes_.fetch_add(size, std::memory_order_relaxed);
  metrics_.puts->Increment();
  return Status::OK();
}

Status FlatStore::PutGroup(std::span<const NewBlock* const> blocks,
                           const CompressionPolicy& compression, bool sync) {
  std::vector<std::string> touched_dirs;
  for (size_t start = 0; start < blocks.size(); start += kMaxStagedAtOnce) {
    std::vector<Staged> staged;
    for (const NewBlock* block :
         blocks.subspan(start, std::min(kMaxStagedAtOnce, blocks.size() - start))) {
      const Placement where = Place(block->key);
      if (Exists(where.path)) {  // present blocks are not rewritten, but may need their sync
        if (!sync) continue;
        if (Status s = SyncPresent(where.path); !s.ok()) return s;
        AddOnce(&touched_dirs, where.shard_dir);
        continue;
      }
      Staged one;
      if (Status s = Stage(*block, compression, sync, &one); !s.ok()) return s;
      staged.push_back(std::move(one));
    }
    if (sync) {
      for (const Staged& one : staged) {
        if (Status s = SyncCounted(one.temp.fd(), one.temp.path()); !s.ok()) return s;
      }
    }
    for (Staged& one : staged) {
      bool placed = false;
      if (Status s = Publish(&one.temp, one.where, one.size, &placed); !s.ok()) return s;
      // A block placed meanwhile by another writer may be one of its unsynced writes: the
      // directory is synced either way.
      AddOnce(&touched_dirs, one.where.shard_dir);
    }
  }
  if (sync) {
    for (const std::string& dir : touched_dirs) {
      if (Status s = SyncDirCounted(dir); !s.ok()) return s;
    }
  }
  return Status::OK();
}

Status FlatStore::Put(std::span<const NewBlock> blocks, bool durable) {
  const FlatPolicy policy = Policy();
  const bool sync = durable && policy.sync != SyncMode::kNever;
  std::vector<const NewBlock*> all;
  all.reserve(blocks.size());
  for (const NewBlock& block : blocks) all.push_back(&block);
  if (sync && policy.sync == SyncMode::kAlways) {
    for (const NewBlock* block : all) {
      if (Status s = PutGroup(std::span(&block, 1), policy.compression, true); !s.ok()) return s;
    }
    return Status::OK();
  }
  return PutGroup(all, policy.compression, sync);
}

Status FlatStore::Delete(std::string_view key) {
  const Placement where = Place(key);
  uint64_t size = 0;
  {
    Fd fd;
    const Status s = OpenForReading(where.path, &fd);
    if (s.IsNotFound()) return Status::OK();
    if (!s.ok()) return s;
    FileHeader header;
    uint64_t file_size = 0;
    bool decoded = false;
    ReadHeader(fd, where.path, &header, &file_size, &decoded);  // damaged files go too
    if (decoded) size = header.size;
  }
  bool removed = false;
  if (Status s = RemoveFile(where.path, &removed); !s.ok()) return s;
  if (removed) {
    SubtractClamped(entries_, 1);
    SubtractClamped(bytes_, size);
  }
  return Status::OK();
}

Status FlatStore::Scan(const std::function<bool(std::string_view, uint64_t)>& visit) {
  std::vector<DirEntry> shards;
  if (Status s = ListDir(dir_, &shards); !s.ok()) return s;
  uint64_t damaged = 0;
  std::string first_damage;
  std::vector<DirEntry> files;
  std::string key;
  bool go_on = true;
  for (size_t i = 0; i < shards.size() && go_on; ++i) {
    const DirEntry& shard = shards[i];
    if (!shard.is_dir || shard.name.size() != 2) continue;
    const std::string shard_dir = dir_ + "/" + shard.name;
    if (Status s = ListDir(shard_dir, &files); !s.ok()) return s;
    for (size_t j = 0; j < files.size() && go_on; ++j) {
      const DirEntry& file = files[j];
      const std::string_view name = file.name;
      if (file.is_dir || name.starts_with(kTempPrefix) || !name.ends_with(kDataSuffix)) continue;
      if (!DecodeBase32(name.substr(0, name.size() - kDataSuffix.size()), &key)) continue;
      const std::string path = shard_dir + "/" + file.name;
      Fd fd;
      Status s = OpenForReading(path, &fd);
      if (s.IsNotFound()) continue;  // deleted since the listing
      if (!s.ok()) return s;
      FileHeader header;
      uint64_t file_size = 0;
      bool decoded = false;
      s = ReadHeader(fd, path, &header, &file_size, &decoded);
      if (s.code() == Status::Code::kCorruption) {
        if (damaged++ == 0) first_damage = s.message();
      } else if (!s.ok()) {
        return s;
      }
      go_on = visit(key, decoded ? header.size : 0);
    }
  }
  if (damaged > 0) {
    logger_.Log(boxcar::LogLevel::kWarn, "scan: " + std::to_string(damaged) +
                                             " block files are damaged and were visited with "
                                             "the size their header gives, or 0; the first: " +
                                             first_damage);
  }
  return Status::OK();
}

Status FlatStore::OpenReader(std::string_view key, std::unique_ptr<boxcar::BlockReader>* out) {
  Placement where = Place(key);
  Fd fd;
  if (Status s = OpenForReading(where.path, &fd); !s.ok()) return s;
  FileHeader header;
  uint64_t file_size = 0;
  bool decoded = false;
  if (Status s = ReadHeader(fd, where.path, &header, &file_size, &decoded); !s.ok()) return s;
  if (header.format == FileFormat::kRaw) {
    *out = std::make_unique<RawFileReader>(std::move(fd), std::move(where.path), header.size,
                                           metrics_.corruption);
    return Status::OK();
  }
  *out = std::make_unique<ZstdFileReader>(std::move(fd), std::move(where.path), header.size,
                                          file_size, &codec_, metrics_.corruption);
  return Status::OK();
}

Status FlatStore::OpenWriter(std::string_view key, uint64_t size, bool durable,
                             std::unique_ptr<boxcar::BlockWriter>* out) {
  const FlatPolicy policy = Policy();
  const bool sync = durable && policy.sync != SyncMode::kNever;
  Placement where = Place(key);
  const bool present = Exists(where.path);
  TempFile temp;
  if (!present) {
    if (Status s = EnsureShardDir(where.shard_dir, sync); !s.ok()) return s;
    if (Status s = TempFile::Create(where.shard_dir, &temp); !s.ok()) return s;
  }
  *out = std::make_unique<FileWriter>(this, key, size, sync, policy.compression, std::move(where),
                                      std::move(temp), present);
  return Status::OK();
}

}  // namespace flatfs_tier
