// Varints: whatever reads re-encodes to exactly the bytes consumed (minimality), and a failed
// read consumes nothing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "format/varint.h"

using namespace boxcar::format;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty()) {
    const std::string_view before = in;
    uint64_t value = 0;
    if (!ReadUvarint(&in, &value).ok()) {
      if (in.size() != before.size()) std::abort();
      break;
    }
    std::string encoded;
    AppendUvarint(&encoded, value);
    if (encoded != before.substr(0, before.size() - in.size())) std::abort();
    if (UvarintSize(value) != encoded.size() || value > kMaxUvarint) std::abort();
  }
  return 0;
}
