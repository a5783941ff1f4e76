#include "format/dagcbor.h"

#include <utility>

namespace boxcar::format {
namespace {

constexpr uint64_t kLinkTag = 42;
constexpr uint64_t kFalse = 20, kTrue = 21, kNull = 22;
constexpr uint8_t kFloat16 = 25, kFloat32 = 26, kFloat64 = 27;

// With the article, for messages: "an array".
const char* MajorName(uint8_t major) {
  static constexpr const char* kNames[] = {"an unsigned integer",
                                           "a negative integer",
                                           "a byte string",
                                           "a text string",
                                           "an array",
                                           "a map",
                                           "a tag",
                                           "a simple value or float"};
  return kNames[major & 7];
}

// One open array or map: items still to read, and whether it is a map (whose even-numbered
// items, counting from the first, are keys).
struct Open {
  uint64_t remaining;
  bool is_map;
};

}  // namespace

Status CborReader::ErrorAt(size_t offset, const std::string& what) const {
  return Status::InvalidArgument(std::string(context_) + ": " + what + " at byte " +
                                 std::to_string(offset));
}

Status CborReader::ReadHead(uint8_t* major, uint64_t* argument) {
  const size_t start = pos_;
  if (pos_ == data_.size()) return ErrorAt(start, "unexpected end of data");
  const auto initial = static_cast<unsigned char>(data_[pos_]);
  const uint8_t info = initial & 0x1f;
  *major = initial >> 5;
  if (info < 24) {
    *argument = info;
    ++pos_;
    return Status::OK();
  }
  if (info == 31) {
    return ErrorAt(start, *major == kSimple ? "unexpected break (0xff)"
                                            : "indefinite length (dag-cbor forbids it) for " +
                                                  std::string(MajorName(*major)));
  }
  if (info > 27) {
    return ErrorAt(start, "reserved additional information " + std::to_string(info));
  }
  const size_t width = size_t{1} << (info - 24);
  if (data_.size() - pos_ - 1 < width) return ErrorAt(start, "truncated item head");
  uint64_t value = 0;
  for (size_t i = 0; i < width; ++i) {
    value = (value << 8) | static_cast<unsigned char>(data_[pos_ + 1 + i]);
  }
  pos_ += 1 + width;
  *argument = value;
  return Status::OK();
}

Status CborReader::ReadHeadOf(uint8_t major, const char* what, uint64_t* argument) {
  const size_t start = pos_;
  uint8_t got = 0;
  Status status = ReadHead(&got, argument);
  if (!status.ok()) return status;
  if (got != major) {
    return ErrorAt(
        start, std::string(what) + " must be " + MajorName(major) + ", found " + MajorName(got));
  }
  return Status::OK();
}

Status CborReader::SkipBytes(uint64_t n, size_t head_offset) {
  if (n > data_.size() - pos_) {
    return ErrorAt(head_offset, "length " + std::to_string(n) + " runs past the end (" +
                                    std::to_string(data_.size() - pos_) + " bytes left)");
  }
  pos_ += static_cast<size_t>(n);
  return Status::OK();
}

Status CborReader::ReadText(std::string_view* text) {
  const size_t start = pos_;
  uint64_t length = 0;
  Status status = ReadHeadOf(kText, "key", &length);
  if (!status.ok()) return status;
  const size_t begin = pos_;
  status = SkipBytes(length, start);
  if (!status.ok()) return status;
  *text = data_.substr(begin, pos_ - begin);
  return Status::OK();
}

Status CborReader::ReadLink(Cid* cid) {
  const size_t start = pos_;
  uint64_t tag = 0;
  Status status = ReadHeadOf(kTag, "link", &tag);
  if (!status.ok()) return status;
  if (tag != kLinkTag) return ErrorAt(start, "tag " + std::to_string(tag) + " is not a link (42)");
  return ReadLinkAfterTag(start, cid);
}

Status CborReader::ReadLinkAfterTag(size_t tag_offset, Cid* cid) {
  const size_t start = pos_;
  uint64_t length = 0;
  Status status = ReadHeadOf(kBytes, "tag 42 content", &length);
  if (!status.ok()) return status;
  const size_t begin = pos_;
  status = SkipBytes(length, start);
  if (!status.ok()) return status;
  std::string_view bytes = data_.substr(begin, pos_ - begin);
  // The 0x00 is the multibase prefix for raw binary, kept for historical reasons.
  if (bytes.empty() || bytes[0] != 0) {
    return ErrorAt(tag_offset, "tag 42 bytes must start with 0x00");
  }
  status = Cid::FromBytes(bytes.substr(1), cid);
  if (!status.ok()) return ErrorAt(tag_offset, "tag 42 is not a CID (" + status.message() + ")");
  return Status::OK();
}

Status CborReader::SkipItem(std::vector<Cid>* links) {
  std::vector<Open> open;
  do {
    const size_t start = pos_;
    if (!open.empty()) {
      Open& top = open.back();
      if (top.is_map && top.remaining % 2 == 0) {
        // A key: dag-cbor allows only strings.
        if (pos_ < data_.size() && (static_cast<unsigned char>(data_[pos_]) >> 5) != kText) {
          return ErrorAt(start, std::string("map key must be a text string, found ") +
                                    MajorName(static_cast<unsigned char>(data_[pos_]) >> 5));
        }
      }
      --top.remaining;
    }
    uint8_t major = 0;
    uint64_t argument = 0;
    Status status = ReadHead(&major, &argument);
    if (!status.ok()) return status;
    switch (major) {
      case kUnsigned:
      case kNegative:
        break;
      case kBytes:
      case kText:
        status = SkipBytes(argument, start);
        if (!status.ok()) return status;
        break;
      case kArray:
      case kMap: {
        // Every item takes at least one byte, which bounds counts before anything is reserved.
        const uint64_t left = data_.size() - pos_;
        const bool too_many = major == kArray ? argument > left : argument > left / 2;
        if (too_many) {
          return ErrorAt(start, std::string(major == kArray ? "array" : "map") + " of " +
                                    std::to_string(argument) + " entries runs past the end (" +
                                    std::to_string(left) + " bytes left)");
        }
        if (argument == 0) break;
        if (open.size() == kMaxCborDepth) {
          return ErrorAt(start, "nesting deeper than " + std::to_string(kMaxCborDepth));
        }
        open.push_back({major == kMap ? argument * 2 : argument, major == kMap});
        continue;
      }
      case kTag: {
        if (argument != kLinkTag) {
          return ErrorAt(start, "tag " + std::to_string(argument) + " (dag-cbor allows only 42)");
        }
        Cid cid;
        status = ReadLinkAfterTag(start, &cid);
        if (!status.ok()) return status;
        if (links != nullptr) links->push_back(std::move(cid));
        break;
      }
      case kSimple: {
        const auto info = static_cast<uint8_t>(static_cast<unsigned char>(data_[start]) & 0x1f);
        const bool allowed =
            info == kFloat16 || info == kFloat32 || info == kFloat64 ||
            (info < 24 && (argument == kFalse || argument == kTrue || argument == kNull));
        if (!allowed) {
          return ErrorAt(start, "simple value " + std::to_string(argument) +
                                    " (dag-cbor allows false, true, null and floats)");
        }
        break;
      }
    }
    while (!open.empty() && open.back().remaining == 0) open.pop_back();
  } while (!open.empty());
  return Status::OK();
}

Status ExtractCborLinks(std::string_view block, std::vector<Cid>* out) {
  CborReader reader(block);
  Status status = reader.SkipItem(out);
  if (!status.ok()) return status;
  if (!reader.done()) {
    return reader.ErrorAt(reader.offset(), std::to_string(block.size() - reader.offset()) +
                                               " bytes after the top-level item");
  }
  return Status::OK();
}

}  // namespace boxcar::format
