// zstd for plugins that store blocks compressed: when a block is worth compressing, and pooled
// zstd contexts to compress and decompress with. What a stored record or file looks like around
// the zstd frames stays with each plugin.
//
// Frames written here declare their content size and carry a checksum, so a reader can size its
// buffer before decoding and zstd itself notices damaged bytes.
//
// Thread safety: CompressionPolicy and WorthKeeping are plain values and functions. ContextPool
// and ZstdPool may be used from any number of threads at once; each call leases a context of its
// own. Contexts are costly to create (a level-3 compression context holds about a megabyte), so
// idle ones are kept for the next call and freed with the pool.
//
// Unlike the rest of boxcar_plugin_common this needs zstd: a plugin that includes it links
// libzstd itself.
#pragma once

#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <vector>

namespace boxcar_plugins {

struct CompressionPolicy {
  bool zstd = false;
  int level = 3;
  uint64_t min_bytes = 512;

  // Whether a block of `size` bytes is worth trying to compress.
  bool Applies(uint64_t size) const { return zstd && size > 0 && size >= min_bytes; }
};

// Compressed bytes are kept only when they save at least 1/8 of the raw bytes.
inline bool WorthKeeping(uint64_t compressed_bytes, uint64_t raw_bytes) {
  return compressed_bytes <= raw_bytes - raw_bytes / 8;
}

// Idle contexts of one kind, created on demand and freed with the pool.
template <class Context, Context* (*Create)(), size_t (*Free)(Context*)>
class ContextPool {
 public:
  ContextPool() = default;
  ContextPool(const ContextPool&) = delete;
  ContextPool& operator=(const ContextPool&) = delete;
  ~ContextPool() {
    for (Context* c : idle_) Free(c);
  }

  // A context for one call; it goes back to the pool when the lease ends.
  class Lease {
   public:
    Lease(ContextPool* pool, Context* context) : pool_(pool), context_(context) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { pool_->Return(context_); }
    Context* get() const { return context_; }

   private:
    ContextPool* pool_;
    Context* context_;
  };

  // Throws std::bad_alloc when zstd cannot create a context.
  Lease Take() {
    {
      std::lock_guard lock(mutex_);
      if (!idle_.empty()) {
        Context* c = idle_.back();
        idle_.pop_back();
        return Lease(this, c);
      }
    }
    Context* c = Create();
    if (c == nullptr) throw std::bad_alloc();
    return Lease(this, c);
  }

 private:
  void Return(Context* c) {
    std::lock_guard lock(mutex_);
    idle_.push_back(c);
  }

  std::mutex mutex_;
  std::vector<Context*> idle_;  // guarded by mutex_
};

class ZstdPool {
 public:
  // Appends one frame holding `data`, compressed at `level`, to *out. Returns false only when
  // zstd fails, leaving *out as it was.
  bool AppendFrame(std::string_view data, int level, std::string* out) {
    const size_t start = out->size();
    out->resize(start + ZSTD_compressBound(data.size()));
    auto lease = compressors_.Take();
    ZSTD_CCtx* cctx = lease.get();
    ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    const size_t n =
        ZSTD_compress2(cctx, out->data() + start, out->size() - start, data.data(), data.size());
    out->resize(ZSTD_isError(n) ? start : start + n);
    return !ZSTD_isError(n);
  }

  // Decodes the whole frames in `frames` into *out, which the caller has sized to the content
  // the frames declare (checked beforehand, so damaged input cannot ask for a huge buffer).
  // Returns the bytes decoded, or a zstd error code: test it with ZSTD_isError.
  size_t DecodeInto(std::string_view frames, std::string* out) {
    auto lease = decompressors_.Take();
    return ZSTD_decompressDCtx(lease.get(), out->data(), out->size(), frames.data(), frames.size());
  }

 private:
  ContextPool<ZSTD_CCtx, ZSTD_createCCtx, ZSTD_freeCCtx> compressors_;
  ContextPool<ZSTD_DCtx, ZSTD_createDCtx, ZSTD_freeDCtx> decompressors_;
};

}  // namespace boxcar_plugins
