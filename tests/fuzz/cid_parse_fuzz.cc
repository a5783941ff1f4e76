// Cid::Parse on arbitrary text: never crashes, and whatever parses prints back to a text that
// parses to the same CID in every base.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "format/cid.h"

using boxcar::format::Cid;
using boxcar::format::Multibase;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Cid cid;
  if (!Cid::Parse(text, &cid).ok()) return 0;
  for (Multibase base : {Multibase::kBase32, Multibase::kBase58btc, Multibase::kBase36}) {
    Cid again;
    if (!Cid::Parse(cid.ToString(base), &again).ok() || !(again == cid)) std::abort();
  }
  // Lower-case canonical forms print back exactly.
  if ((text[0] == 'b' || text[0] == 'z' || text[0] == 'k' || cid.version() == 0) &&
      (cid.version() == 0 ? cid.ToString() : cid.ToString(static_cast<Multibase>(text[0]))) !=
          text) {
    std::abort();
  }
  return 0;
}
