#include "leveldb_store.h"

#include <leveldb/iterator.h>

#include <algorithm>
#include <random>
#include <shared_mutex>
#include <unordered_map>
#include <utility>

#include "block_streams.h"

namespace leveldb_tier {
namespace {

using boxcar::Status;

// Group commit bounds: large enough to amortize a sync over many writers, small enough that a
// group's batch stays a modest allocation and its followers do not wait long.
constexpr uint64_t kMaxGroupBytes = 4ull << 20;
constexpr size_t kMaxGroupEntries = 1000;
// LevelDB's default of 2 MiB tables would hold a handful of blocks each, and a large store would
// need more tables than max_open_files keeps open.
constexpr size_t kMaxTableBytes = 32ull << 20;
// Records read per lock hold in Scan, so a reopen never waits for a whole scan.
constexpr size_t kScanBatch = 1024;

leveldb::ReadOptions Reading(const leveldb::Snapshot* snapshot) {
  leveldb::ReadOptions options;
  options.verify_checksums = true;
  options.snapshot = snapshot;
  return options;
}

// Write's look-up before queueing only needs to know whether a block record is there: a damaged
// one counts as present either way, and a look-up of a present block should not evict the
// working set from the block cache.
leveldb::ReadOptions Probing() {
  leveldb::ReadOptions options;
  options.fill_cache = false;
  return options;
}

// Listings (Scan, the cleanup at open) need keys and record headers, and check the headers
// themselves. Without LevelDB's block checksums, one damaged table block does not hide the
// blocks stored next to it from GC and scrubs; reads of it still fail its checksum.
leveldb::ReadOptions Listing() {
  leveldb::ReadOptions options;
  options.verify_checksums = false;
  options.fill_cache = false;  // a listing would evict the working set
  return options;
}

std::string_view View(const leveldb::Slice& s) { return {s.data(), s.size()}; }

uint64_t RandomWriteIdStart() {
  std::random_device random;
  return (static_cast<uint64_t>(random()) << 32) ^ random();
}

class SnapshotGuard {
 public:
  explicit SnapshotGuard(leveldb::DB* db) : db_(db), snapshot_(db->GetSnapshot()) {}
  SnapshotGuard(const SnapshotGuard&) = delete;
  SnapshotGuard& operator=(const SnapshotGuard&) = delete;
  ~SnapshotGuard() { db_->ReleaseSnapshot(snapshot_); }
  const leveldb::Snapshot* get() const { return snapshot_; }

 private:
  leveldb::DB* db_;
  const leveldb::Snapshot* snapshot_;
};

}  // namespace

// The batch of one group, with what the group has done to each key so far, so that a key
// written or deleted twice in a group is counted once.
class LevelDbStore::GroupBuilder {
 public:
  GroupBuilder(LevelDbStore& store, StoredCounts counts) : store_(store), counts_(counts) {}

  // `absent_in_db`: the database is known not to hold the block; only the group is checked.
  Status AddPut(const EncodedBlock& block, bool absent_in_db) {
    Presence presence;
    if (Status s = LookUp(block.key, !absent_in_db, &presence); !s.ok()) return s;
    if (presence.present) {
      // Present blocks are not rewritten; a streamed write's chunks are not needed then.
      if (block.streamed) DeleteStreamed(block.key, *block.streamed);
      return Status::OK();
    }
    Put(BlockKey(block.key), block.record);
    for (const auto& [chunk_key, chunk_record] : block.chunks) Put(chunk_key, chunk_record);
    if (block.streamed) batch_.Delete(IntentKey(block.key, block.streamed->write_id));
    overlay_[block.key] = Presence{true, block.header};
    ++counts_.entries;
    counts_.bytes += block.header.size;
    ++puts_;
    written_bytes_ += block.record.size();
    for (const auto& chunk : block.chunks) written_bytes_ += chunk.second.size();
    saved_bytes_ += block.saved;
    batch_empty_ = false;
    counts_changed_ = true;
    return Status::OK();
  }

