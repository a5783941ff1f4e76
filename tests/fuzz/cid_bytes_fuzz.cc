// Binary CIDs: FromBytes and Read agree, and a parsed CID keeps exactly its bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "format/cid.h"

using boxcar::format::Cid;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  Cid whole;
  const bool whole_ok = Cid::FromBytes(bytes, &whole).ok();
  if (whole_ok && whole.bytes() != bytes) std::abort();

  std::string_view in = bytes;
  Cid first;
  if (Cid::Read(&in, &first).ok()) {
    if (first.bytes() != bytes.substr(0, bytes.size() - in.size())) std::abort();
    if (whole_ok != in.empty()) std::abort();
    // Text round-trips, within the length Parse accepts (long identity CIDs print longer).
    const std::string text = first.ToString();
    Cid reparsed;
    if (text.size() <= boxcar::format::kMaxCidTextLength &&
        (!Cid::Parse(text, &reparsed).ok() || !(reparsed == first))) {
      std::abort();
    }
    // The rest may hold more CIDs, as in a CAR file or a dag-pb link list.
    while (!in.empty() && Cid::Read(&in, &first).ok()) {
    }
  } else if (whole_ok || in.size() != bytes.size()) {
    std::abort();
  }
  return 0;
}
