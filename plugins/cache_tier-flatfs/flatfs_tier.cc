// cache_tier "flatfs": one file per block in the tier's data directory, sharded like
// go-ds-flatfs; the tier for large and cold blocks on big, slow disks. flat_store.h describes the
// write protocol and sync policies, layout.h the directory layout and the file format.
//
// Every param applies in place through Reconfigure: sync and compression only shape new writes,
// and each file's header records how it was stored.

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
#include "flat_store.h"

namespace {

using boxcar::BlockData;
using boxcar::PutReason;
using boxcar::Status;
using flatfs_tier::FlatPolicy;
using flatfs_tier::FlatStore;
using flatfs_tier::NewBlock;
using flatfs_tier::SyncMode;

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "sync": {
      "type": "string", "enum": ["always", "batch", "never"],
      "description": "always: each durable write syncs its file before the rename and the directory after; batch: a PutBatch syncs every file, then each touched directory once; never: the OS writes back when it likes, and a power loss may lose recent writes. Applies in place.",
      "default": "always"
    },
    "compression": {
      "type": "string", "enum": ["none", "zstd"],
      "description": "Compression of each block file: zstd keeps a frame only when it saves at least 1/8 (decided on the first 256 KiB of a streamed block). Applies to new writes, in place.",
      "default": "none"
    },
    "zstd_level": {
      "type": "integer",
      "description": "zstd compression level when compression is zstd. Applies in place.",
      "default": 3, "minimum": 1, "maximum": 19
    },
    "compress_min_bytes": {
      "type": "integer",
      "description": "Blocks smaller than this are stored raw. Applies in place.",
      "default": 512, "minimum": 0, "maximum": 1073741824
    }
  }
})json";

FlatPolicy ParsePolicy(const boxcar::Params& params) {
  FlatPolicy policy;
  const std::string sync = params.GetString("sync");
  policy.sync = sync == "never"   ? SyncMode::kNever
                : sync == "batch" ? SyncMode::kBatch
                                  : SyncMode::kAlways;
  policy.compression.zstd = params.GetString("compression") == "zstd";
  policy.compression.level = static_cast<int>(params.GetInt("zstd_level"));
  policy.compression.min_bytes = static_cast<uint64_t>(params.GetInt("compress_min_bytes"));
  return policy;
}

flatfs_tier::FlatMetrics MakeMetrics(boxcar::Metrics& m) {
  return flatfs_tier::FlatMetrics{
      m.GetCounter("flatfs_puts_total", "Block files written; puts of present blocks do not count"),
      m.GetCounter("flatfs_written_bytes_total", "Bytes written to block files, headers included"),
      m.GetCounter("flatfs_syncs_total", "fsyncs of block files and directories"),
      m.GetCounter("flatfs_compression_saved_bytes_total", "Bytes zstd saved in written files"),
      m.GetCounter("flatfs_corrupt_files_total", "Block files found damaged"),
  };
}

// The shared persistent-tier face over a FlatStore.
class FlatfsTier : public boxcar_plugins::PersistentTier<FlatfsTier, FlatStore, NewBlock> {
 public:
  explicit FlatfsTier(const boxcar::CreateContext& ctx) : PersistentTier(ctx) {
    const std::string dir = boxcar_plugins::RequireDataDir("flatfs", ctx.data_dir);
    Status s = FlatStore::Open(dir, ParsePolicy(*ctx.params), MakeMetrics(ctx.host->metrics()),
                               ctx.host->logger(), &store_);
    if (!s.ok()) throw std::runtime_error(s.ToString());
  }

  Status Reconfigure(const boxcar::Params& params) override {
    store_->SetPolicy(ParsePolicy(params));
    return Status::OK();
  }

  // PersistentTier's hooks.
  FlatStore& engine() { return *store_; }
  Status CheckKey(std::string_view key) const { return FlatStore::CheckKey(key); }
  Status WriteBlocks(std::span<const NewBlock> blocks, bool durable) {
    return store_->Put(blocks, durable);
  }
  std::pair<uint64_t, uint64_t> StoredCounts() const {
    return {store_->entries(), store_->bytes()};
  }

 private:
  std::unique_ptr<FlatStore> store_;
};

}  // namespace

BOXCAR_PLUGIN(FlatfsTier, "flatfs", "1.0.0",
              "Persistent block store, one file per block in go-ds-flatfs-style shards", kSchema,
              boxcar::kThreadSafe | boxcar::kPersistent | boxcar::kReconfigure);