  Status AddDelete(const std::string& key) {
    Presence presence;
    if (Status s = LookUp(key, true, &presence); !s.ok()) return s;
    if (!presence.present) return Status::OK();
    batch_.Delete(BlockKey(key));
    if (presence.header && presence.header->format == RecordFormat::kChunked) {
      const ChunkLayout& layout = presence.header->chunks;
      for (uint32_t i = 0; i < layout.count; ++i) batch_.Delete(ChunkKey(key, layout.write_id, i));
    }
    overlay_[key] = Presence{};
    // A record whose header does not decode has an unknown size; it leaves the bytes as they are.
    const uint64_t size = presence.header ? presence.header->size : 0;
    counts_.entries -= std::min<uint64_t>(counts_.entries, 1);
    counts_.bytes -= std::min(counts_.bytes, size);
    batch_empty_ = false;
    counts_changed_ = true;
    return Status::OK();
  }

  // The batch to write, with the new counts when they changed; null when there is nothing to
  // write.
  leveldb::WriteBatch* Finish() {
    if (counts_changed_) {
      batch_.Put(leveldb::Slice(kStatsKey.data(), kStatsKey.size()), EncodeCounts(counts_));
    }
    return batch_empty_ ? nullptr : &batch_;
  }

  const StoredCounts& counts() const { return counts_; }
  uint64_t puts() const { return puts_; }
  uint64_t written_bytes() const { return written_bytes_; }
  uint64_t saved_bytes() const { return saved_bytes_; }

 private:
  struct Presence {
    bool present = false;
    std::optional<RecordHeader> header;  // unset when absent or when the record does not decode
  };

  // What the group did to `key`, else what the database holds (when `check_db`).
  Status LookUp(const std::string& key, bool check_db, Presence* out) {
    if (auto it = overlay_.find(key); it != overlay_.end()) {
      *out = it->second;
      return Status::OK();
    }
    if (!check_db) return Status::OK();
    std::string record;
    const leveldb::Status s = store_.db_->Get(Reading(nullptr), BlockKey(key), &record);
    if (s.IsNotFound()) return Status::OK();
    if (!s.ok() && !s.IsCorruption()) {
      return Status::IOError("reading block " + Hex(key) + ": " + s.ToString());
    }
    out->present = true;
    RecordHeader header;
    if (s.ok() && ParseRecordHeader(record, true, &header).empty()) {
      out->header = header;
    } else {
      store_.metrics_.corruption->Increment();
    }
    return Status::OK();
  }

  void Put(const std::string& key, const EncodedRecord& record) {
    const std::string_view value = record.Join(&scratch_);
    batch_.Put(key, leveldb::Slice(value.data(), value.size()));
  }

  void DeleteStreamed(const std::string& key, const StreamedChunks& streamed) {
    for (uint32_t i = 0; i < streamed.count; ++i) {
      batch_.Delete(ChunkKey(key, streamed.write_id, i));
    }
    batch_.Delete(IntentKey(key, streamed.write_id));
    batch_empty_ = false;
  }

