// The storage engine of the leveldb cache tier: blocks in one LevelDB database, in the format of
// record_format.h.
//
// Writes. Every write goes through a WriteQueue (group commit): concurrent writers queue, and the
// leader merges their operations into one leveldb::WriteBatch written with one Write, synced
// when any member needs durability and the policy says so. Write looks each block up before it
// queues, and the leader checks the blocks against the group written so far and, unless no group
// was written since that look-up (the generation count tells), against the database again; so a
// present block is never rewritten and the entry and byte counts, stored in the same batch, stay
// exact. A raw record's payload is copied straight from the caller's buffer into the batch. A
// durable write of present blocks still syncs when an unsynced group was written since the last
// sync, since the blocks may be among its writes.
//
// Reads. Get, Contains and readers decode and check records; anything that does not decode is
// Corruption naming the key in hex, never wrong bytes. LevelDB checksums are verified on reads.
// Listings (Scan, the cleanup at open) read without those checksums, so a damaged table block
// does not hide the keys around it, and go on past table blocks they cannot parse at all.
//
// Reopen. Reconfigure with changed database options closes and reopens the database at the same
// path. The ReopenLock is held exclusively only for that; calls in flight finish first, and calls
// arriving meanwhile wait and then run against the reopened database. Open readers keep a
// snapshot of the database; on a reopen they get a snapshot of the reopened one.
//
// Crash safety. A WriteBatch is atomic, so a block record and the chunks written with it appear
// together or not at all. A streamed write (StreamWriter) writes chunks in batches of their own
// and the block record last; its intent record, written durably with the first chunk, lets Open
// delete the chunks of writes that never committed (a seek over the small 'p' range, not a scan
// of the chunks). Chunks are written without sync; LevelDB does not sync a log file it switches
// away from, so a power loss shortly after a memtable switch can lose chunks of a block whose
// record survived. Reads of such a block report Corruption.
//
// Thread safety: every method may be called concurrently, Reconfigure included.
#pragma once

#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "background_env.h"
#include "boxcar/cache_tier.h"
#include "boxcar/host.h"
#include "concurrency.h"
#include "record_format.h"
#include "value_codec.h"

namespace leveldb_tier {

// Options that take effect only when the database is (re)opened.
struct DbOptions {
  uint64_t block_cache_bytes = 64ull << 20;
  uint64_t write_buffer_bytes = 32ull << 20;
  int max_open_files = 1000;
  int bloom_bits_per_key = 10;  // 0: no bloom filter
  bool snappy = false;
  bool operator==(const DbOptions&) const = default;
};

// Options that apply to the next write.
struct WritePolicy {
  bool sync = true;  // durable writes sync LevelDB's log once per group
  CompressionPolicy compression;
  uint64_t large_block_bytes = 1ull << 20;  // larger blocks are stored in chunks
  uint64_t chunk_bytes = 256ull << 10;
};

struct StoreOptions {
  DbOptions db;
  WritePolicy write;
};

// Where the store reports; every pointer is valid for the store's lifetime.
struct StoreMetrics {
  boxcar::Counter* puts;               // blocks written (present ones do not count)
  boxcar::Counter* write_groups;       // LevelDB writes made by group commit
  boxcar::Counter* syncs;              // of those, synced ones
  boxcar::Histogram* group_entries;    // blocks written or deleted per group
  boxcar::Counter* bytes_written;      // record bytes of written blocks, headers included
  boxcar::Counter* compression_saved;  // bytes zstd saved in written records
  boxcar::Counter* corruption;         // records found that do not decode
  boxcar::Counter* reopens;            // reopens by Reconfigure
};

// A block to store.
struct NewBlock {
  std::string_view key;
  std::string_view data;
};

// A reader's snapshot of the database, replaced by the store when it reopens the database.
struct PinnedSnapshot {
  const leveldb::Snapshot* snapshot = nullptr;  // guarded by the store's ReopenLock
};

class LevelDbStore {
 public:
  // Opens or creates the database in `dir`, loads the counts and removes the chunks of streamed
  // writes that never committed.
  static boxcar::Status Open(const std::string& dir, const StoreOptions& options,
                             const StoreMetrics& metrics, boxcar::Logger& logger,
                             std::unique_ptr<LevelDbStore>* out);
  ~LevelDbStore();
  LevelDbStore(const LevelDbStore&) = delete;
  LevelDbStore& operator=(const LevelDbStore&) = delete;

  // NotFound, Corruption, or the block's bytes.
  boxcar::Status Get(std::string_view key, std::string* out);
  // Get of every key, answered by position in `out` and `status`; the blocks are read in key
  // order from one snapshot of the database.
  void GetMany(std::span<const std::string_view> keys, std::vector<std::string>* out,
               std::vector<boxcar::Status>* status);
  // NotFound, Corruption, or the block's logical size.
  boxcar::Status Contains(std::string_view key, uint64_t* size);
  // Stores the blocks that are not present yet, in one atomic group; synced when `durable` and
  // the policy syncs. Returns once written.
  boxcar::Status Write(std::span<const NewBlock> blocks, bool durable);
  // Removes a block and its chunks atomically; OK if absent.
  boxcar::Status Delete(std::string_view key);
  // Visits block keys in order with their sizes. A record whose header does not decode is
  // visited with size 0 (and counted and logged as corruption): it is there, so GC may remove it
  // and a scrub finds it when it reads it.
  boxcar::Status Scan(const std::function<bool(std::string_view key, uint64_t size)>& visit);
  StoredCounts Counts() const;

