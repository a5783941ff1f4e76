#include "format/varint.h"

namespace boxcar::format {

size_t EncodeUvarint(uint64_t value, unsigned char* buf) {
  size_t n = 0;
  while (value >= 0x80) {
    buf[n++] = static_cast<unsigned char>(value | 0x80);
    value >>= 7;
  }
  buf[n++] = static_cast<unsigned char>(value);
  return n;
}

void AppendUvarint(std::string* out, uint64_t value) {
  unsigned char buf[10];
  const size_t n = EncodeUvarint(value, buf);
  out->append(reinterpret_cast<const char*>(buf), n);
}

size_t UvarintSize(uint64_t value) {
  size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

Status ReadUvarint(std::string_view* in, uint64_t* value) {
  const auto* p = reinterpret_cast<const unsigned char*>(in->data());
  const size_t avail = in->size();
  // The common case in CIDs and CAR framing: one byte.
  if (avail > 0 && p[0] < 0x80) {
    *value = p[0];
    in->remove_prefix(1);
    return Status::OK();
  }
  uint64_t result = 0;
  for (size_t i = 0; i < kMaxUvarintBytes; ++i) {
    if (i == avail) return Status::InvalidArgument("truncated varint");
    const unsigned char byte = p[i];
    result |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if (byte < 0x80) {
      // A last byte of zero adds nothing: the value had a shorter encoding.
      if (byte == 0 && i > 0) return Status::InvalidArgument("non-minimal varint");
      *value = result;
      in->remove_prefix(i + 1);
      return Status::OK();
    }
  }
  return Status::InvalidArgument("varint longer than 9 bytes");
}

}  // namespace boxcar::format