  LevelDbStore& store_;
  leveldb::WriteBatch batch_;
  std::string scratch_;  // a raw record, joined for batch_.Put; reused across the group
  std::unordered_map<std::string, Presence> overlay_;
  StoredCounts counts_;
  bool batch_empty_ = true;
  bool counts_changed_ = false;
  uint64_t puts_ = 0;
  uint64_t written_bytes_ = 0;
  uint64_t saved_bytes_ = 0;
};

LevelDbStore::LevelDbStore(std::string dir, const StoreOptions& options,
                           const StoreMetrics& metrics, boxcar::Logger& logger)
    : dir_(std::move(dir)),
      metrics_(metrics),
      logger_(logger),
      queue_(kMaxGroupBytes, kMaxGroupEntries),
      next_write_id_(RandomWriteIdStart()),
      policy_(options.write) {}

LevelDbStore::~LevelDbStore() { CloseDb(); }

Status LevelDbStore::Open(const std::string& dir, const StoreOptions& options,
                          const StoreMetrics& metrics, boxcar::Logger& logger,
                          std::unique_ptr<LevelDbStore>* out) {
  std::unique_ptr<LevelDbStore> store(new LevelDbStore(dir, options, metrics, logger));
  Status s = store->OpenDb(options.db);
  if (s.ok()) s = store->LoadCounts();
  if (s.ok()) s = store->RemoveUncommittedChunks();
  if (s.ok()) *out = std::move(store);
  return s;
}

Status LevelDbStore::OpenDb(const DbOptions& db_options) {
  leveldb::Options options;
  options.create_if_missing = true;
  options.env = &env_;
  options.write_buffer_size = db_options.write_buffer_bytes;
  options.max_open_files = db_options.max_open_files;
  options.max_file_size = kMaxTableBytes;
  options.compression = db_options.snappy ? leveldb::kSnappyCompression : leveldb::kNoCompression;
  std::unique_ptr<leveldb::Cache> cache(leveldb::NewLRUCache(db_options.block_cache_bytes));
  options.block_cache = cache.get();
  std::unique_ptr<const leveldb::FilterPolicy> filter;
  if (db_options.bloom_bits_per_key > 0) {
    filter.reset(leveldb::NewBloomFilterPolicy(db_options.bloom_bits_per_key));
  }
  options.filter_policy = filter.get();
  leveldb::DB* db = nullptr;
  const leveldb::Status s = leveldb::DB::Open(options, dir_, &db);
  if (!s.ok()) {
    const std::string what = "cannot open the LevelDB database in " + dir_ + ": " + s.ToString();
    return s.IsCorruption() ? Status::Corruption(what) : Status::IOError(what);
  }
  db_.reset(db);
  block_cache_ = std::move(cache);
  filter_policy_ = std::move(filter);
  db_options_ = db_options;
  closed_ = Status::OK();
  return Status::OK();
}

void LevelDbStore::CloseDb() {
  db_.reset();  // before the cache and filter it uses
  filter_policy_.reset();
  block_cache_.reset();
}

Status LevelDbStore::LoadCounts() {
  std::string value;
  const leveldb::Status s =
      db_->Get(Reading(nullptr), leveldb::Slice(kStatsKey.data(), kStatsKey.size()), &value);
  StoredCounts counts;
  if (s.ok() && DecodeCounts(value, &counts)) {
    entries_.store(counts.entries);
    bytes_.store(counts.bytes);
    return Status::OK();
  }
  if (!s.ok() && !s.IsNotFound() && !s.IsCorruption()) {
    return Status::IOError("cannot read the stats record in " + dir_ + ": " + s.ToString());
  }
  // A new database has no stats record; a damaged one is rebuilt by counting the blocks.
  if (!s.IsNotFound()) {
    metrics_.corruption->Increment();
    logger_.Log(boxcar::LogLevel::kWarn, "the stats record in " + dir_ + " is damaged (" +
                                             (s.ok() ? "it does not decode" : s.ToString()) +
                                             "); counting the blocks again");
  }
  const Status scanned = Scan([&](std::string_view, uint64_t size) {
    ++counts.entries;
    counts.bytes += size;
    return true;
  });
  if (!scanned.ok()) return scanned;
  leveldb::WriteOptions sync;
  sync.sync = true;
  const leveldb::Status w =
      db_->Put(sync, leveldb::Slice(kStatsKey.data(), kStatsKey.size()), EncodeCounts(counts));
  if (!w.ok())
    return Status::IOError("cannot write the stats record in " + dir_ + ": " + w.ToString());
  entries_.store(counts.entries);
  bytes_.store(counts.bytes);
  return Status::OK();
}

Status LevelDbStore::RemoveUncommittedChunks() {
  leveldb::WriteBatch batch;
  size_t writes = 0;
  std::unique_ptr<leveldb::Iterator> intents(db_->NewIterator(Listing()));
  for (intents->Seek(std::string(1, kIntentPrefix));
       intents->Valid() && intents->key().starts_with(leveldb::Slice(&kIntentPrefix, 1));
       intents->Next()) {
    std::string key;
    uint64_t write_id = 0;
    if (ParseIntentKey(View(intents->key()), &key, &write_id)) {
      const std::string prefix = ChunkPrefix(key, write_id);
      std::unique_ptr<leveldb::Iterator> chunks(db_->NewIterator(Listing()));
      for (chunks->Seek(prefix); chunks->Valid() && chunks->key().starts_with(prefix);
           chunks->Next()) {
        batch.Delete(chunks->key());
      }
      if (Status s = ListingStatus(chunks->status(), "listing uncommitted chunks"); !s.ok()) {
        return s;
      }
    }
    batch.Delete(intents->key());
    ++writes;
  }
  if (Status s = ListingStatus(intents->status(), "listing streamed-write intents"); !s.ok()) {
    return s;
  }
  if (writes == 0) return Status::OK();
  const leveldb::Status s = db_->Write(leveldb::WriteOptions(), &batch);
  if (!s.ok())
    return Status::IOError("removing uncommitted chunks in " + dir_ + ": " + s.ToString());
  logger_.Log(boxcar::LogLevel::kInfo, "removed the chunks of " + std::to_string(writes) +
                                           " streamed writes that never committed");
  return Status::OK();
}

Status LevelDbStore::ListingStatus(const leveldb::Status& s, std::string_view what) {
  if (s.ok()) return Status::OK();
  if (!s.IsCorruption())
    return Status::IOError(std::string(what) + " in " + dir_ + ": " + s.ToString());
  // Structural damage in a table block: the records in it cannot be listed, and reads of them
  // report Corruption. The listing goes on past it.
  metrics_.corruption->Increment();
  logger_.Log(boxcar::LogLevel::kWarn, std::string(what) + " in " + dir_ + ": " + s.ToString() +
                                           "; the records of that table block were skipped");
  return Status::OK();
}

Status LevelDbStore::CheckOpen() const { return db_ != nullptr ? Status::OK() : closed_; }

Status LevelDbStore::Corruption(std::string_view key, std::string_view what) {
  metrics_.corruption->Increment();
  return Status::Corruption("block " + Hex(key) + " in " + dir_ + ": " + std::string(what));
}

Status LevelDbStore::ReadRecord(std::string_view key, const leveldb::Snapshot* snapshot,
                                std::string* record, RecordHeader* header) {
  const leveldb::Status s = db_->Get(Reading(snapshot), BlockKey(key), record);
  if (s.IsNotFound()) return Status::NotFound("not stored");
  if (s.IsCorruption()) return Corruption(key, s.ToString());
  if (!s.ok()) return Status::IOError("reading block " + Hex(key) + ": " + s.ToString());
  if (std::string error = ParseRecordHeader(*record, true, header); !error.empty()) {
    return Corruption(key, error);
  }
  return Status::OK();
}

Status LevelDbStore::Decode(std::string_view key, std::string* record, const RecordHeader& header,
                            std::string* out) {
  if (header.format == RecordFormat::kRaw) {
    record->erase(0, header.payload_offset);  // the payload is the block: no second copy
    *out = std::move(*record);
    return Status::OK();
  }
  if (std::string error = codec_.Decode(*record, header, out); !error.empty()) {
    return Corruption(key, error);
  }
  return Status::OK();
}

Status LevelDbStore::ReadChunk(std::string_view key, const ChunkLayout& layout, uint64_t block_size,
                               uint32_t index, const leveldb::Snapshot* snapshot,
                               std::string* out) {
  const std::string where =
      "chunk " + std::to_string(index) + " of " + std::to_string(layout.count);
  std::string record;
  const leveldb::Status s =
      db_->Get(Reading(snapshot), ChunkKey(key, layout.write_id, index), &record);
  if (s.IsNotFound()) return Corruption(key, where + " is missing");
  if (s.IsCorruption()) return Corruption(key, where + ": " + s.ToString());
  if (!s.ok()) return Status::IOError("reading block " + Hex(key) + ": " + s.ToString());
  RecordHeader header;
  if (std::string error = ParseRecordHeader(record, false, &header); !error.empty()) {
    return Corruption(key, where + ": " + error);
  }
  const uint64_t expected = layout.ChunkSize(block_size, index);
  if (header.size != expected) {
    return Corruption(key, where + " holds " + std::to_string(header.size) +
                               " bytes, the block's layout says " + std::to_string(expected));
  }
  std::string data;
  if (Status d = Decode(key, &record, header, &data); !d.ok()) return d;
  *out = std::move(data);
  return Status::OK();
}

Status LevelDbStore::Get(std::string_view key, std::string* out) {
  std::shared_lock lock(reopen_lock_);
  if (Status s = CheckOpen(); !s.ok()) return s;
  std::string record;
  RecordHeader header;
  if (Status s = ReadRecord(key, nullptr, &record, &header); !s.ok()) return s;
  if (header.format != RecordFormat::kChunked) return Decode(key, &record, header, out);
  // Record and chunks from one snapshot, so a concurrent Delete cannot pull chunks away.
  const SnapshotGuard snapshot(db_.get());
  return ReadAt(key, snapshot.get(), &record, out);
}

void LevelDbStore::GetMany(std::span<const std::string_view> keys, std::vector<std::string>* out,
                           std::vector<Status>* status) {
  out->assign(keys.size(), std::string());
  status->assign(keys.size(), Status::OK());
  std::shared_lock lock(reopen_lock_);
  if (Status s = CheckOpen(); !s.ok()) {
    status->assign(keys.size(), s);
    return;
  }
  // Key order walks the tables forwards, so neighbouring keys share the table blocks read.
  std::vector<size_t> order(keys.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] < keys[b]; });
  const SnapshotGuard snapshot(db_.get());
  std::string record;
  for (size_t i : order) (*status)[i] = ReadAt(keys[i], snapshot.get(), &record, &(*out)[i]);
}

