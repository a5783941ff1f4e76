// Multibase decoding: never crashes; decoding is canonical (re-encoding gives the input back,
// up to the case the prefix selects); and the bytes round-trip through every base.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "format/multibase.h"

using namespace boxcar::format;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Base58 and base36 are quadratic; keep inputs to the sizes CIDs have.
  if (size > 512) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string decoded;
  Multibase base;
  if (MultibaseDecode(input, &decoded, &base).ok()) {
    // 'B', 'K' and 'F' select the upper-case alphabets, which encode to lower case.
    std::string expected(input);
    if (input[0] == 'B' || input[0] == 'K' || input[0] == 'F') {
      for (char& c : expected) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (MultibaseEncode(base, decoded) != expected) std::abort();
  }
  for (Multibase b : {Multibase::kBase32, Multibase::kBase58btc, Multibase::kBase36,
                      Multibase::kBase16, Multibase::kBase64url}) {
    std::string back;
    Multibase got;
    if (!MultibaseDecode(MultibaseEncode(b, input), &back, &got).ok()) std::abort();
    if (back != input || got != b) std::abort();
  }
  return 0;
}
