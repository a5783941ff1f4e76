// cache_tier "leveldb": the embedded default persistent tier. Blocks live in one LevelDB
// database in the tier's data directory; leveldb_store.h describes the engine (group commit,
// reopen in place, crash safety) and record_format.h the stored format.
//
// Params split in two: sync, compression, zstd_level, compress_min_bytes, large_block_bytes and
// chunk_bytes only shape new writes (every record describes its own format), so Reconfigure
// applies them in place; the LevelDB options (block_cache_bytes, write_buffer_bytes,
// max_open_files, bloom_bits_per_key, leveldb_compression) make Reconfigure reopen the database
// at the same path, which is how the host rebuilds the persistent tier in place.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "boxcar/cache_tier.h"
#include "boxcar_plugins/persistent_tier.h"
#include "leveldb_store.h"

namespace {

using boxcar::BlockData;
using boxcar::PutReason;
using boxcar::Status;
using leveldb_tier::LevelDbStore;
using leveldb_tier::NewBlock;
using leveldb_tier::StoreOptions;

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "block_cache_bytes": {
      "type": "integer",
      "description": "LevelDB's cache of table blocks read from disk. Changing it reopens the database.",
      "default": 67108864, "minimum": 0, "maximum": 68719476736
    },
    "write_buffer_bytes": {
      "type": "integer",
      "description": "Bytes LevelDB buffers in memory (and in its log) before writing a table; larger means fewer, bigger tables and a longer replay after a crash. Changing it reopens the database.",
      "default": 33554432, "minimum": 65536, "maximum": 1073741824
    },
    "max_open_files": {
      "type": "integer",
      "description": "Table files LevelDB keeps open. Changing it reopens the database.",
      "default": 1000, "minimum": 74, "maximum": 50000
    },
    "bloom_bits_per_key": {
      "type": "integer",
      "description": "Bloom filter bits per key in each table, so a lookup of an absent block rarely reads the disk; 0 disables the filter. Changing it reopens the database.",
      "default": 10, "minimum": 0, "maximum": 32
    },
    "leveldb_compression": {
      "type": "string", "enum": ["snappy", "none"],
      "description": "LevelDB's own compression of table blocks. Changing it reopens the database.",
      "default": "none"
    },
    "compression": {
      "type": "string", "enum": ["none", "zstd"],
      "description": "Compression of each stored block (or chunk): zstd keeps a frame only when it saves at least 1/8. Applies to new writes, in place.",
      "default": "none"
    },
    "zstd_level": {
      "type": "integer",
      "description": "zstd compression level when compression is zstd. Applies in place.",
      "default": 3, "minimum": 1, "maximum": 19
    },
    "compress_min_bytes": {
      "type": "integer",
      "description": "Blocks (or chunks) smaller than this are stored raw. Applies in place.",
      "default": 512, "minimum": 0, "maximum": 1073741824
    },
    "sync": {
      "type": "string", "enum": ["always", "never"],
      "description": "always: a write returns once LevelDB's log is synced, one sync per group of concurrent writes; never: the OS writes it back later, and a power loss may lose recent writes. Applies in place.",
      "default": "always"
    },
    "large_block_bytes": {
      "type": "integer",
      "description": "Blocks larger than this are stored in chunks of chunk_bytes, and streamed writes of them buffer one chunk at most. Applies to new writes, in place.",
      "default": 1048576, "minimum": 4096, "maximum": 268435456
    },
    "chunk_bytes": {
      "type": "integer",
      "description": "Size of the chunks of large blocks. Applies to new writes, in place.",
      "default": 262144, "minimum": 4096, "maximum": 67108864
    }
  }
})json";

StoreOptions ParseOptions(const boxcar::Params& params) {
  StoreOptions options;
  options.db.block_cache_bytes = static_cast<uint64_t>(params.GetInt("block_cache_bytes"));
  options.db.write_buffer_bytes = static_cast<uint64_t>(params.GetInt("write_buffer_bytes"));
  options.db.max_open_files = static_cast<int>(params.GetInt("max_open_files"));
  options.db.bloom_bits_per_key = static_cast<int>(params.GetInt("bloom_bits_per_key"));
  options.db.snappy = params.GetString("leveldb_compression") == "snappy";
  options.write.sync = params.GetString("sync") == "always";
  options.write.compression.zstd = params.GetString("compression") == "zstd";
  options.write.compression.level = static_cast<int>(params.GetInt("zstd_level"));
  options.write.compression.min_bytes = static_cast<uint64_t>(params.GetInt("compress_min_bytes"));
  options.write.large_block_bytes = static_cast<uint64_t>(params.GetInt("large_block_bytes"));
  options.write.chunk_bytes = static_cast<uint64_t>(params.GetInt("chunk_bytes"));
  return options;
}