Status LevelDbStore::ReadAt(std::string_view key, const leveldb::Snapshot* snapshot,
                            std::string* record, std::string* out) {
  RecordHeader header;
  if (Status s = ReadRecord(key, snapshot, record, &header); !s.ok()) return s;
  if (header.format != RecordFormat::kChunked) return Decode(key, record, header, out);
  std::string block;
  block.reserve(header.size);
  std::string chunk;
  for (uint32_t i = 0; i < header.chunks.count; ++i) {
    Status s = ReadChunk(key, header.chunks, header.size, i, snapshot, &chunk);
    if (!s.ok()) return s;
    block.append(chunk);
  }
  *out = std::move(block);
  return Status::OK();
}

Status LevelDbStore::Contains(std::string_view key, uint64_t* size) {
  std::shared_lock lock(reopen_lock_);
  if (Status s = CheckOpen(); !s.ok()) return s;
  std::string record;
  RecordHeader header;
  if (Status s = ReadRecord(key, nullptr, &record, &header); !s.ok()) return s;
  *size = header.size;
  return Status::OK();
}

WritePolicy LevelDbStore::Policy() const {
  std::lock_guard lock(policy_mutex_);
  return policy_;
}

LevelDbStore::EncodedBlock LevelDbStore::Encode(const NewBlock& block, const WritePolicy& policy) {
  EncodedBlock encoded;
  encoded.key = std::string(block.key);
  encoded.header.size = block.data.size();
  if (block.data.size() <= policy.large_block_bytes) {
    encoded.record = codec_.Encode(block.data, policy.compression, &encoded.saved);
    encoded.header.format = encoded.record.format;
    return encoded;
  }
  const ChunkLayout layout{NewWriteId(), ChunkCount(block.data.size(), policy.chunk_bytes),
                           policy.chunk_bytes};
  for (uint32_t i = 0; i < layout.count; ++i) {
    const std::string_view piece = block.data.substr(i * layout.chunk_bytes, layout.chunk_bytes);
    uint64_t saved = 0;
    encoded.chunks.emplace_back(ChunkKey(block.key, layout.write_id, i),
                                codec_.Encode(piece, policy.compression, &saved));
    encoded.saved += saved;
  }
  encoded.header.format = RecordFormat::kChunked;
  encoded.header.chunks = layout;
  encoded.record =
      EncodedRecord{RecordFormat::kChunked, EncodeChunkedRecord(block.data.size(), layout), {}};
  return encoded;
}

