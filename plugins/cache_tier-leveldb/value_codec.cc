#include "value_codec.h"

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
  if (!policy.zstd || data.size() < policy.min_bytes) return RawRecord(data);
  std::string record = EncodeRecordHeader(RecordFormat::kZstd, data.size());
  const size_t header_bytes = record.size();
  record.resize(header_bytes + ZSTD_compressBound(data.size()));
  size_t frame_bytes = 0;
  {
    auto lease = compressors_.Take();
    ZSTD_CCtx* cctx = lease.get();
    ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, policy.level);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    frame_bytes = ZSTD_compress2(cctx, record.data() + header_bytes, record.size() - header_bytes,
                                 data.data(), data.size());
  }
  // A failure to compress only costs the saving: the block is stored raw.
  if (ZSTD_isError(frame_bytes) || frame_bytes > data.size() - data.size() / 8) {
    return RawRecord(data);
  }
  record.resize(header_bytes + frame_bytes);
  *saved = data.size() - frame_bytes;
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
  auto lease = decompressors_.Take();
  const size_t n =
      ZSTD_decompressDCtx(lease.get(), out->data(), out->size(), payload.data(), payload.size());
  if (ZSTD_isError(n)) return std::string("zstd frame does not decode: ") + ZSTD_getErrorName(n);
  if (n != header.size) {
    return "zstd frame decodes to " + std::to_string(n) + " bytes, the header says " +
           std::to_string(header.size);
  }
  return "";
}

}  // namespace leveldb_tier