  // Applies new options; reopens the database when its options changed. On a failed reopen the
  // previous options are restored and the error returned.
  boxcar::Status Reconfigure(const StoreOptions& options);

  boxcar::Status OpenReader(std::string_view key, std::unique_ptr<boxcar::BlockReader>* out);
  boxcar::Status OpenWriter(std::string_view key, uint64_t size, bool durable,
                            std::unique_ptr<boxcar::BlockWriter>* out);

 private:
  friend class ChunkedReader;
  friend class StreamWriter;

  // Chunks a streamed write already stored, before its commit.
  struct StreamedChunks {
    uint64_t write_id = 0;
    uint32_t count = 0;
  };
  // One block as the leader writes it.
  struct EncodedBlock {
    std::string key;
    RecordHeader header;  // format, size and chunk layout of `record`
    EncodedRecord record;
    std::vector<std::pair<std::string, EncodedRecord>> chunks;  // written with the record
    std::optional<StreamedChunks> streamed;
    uint64_t saved = 0;  // bytes compression saved
  };
  struct WriteOp : QueuedWrite {
    std::vector<EncodedBlock> puts;
    std::optional<std::string> delete_key;
    bool sync = false;
    // The generation at which Write found every block of `puts` absent from the database.
    std::optional<uint64_t> absent_at;
  };
  class GroupBuilder;

  LevelDbStore(std::string dir, const StoreOptions& options, const StoreMetrics& metrics,
               boxcar::Logger& logger);

  // Require reopen_lock_ exclusively (or no concurrent use, during Open).
  boxcar::Status OpenDb(const DbOptions& options);
  void CloseDb();
  boxcar::Status LoadCounts();
  boxcar::Status RemoveUncommittedChunks();

  // Require reopen_lock_ held shared.
  boxcar::Status CheckOpen() const;
  // The status of a finished listing: OK, or IOError; damage found is counted and logged.
  boxcar::Status ListingStatus(const leveldb::Status& s, std::string_view what);
  boxcar::Status ReadRecord(std::string_view key, const leveldb::Snapshot* snapshot,
                            std::string* record, RecordHeader* header);
  boxcar::Status ReadChunk(std::string_view key, const ChunkLayout& layout, uint64_t block_size,
                           uint32_t index, const leveldb::Snapshot* snapshot, std::string* out);
  // The block `key` as of `snapshot`, its chunks included; `record` is scratch space.
  boxcar::Status ReadAt(std::string_view key, const leveldb::Snapshot* snapshot,
                        std::string* record, std::string* out);
  boxcar::Status Decode(std::string_view key, std::string* record, const RecordHeader& header,
                        std::string* out);
  boxcar::Status WriteUnordered(leveldb::WriteBatch* batch, bool sync);

  boxcar::Status Corruption(std::string_view key, std::string_view what);
  WritePolicy Policy() const;
  uint64_t NewWriteId() { return next_write_id_.fetch_add(1, std::memory_order_relaxed); }
  EncodedBlock Encode(const NewBlock& block, const WritePolicy& policy);
  boxcar::Status Submit(WriteOp* op);
  boxcar::Status WriteGroup(const std::vector<QueuedWrite*>& group);

  // Pin and UnpinLocked require reopen_lock_ held shared; Unpin takes it.
  void Pin(PinnedSnapshot* pin);
  void Unpin(PinnedSnapshot* pin);
  void UnpinLocked(PinnedSnapshot* pin);
  bool Exists(std::string_view key);  // requires reopen_lock_ held shared

  const std::string dir_;
  const StoreMetrics metrics_;
  boxcar::Logger& logger_;
  ValueCodec codec_;
  WriteQueue queue_;
  std::atomic<uint64_t> next_write_id_;
  std::atomic<uint64_t> entries_{0};  // written by group leaders only
  std::atomic<uint64_t> bytes_{0};
  // LevelDB writes made by group leaders, counted after each; a look-up made at generation g
  // still holds while the generation is g.
  std::atomic<uint64_t> generation_{0};
  // Whether blocks were written unsynced since the last sync; written by group leaders only. (Open
  // leaves everything durable: LevelDB's recovery writes the log it replays to a synced table.)
  std::atomic<bool> unsynced_{false};

  mutable std::mutex policy_mutex_;
  WritePolicy policy_;  // guarded by policy_mutex_

  // The database and what it was opened with; replaced under reopen_lock_ held exclusively,
  // used under it held shared. The Env outlives every database opened with it.
  mutable ReopenLock reopen_lock_;
  BackgroundEnv env_;
  DbOptions db_options_;
  std::unique_ptr<leveldb::Cache> block_cache_;
  std::unique_ptr<const leveldb::FilterPolicy> filter_policy_;
  std::unique_ptr<leveldb::DB> db_;
  boxcar::Status closed_;  // why db_ is null after a failed reopen

  std::mutex pins_mutex_;
  std::unordered_set<PinnedSnapshot*> pins_;  // guarded by pins_mutex_
};

}  // namespace leveldb_tier