Status LevelDbStore::Write(std::span<const NewBlock> blocks, bool durable) {
  std::vector<const NewBlock*> absent;
  uint64_t generation = 0;
  {
    // Present blocks are dropped here (the bloom filter answers most absent ones). The leader
    // trusts this look-up when no group was written since; otherwise it checks again.
    std::shared_lock lock(reopen_lock_);
    if (Status s = CheckOpen(); !s.ok()) return s;
    // Loaded before the look-ups: a group written after it, which they may have missed, moves
    // the generation on.
    generation = generation_.load(std::memory_order_acquire);
    std::string record;
    for (const NewBlock& block : blocks) {
      const leveldb::Status s = db_->Get(Probing(), BlockKey(block.key), &record);
      if (s.IsNotFound()) {
        absent.push_back(&block);
      } else if (!s.ok() && !s.IsCorruption()) {
        return Status::IOError("reading block " + Hex(block.key) + ": " + s.ToString());
      }
    }
  }
  const WritePolicy policy = Policy();
  WriteOp op;
  op.sync = durable && policy.sync;
  op.absent_at = generation;
  // Present blocks may have come from unsynced writes (promotions, demotions); a durable put of
  // them waits for a sync of what is pending.
  if (absent.empty() && !(op.sync && unsynced_.load(std::memory_order_acquire))) {
    return Status::OK();
  }
  op.puts.reserve(absent.size());
  for (const NewBlock* block : absent) {
    op.puts.push_back(Encode(*block, policy));
    op.bytes += block->data.size();
    ++op.entries;
  }
  return Submit(&op);
}

