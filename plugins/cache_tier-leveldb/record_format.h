// The stored format of the leveldb cache tier: how blocks map to LevelDB keys and values.
//
// LevelDB keys start with a one-byte prefix, so the kinds of records never collide and each kind
// is a contiguous key range:
//
//   'b' <key>                        block record: every stored block has exactly one
//   'c' <key> <write id> <index>     chunk <index> of a chunked block (write id: 8 bytes, index:
//                                    4 bytes, both big-endian, so a block's chunks sort in order)
//   'm' "stats"                      entry and byte counts, rewritten in every batch that adds or
//                                    removes blocks
//   'p' <key> <write id>             intent of a streamed write whose chunks are not committed yet
//
// <key> is the block's binary multihash, unchanged, so Scan visits blocks in key order by
// iterating the 'b' range. The write id is random per write, so chunks of two writes of the same
// key never share LevelDB keys.
//
// Every block record and chunk record starts with a format byte and the block's (or chunk's)
// logical size as a varint64, so Contains and Scan know a block's size without decoding it:
//
//   raw      0x00 <size> <size bytes>
//   zstd     0x01 <size> <one zstd frame, with content checksum, decoding to size bytes>
//   chunked  0x02 <size> <write id: fixed64 LE> <chunk count: varint32> <chunk bytes: varint64>
//            (block records only; every chunk holds chunk bytes of the block but the last)
//
// A zstd payload is kept only when it is at least 1/8 smaller than the raw bytes.
//
// Stats record: 0x01 (format version) <entries: varint64> <bytes: varint64>, bytes counting the
// logical sizes of blocks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace leveldb_tier {

enum class RecordFormat : uint8_t { kRaw = 0, kZstd = 1, kChunked = 2 };

inline constexpr char kBlockPrefix = 'b';
inline constexpr char kChunkPrefix = 'c';
inline constexpr char kIntentPrefix = 'p';
inline constexpr std::string_view kStatsKey = "mstats";

std::string BlockKey(std::string_view key);
std::string ChunkKey(std::string_view key, uint64_t write_id, uint32_t index);
// The common prefix of every chunk key of one write.
std::string ChunkPrefix(std::string_view key, uint64_t write_id);
std::string IntentKey(std::string_view key, uint64_t write_id);
// The block key and write id of an intent record's key; false when it is malformed.
bool ParseIntentKey(std::string_view intent_key, std::string* key, uint64_t* write_id);

// Where a chunked block's chunks are.
struct ChunkLayout {
  uint64_t write_id = 0;
  uint32_t count = 0;
  uint64_t chunk_bytes = 0;

  // The logical size of chunk `index` of a block of `size` bytes.
  uint64_t ChunkSize(uint64_t size, uint32_t index) const;
};

struct RecordHeader {
  RecordFormat format = RecordFormat::kRaw;
  uint64_t size = 0;          // logical bytes of the block (or chunk)
  size_t payload_offset = 0;  // where a raw or zstd payload starts
  ChunkLayout chunks;         // kChunked only
};

// Parses the header of a block record (`allow_chunked`) or chunk record. Returns "" or what is
// wrong with it; also checks that a raw payload holds exactly `size` bytes and that a chunked
// layout covers the size.
std::string ParseRecordHeader(std::string_view record, bool allow_chunked, RecordHeader* out);

// The format byte and size that start a raw or zstd record.
std::string EncodeRecordHeader(RecordFormat format, uint64_t size);
std::string EncodeChunkedRecord(uint64_t size, const ChunkLayout& layout);

// The number of chunks of `chunk_bytes` that hold `size` bytes.
uint32_t ChunkCount(uint64_t size, uint64_t chunk_bytes);

struct StoredCounts {
  uint64_t entries = 0;
  uint64_t bytes = 0;
};
std::string EncodeCounts(const StoredCounts& counts);
// False when `value` is not a stats record this version understands.
bool DecodeCounts(std::string_view value, StoredCounts* out);

// Lower-case hex, for naming keys in messages.
std::string Hex(std::string_view bytes);

}  // namespace leveldb_tier
