// The links of a block, by the codec in its CID. Used by DAG traversal (walk.h).
//
// Thread safety: free functions on caller-owned data.
#pragma once

#include <string_view>
#include <vector>

#include "boxcar/status.h"
#include "format/cid.h"

namespace boxcar::format {

// Replaces *out with the links of `block` in document order: none for raw and libp2p-key; the
// PBLink hashes for dag-pb; tag-42 CIDs for dag-cbor; {"/": "<cid>"} objects for dag-json.
// A malformed block is InvalidArgument naming the CID; an unknown codec is NotSupported naming it.
Status BlockLinks(const Cid& cid, std::string_view block, std::vector<Cid>* out);

}  // namespace boxcar::format