Status LevelDbStore::Delete(std::string_view key) {
  WriteOp op;
  op.delete_key = std::string(key);
  op.entries = 1;
  return Submit(&op);
}

Status LevelDbStore::Submit(WriteOp* op) {
  return queue_.Submit(
      op, [this](const std::vector<QueuedWrite*>& group) { return WriteGroup(group); });
}

Status LevelDbStore::WriteGroup(const std::vector<QueuedWrite*>& group) {
  std::shared_lock lock(reopen_lock_);
  if (Status s = CheckOpen(); !s.ok()) return s;
  GroupBuilder builder(*this, Counts());
  // Only leaders write block records, one group at a time: the generation is stable here.
  const uint64_t generation = generation_.load(std::memory_order_relaxed);
  bool sync = false;
  size_t entries = 0;
  for (QueuedWrite* queued : group) {
    const auto* op = static_cast<const WriteOp*>(queued);
    sync = sync || op->sync;
    entries += op->entries;
    if (op->delete_key) {
      if (Status s = builder.AddDelete(*op->delete_key); !s.ok()) return s;
    }
    const bool absent_in_db = op->absent_at == generation;
    for (const EncodedBlock& block : op->puts) {
      if (Status s = builder.AddPut(block, absent_in_db); !s.ok()) return s;
    }
  }
  leveldb::WriteBatch* batch = builder.Finish();
  leveldb::WriteBatch nothing;  // written only to sync earlier unsynced groups
  if (batch == nullptr) {
    if (!sync || !unsynced_.load(std::memory_order_acquire)) return Status::OK();
    batch = &nothing;
  }
  leveldb::WriteOptions options;
  options.sync = sync;
  const leveldb::Status s = db_->Write(options, batch);
  // Even a failed Write may have stored part of the batch's log record.
  generation_.store(generation + 1, std::memory_order_release);
  if (!s.ok())
    return Status::IOError("writing to the LevelDB database in " + dir_ + ": " + s.ToString());
  if (sync || builder.puts() > 0) unsynced_.store(!sync, std::memory_order_release);
  entries_.store(builder.counts().entries, std::memory_order_relaxed);
  bytes_.store(builder.counts().bytes, std::memory_order_relaxed);
  metrics_.write_groups->Increment();
  if (sync) metrics_.syncs->Increment();
  metrics_.group_entries->Observe(static_cast<double>(entries));
  metrics_.puts->Increment(static_cast<double>(builder.puts()));
  metrics_.bytes_written->Increment(static_cast<double>(builder.written_bytes()));
  metrics_.compression_saved->Increment(static_cast<double>(builder.saved_bytes()));
  return Status::OK();
}

Status LevelDbStore::WriteUnordered(leveldb::WriteBatch* batch, bool sync) {
  std::shared_lock lock(reopen_lock_);
  if (Status s = CheckOpen(); !s.ok()) return s;
  leveldb::WriteOptions options;
  options.sync = sync;
  const leveldb::Status s = db_->Write(options, batch);
  if (!s.ok())
    return Status::IOError("writing to the LevelDB database in " + dir_ + ": " + s.ToString());
  if (sync) metrics_.syncs->Increment();
  return Status::OK();
}

StoredCounts LevelDbStore::Counts() const {
  return StoredCounts{entries_.load(std::memory_order_relaxed),
                      bytes_.load(std::memory_order_relaxed)};
}

Status LevelDbStore::Scan(const std::function<bool(std::string_view, uint64_t)>& visit) {
  std::string resume(1, kBlockPrefix);
  bool skip_resume = false;  // resume names a record already visited
  uint64_t corrupt = 0;
  std::string first_corrupt;
  while (true) {
    std::vector<std::pair<std::string, uint64_t>> found;
    bool done = true;
    {
      std::shared_lock lock(reopen_lock_);
      if (Status s = CheckOpen(); !s.ok()) return s;
      std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(Listing()));
      it->Seek(resume);
      if (skip_resume && it->Valid() && View(it->key()) == resume) it->Next();
      size_t examined = 0;
      for (; it->Valid() && it->key().starts_with(leveldb::Slice(&kBlockPrefix, 1)); it->Next()) {
        if (examined++ == kScanBatch) {
          done = false;
          break;
        }
        resume.assign(it->key().data(), it->key().size());
        const std::string_view key = View(it->key()).substr(1);
        RecordHeader header;
        if (std::string error = ParseRecordHeader(View(it->value()), true, &header);
            !error.empty()) {
          if (corrupt++ == 0) first_corrupt = Corruption(key, error).message();
          header.size = 0;
        }
        found.emplace_back(key, header.size);
      }
      if (Status s = ListingStatus(it->status(), "scanning blocks"); !s.ok()) return s;
    }
    skip_resume = true;
    for (const auto& [key, size] : found) {
      if (!visit(key, size)) return Status::OK();
    }
    if (done) break;
  }
  if (corrupt > 0) {
    logger_.Log(boxcar::LogLevel::kWarn, "scan: " + std::to_string(corrupt) +
                                             " block records do not decode and were visited "
                                             "with size 0; the first: " +
                                             first_corrupt);
  }
  return Status::OK();
}

