// dag-cbor and dag-json link extraction: never crashes, whatever the nesting or lengths claim.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "format/dagcbor.h"
#include "format/links.h"

using namespace boxcar::format;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view block(reinterpret_cast<const char*>(data), size);
  std::vector<Cid> links;
  (void)ExtractCborLinks(block, &links);
  static const Cid json = Cid::V1(kDagJson, Multihash::Sum(kIdentity, ""));
  (void)BlockLinks(json, block, &links);
  return 0;
}
