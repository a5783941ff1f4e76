// Encoding of raw and zstd records (see record_format.h): the compression decision on the way in,
// verified decoding on the way out.
//
// Thread safety: every method may be called concurrently; the zstd contexts are pooled (see
// boxcar_plugins/zstd_pool.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "boxcar_plugins/zstd_pool.h"
#include "record_format.h"

namespace leveldb_tier {

// The policy is the same as the flatfs tier's.
using boxcar_plugins::CompressionPolicy;

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
  boxcar_plugins::ZstdPool zstd_;
};

}  // namespace leveldb_tier