Status LevelDbStore::Reconfigure(const StoreOptions& options) {
  bool reopen = false;
  {
    std::shared_lock lock(reopen_lock_);
    reopen = db_ == nullptr || !(db_options_ == options.db);
  }
  if (reopen) {
    std::unique_lock lock(reopen_lock_);
    const DbOptions previous = db_options_;
    {
      std::lock_guard pins(pins_mutex_);
      for (PinnedSnapshot* pin : pins_) {
        if (db_ != nullptr && pin->snapshot != nullptr) db_->ReleaseSnapshot(pin->snapshot);
        pin->snapshot = nullptr;
      }
    }
    CloseDb();
    Status s = OpenDb(options.db);
    if (!s.ok() && !OpenDb(previous).ok()) {
      closed_ = Status::IOError("the LevelDB database in " + dir_ +
                                " is closed: reopening it failed: " + s.message());
    }
    {
      std::lock_guard pins(pins_mutex_);
      for (PinnedSnapshot* pin : pins_) {
        if (db_ != nullptr) pin->snapshot = db_->GetSnapshot();
      }
    }
    if (!s.ok()) return s;
    metrics_.reopens->Increment();
    logger_.Log(boxcar::LogLevel::kInfo, "reopened the LevelDB database in " + dir_);
  }
  std::lock_guard lock(policy_mutex_);
  policy_ = options.write;
  return Status::OK();
}

void LevelDbStore::Pin(PinnedSnapshot* pin) {
  pin->snapshot = db_->GetSnapshot();
  std::lock_guard lock(pins_mutex_);
  pins_.insert(pin);
}

void LevelDbStore::Unpin(PinnedSnapshot* pin) {
  std::shared_lock lock(reopen_lock_);
  UnpinLocked(pin);
}

void LevelDbStore::UnpinLocked(PinnedSnapshot* pin) {
  std::lock_guard lock(pins_mutex_);
  pins_.erase(pin);
  if (db_ != nullptr && pin->snapshot != nullptr) db_->ReleaseSnapshot(pin->snapshot);
  pin->snapshot = nullptr;
}

bool LevelDbStore::Exists(std::string_view key) {
  std::string record;
  return db_->Get(Reading(nullptr), BlockKey(key), &record).ok();
}

Status LevelDbStore::OpenReader(std::string_view key, std::unique_ptr<boxcar::BlockReader>* out) {
  std::shared_lock lock(reopen_lock_);
  if (Status s = CheckOpen(); !s.ok()) return s;
  auto pin = std::make_unique<PinnedSnapshot>();
  Pin(pin.get());
  std::string record;
  RecordHeader header;
  Status s = ReadRecord(key, pin->snapshot, &record, &header);
  if (s.ok() && header.format == RecordFormat::kChunked) {
    *out = std::make_unique<ChunkedReader>(this, key, header, std::move(pin));
    return Status::OK();
  }
  UnpinLocked(pin.get());
  std::string block;
  if (s.ok()) s = Decode(key, &record, header, &block);
  if (s.ok()) *out = std::make_unique<WholeReader>(std::move(block));
  return s;
}

Status LevelDbStore::OpenWriter(std::string_view key, uint64_t size, bool durable,
                                std::unique_ptr<boxcar::BlockWriter>* out) {
  bool present = false;
  {
    std::shared_lock lock(reopen_lock_);
    if (Status s = CheckOpen(); !s.ok()) return s;
    present = Exists(key);
  }
  *out = std::make_unique<StreamWriter>(this, key, size, durable, Policy(), present);
  return Status::OK();
}

}  // namespace leveldb_tier
