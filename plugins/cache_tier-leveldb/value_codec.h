// Encoding of raw and zstd records (see record_format.h): the compression decision on the way in,
// verified decoding on the way out.
//
// Thread safety: every method may be called concurrently. zstd contexts are costly to create
// (a level-3 compression context holds about a megabyte), so they are pooled and reused.
#pragma once

#include <zstd.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "record_format.h"

namespace leveldb_tier {

struct CompressionPolicy {
  bool zstd = false;
  int level = 3;
  uint64_t min_bytes = 512;
};

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

// An encoded record: `head` followed by `tail`. A raw record's payload stays in the caller's
// buffer (`tail`), so the bytes of a block are copied once, into the WriteBatch, rather than
// into a record first; `tail` is valid as long as the data given to Encode.
struct EncodedRecord {
  RecordFormat format = RecordFormat::kRaw;
  std::string head;
  std::string_view tail;

  size_t size() const { return head.size() + tail.size(); }
  // The whole record in `*scratch` when it has a tail, else `head` itself.
  std::string_view Join(std::string* scratch) const;
};

class ValueCodec {
 public:
  // The record (header and payload) for `data`: zstd when the policy asks for it, `data` has at
  // least policy.min_bytes and the frame is at least 1/8 smaller than `data`; raw otherwise.
  // `*saved` gets the bytes compression saved (0 for a raw record).
  EncodedRecord Encode(std::string_view data, const CompressionPolicy& policy, uint64_t* saved);

  // The bytes of a raw or zstd record whose parsed header is `header`, in `*out`. Returns "" or
  // what is wrong with the record; `*out` is then unspecified.
  std::string Decode(std::string_view record, const RecordHeader& header, std::string* out);

 private:
  ContextPool<ZSTD_CCtx, ZSTD_createCCtx, ZSTD_freeCCtx> compressors_;
  ContextPool<ZSTD_DCtx, ZSTD_createDCtx, ZSTD_freeDCtx> decompressors_;
};

}  // namespace leveldb_tier
