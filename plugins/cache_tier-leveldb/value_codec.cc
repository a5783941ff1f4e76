#include "value_codec.h"

#include <zstd.h>

#include <utility>

namespace leveldb_tier {
namespace {

EncodedRecord RawRecord(std::string_view data) {
  return EncodedRecord{RecordFormat::kRaw, EncodeRecordHeader(RecordFormat::kRaw, data.size()),
                       data};
}

}  // namespace

std::string_view EncodedRecord::Join(std::string* scratch) const {
  if (tail.empty()) return head;
  scratch->assign(head);
  scratch->append(tail);
  return *scratch;
}

EncodedRecord ValueCodec::Encode(std::string_view data, const CompressionPolicy& policy,
                                 uint64_t* saved) {
  *saved = 0;
  if (!policy.Applies(data.size())) return RawRecord(data);
  std::string record = EncodeRecordHeader(RecordFormat::kZstd, data.size());
  const size_t header_bytes = record.size();
  // A failure to compress only costs the saving: the block is stored raw.
  if (!zstd_.AppendFrame(data, policy.level, &record) ||
      !boxcar_plugins::WorthKeeping(record.size() - header_bytes, data.size())) {
    return RawRecord(data);
  }
  *saved = data.size() - (record.size() - header_bytes);
  return EncodedRecord{RecordFormat::kZstd, std::move(record), {}};
}

std::string ValueCodec::Decode(std::string_view record, const RecordHeader& header,
                               std::string* out) {
  const std::string_view payload = record.substr(header.payload_offset);
  if (header.format == RecordFormat::kRaw) {
    out->assign(payload);
    return "";
  }
  // Checked before allocating, so a damaged size cannot ask for a huge buffer.
  const unsigned long long content = ZSTD_getFrameContentSize(payload.data(), payload.size());
  if (content == ZSTD_CONTENTSIZE_ERROR) return "zstd payload is not a zstd frame";
  if (content == ZSTD_CONTENTSIZE_UNKNOWN) return "zstd frame does not declare its size";
  if (content != header.size) {
    return "zstd frame declares " + std::to_string(content) + " bytes, the header says " +
           std::to_string(header.size);
  }
  out->resize(header.size);
  const size_t n = zstd_.DecodeInto(payload, out);
  if (ZSTD_isError(n)) return std::string("zstd frame does not decode: ") + ZSTD_getErrorName(n);
  if (n != header.size) {
    return "zstd frame decodes to " + std::to_string(n) + " bytes, the header says " +
           std::to_string(header.size);
  }
  return "";
}

}  // namespace leveldb_tier
