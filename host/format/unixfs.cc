#include "format/unixfs.h"

#include "format/protobuf.h"

namespace boxcar::format {
namespace {

enum : uint64_t {
  kType = 1,
  kData = 2,
  kFilesize = 3,
  kBlocksizes = 4,
  kHashType = 5,
  kFanout = 6,
  kMode = 7,
  kMtime = 8,
};

constexpr uint64_t kMaxType = static_cast<uint64_t>(UnixfsType::kHamtShard);

Status WrongWire(const ProtoReader& reader, size_t key_offset, uint64_t field, WireType wire) {
  return reader.ErrorAt(key_offset, "wrong wire type " + std::to_string(static_cast<int>(wire)) +
                                        " for field " + std::to_string(field));
}

// UnixTime { required int64 Seconds = 1; optional fixed32 FractionalNanoseconds = 2; }
Status CheckMtime(std::string_view bytes, size_t base) {
  ProtoReader reader(bytes, "unixfs: mtime", base);
  bool have_seconds = false;
  while (!reader.done()) {
    uint64_t field = 0;
    WireType wire;
    size_t key_offset = 0;
    Status status = reader.ReadKey(&field, &wire, &key_offset);
    if (!status.ok()) return status;
    const size_t at = key_offset - base;
    if (field == 1) {
      if (wire != WireType::kVarint) return WrongWire(reader, at, field, wire);
      have_seconds = true;
    } else if (field == 2) {
      if (wire != WireType::kFixed32) return WrongWire(reader, at, field, wire);
    }
    status = reader.Skip(wire);
    if (!status.ok()) return status;
  }
  if (!have_seconds) return reader.ErrorAt(0, "missing Seconds");
  return Status::OK();
}

}  // namespace

const char* UnixfsTypeName(UnixfsType type) {
  switch (type) {
    case UnixfsType::kRaw:
      return "raw";
    case UnixfsType::kDirectory:
      return "directory";
    case UnixfsType::kFile:
      return "file";
    case UnixfsType::kMetadata:
      return "metadata";
    case UnixfsType::kSymlink:
      return "symlink";
    case UnixfsType::kHamtShard:
      return "hamt-shard";
  }
  return "unknown";
}

Status DecodeUnixfs(std::string_view data_field, UnixfsData* out) {
  *out = UnixfsData();
  ProtoReader reader(data_field, "unixfs");
  bool have_type = false;
  while (!reader.done()) {
    uint64_t field = 0;
    WireType wire;
    size_t key_offset = 0;
    Status status = reader.ReadKey(&field, &wire, &key_offset);
    if (!status.ok()) return status;
    // Fields other than Data, blocksizes and mtime are varints.
    const bool length_delimited = field == kData || field == kMtime;
    if (field >= kType && field <= kMtime && field != kBlocksizes &&
        wire != (length_delimited ? WireType::kLengthDelimited : WireType::kVarint)) {
      return WrongWire(reader, key_offset, field, wire);
    }
    uint64_t value = 0;
    std::string_view bytes;
    size_t bytes_offset = 0;
    switch (field) {
      case kType:
        status = reader.ReadVarint(&value);
        if (!status.ok()) return status;
        if (value > kMaxType) {
          return reader.ErrorAt(
              key_offset, "unknown Type " + std::to_string(value) + " (0 raw to 5 hamt-shard)");
        }
        out->type = static_cast<UnixfsType>(value);
        have_type = true;
        break;
      case kData:
        status = reader.ReadBytes(&bytes, &bytes_offset);
        if (!status.ok()) return status;
        out->data.emplace(bytes);
        break;
      case kFilesize:
      case kHashType:
      case kFanout:
        status = reader.ReadVarint(&value);
        if (!status.ok()) return status;
        (field == kFilesize   ? out->filesize
         : field == kHashType ? out->hash_type
                              : out->fanout) = value;
        break;
      case kBlocksizes:
        if (wire == WireType::kVarint) {
          status = reader.ReadVarint(&value);
          if (!status.ok()) return status;
          out->blocksizes.push_back(value);
        } else if (wire == WireType::kLengthDelimited) {
          // Packed encoding: a run of varints.
          status = reader.ReadBytes(&bytes, &bytes_offset);
          if (!status.ok()) return status;
          ProtoReader packed(bytes, "unixfs: blocksizes", bytes_offset);
          while (!packed.done()) {
            status = packed.ReadVarint(&value);
            if (!status.ok()) return status;
            out->blocksizes.push_back(value);
          }
        } else {
          return WrongWire(reader, key_offset, field, wire);
        }
        break;
      case kMode:
        status = reader.ReadVarint(&value);
        if (!status.ok()) return status;
        if (value > UINT32_MAX) {
          return reader.ErrorAt(key_offset, "mode " + std::to_string(value) + " exceeds 32 bits");
        }
        out->mode = static_cast<uint32_t>(value);
        break;
      case kMtime:
        status = reader.ReadBytes(&bytes, &bytes_offset);
        if (!status.ok()) return status;
        status = CheckMtime(bytes, bytes_offset);
        if (!status.ok()) return status;
        break;
      default:
        // Protobuf allows fields this version does not know; later UnixFS versions may add some.
        status = reader.Skip(wire);
        if (!status.ok()) return status;
        break;
    }
  }
  if (!have_type) return reader.Error("missing required field Type");
  return Status::OK();
}

}  // namespace boxcar::format
