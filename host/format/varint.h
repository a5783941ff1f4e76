// Unsigned varints as multiformats defines them (unsigned-varint): little-endian base-128, the
// high bit of each byte set on all but the last byte, at most 9 bytes (63 bits of value), and
// minimally encoded (no trailing 0x00 continuation bytes).
//
// Thread safety: free functions on caller-owned data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "boxcar/status.h"

namespace boxcar::format {

// The longest varint multiformats allows.
inline constexpr size_t kMaxUvarintBytes = 9;
// The largest value that fits in kMaxUvarintBytes bytes (2^63 - 1).
inline constexpr uint64_t kMaxUvarint = (uint64_t{1} << 63) - 1;

// Appends `value` to *out. Values above kMaxUvarint are encoded in 10 bytes, which
// ReadUvarint rejects; callers encode lengths and codes, which never get there.
void AppendUvarint(std::string* out, uint64_t value);

// The number of bytes AppendUvarint writes for `value`.
size_t UvarintSize(uint64_t value);

// Writes `value` into `buf` (at least 10 bytes) and returns the number of bytes written.
size_t EncodeUvarint(uint64_t value, unsigned char* buf);

// Reads one varint from the front of *in and advances *in past it. On error *in is unchanged and
// the InvalidArgument message is one of "truncated varint", "varint longer than 9 bytes",
// "non-minimal varint"; callers add where the varint was.
Status ReadUvarint(std::string_view* in, uint64_t* value);

}  // namespace boxcar::format
