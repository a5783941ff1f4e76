// zstd for block files (see layout.h): one frame per piece of kFrameBytes, each with its content
// size and a checksum.
//
// Thread safety: every method may be called concurrently; the zstd contexts are pooled (see
// boxcar_plugins/zstd_pool.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "boxcar_plugins/zstd_pool.h"

namespace flatfs_tier {

// The policy and the saving rule are the same as the leveldb tier's.
using boxcar_plugins::CompressionPolicy;
using boxcar_plugins::WorthKeeping;

class ZstdCodec {
 public:
  // Appends one frame holding `data` to *out; false only when zstd fails.
  bool CompressFrame(std::string_view data, int level, std::string* out) {
    return zstd_.AppendFrame(data, level, out);
  }

  // Decodes a whole zstd payload, which must hold exactly `size` bytes. Returns "" or what is
  // wrong.
  std::string Decompress(std::string_view payload, uint64_t size, std::string* out);

  // Decodes the frame at the start of `input` (which may continue past it) into *out, and puts
  // its length in *frame_bytes. A frame declaring more than `max_content` bytes is refused.
  // Returns "" or what is wrong.
  std::string DecompressFrame(std::string_view input, uint64_t max_content, std::string* out,
                              size_t* frame_bytes);

 private:
  boxcar_plugins::ZstdPool zstd_;
};

}  // namespace flatfs_tier
