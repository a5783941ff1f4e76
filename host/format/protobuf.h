// Protobuf wire-format reading for the codecs built on it (dag-pb, UnixFS). Internal to
// boxcar_format. A ProtoReader walks a buffer and reports offsets relative to the start of the
// outermost message, so nested messages give offsets in the caller's terms.
//
// Thread safety: a reader belongs to one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "boxcar/status.h"

namespace boxcar::format {

enum class WireType : uint8_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

class ProtoReader {
 public:
  // `context` prefixes messages ("dag-pb", "unixfs"); `base` is the offset of `data` within the
  // outermost message.
  ProtoReader(std::string_view data, const char* context, size_t base = 0)
      : data_(data), context_(context), base_(base) {}

  bool done() const { return pos_ == data_.size(); }
  // Offset of the next unread byte, relative to the outermost message.
  size_t offset() const { return base_ + pos_; }

  // Reads a protobuf varint: at most 10 bytes, value within 64 bits.
  Status ReadVarint(uint64_t* value) {
    uint64_t result = 0;
    const size_t start = pos_;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ == data_.size()) return ErrorAt(start, "truncated varint");
      const auto byte = static_cast<unsigned char>(data_[pos_++]);
      if (shift == 63 && byte > 1) return ErrorAt(start, "varint overflows 64 bits");
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (byte < 0x80) {
        *value = result;
        return Status::OK();
      }
    }
    return ErrorAt(start, "varint overflows 64 bits");
  }

  // Reads a field key. Field number 0 and wire types 3, 4 (groups), 6 and 7 are errors.
  Status ReadKey(uint64_t* field, WireType* wire, size_t* key_offset) {
    *key_offset = offset();
    uint64_t key = 0;
    Status status = ReadVarint(&key);
    if (!status.ok()) return status;
    const uint64_t type = key & 7;
    *field = key >> 3;
    if (*field == 0) return ErrorAt(*key_offset - base_, "field number 0");
    if (type != 0 && type != 1 && type != 2 && type != 5) {
      return ErrorAt(*key_offset - base_, "unsupported wire type " + std::to_string(type) +
                                              " for field " + std::to_string(*field));
    }
    *wire = static_cast<WireType>(type);
    return Status::OK();
  }

  // Reads the length and bytes of a length-delimited field; *bytes_offset is where they start.
  Status ReadBytes(std::string_view* bytes, size_t* bytes_offset) {
    const size_t start = pos_;
    uint64_t length = 0;
    Status status = ReadVarint(&length);
    if (!status.ok()) return status;
    if (length > data_.size() - pos_) {
      return ErrorAt(start, "length " + std::to_string(length) + " runs past the end (" +
                                std::to_string(data_.size() - pos_) + " bytes left)");
    }
    *bytes_offset = offset();
    *bytes = data_.substr(pos_, static_cast<size_t>(length));
    pos_ += static_cast<size_t>(length);
    return Status::OK();
  }

  // Skips a field's value of the given wire type.
  Status Skip(WireType wire) {
    uint64_t ignored = 0;
    std::string_view bytes;
    size_t bytes_offset = 0;
    switch (wire) {
      case WireType::kVarint:
        return ReadVarint(&ignored);
      case WireType::kLengthDelimited:
        return ReadBytes(&bytes, &bytes_offset);
      case WireType::kFixed64:
        return SkipFixed(8);
      case WireType::kFixed32:
        return SkipFixed(4);
    }
    return Error("unknown wire type");
  }

  Status SkipFixed(size_t n) {
    if (data_.size() - pos_ < n) return Error("truncated fixed-width field");
    pos_ += n;
    return Status::OK();
  }

  // InvalidArgument "<context>: <what> at byte <offset of the next byte>".
  Status Error(const std::string& what) const { return ErrorAt(pos_, what); }
  // Same, at an offset relative to this reader's data.
  Status ErrorAt(size_t pos, const std::string& what) const {
    return Status::InvalidArgument(std::string(context_) + ": " + what + " at byte " +
                                   std::to_string(base_ + pos));
  }

 private:
  std::string_view data_;
  const char* context_;
  size_t base_;
  size_t pos_ = 0;
};

}  // namespace boxcar::format
