// The storage engine of the flatfs cache tier: one file per block in the layout of layout.h.
//
// Writes are atomic per block: the bytes go to a unique temporary file in the block's shard
// directory, which is synced (per policy), renamed into place without replacing an existing
// file, and then the directory is synced (per policy). So a block file is either absent or
// complete, a present block is never rewritten, and two writers of one block cannot both count
// it. A durable write of a present block syncs its file and directory instead, since an unsynced
// write may have put it there. Temporary files a crash left behind are removed at open.
//
// Sync policy, for durable writes (PutReason::kWrite); other writes are never synced:
//   always  each block: sync the file before the rename, the directory after it
//   batch   a PutBatch syncs every file, renames them all, then syncs each touched directory
//           once (a single Put behaves as under always)
//   never   no syncs; the OS writes back when it likes
// A PutBatch is not atomic across blocks: after a crash any subset of its blocks may be present,
// each of them complete. Deletes are not synced: after a crash a deleted block may reappear.
//
// Counts. Entries and logical bytes are counted at open by reading the header of every block file
// and then kept up to date by every rename and unlink; a file whose header does not decode counts
// as an entry of 0 bytes.
//
// Thread safety: every method may be called concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "boxcar/cache_tier.h"
#include "boxcar/host.h"
#include "layout.h"
#include "posix_io.h"
#include "zstd_codec.h"

namespace flatfs_tier {

enum class SyncMode { kAlways, kBatch, kNever };

struct FlatPolicy {
  SyncMode sync = SyncMode::kAlways;
  CompressionPolicy compression;
};

// Where the store reports; every pointer is valid for the store's lifetime.
struct FlatMetrics {
  boxcar::Counter* puts;               // block files written (present blocks do not count)
  boxcar::Counter* written_bytes;      // file bytes written, headers included
  boxcar::Counter* syncs;              // fsyncs of files and directories
  boxcar::Counter* compression_saved;  // bytes zstd saved in written files
  boxcar::Counter* corruption;         // block files found damaged
};

struct NewBlock {
  std::string_view key;
  std::string_view data;
};

class FlatStore {
 public:
  // Opens the store in `dir` (created if missing): checks or writes SHARDING, removes leftover
  // temporary files and counts the blocks.
  static boxcar::Status Open(const std::string& dir, const FlatPolicy& policy,
                             const FlatMetrics& metrics, boxcar::Logger& logger,
                             std::unique_ptr<FlatStore>* out);
  FlatStore(const FlatStore&) = delete;
  FlatStore& operator=(const FlatStore&) = delete;

  // Keys longer than kMaxKeyBytes cannot name a file: InvalidArgument.
  static boxcar::Status CheckKey(std::string_view key);

  // NotFound, Corruption naming the file, or the block's bytes.
  boxcar::Status Get(std::string_view key, std::string* out);
  // NotFound, Corruption, or the block's logical size.
  boxcar::Status Contains(std::string_view key, uint64_t* size);
  // Stores the blocks that are not present yet; synced per policy when `durable`.
  boxcar::Status Put(std::span<const NewBlock> blocks, bool durable);
  // Removes a block's file; OK if absent.
  boxcar::Status Delete(std::string_view key);
  // Visits every block, in no particular order. A damaged file is visited too, with the size its
  // header gives or 0 when the header does not decode (and counted and logged as corruption): it
  // is there, so GC may remove it and a scrub finds it when it reads it.
  boxcar::Status Scan(const std::function<bool(std::string_view key, uint64_t size)>& visit);

  uint64_t entries() const { return entries_.load(std::memory_order_relaxed); }
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

  void SetPolicy(const FlatPolicy& policy);

  boxcar::Status OpenReader(std::string_view key, std::unique_ptr<boxcar::BlockReader>* out);
  boxcar::Status OpenWriter(std::string_view key, uint64_t size, bool durable,
                            std::unique_ptr<boxcar::BlockWriter>* out);

 private:
  friend class FileWriter;

  struct Placement {
    std::string shard_dir;
    std::string path;
  };
  // A block written to its temporary file, waiting for the rename.
  struct Staged {
    TempFile temp;
    Placement where;
    uint64_t size = 0;
  };

  FlatStore(std::string dir, const FlatPolicy& policy, const FlatMetrics& metrics,
            boxcar::Logger& logger);

  boxcar::Status CheckSharding();
  boxcar::Status CountBlocks();
  boxcar::Status CountShard(const std::string& shard_dir, uint64_t* temps, uint64_t* damaged);

  FlatPolicy Policy() const;
  Placement Place(std::string_view key) const;
  boxcar::Status EnsureShardDir(const std::string& shard_dir, bool sync);
  boxcar::Status Corruption(const std::string& path, std::string_view what);
  // Reads and checks a block file's header. On Corruption, *header is still filled when the
  // header itself decoded (only the file's length disagrees).
  boxcar::Status ReadHeader(const Fd& fd, const std::string& path, FileHeader* header,
                            uint64_t* file_size, bool* header_decoded);

  // Writes the header and payload of `data` to `temp`: zstd when the policy applies and the
  // frame is worth keeping, raw otherwise.
  boxcar::Status WriteBlockFile(const TempFile& temp, std::string_view data,
                                const CompressionPolicy& compression);
  boxcar::Status Stage(const NewBlock& block, const CompressionPolicy& compression, bool sync,
                       Staged* out);
  // Stages, syncs (when `sync`), renames and syncs the touched directories (when `sync`).
  boxcar::Status PutGroup(std::span<const NewBlock* const> blocks,
                          const CompressionPolicy& compression, bool sync);
  boxcar::Status SyncCounted(const Fd& fd, const std::string& path);
  // Syncs a present block file, which an unsynced write (or an earlier run) may have left in the
  // page cache only.
  boxcar::Status SyncPresent(const std::string& path);
  boxcar::Status SyncDirCounted(const std::string& path);
  // Renames `temp` to its place unless the block is present; counts a block that was placed.
  boxcar::Status Publish(TempFile* temp, const Placement& where, uint64_t size, bool* placed);

  const std::string dir_;
  const FlatMetrics metrics_;
  boxcar::Logger& logger_;
  ZstdCodec codec_;
  std::atomic<uint64_t> entries_{0};
  std::atomic<uint64_t> bytes_{0};

  mutable std::mutex policy_mutex_;
  FlatPolicy policy_;  // guarded by policy_mutex_

  std::mutex shards_mutex_;
  std::unordered_set<std::string> known_shards_;  // guarded by shards_mutex_: existing shard dirs
};

}  // namespace flatfs_tier
