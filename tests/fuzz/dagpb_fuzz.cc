// dag-pb and UnixFS decoding: never crashes; a decoded node re-encodes to a canonical block that
// decodes to the same node; the links-only decoder agrees with the full one.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "format/dagpb.h"
#include "format/unixfs.h"

using namespace boxcar::format;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view block(reinterpret_cast<const char*>(data), size);
  UnixfsData unixfs;
  (void)DecodeUnixfs(block, &unixfs);

  PbNode node;
  std::vector<Cid> links;
  const bool node_ok = DecodePbNode(block, &node).ok();
  if (DecodePbLinks(block, &links).ok() != node_ok) std::abort();
  if (!node_ok) return 0;
  if (links.size() != node.links.size()) std::abort();
  for (size_t i = 0; i < links.size(); ++i) {
    if (!(links[i] == node.links[i].cid)) std::abort();
  }
  const std::string canonical = EncodePbNode(node);
  PbNode again;
  if (!DecodePbNode(canonical, &again).ok() || !(again == node)) std::abort();
  if (EncodePbNode(again) != canonical) std::abort();
  if (node.data) (void)DecodeUnixfs(*node.data, &unixfs);
  return 0;
}
