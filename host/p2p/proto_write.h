// Protobuf wire-format writing for the small libp2p messages (keys, the Noise payload). Internal
// to boxcar_p2p; reading uses format::ProtoReader.
//
// Thread safety: free functions on caller-owned data.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "format/varint.h"

namespace boxcar::p2p {

// Appends field `field` as a varint.
inline void AppendVarintField(uint32_t field, uint64_t value, std::string* out) {
  format::AppendUvarint(out, uint64_t{field} << 3);
  format::AppendUvarint(out, value);
}

// Appends field `field` as length-delimited bytes.
inline void AppendBytesField(uint32_t field, std::string_view bytes, std::string* out) {
  format::AppendUvarint(out, (uint64_t{field} << 3) | 2);
  format::AppendUvarint(out, bytes.size());
  out->append(bytes);
}

}  // namespace boxcar::p2p
