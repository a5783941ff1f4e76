#include "record_format.h"

#include <algorithm>

namespace leveldb_tier {
namespace {

void PutBigEndian(std::string* out, uint64_t value, int bytes) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

uint64_t GetBigEndian(std::string_view in) {
  uint64_t value = 0;
  for (char c : in) value = (value << 8) | static_cast<uint8_t>(c);
  return value;
}

void PutVarint(std::string* out, uint64_t value) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// Consumes a varint64 from the front of `in`; false when it is truncated or too long.
bool GetVarint(std::string_view* in, uint64_t* value) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    const auto byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    if (shift == 63 && byte > 1) return false;  // more than 64 bits
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *value = result;
      return true;
    }
  }
  return false;
}

constexpr uint8_t kCountsVersion = 1;
constexpr size_t kWriteIdBytes = 8;
constexpr size_t kIndexBytes = 4;

std::string ParseChunkLayout(std::string_view rest, uint64_t size, ChunkLayout* layout) {
  if (rest.size() < kWriteIdBytes) return "chunked record too short for its write id";
  uint64_t write_id = 0;
  for (size_t i = 0; i < kWriteIdBytes; ++i) {
    write_id |= static_cast<uint64_t>(static_cast<uint8_t>(rest[i])) << (8 * i);
  }
  rest.remove_prefix(kWriteIdBytes);
  uint64_t count = 0;
  uint64_t chunk_bytes = 0;
  if (!GetVarint(&rest, &count) || !GetVarint(&rest, &chunk_bytes) || !rest.empty()) {
    return "chunked record has a malformed chunk count or chunk size";
  }
  if (chunk_bytes == 0 || count > UINT32_MAX || count != ChunkCount(size, chunk_bytes)) {
    return "chunked record lists " + std::to_string(count) + " chunks of " +
           std::to_string(chunk_bytes) + " bytes for a block of " + std::to_string(size) + " bytes";
  }
  *layout = ChunkLayout{write_id, static_cast<uint32_t>(count), chunk_bytes};
  return "";
}

}  // namespace

std::string BlockKey(std::string_view key) {
  std::string out;
  out.reserve(1 + key.size());
  out.push_back(kBlockPrefix);
  out.append(key);
  return out;
}

std::string ChunkPrefix(std::string_view key, uint64_t write_id) {
  std::string out;
  out.reserve(1 + key.size() + kWriteIdBytes + kIndexBytes);
  out.push_back(kChunkPrefix);
  out.append(key);
  PutBigEndian(&out, write_id, kWriteIdBytes);
  return out;
}

std::string ChunkKey(std::string_view key, uint64_t write_id, uint32_t index) {
  std::string out = ChunkPrefix(key, write_id);
  PutBigEndian(&out, index, kIndexBytes);
  return out;
}

std::string IntentKey(std::string_view key, uint64_t write_id) {
  std::string out;
  out.push_back(kIntentPrefix);
  out.append(key);
  PutBigEndian(&out, write_id, kWriteIdBytes);
  return out;
}

bool ParseIntentKey(std::string_view intent_key, std::string* key, uint64_t* write_id) {
  if (intent_key.size() < 1 + kWriteIdBytes || intent_key.front() != kIntentPrefix) return false;
  const size_t key_bytes = intent_key.size() - 1 - kWriteIdBytes;
  key->assign(intent_key.substr(1, key_bytes));
  *write_id = GetBigEndian(intent_key.substr(1 + key_bytes));
  return true;
}

uint64_t ChunkLayout::ChunkSize(uint64_t size, uint32_t index) const {
  const uint64_t start = static_cast<uint64_t>(index) * chunk_bytes;
  return start >= size ? 0 : std::min(chunk_bytes, size - start);
}

uint32_t ChunkCount(uint64_t size, uint64_t chunk_bytes) {
  return static_cast<uint32_t>((size + chunk_bytes - 1) / chunk_bytes);
}

std::string ParseRecordHeader(std::string_view record, bool allow_chunked, RecordHeader* out) {
  if (record.empty()) return "empty record";
  const auto format = static_cast<uint8_t>(record.front());
  std::string_view rest = record.substr(1);
  uint64_t size = 0;
  if (!GetVarint(&rest, &size)) return "malformed size varint";
  out->size = size;
  out->payload_offset = record.size() - rest.size();
  switch (format) {
    case static_cast<uint8_t>(RecordFormat::kRaw):
      out->format = RecordFormat::kRaw;
      if (rest.size() != size) {
        return "raw record holds " + std::to_string(rest.size()) + " bytes, its header says " +
               std::to_string(size);
      }
      return "";
    case static_cast<uint8_t>(RecordFormat::kZstd):
      out->format = RecordFormat::kZstd;
      return "";
    case static_cast<uint8_t>(RecordFormat::kChunked):
      if (!allow_chunked) break;
      out->format = RecordFormat::kChunked;
      return ParseChunkLayout(rest, size, &out->chunks);
    default:
      break;
  }
  return "unknown format byte " + std::to_string(format);
}

std::string EncodeRecordHeader(RecordFormat format, uint64_t size) {
  std::string out(1, static_cast<char>(format));
  PutVarint(&out, size);
  return out;
}

std::string EncodeChunkedRecord(uint64_t size, const ChunkLayout& layout) {
  std::string out = EncodeRecordHeader(RecordFormat::kChunked, size);
  for (size_t i = 0; i < kWriteIdBytes; ++i) {
    out.push_back(static_cast<char>((layout.write_id >> (8 * i)) & 0xff));
  }
  PutVarint(&out, layout.count);
  PutVarint(&out, layout.chunk_bytes);
  return out;
}

std::string EncodeCounts(const StoredCounts& counts) {
  std::string out(1, static_cast<char>(kCountsVersion));
  PutVarint(&out, counts.entries);
  PutVarint(&out, counts.bytes);
  return out;
}

bool DecodeCounts(std::string_view value, StoredCounts* out) {
  if (value.empty() || static_cast<uint8_t>(value.front()) != kCountsVersion) return false;
  value.remove_prefix(1);
  return GetVarint(&value, &out->entries) && GetVarint(&value, &out->bytes) && value.empty();
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    out.push_back(kDigits[static_cast<uint8_t>(c) >> 4]);
    out.push_back(kDigits[static_cast<uint8_t>(c) & 0xf]);
  }
  return out;
}

}  // namespace leveldb_tier
