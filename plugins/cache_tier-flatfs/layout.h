// The on-disk layout of the flatfs cache tier: one file per block, sharded into directories the
// way go-ds-flatfs shards them.
//
//   <dir>/SHARDING                      "/repo/flatfs/shard/v1/next-to-last/2\n", written on the
//                                       first open and checked on every later one
//   <dir>/<shard>/<name>.data           one block
//   <dir>/<shard>/.put-XXXXXX           a write in progress; removed at open
//
// <name> is the block's binary multihash in base32 (RFC 4648 alphabet, upper case, no padding);
// <shard> is the two characters of <name> before its last one ("next-to-last/2"), so blocks
// spread evenly over at most 32 x 32 directories.
//
// Each block file starts with a 13-byte header, then the payload:
//
//   magic "BXF" 0x01 (4 bytes) | format (1 byte: 0 raw, 1 zstd) | size (8 bytes, little-endian)
//
// size is the block's logical size. A raw payload is the block itself, so the file holds exactly
// 13 + size bytes. A zstd payload is a sequence of independent zstd frames, each with its content
// size and a checksum, each decoding 256 KiB of the block (the last one the rest), together size
// bytes; so a reader can check each piece before handing it out, and seek, in bounded memory.
// Readers accept frames of up to 1 MiB. The header makes the stored format explicit and lets
// Contains and Scan read a block's size without decoding it. (So the files are not interchangeable
// with go-ds-flatfs's, which hold bare blocks; the magic tells them apart.)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace flatfs_tier {

inline constexpr std::string_view kShardingFile = "SHARDING";
inline constexpr std::string_view kShardingSpec = "/repo/flatfs/shard/v1/next-to-last/2";
inline constexpr std::string_view kDataSuffix = ".data";
inline constexpr std::string_view kTempPrefix = ".put-";

// A file name holds at most 255 bytes: 250 base32 characters and the suffix.
inline constexpr size_t kMaxKeyBytes = 250 * 5 / 8;

std::string Base32(std::string_view bytes);
// False when `text` is not unpadded upper-case base32 of whole bytes.
bool DecodeBase32(std::string_view text, std::string* out);

// The next-to-last/2 shard of a base32 name.
std::string ShardOf(std::string_view name);

enum class FileFormat : uint8_t { kRaw = 0, kZstd = 1 };

inline constexpr size_t kHeaderBytes = 13;
inline constexpr size_t kFrameBytes = 256 * 1024;      // block bytes per zstd frame written
inline constexpr size_t kMaxFrameBytes = 1024 * 1024;  // per zstd frame read

struct FileHeader {
  FileFormat format = FileFormat::kRaw;
  uint64_t size = 0;
};

std::string EncodeHeader(FileFormat format, uint64_t size);
// Returns "" or what is wrong with the first kHeaderBytes of a file (`bytes` may be shorter when
// the file is).
std::string ParseHeader(std::string_view bytes, FileHeader* out);

}  // namespace flatfs_tier
