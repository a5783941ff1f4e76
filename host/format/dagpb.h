// dag-pb (IPLD codec 0x70): the protobuf-based node format of UnixFS.
//
//   message PBLink {
//     optional bytes Hash = 1; optional string Name = 2; optional uint64 Tsize = 3;
//   }
//   message PBNode { repeated PBLink Links = 2; optional bytes Data = 1; }
//
// Decoding is strict as the dag-pb spec requires: Data appears at most once, either after all
// Links (the canonical order) or before all of them (older encoders; IPIP-550), never between
// two; in a PBLink the fields appear in order 1, 2, 3, at most once each, and Hash (a valid
// binary CID) is required; no other fields or wire types are allowed. Link order is kept.
//
// Thread safety: free functions on caller-owned data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "boxcar/status.h"
#include "format/cid.h"

namespace boxcar::format {

struct PbLink {
  Cid cid;
  std::optional<std::string> name;
  std::optional<uint64_t> tsize;
  bool operator==(const PbLink&) const = default;
};

struct PbNode {
  std::vector<PbLink> links;
  std::optional<std::string> data;
  bool operator==(const PbNode&) const = default;
};

// InvalidArgument "dag-pb: <problem> at byte <offset>" for anything the spec forbids.
Status DecodePbNode(std::string_view block, PbNode* out);

// The canonical encoding of `node` (links first, fields in order), which DecodePbNode accepts.
std::string EncodePbNode(const PbNode& node);

// Only the link CIDs of a dag-pb block, in order, with the same checks as DecodePbNode but
// without copying names or data.
Status DecodePbLinks(std::string_view block, std::vector<Cid>* out);

}  // namespace boxcar::format