leveldb_tier::StoreMetrics MakeMetrics(boxcar::Metrics& m) {
  static const std::vector<double> kGroupBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000};
  return leveldb_tier::StoreMetrics{
      m.GetCounter("leveldb_puts_total", "Blocks written; puts of present blocks do not count"),
      m.GetCounter("leveldb_write_groups_total", "LevelDB writes made by group commit"),
      m.GetCounter("leveldb_syncs_total", "Synced LevelDB writes"),
      m.GetHistogram("leveldb_group_entries", "Blocks written or deleted per group commit",
                     kGroupBuckets),
      m.GetCounter("leveldb_written_bytes_total", "Record bytes of written blocks and chunks"),
      m.GetCounter("leveldb_compression_saved_bytes_total", "Bytes zstd saved in written records"),
      m.GetCounter("leveldb_corrupt_records_total", "Stored records found not to decode"),
      m.GetCounter("leveldb_reopens_total", "Database reopens by Reconfigure"),
  };
}

// The shared persistent-tier face over a LevelDbStore, with LevelDB's own multi-get.
class LevelDbTier : public boxcar_plugins::PersistentTier<LevelDbTier, LevelDbStore, NewBlock> {
 public:
  explicit LevelDbTier(const boxcar::CreateContext& ctx) : PersistentTier(ctx) {
    const std::string dir = boxcar_plugins::RequireDataDir("leveldb", ctx.data_dir);
    Status s = LevelDbStore::Open(dir, ParseOptions(*ctx.params), MakeMetrics(ctx.host->metrics()),
                                  ctx.host->logger(), &store_);
    if (!s.ok()) throw std::runtime_error(s.ToString());
  }

  void GetMany(const std::vector<std::string_view>& keys, std::vector<BlockData>* out,
               std::vector<Status>* status) override {
    out->assign(keys.size(), nullptr);
    status->assign(keys.size(), Status::OK());
    std::vector<std::string_view> valid;
    std::vector<size_t> positions;  // of `valid` in `keys`
    for (size_t i = 0; i < keys.size(); ++i) {
      (*status)[i] = CheckKey(keys[i]);
      if ((*status)[i].ok()) {
        valid.push_back(keys[i]);
        positions.push_back(i);
      }
    }
    std::vector<std::string> blocks;
    std::vector<Status> found;
    store_->GetMany(valid, &blocks, &found);
    for (size_t j = 0; j < valid.size(); ++j) {
      const size_t i = positions[j];
      CountLookup(found[j]);
      if (found[j].ok()) (*out)[i] = std::make_shared<const std::string>(std::move(blocks[j]));
      (*status)[i] = std::move(found[j]);
    }
  }

  Status Reconfigure(const boxcar::Params& params) override {
    return store_->Reconfigure(ParseOptions(params));
  }

  // PersistentTier's hooks.
  LevelDbStore& engine() { return *store_; }
  Status CheckKey(std::string_view key) const {
    return key.empty() ? Status::InvalidArgument("empty block key") : Status::OK();
  }
  Status WriteBlocks(std::span<const NewBlock> blocks, bool durable) {
    return store_->Write(blocks, durable);
  }
  std::pair<uint64_t, uint64_t> StoredCounts() const {
    const leveldb_tier::StoredCounts counts = store_->Counts();
    return {counts.entries, counts.bytes};
  }

 private:
  std::unique_ptr<LevelDbStore> store_;
};

}  // namespace

BOXCAR_PLUGIN(
    LevelDbTier, "leveldb", "1.0.0",
    "Persistent block store in LevelDB: group commit, optional zstd, chunked large blocks", kSchema,
    boxcar::kThreadSafe | boxcar::kPersistent | boxcar::kReconfigure);
