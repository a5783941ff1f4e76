// zstd for block files (see layout.h): one frame per piece of kFrameBytes, each with its content
// size and a checksum.
//
// Thread safety: every method may be called concurrently. Contexts are costly to create (a
// level-3 compression context holds about a megabyte), so idle ones are pooled.
#pragma once

#include <zstd.h>

#include <cstdint>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <vector>

namespace flatfs_tier {

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

class ZstdCodec {
 public:
  // Appends one frame holding `data` to *out; false only when zstd fails.
  bool CompressFrame(std::string_view data, int level, std::string* out);

  // Decodes a whole zstd payload, which must hold exactly `size` bytes. Returns "" or what is
  // wrong.
  std::string Decompress(std::string_view payload, uint64_t size, std::string* out);

  // Decodes the frame at the start of `input` (which may continue past it) into *out, and puts
  // its length in *frame_bytes. A frame declaring more than `max_content` bytes is refused.
  // Returns "" or what is wrong.
  std::string DecompressFrame(std::string_view input, uint64_t max_content, std::string* out,
                              size_t* frame_bytes);

 private:
  ContextPool<ZSTD_CCtx, ZSTD_createCCtx, ZSTD_freeCCtx> compressors_;
  ContextPool<ZSTD_DCtx, ZSTD_createDCtx, ZSTD_freeDCtx> decompressors_;
};

}  // namespace flatfs_tier
