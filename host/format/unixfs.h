// UnixFS v1: the protobuf message carried in the Data field of a dag-pb node.
//
//   message Data {
//     required DataType Type = 1; optional bytes Data = 2; optional uint64 filesize = 3;
//     repeated uint64 blocksizes = 4; optional uint64 hashType = 5; optional uint64 fanout = 6;
//     optional uint32 mode = 7; optional UnixTime mtime = 8;
//   }
//
// Decoding follows protobuf rules (fields in any order, the last value of a field seen twice
// wins, blocksizes packed or not, unknown fields with valid wire types skipped), checks wire types
// and the Type value, and validates but does not return mtime.
//
// Thread safety: free functions on caller-owned data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "boxcar/status.h"

namespace boxcar::format {

// GCC's -Wshadow counts UnixfsType::kRaw as shadowing the codec constant kRaw (cid.h), though a
// scoped enumerator cannot be named without its enum.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
enum class UnixfsType {
  kRaw = 0,
  kDirectory = 1,
  kFile = 2,
  kMetadata = 3,
  kSymlink = 4,
  kHamtShard = 5
};
#pragma GCC diagnostic pop

struct UnixfsData {
  UnixfsType type = UnixfsType::kRaw;
  std::optional<std::string> data;
  std::optional<uint64_t> filesize;
  std::vector<uint64_t> blocksizes;
  std::optional<uint64_t> hash_type;
  std::optional<uint64_t> fanout;
  std::optional<uint32_t> mode;
};

// "raw", "directory", "file", "metadata", "symlink", "hamt-shard".
const char* UnixfsTypeName(UnixfsType type);

// Decodes the Data field of a dag-pb node. InvalidArgument "unixfs: <problem> at byte <offset>"
// (missing Type, Type out of range, wrong wire type, truncation, mode over 32 bits).
Status DecodeUnixfs(std::string_view data_field, UnixfsData* out);

}  // namespace boxcar::format
