#include "zstd_codec.h"

#include <zstd.h>

namespace flatfs_tier {
namespace {

// The block bytes the frames of `payload` declare, in *total. Returns "" or what is wrong.
std::string SumFrameSizes(std::string_view payload, uint64_t* total) {
  *total = 0;
  while (!payload.empty()) {
    const unsigned long long content = ZSTD_getFrameContentSize(payload.data(), payload.size());
    if (content == ZSTD_CONTENTSIZE_ERROR) return "no zstd frame where one should start";
    if (content == ZSTD_CONTENTSIZE_UNKNOWN) return "a zstd frame does not declare its size";
    const size_t length = ZSTD_findFrameCompressedSize(payload.data(), payload.size());
    if (ZSTD_isError(length)) {
      return std::string("a zstd frame is truncated or damaged: ") + ZSTD_getErrorName(length);
    }
    *total += content;
    payload.remove_prefix(length);
  }
  return "";
}

}  // namespace

std::string ZstdCodec::Decompress(std::string_view payload, uint64_t size, std::string* out) {
  // Checked before allocating, so a damaged size cannot ask for a huge buffer.
  uint64_t content = 0;
  if (std::string error = SumFrameSizes(payload, &content); !error.empty()) return error;
  if (content != size) {
    return "the zstd frames declare " + std::to_string(content) + " bytes, the header says " +
           std::to_string(size);
  }
  out->resize(size);
  const size_t n = zstd_.DecodeInto(payload, out);
  if (ZSTD_isError(n)) {
    return std::string("the zstd frames do not decode: ") + ZSTD_getErrorName(n);
  }
  if (n != size) {
    return "the zstd frames decode to " + std::to_string(n) + " bytes, the header says " +
           std::to_string(size);
  }
  return "";
}

std::string ZstdCodec::DecompressFrame(std::string_view input, uint64_t max_content,
                                       std::string* out, size_t* frame_bytes) {
  const unsigned long long content = ZSTD_getFrameContentSize(input.data(), input.size());
  if (content == ZSTD_CONTENTSIZE_ERROR) return "no zstd frame where one should start";
  if (content == ZSTD_CONTENTSIZE_UNKNOWN) return "a zstd frame does not declare its size";
  if (content > max_content) {
    return "a zstd frame declares " + std::to_string(content) + " bytes, more than the " +
           std::to_string(max_content) + " a frame may hold";
  }
  const size_t length = ZSTD_findFrameCompressedSize(input.data(), input.size());
  if (ZSTD_isError(length)) {
    return std::string("a zstd frame is truncated or damaged: ") + ZSTD_getErrorName(length);
  }
  out->resize(content);
  const size_t n = zstd_.DecodeInto(input.substr(0, length), out);
  if (ZSTD_isError(n)) return std::string("a zstd frame does not decode: ") + ZSTD_getErrorName(n);
  if (n != content) {
    return "a zstd frame decodes to " + std::to_string(n) + " bytes, it declares " +
           std::to_string(content);
  }
  *frame_bytes = length;
  return "";
}

}  // namespace flatfs_tier
